#pragma once

#include <napi.h>

namespace ebpf {

void InitProgram(Napi::Env env, Napi::Object exports);

}  // namespace ebpf
