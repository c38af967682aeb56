// setThreadSlice(ns): asks the kernel for a shorter scheduler slice for the calling thread.
//
// Since Linux 6.12 the fair scheduler (EEVDF) takes `sched_runtime` of sched_setattr(2) for a
// SCHED_OTHER/SCHED_BATCH thread as its slice (0.1-100 ms): a latency request, not a larger
// share of the CPU. A thread with a short slice gets an early virtual deadline, so when it
// wakes it can preempt a CPU-bound thread at once instead of waiting for that thread's slice
// to end at a scheduler tick (4 ms at HZ=250). The agent asks for it on its main thread
// (packages/core/src/host/sched-slice.ts says why). Older kernels accept the call and ignore
// the field; sched_getattr then reads back something else, which is how the caller tells.
//
// glibc before 2.41 has no wrappers for sched_setattr/sched_getattr: raw syscalls. The struct is
// the kernel's `struct sched_attr` as sched_setattr(2) gives it (linux/sched/types.h also defines
// a `struct sched_param` that clashes with glibc's); its size field keeps layouts compatible.
#include <linux/sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include <napi.h>

#include "errors.h"

namespace ebpf {
namespace {

struct sched_attr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};

int GetAttr(sched_attr* attr) { return static_cast<int>(syscall(SYS_sched_getattr, 0, attr, sizeof(*attr), 0)); }

// { policy, sliceNs }: the calling thread's policy and the slice sched_getattr reports for it.
Napi::Object Describe(Napi::Env env, const sched_attr& attr) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("policy", Napi::Number::New(env, attr.sched_policy));
  out.Set("sliceNs", Napi::Number::New(env, static_cast<double>(attr.sched_runtime)));
  return out;
}

Napi::Value SetThreadSlice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowTypeError(env, "setThreadSlice: expected a slice in nanoseconds");
  const double ns = info[0].As<Napi::Number>().DoubleValue();
  sched_attr attr{};
  if (GetAttr(&attr) < 0) ThrowErrno(env, "sched_getattr", errno);
  // Only the fair classes have slices; a thread someone put under SCHED_IDLE, a real-time or a
  // deadline policy is left as it is.
  if (attr.sched_policy == SCHED_NORMAL || attr.sched_policy == SCHED_BATCH) {
    sched_attr want{};
    want.size = sizeof(want);
    want.sched_policy = attr.sched_policy;
    // Keep the nice value; no utilization-clamp flags: those stay as they are. Reset-on-fork:
    // threads and processes this thread starts get the default slice, not its own (and a
    // negative nice would not be passed on either).
    want.sched_flags = SCHED_FLAG_RESET_ON_FORK;
    want.sched_nice = attr.sched_nice;
    want.sched_runtime = static_cast<uint64_t>(ns);
    if (syscall(SYS_sched_setattr, 0, &want, 0) < 0) ThrowErrno(env, "sched_setattr", errno);
    if (GetAttr(&attr) < 0) ThrowErrno(env, "sched_getattr", errno);
  }
  return Describe(env, attr);
}

Napi::Value ThreadSched(const Napi::CallbackInfo& info) {
  sched_attr attr{};
  if (GetAttr(&attr) < 0) ThrowErrno(info.Env(), "sched_getattr", errno);
  return Describe(info.Env(), attr);
}

}  // namespace

void InitSched(Napi::Env env, Napi::Object exports) {
  exports.Set("setThreadSlice", Napi::Function::New<SetThreadSlice>(env, "setThreadSlice"));
  exports.Set("threadSched", Napi::Function::New<ThreadSched>(env, "threadSched"));
}

}  // namespace ebpf
