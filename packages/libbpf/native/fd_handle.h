// FdHandle: a JS object that owns one file descriptor (program, map, link, stats).
//
// close() is idempotent. While asynchronous work (Acquire/Release) is in flight, close() only
// marks the handle closed and the descriptor is closed when the last work item releases it.
// The destructor (garbage collection) closes whatever is still open.
#pragma once

#include <napi.h>

namespace ebpf {

class FdHandle : public Napi::ObjectWrap<FdHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // Wraps fd in a new handle; the handle owns it from now on (closed on failure too).
  static Napi::Object New(Napi::Env env, int fd);
  // Unwraps a handle argument; throws TypeError if v is not an FdHandle.
  static FdHandle* From(Napi::Env env, Napi::Value v);

  explicit FdHandle(const Napi::CallbackInfo& info);
  ~FdHandle() override;

  // The descriptor, or -1 after close() was requested.
  int fd() const { return closeRequested_ ? -1 : fd_; }
  // Raw descriptor for in-flight work; valid between Acquire and Release.
  int rawFd() const { return fd_; }
  void Acquire() { ++inflight_; }
  void Release();

 private:
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void CloseNow();

  int fd_ = -1;
  int inflight_ = 0;
  bool closeRequested_ = false;
};

// dup() with O_CLOEXEC; throws LibbpfError on failure.
int DupFd(Napi::Env env, int fd, const char* what);

}  // namespace ebpf
