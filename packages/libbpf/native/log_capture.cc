#include "log_capture.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>

namespace ebpf {

namespace {

thread_local LogCapture* g_active = nullptr;

int PrintHook(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  LogCapture* cap = g_active;
  if (cap == nullptr) {
    return vfprintf(stderr, format, args);
  }
  char small[512];
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(small, sizeof(small), format, copy);
  va_end(copy);
  if (n < 0) return n;
  if (static_cast<size_t>(n) < sizeof(small)) {
    cap->Append(small, static_cast<size_t>(n));
  } else {
    std::string big(static_cast<size_t>(n) + 1, '\0');
    vsnprintf(big.data(), big.size(), format, args);
    cap->Append(big.data(), static_cast<size_t>(n));
  }
  return n;
}

}  // namespace

LogCapture::LogCapture() : prev_(g_active) { g_active = this; }

LogCapture::~LogCapture() { g_active = prev_; }

void InstallPrintHook() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(PrintHook); });
}

}  // namespace ebpf
