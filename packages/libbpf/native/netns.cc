// Work inside another network namespace (a pod's), from a network namespace fd the caller holds
// (an open /proc/<pid>/ns/net). Each call runs on a thread of its own that setns()es into the
// namespace and ends with the call: the namespace of a thread is its own, so Node's threads are
// never moved. What the thread creates there stays bound to that namespace after it ends: an
// XDP link to a device of the namespace, a packet socket bound to one of its devices, a netlink
// socket that lists its devices. ifindexes are per namespace, so an ifindex here always means a
// device of the namespace the fd names, never one of the agent's.
//
// setns(CLONE_NEWNET) needs CAP_SYS_ADMIN (in the agent's user namespace and the target's).
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <napi.h>

#include "errors.h"
#include "fd_handle.h"
#include "socket.h"

namespace ebpf {

namespace {

// Runs `work` on a new thread inside the namespace of `nsFd`; returns 0 or a positive errno
// (setns's, or the one `work` returns).
int InNetns(int nsFd, const std::function<int()>& work, std::string* failedStep) {
  int result = 0;
  std::thread thread([&] {
    if (setns(nsFd, CLONE_NEWNET) < 0) {
      result = errno;
      *failedStep = "setns(CLONE_NEWNET)";
      return;
    }
    result = work();
  });
  thread.join();
  return result;
}

struct Link {
  int ifindex = 0;
  std::string name;
  unsigned flags = 0;
  // IFLA_LINK_NETNSID: the id (in this namespace) of the namespace the device's other end or
  // lower device lives in; -1 when the device has none there (loopback, a dummy, a veth pair
  // made inside the namespace).
  int linkNetnsid = -1;
  std::string kind;
};

// RTM_GETLINK dump over a netlink socket made in the current thread's namespace.
int DumpLinks(std::vector<Link>* out) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return errno;
  struct {
    nlmsghdr header;
    ifinfomsg info;
  } request;
  memset(&request, 0, sizeof(request));
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  request.header.nlmsg_type = RTM_GETLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.header.nlmsg_seq = 1;
  request.info.ifi_family = AF_UNSPEC;
  if (send(fd, &request, request.header.nlmsg_len, 0) < 0) {
    int err = errno;
    close(fd);
    return err;
  }
  std::vector<char> buffer(64 * 1024);
  for (;;) {
    ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return err;
    }
    int length = static_cast<int>(n);
    for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buffer.data()); NLMSG_OK(h, length); h = NLMSG_NEXT(h, length)) {
      if (h->nlmsg_type == NLMSG_DONE) {
        close(fd);
        return 0;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        const nlmsgerr* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        close(fd);
        return e->error < 0 ? -e->error : EPROTO;
      }
      if (h->nlmsg_type != RTM_NEWLINK) continue;
      const ifinfomsg* info = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
      Link link;
      link.ifindex = info->ifi_index;
      link.flags = info->ifi_flags;
      int attrLength = static_cast<int>(IFLA_PAYLOAD(h));
      for (rtattr* a = IFLA_RTA(info); RTA_OK(a, attrLength); a = RTA_NEXT(a, attrLength)) {
        if (a->rta_type == IFLA_IFNAME) {
          link.name.assign(static_cast<const char*>(RTA_DATA(a)), strnlen(static_cast<const char*>(RTA_DATA(a)), RTA_PAYLOAD(a)));
        } else if (a->rta_type == IFLA_LINK_NETNSID && RTA_PAYLOAD(a) >= sizeof(int32_t)) {
          int32_t id;
          memcpy(&id, RTA_DATA(a), sizeof(id));
          link.linkNetnsid = id;
        } else if (a->rta_type == IFLA_LINKINFO) {
          int infoLength = static_cast<int>(RTA_PAYLOAD(a));
          for (rtattr* k = static_cast<rtattr*>(RTA_DATA(a)); RTA_OK(k, infoLength); k = RTA_NEXT(k, infoLength)) {
            if (k->rta_type == IFLA_INFO_KIND) {
              link.kind.assign(static_cast<const char*>(RTA_DATA(k)), strnlen(static_cast<const char*>(RTA_DATA(k)), RTA_PAYLOAD(k)));
            }
          }
        }
      }
      out->push_back(link);
    }
  }
}

