// Raw capget/capset rather than libcap: two system calls on the current thread are all that is
// needed, and the agent image then links nothing more than libbpf, libelf and zlib.
#include "capabilities.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ebpf {

namespace {

thread_local int g_restore_error = 0;

int CapGet(__user_cap_data_struct (&data)[2]) {
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};  // pid 0: this thread
  return static_cast<int>(syscall(SYS_capget, &header, data));
}

int CapSet(__user_cap_data_struct (&data)[2]) {
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  return static_cast<int>(syscall(SYS_capset, &header, data));
}

bool Effective(const __user_cap_data_struct (&data)[2], int cap) {
  return (data[CAP_TO_INDEX(cap)].effective & CAP_TO_MASK(cap)) != 0;
}

}  // namespace

int CapabilityNumber(const std::string& name) {
  if (name == "CAP_SYS_ADMIN") return CAP_SYS_ADMIN;
  if (name == "CAP_PERFMON") return CAP_PERFMON;
  if (name == "CAP_BPF") return CAP_BPF;
  if (name == "CAP_NET_ADMIN") return CAP_NET_ADMIN;
  if (name == "CAP_NET_RAW") return CAP_NET_RAW;
  if (name == "CAP_SYS_RESOURCE") return CAP_SYS_RESOURCE;
  if (name == "CAP_SYSLOG") return CAP_SYSLOG;
  return -1;
}

EffectiveCapabilitiesDropped::EffectiveCapabilitiesDropped(const std::vector<int>& caps) {
  if (caps.empty()) return;
  if (CapGet(saved_) != 0) {
    error_ = errno;
    return;
  }
  __user_cap_data_struct reduced[2];
  memcpy(reduced, saved_, sizeof(reduced));
  for (int cap : caps) reduced[CAP_TO_INDEX(cap)].effective &= ~CAP_TO_MASK(cap);
  if (CapSet(reduced) != 0) {
    error_ = errno;
    return;
  }
  active_ = true;
  // Fail closed: verify that none of them is effective any more.
  __user_cap_data_struct now[2];
  if (CapGet(now) != 0) {
    error_ = errno;
    return;
  }
  for (int cap : caps) {
    if (Effective(now, cap)) error_ = EPERM;
  }
}

EffectiveCapabilitiesDropped::~EffectiveCapabilitiesDropped() {
  if (!active_) return;
  g_restore_error = CapSet(saved_) != 0 ? errno : 0;
}

int EffectiveCapabilitiesDropped::LastRestoreError() { return g_restore_error; }

}  // namespace ebpf
