// A bound AF_PACKET socket, shared by openPacketSocket (socket.cc) and its network-namespace
// variant (netns.cc), which calls it on a thread inside the namespace.
#pragma once

#include <cstdint>
#include <string>

namespace ebpf {

// Creates the socket and binds it to `ifindex` and `protocol` (host order) in the calling
// thread's network namespace. Returns the fd, or -errno with `*step` naming the call that failed.
int MakePacketSocket(int ifindex, uint16_t protocol, std::string* step);

}  // namespace ebpf
