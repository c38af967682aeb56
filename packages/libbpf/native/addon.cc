// Module init for ebpf_libbpf.node.
#include <napi.h>

#include "btf.h"
#include "errors.h"
#include "fd_handle.h"
#include "link.h"
#include "log_capture.h"
#include "map.h"
#include "object.h"
#include "program.h"

namespace ebpf {
void InitSocket(Napi::Env env, Napi::Object exports);  // socket.cc
void InitSeccomp(Napi::Env env, Napi::Object exports);  // seccomp.cc
void InitMemory(Napi::Env env, Napi::Object exports);   // memory.cc
void InitNetns(Napi::Env env, Napi::Object exports);    // netns.cc
void InitSched(Napi::Env env, Napi::Object exports);    // sched.cc
}  // namespace ebpf

namespace {

Napi::Value RegisterErrorFactory(const Napi::CallbackInfo& info) {
  ebpf::RegisterErrorFactory(info);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new ebpf::AddonData());
  ebpf::InstallPrintHook();
  exports.Set("registerErrorFactory", Napi::Function::New<RegisterErrorFactory>(env, "registerErrorFactory"));
  ebpf::FdHandle::Init(env, exports);
  ebpf::InitObject(env, exports);
  ebpf::InitProgram(env, exports);
  ebpf::InitMap(env, exports);
  ebpf::InitLink(env, exports);
  ebpf::InitBtf(env, exports);
  ebpf::InitSocket(env, exports);
  ebpf::InitSeccomp(env, exports);
  ebpf::InitMemory(env, exports);
  ebpf::InitNetns(env, exports);
  ebpf::InitSched(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(ebpf_libbpf, Init)
