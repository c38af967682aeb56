// BPF links and the generic fd operations shared by programs, maps and links (pin, get, unpin).
#include "link.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "errors.h"
#include "fd_handle.h"
#include "log_capture.h"

namespace ebpf {

namespace {

int ArgInt(const Napi::Value& v) { return v.As<Napi::Number>().Int32Value(); }

Napi::Value LinkInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_link_info li;
  memset(&li, 0, sizeof(li));
  uint32_t len = sizeof(li);
  LogCapture cap;
  int err = bpf_obj_get_info_by_fd(ArgInt(info[0]), &li, &len);
  if (err) ThrowErrno(env, "bpf_obj_get_info_by_fd(link)", err, cap.text());
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", li.id);
  const char* t = libbpf_bpf_link_type_str(static_cast<bpf_link_type>(li.type));
  o.Set("type", t ? std::string(t) : "unknown(" + std::to_string(li.type) + ")");
  o.Set("programId", li.prog_id);
  // A cgroup link's cgroup (0 once that cgroup is gone): pod scope checks adopted links with it.
  if (li.type == BPF_LINK_TYPE_CGROUP) o.Set("cgroupId", Napi::BigInt::New(env, static_cast<uint64_t>(li.cgroup.cgroup_id)));
  // An XDP link's device, by its index in the namespace the device is in now (0 once it is gone).
  if (li.type == BPF_LINK_TYPE_XDP) o.Set("ifindex", li.xdp.ifindex);
  return o;
}

Napi::Value LinkDetach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LogCapture cap;
  int err = bpf_link_detach(ArgInt(info[0]));
  if (err) ThrowErrno(env, "bpf_link_detach", err, cap.text());
  return env.Undefined();
}

// objPin(fd, path)
Napi::Value ObjPin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[1].As<Napi::String>().Utf8Value();
  LogCapture cap;
  int err = bpf_obj_pin(ArgInt(info[0]), path.c_str());
  if (err) ThrowErrno(env, "bpf_obj_pin(" + path + ")", err, cap.text());
  return env.Undefined();
}

// objGet(path) -> FdHandle
Napi::Value ObjGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  LogCapture cap;
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) ThrowErrno(env, "bpf_obj_get(" + path + ")", fd, cap.text());
  return FdHandle::New(env, fd);
}

// objType(fd) -> "prog" | "map" | "link" | "unknown", from the fd's anon inode name.
// bpf_obj_get_info_by_fd fills whichever struct matches the fd's type, so callers check the
// type first to reject e.g. a pinned program opened as a map.
Napi::Value ObjType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string link = "/proc/self/fd/" + std::to_string(ArgInt(info[0]));
  char buf[128];
  ssize_t n = readlink(link.c_str(), buf, sizeof(buf) - 1);
  if (n < 0) ThrowErrno(env, "readlink " + link, errno);
  buf[n] = '\0';
  if (strcmp(buf, "anon_inode:bpf-prog") == 0) return Napi::String::New(env, "prog");
  if (strcmp(buf, "anon_inode:bpf-map") == 0) return Napi::String::New(env, "map");
  // bpf_link_prime() names new links "bpf_link", bpf_link_new_fd() (BPF_OBJ_GET, by id) "bpf-link".
  if (strcmp(buf, "anon_inode:bpf_link") == 0 || strcmp(buf, "anon_inode:bpf-link") == 0) {
    return Napi::String::New(env, "link");
  }
  return Napi::String::New(env, "unknown");
}

// unpin(path): unlink, ENOENT ignored.
Napi::Value Unpin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  if (unlink(path.c_str()) < 0 && errno != ENOENT) ThrowErrno(env, "unlink(" + path + ")", errno);
  return env.Undefined();
}

}  // namespace

void InitLink(Napi::Env env, Napi::Object exports) {
  exports.Set("linkInfo", Napi::Function::New<LinkInfo>(env, "linkInfo"));
  exports.Set("linkDetach", Napi::Function::New<LinkDetach>(env, "linkDetach"));
  exports.Set("objPin", Napi::Function::New<ObjPin>(env, "objPin"));
  exports.Set("objGet", Napi::Function::New<ObjGet>(env, "objGet"));
  exports.Set("objType", Napi::Function::New<ObjType>(env, "objType"));
  exports.Set("unpin", Napi::Function::New<Unpin>(env, "unpin"));
}

}  // namespace ebpf
