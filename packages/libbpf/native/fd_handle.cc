#include "fd_handle.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"

namespace ebpf {

void FdHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "FdHandle",
                                    {
                                        InstanceAccessor<&FdHandle::GetFd>("fd"),
                                        InstanceMethod<&FdHandle::Close>("close"),
                                    });
  Data(env).fdHandleCtor = Napi::Persistent(ctor);
  exports.Set("FdHandle", ctor);
}

Napi::Object FdHandle::New(Napi::Env env, int fd) {
  try {
    return Data(env).fdHandleCtor.New({Napi::Number::New(env, fd)});
  } catch (...) {
    close(fd);
    throw;
  }
}

FdHandle* FdHandle::From(Napi::Env env, Napi::Value v) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Data(env).fdHandleCtor.Value())) {
    ThrowTypeError(env, "expected a native FdHandle");
  }
  return Unwrap(v.As<Napi::Object>());
}

FdHandle::FdHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdHandle>(info) {
  if (info.Length() < 1 || !info[0].IsNumber()) ThrowTypeError(info.Env(), "FdHandle(fd)");
  fd_ = info[0].As<Napi::Number>().Int32Value();
}

FdHandle::~FdHandle() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void FdHandle::CloseNow() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void FdHandle::Release() {
  if (inflight_ > 0) --inflight_;
  if (inflight_ == 0 && closeRequested_) CloseNow();
}

Napi::Value FdHandle::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd()); }

Napi::Value FdHandle::Close(const Napi::CallbackInfo& info) {
  closeRequested_ = true;
  if (inflight_ == 0) CloseNow();
  return info.Env().Undefined();
}

int DupFd(Napi::Env env, int fd, const char* what) {
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (nfd < 0) ThrowErrno(env, std::string("dup ") + what, errno);
  return nfd;
}

}  // namespace ebpf