// netnsLinks(nsFd) -> [{ ifindex, name, loopback, up, linkNetnsid, kind }]
Napi::Value NetnsLinks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int nsFd = info[0].As<Napi::Number>().Int32Value();
  std::vector<Link> links;
  std::string step = "RTM_GETLINK";
  int err = InNetns(nsFd, [&] { return DumpLinks(&links); }, &step);
  if (err) ThrowErrno(env, step + " in network namespace fd " + std::to_string(nsFd), err);
  Napi::Array out = Napi::Array::New(env, links.size());
  for (size_t i = 0; i < links.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("ifindex", links[i].ifindex);
    o.Set("name", links[i].name);
    o.Set("loopback", (links[i].flags & IFF_LOOPBACK) != 0);
    o.Set("up", (links[i].flags & IFF_UP) != 0);
    o.Set("linkNetnsid", links[i].linkNetnsid);
    o.Set("kind", links[i].kind);
    out.Set(i, o);
  }
  return out;
}

// attachXdpInNetns(nsFd, progFd, ifindex, flags) -> FdHandle (the link)
Napi::Value AttachXdpInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int nsFd = info[0].As<Napi::Number>().Int32Value();
  int progFd = info[1].As<Napi::Number>().Int32Value();
  int ifindex = info[2].As<Napi::Number>().Int32Value();
  uint32_t flags = info[3].As<Napi::Number>().Uint32Value();
  int linkFd = -1;
  std::string step = "bpf_link_create(ifindex " + std::to_string(ifindex) + ", BPF_XDP)";
  int err = InNetns(
      nsFd,
      [&] {
        LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
        linkFd = bpf_link_create(progFd, ifindex, BPF_XDP, &opts);
        return linkFd < 0 ? -linkFd : 0;
      },
      &step);
  if (err) ThrowErrno(env, step + " in network namespace fd " + std::to_string(nsFd), err);
  return FdHandle::New(env, linkFd);
}

// openPacketSocketInNetns(nsFd, ifindex, protocol) -> FdHandle: as openPacketSocket (socket.cc),
// made and bound in the namespace.
Napi::Value OpenPacketSocketInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int nsFd = info[0].As<Napi::Number>().Int32Value();
  int ifindex = info[1].As<Napi::Number>().Int32Value();
  uint16_t protocol = static_cast<uint16_t>(info[2].As<Napi::Number>().Uint32Value());
  int fd = -1;
  std::string step = "socket(AF_PACKET, SOCK_RAW)";
  int err = InNetns(
      nsFd,
      [&] {
        fd = MakePacketSocket(ifindex, protocol, &step);
        return fd < 0 ? -fd : 0;
      },
      &step);
  if (err) ThrowErrno(env, step + " in network namespace fd " + std::to_string(nsFd), err);
  return FdHandle::New(env, fd);
}

// xdpProgramIds(ifindex, nsFd) -> the ids of the XDP programs on the device (native, generic,
// offloaded; none when the device has none or does not exist), asked over netlink in the
// namespace of nsFd, or in the caller's own when nsFd is -1 (no setns, so no CAP_SYS_ADMIN).
Napi::Value XdpProgramIds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ifindex = info[0].As<Napi::Number>().Int32Value();
  int nsFd = info[1].As<Napi::Number>().Int32Value();
  LIBBPF_OPTS(bpf_xdp_query_opts, opts);
  auto query = [&] {
    int err = bpf_xdp_query(ifindex, 0, &opts);
    // No such device: nothing attached there.
    return err == -ENODEV ? 0 : (err < 0 ? -err : 0);
  };
  std::string step = "bpf_xdp_query(ifindex " + std::to_string(ifindex) + ")";
  int err = nsFd < 0 ? query() : InNetns(nsFd, query, &step);
  if (err) ThrowErrno(env, step + (nsFd < 0 ? "" : " in network namespace fd " + std::to_string(nsFd)), err);
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (uint32_t id : {opts.drv_prog_id, opts.skb_prog_id, opts.hw_prog_id}) {
    if (id != 0) out.Set(n++, id);
  }
  return out;
}

}  // namespace

void InitNetns(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsLinks", Napi::Function::New<NetnsLinks>(env, "netnsLinks"));
  exports.Set("attachXdpInNetns", Napi::Function::New<AttachXdpInNetns>(env, "attachXdpInNetns"));
  exports.Set("xdpProgramIds", Napi::Function::New<XdpProgramIds>(env, "xdpProgramIds"));
  exports.Set("openPacketSocketInNetns", Napi::Function::New<OpenPacketSocketInNetns>(env, "openPacketSocketInNetns"));
}

}  // namespace ebpf
