#pragma once

#include <napi.h>

namespace ebpf {

void InitMap(Napi::Env env, Napi::Object exports);

}  // namespace ebpf
