#pragma once

#include <napi.h>

namespace ebpf {

void InitLink(Napi::Env env, Napi::Object exports);

}  // namespace ebpf
