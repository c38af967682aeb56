// Dropping capabilities from the calling thread's effective set for the length of one scope.
//
// Linux credentials are per thread, and raw capset(2) (unlike glibc's setuid family) changes
// only the calling thread: other threads of the process (libuv's pool) keep theirs. The kernel
// reads the loading thread's effective set while it verifies a program (CAP_PERFMON gives
// pointer leaks, kernel memory reads and bpf_get_current_task; CAP_SYS_ADMIN implies
// CAP_PERFMON), so a program loaded inside the scope is verified as if the agent never had them.
// The permitted set is untouched, which is what lets the destructor raise them again.
#pragma once

#include <linux/capability.h>

#include <string>
#include <vector>

namespace ebpf {

// The capability number for a name such as "CAP_PERFMON"; -1 for names this file does not know.
int CapabilityNumber(const std::string& name);

class EffectiveCapabilitiesDropped {
 public:
  // Drops `caps` from the effective set. On failure `error()` is non-zero and nothing changed.
  explicit EffectiveCapabilitiesDropped(const std::vector<int>& caps);
  // Restores the effective set saved by the constructor.
  ~EffectiveCapabilitiesDropped();
  EffectiveCapabilitiesDropped(const EffectiveCapabilitiesDropped&) = delete;
  EffectiveCapabilitiesDropped& operator=(const EffectiveCapabilitiesDropped&) = delete;

  // errno of the failed capget/capset, or EPERM when a capability stayed effective.
  int error() const { return error_; }
  // errno of a failed restore (reported after the scope by the caller), 0 when it worked.
  static int LastRestoreError();

 private:
  __user_cap_data_struct saved_[2] = {};
  bool active_ = false;
  int error_ = 0;
};

}  // namespace ebpf
