#pragma once

#include <napi.h>

namespace ebpf {

void InitBtf(Napi::Env env, Napi::Object exports);

}  // namespace ebpf
