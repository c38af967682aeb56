#pragma once

#include <napi.h>

#include <cstdint>

struct btf;

namespace ebpf {

void InitBtf(Napi::Env env, Napi::Object exports);

// Describes BTF type `id` of `b` as a plain JS object (see BtfType in src/types.ts).
Napi::Value DescribeBtfType(Napi::Env env, const struct btf* b, uint32_t id);

}  // namespace ebpf
