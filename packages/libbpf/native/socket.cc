// AF_PACKET sockets for socket filters: Node's net/dgram modules cannot open them. The socket
// exists only to run a filter on an interface's packets; nothing reads it.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <napi.h>

#include "errors.h"
#include "fd_handle.h"
#include "socket.h"

namespace ebpf {

// The socket is created with protocol 0, which receives nothing, and only starts receiving when
// bind() names the interface and protocol: it never sees another interface's packets. The
// receive buffer is set to its minimum so packets a filter lets through (and nobody reads) pin
// little memory before the kernel drops them.
int MakePacketSocket(int ifindex, uint16_t protocol, std::string* step) {
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *step = "socket(AF_PACKET, SOCK_RAW)";
    return -errno;
  }
  int rcvbuf = 0;  // the kernel rounds up to its minimum
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_ll addr;
  memset(&addr, 0, sizeof(addr));
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(protocol);
  addr.sll_ifindex = ifindex;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    int err = errno;
    close(fd);
    *step = "bind(AF_PACKET, ifindex " + std::to_string(ifindex) + ")";
    return -err;
  }
  return fd;
}

namespace {

// openPacketSocket(ifindex, protocol) -> FdHandle (MakePacketSocket in the agent's namespace).
Napi::Value OpenPacketSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ifindex = info[0].As<Napi::Number>().Int32Value();
  uint16_t protocol = static_cast<uint16_t>(info[1].As<Napi::Number>().Uint32Value());
  std::string step;
  int fd = MakePacketSocket(ifindex, protocol, &step);
  if (fd < 0) ThrowErrno(env, step, -fd);
  return FdHandle::New(env, fd);
}

}  // namespace

void InitSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("openPacketSocket", Napi::Function::New<OpenPacketSocket>(env, "openPacketSocket"));
}

}  // namespace ebpf
