#pragma once

#include <napi.h>

namespace ebpf {

void InitObject(Napi::Env env, Napi::Object exports);

}  // namespace ebpf
