// Throwing JS errors that carry errno, libbpf's captured output and (for loads) the verifier log.
//
// The JS error classes live in TypeScript (src/errors.ts). At load time src/native.ts registers a
// factory function; every error thrown here is built by that factory so JS callers receive real
// LibbpfError / BpfLoadError instances.
#pragma once

#include <napi.h>

#include <string>

namespace ebpf {

struct AddonData {
  Napi::FunctionReference errorFactory;
  Napi::FunctionReference fdHandleCtor;
  Napi::FunctionReference objectCtor;
};

AddonData& Data(Napi::Env env);

// strerror-like text for a positive or negative errno (libbpf's own codes included).
std::string ErrnoText(int err);

// Builds (does not throw) a LibbpfError value; used for promise rejections.
Napi::Value MakeErrnoError(Napi::Env env, const std::string& op, int err, const std::string& libbpfLog = "");

// Throws a LibbpfError. err may be positive or negative.
[[noreturn]] void ThrowErrno(Napi::Env env, const std::string& op, int err, const std::string& libbpfLog = "");

// Throws a BpfLoadError.
[[noreturn]] void ThrowLoadError(Napi::Env env, const std::string& op, int err, const std::string& libbpfLog,
                                 const std::string& verifierLog, const std::string& program);

[[noreturn]] void ThrowTypeError(Napi::Env env, const std::string& message);
[[noreturn]] void ThrowPlainError(Napi::Env env, const std::string& message);

void RegisterErrorFactory(const Napi::CallbackInfo& info);

}  // namespace ebpf
