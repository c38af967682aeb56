// releaseFreeMemory(): hands memory the process no longer uses back to the kernel.
//
// Loading BPF objects allocates tens of MiB that are freed right after (libbpf parses the
// kernel's BTF for CO-RE relocations, the ELF, verifier logs; the agent parses manifests and
// compiles schemas). Left alone, V8 keeps its grown old space until a later GC and glibc keeps
// the freed chunks in its arenas (one per thread that allocated: libuv's pool threads too), so
// an idle agent's RSS stays at its start-up peak. Node has no API for either: V8's memory
// pressure notification is what embedders call when they know the heap holds mostly garbage,
// and malloc_trim(3) returns free pages of every glibc arena. Both are cheap to ask for once
// after a burst of loads, which is the only caller (packages/core/src/host/idle-memory.ts).
#include <napi.h>
#include <v8.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ebpf {
namespace {

Napi::Value ReleaseFreeMemory(const Napi::CallbackInfo& info) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate != nullptr) isolate->LowMemoryNotification();
  bool trimmed = false;
#if defined(__GLIBC__)
  trimmed = malloc_trim(0) != 0;
#endif
  return Napi::Boolean::New(info.Env(), trimmed);
}

}  // namespace

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("releaseFreeMemory", Napi::Function::New<ReleaseFreeMemory>(env, "releaseFreeMemory"));
}

}  // namespace ebpf
