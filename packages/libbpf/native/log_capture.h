// Captures libbpf's print output (libbpf_set_print) during one call.
//
// A LogCapture is an RAII scope: while one is alive on the current thread, every message libbpf
// prints (except debug-level ones) is appended to it. Without an active capture, warnings and
// info messages go to stderr, as libbpf's default printer does.
#pragma once

#include <string>

namespace ebpf {

class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  const std::string& text() const { return text_; }
  void Append(const char* s, size_t n) { text_.append(s, n); }

 private:
  std::string text_;
  LogCapture* prev_;
};

// Installs the libbpf print callback. Idempotent.
void InstallPrintHook();

}  // namespace ebpf
