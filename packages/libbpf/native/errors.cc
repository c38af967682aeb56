#include "errors.h"

#include <bpf/libbpf.h>

#include <cstdlib>

namespace ebpf {

AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

std::string ErrnoText(int err) {
  char buf[256];
  if (err < 0) err = -err;
  if (libbpf_strerror(err, buf, sizeof(buf)) != 0 && buf[0] == '\0') {
    return "errno " + std::to_string(err);
  }
  return buf;
}

namespace {

Napi::Value Build(Napi::Env env, const char* kind, const std::string& op, int err, const std::string& libbpfLog,
                  const std::string* verifierLog, const std::string* program) {
  if (err < 0) err = -err;
  Napi::Object detail = Napi::Object::New(env);
  detail.Set("kind", kind);
  detail.Set("op", op);
  detail.Set("errno", err);
  detail.Set("message", ErrnoText(err));
  detail.Set("libbpfLog", libbpfLog);
  if (verifierLog != nullptr) detail.Set("verifierLog", *verifierLog);
  if (program != nullptr && !program->empty()) detail.Set("program", *program);

  AddonData& data = Data(env);
  if (!data.errorFactory.IsEmpty()) {
    return data.errorFactory.Call({detail});
  }
  // Factory not registered (should not happen): fall back to a plain Error with the same fields.
  Napi::Error e = Napi::Error::New(env, op + ": " + ErrnoText(err));
  e.Value().Set("op", op);
  e.Value().Set("errno", err);
  e.Value().Set("libbpfLog", libbpfLog);
  return e.Value();
}

}  // namespace

Napi::Value MakeErrnoError(Napi::Env env, const std::string& op, int err, const std::string& libbpfLog) {
  return Build(env, "libbpf", op, err, libbpfLog, nullptr, nullptr);
}

void ThrowErrno(Napi::Env env, const std::string& op, int err, const std::string& libbpfLog) {
  throw Napi::Error(env, MakeErrnoError(env, op, err, libbpfLog));
}

void ThrowLoadError(Napi::Env env, const std::string& op, int err, const std::string& libbpfLog,
                    const std::string& verifierLog, const std::string& program) {
  throw Napi::Error(env, Build(env, "load", op, err, libbpfLog, &verifierLog, &program));
}

void ThrowTypeError(Napi::Env env, const std::string& message) { throw Napi::TypeError::New(env, message); }

void ThrowPlainError(Napi::Env env, const std::string& message) { throw Napi::Error::New(env, message); }

void RegisterErrorFactory(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) ThrowTypeError(info.Env(), "registerErrorFactory(fn)");
  Data(info.Env()).errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
}

}  // namespace ebpf
