// ObjectHandle: owns one struct bpf_object (bpf_object__open_* ... bpf_object__close).
#include "object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "btf.h"
#include "capabilities.h"
#include "errors.h"
#include "fd_handle.h"
#include "log_capture.h"

namespace ebpf {

namespace {

class ObjectHandle : public Napi::ObjectWrap<ObjectHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "ObjectHandle",
                                      {
                                          InstanceMethod<&ObjectHandle::Name>("name"),
                                          InstanceMethod<&ObjectHandle::Programs>("programs"),
                                          InstanceMethod<&ObjectHandle::Maps>("maps"),
                                          InstanceMethod<&ObjectHandle::SetProgramType>("setProgramType"),
                                          InstanceMethod<&ObjectHandle::SetExpectedAttachType>("setExpectedAttachType"),
                                          InstanceMethod<&ObjectHandle::SetAutoload>("setAutoload"),
                                          InstanceMethod<&ObjectHandle::SetAttachTarget>("setAttachTarget"),
                                          InstanceMethod<&ObjectHandle::SetMapPinPath>("setMapPinPath"),
                                          InstanceMethod<&ObjectHandle::MapTypes>("mapTypes"),
                                          InstanceMethod<&ObjectHandle::ProgramInstructions>("programInstructions"),
                                          InstanceMethod<&ObjectHandle::SetProgramInstructions>("setProgramInstructions"),
                                          InstanceMethod<&ObjectHandle::Load>("load"),
                                          InstanceMethod<&ObjectHandle::ProgramFd>("programFd"),
                                          InstanceMethod<&ObjectHandle::MapFd>("mapFd"),
                                          InstanceMethod<&ObjectHandle::Close>("close"),
                                      });
    Data(env).objectCtor = Napi::Persistent(ctor);
  }

  explicit ObjectHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ObjectHandle>(info) {}

  ~ObjectHandle() override { CloseNow(); }

  void Adopt(bpf_object* obj, std::vector<uint8_t>&& buffer) {
    obj_ = obj;
    buffer_ = std::move(buffer);
  }

 private:
  bpf_object* Obj(Napi::Env env) {
    if (obj_ == nullptr) ThrowPlainError(env, "bpf_object is closed");
    return obj_;
  }

  bpf_program* Prog(Napi::Env env, const Napi::Value& name) {
    std::string n = name.As<Napi::String>().Utf8Value();
    bpf_program* p = bpf_object__find_program_by_name(Obj(env), n.c_str());
    if (p == nullptr) ThrowErrno(env, "bpf_object__find_program_by_name(" + n + ")", ENOENT);
    return p;
  }

  void CloseNow() {
    if (obj_ != nullptr) {
      LogCapture cap;
      bpf_object__close(obj_);
      obj_ = nullptr;
    }
    buffer_.clear();
    buffer_.shrink_to_fit();
  }

  Napi::Value Name(const Napi::CallbackInfo& info) {
    const char* n = bpf_object__name(Obj(info.Env()));
    return Napi::String::New(info.Env(), n ? n : "");
  }

  Napi::Value Programs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_object* obj = Obj(env);
    Napi::Array out = Napi::Array::New(env);
    uint32_t i = 0;
    bpf_program* p;
    bpf_object__for_each_program(p, obj) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_program__name(p));
      const char* sec = bpf_program__section_name(p);
      o.Set("sectionName", sec ? sec : "");
      const char* t = libbpf_bpf_prog_type_str(bpf_program__type(p));
      o.Set("type", t ? std::string(t) : "unknown(" + std::to_string(bpf_program__type(p)) + ")");
      o.Set("autoload", bpf_program__autoload(p));
      const char* at = libbpf_bpf_attach_type_str(bpf_program__expected_attach_type(p));
      o.Set("expectedAttachType", at ? std::string(at) : "unknown(" + std::to_string(bpf_program__expected_attach_type(p)) + ")");
      out.Set(i++, o);
    }
    return out;
  }

  Napi::Value Maps(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_object* obj = Obj(env);
    Napi::Array out = Napi::Array::New(env);
    uint32_t i = 0;
    bpf_map* m;
    bpf_object__for_each_map(m, obj) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_map__name(m));
      const char* t = libbpf_bpf_map_type_str(bpf_map__type(m));
      o.Set("type", t ? std::string(t) : "unknown(" + std::to_string(bpf_map__type(m)) + ")");
      o.Set("keySize", bpf_map__key_size(m));
      o.Set("valueSize", bpf_map__value_size(m));
      o.Set("maxEntries", bpf_map__max_entries(m));
      o.Set("flags", bpf_map__map_flags(m));
      // Set at open for maps declared with __uint(pinning, LIBBPF_PIN_BY_NAME).
      const char* pin = bpf_map__pin_path(m);
      o.Set("pinPath", pin ? Napi::Value(Napi::String::New(env, pin)) : env.Null());
      out.Set(i++, o);
    }
    return out;
  }

  Napi::Value SetProgramType(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_program* p = Prog(env, info[0]);
    LogCapture cap;
    int err = bpf_program__set_type(p, static_cast<bpf_prog_type>(info[1].As<Napi::Number>().Int32Value()));
    if (err) ThrowErrno(env, "bpf_program__set_type", err, cap.text());
    return env.Undefined();
  }

  Napi::Value SetExpectedAttachType(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_program* p = Prog(env, info[0]);
    LogCapture cap;
    int err = bpf_program__set_expected_attach_type(
        p, static_cast<bpf_attach_type>(info[1].As<Napi::Number>().Int32Value()));
    if (err) ThrowErrno(env, "bpf_program__set_expected_attach_type", err, cap.text());
    return env.Undefined();
  }

  Napi::Value SetAutoload(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_program* p = Prog(env, info[0]);
    LogCapture cap;
    int err = bpf_program__set_autoload(p, info[1].As<Napi::Boolean>().Value());
    if (err) ThrowErrno(env, "bpf_program__set_autoload", err, cap.text());
    return env.Undefined();
  }

  // setAttachTarget(program, funcName): the kernel function (fentry/fexit) or the btf_trace_
  // typedef's tracepoint (tp_btf) the program is loaded for; resolved in the kernel's BTF now,
  // using the expected attach type already set.
  Napi::Value SetAttachTarget(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_program* p = Prog(env, info[0]);
    std::string fn = info[1].As<Napi::String>().Utf8Value();
    LogCapture cap;
    int err = bpf_program__set_attach_target(p, 0, fn.c_str());
    if (err) ThrowErrno(env, "bpf_program__set_attach_target(" + fn + ")", err, cap.text());
    return env.Undefined();
  }

  // setMapPinPath(map, path | null): null stops libbpf from pinning (and reusing a pin) at load.
  Napi::Value SetMapPinPath(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string n = info[0].As<Napi::String>().Utf8Value();
    bpf_map* m = bpf_object__find_map_by_name(Obj(env), n.c_str());
    if (m == nullptr) ThrowErrno(env, "bpf_object__find_map_by_name(" + n + ")", ENOENT);
    std::string path;
    bool clear = info[1].IsNull() || info[1].IsUndefined();
    if (!clear) path = info[1].As<Napi::String>().Utf8Value();
    LogCapture cap;
    int err = bpf_map__set_pin_path(m, clear ? nullptr : path.c_str());
    if (err) ThrowErrno(env, "bpf_map__set_pin_path(" + n + ")", err, cap.text());
    return env.Undefined();
  }

  // mapTypes(map) -> { key?, value? }: the key and value types from the object's own BTF (.BTF
  // of the ELF), without loading anything: what a map's kernel BTF will say once it is created.
  Napi::Value MapTypes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string n = info[0].As<Napi::String>().Utf8Value();
    bpf_map* m = bpf_object__find_map_by_name(Obj(env), n.c_str());
    if (m == nullptr) ThrowErrno(env, "bpf_object__find_map_by_name(" + n + ")", ENOENT);
    Napi::Object out = Napi::Object::New(env);
    const btf* b = bpf_object__btf(Obj(env));
    if (b == nullptr) return out;
    uint32_t key = bpf_map__btf_key_type_id(m);
    uint32_t value = bpf_map__btf_value_type_id(m);
    if (key != 0) out.Set("key", DescribeBtfType(env, b, key));
    if (value != 0) out.Set("value", DescribeBtfType(env, b, value));
    return out;
  }

  // programInstructions(name): a copy of the program's instructions as libbpf holds them. Before
  // load these are the function's own instructions from the ELF (no subprograms appended yet).
  Napi::Value ProgramInstructions(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_program* p = Prog(env, info[0]);
    const bpf_insn* insns = bpf_program__insns(p);
    size_t cnt = bpf_program__insn_cnt(p);
    if (insns == nullptr || cnt == 0) return Napi::Buffer<uint8_t>::New(env, 0);
    return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(insns), cnt * sizeof(bpf_insn));
  }

  // setProgramInstructions(name, bytes): replaces them before load (bpf_program__set_insns).
  // libbpf relocates after this: relocation sites keep their indices as long as instructions are
  // only appended or replaced one for one, and subprograms are appended after the new end.
  Napi::Value SetProgramInstructions(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_program* p = Prog(env, info[0]);
    Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
    if (bytes.ByteLength() == 0 || bytes.ByteLength() % sizeof(bpf_insn) != 0) {
      ThrowTypeError(env, "setProgramInstructions: the code must be a non-empty whole number of 8-byte instructions");
    }
    // A copy: libbpf reallocates the program's own buffer before copying from ours.
    std::vector<bpf_insn> copy(bytes.ByteLength() / sizeof(bpf_insn));
    memcpy(copy.data(), bytes.Data(), bytes.ByteLength());
    LogCapture cap;
    int err = bpf_program__set_insns(p, copy.data(), copy.size());
    if (err) ThrowErrno(env, "bpf_program__set_insns", err, cap.text());
    return env.Undefined();
  }

  // load(logLevel, logSize, dropCapabilities): every autoloaded program gets its own verifier log buffer so the
  // failing program's log survives; libbpf retries a failed level-0 load with level 1 itself.
  Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_object* obj = Obj(env);
    uint32_t logLevel = info[0].As<Napi::Number>().Uint32Value();
    size_t logSize = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
    std::vector<int> dropCaps;
    if (info.Length() > 2 && info[2].IsArray()) {
      Napi::Array names = info[2].As<Napi::Array>();
      for (uint32_t i = 0; i < names.Length(); i++) {
        std::string name = names.Get(i).As<Napi::String>().Utf8Value();
        int cap = CapabilityNumber(name);
        if (cap < 0) ThrowTypeError(env, "load: unknown capability " + name);
        dropCaps.push_back(cap);
      }
    }

    struct ProgLog {
      bpf_program* prog;
      std::vector<char> buf;
    };
    std::vector<ProgLog> logs;
    bpf_program* p;
    bpf_object__for_each_program(p, obj) {
      if (!bpf_program__autoload(p)) continue;
      logs.push_back({p, std::vector<char>(logSize, '\0')});
    }
    for (ProgLog& l : logs) {
      bpf_program__set_log_buf(l.prog, l.buf.data(), l.buf.size());
      if (logLevel > 0) bpf_program__set_log_level(l.prog, logLevel);
    }

    int err;
    int dropError = 0;
    std::string libbpfLog;
    {
      // The verifier decides helper access from this thread's effective capabilities.
      EffectiveCapabilitiesDropped dropped(dropCaps);
      dropError = dropped.error();
      LogCapture cap;
      err = dropError ? 0 : bpf_object__load(obj);
      libbpfLog = cap.text();
    }
    for (ProgLog& l : logs) bpf_program__set_log_buf(l.prog, nullptr, 0);
    if (dropError) ThrowErrno(env, "capset (drop capabilities before load)", dropError);
    if (!dropCaps.empty() && EffectiveCapabilitiesDropped::LastRestoreError()) {
      ThrowErrno(env, "capset (restore capabilities after load)", EffectiveCapabilitiesDropped::LastRestoreError());
    }

    if (err) {
      // The failing program is the first one that was not loaded and has a log; otherwise the
      // first with a non-empty log.
      std::string program;
      std::string verifierLog;
      for (ProgLog& l : logs) {
        if (l.buf[0] != '\0' && bpf_program__fd(l.prog) < 0) {
          program = bpf_program__name(l.prog);
          verifierLog.assign(l.buf.data(), strnlen(l.buf.data(), l.buf.size()));
          break;
        }
      }
      if (program.empty()) {
        for (ProgLog& l : logs) {
          if (l.buf[0] != '\0') {
            program = bpf_program__name(l.prog);
            verifierLog.assign(l.buf.data(), strnlen(l.buf.data(), l.buf.size()));
            break;
          }
        }
      }
      ThrowLoadError(env, "bpf_object__load", err, libbpfLog, verifierLog, program);
    }
    return env.Undefined();
  }

  Napi::Value ProgramFd(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_program* p = Prog(env, info[0]);
    int fd = bpf_program__fd(p);
    if (fd < 0) ThrowErrno(env, std::string("bpf_program__fd(") + bpf_program__name(p) + ")", fd);
    return FdHandle::New(env, DupFd(env, fd, "program fd"));
  }

  Napi::Value MapFd(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string n = info[0].As<Napi::String>().Utf8Value();
    bpf_map* m = bpf_object__find_map_by_name(Obj(env), n.c_str());
    if (m == nullptr) ThrowErrno(env, "bpf_object__find_map_by_name(" + n + ")", ENOENT);
    int fd = bpf_map__fd(m);
    if (fd < 0) ThrowErrno(env, "bpf_map__fd(" + n + ")", fd);
    return FdHandle::New(env, DupFd(env, fd, "map fd"));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseNow();
    return info.Env().Undefined();
  }

  bpf_object* obj_ = nullptr;
  std::vector<uint8_t> buffer_;
};

Napi::Value Wrap(Napi::Env env, bpf_object* obj, std::vector<uint8_t>&& buffer) {
  Napi::Object o;
  try {
    o = Data(env).objectCtor.New({});
  } catch (...) {
    bpf_object__close(obj);
    throw;
  }
  ObjectHandle::Unwrap(o)->Adopt(obj, std::move(buffer));
  return o;
}

// openFile(path)
Napi::Value OpenFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  LogCapture cap;
  bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
  if (obj == nullptr) ThrowErrno(env, "bpf_object__open_file(" + path + ")", errno, cap.text());
  return Wrap(env, obj, {});
}

// openMem(buffer, name): the ELF bytes are copied and kept for the object's lifetime.
Napi::Value OpenMem(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array arr = info[0].As<Napi::Uint8Array>();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  std::vector<uint8_t> copy(arr.Data(), arr.Data() + arr.ByteLength());
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name.c_str());
  LogCapture cap;
  bpf_object* obj = bpf_object__open_mem(copy.data(), copy.size(), &opts);
  if (obj == nullptr) ThrowErrno(env, "bpf_object__open_mem(" + name + ")", errno, cap.text());
  return Wrap(env, obj, std::move(copy));
}

// enumNames(kind): libbpf's names indexed by enum value ("" for gaps), scanning
// libbpf_bpf_*_str until it returns NULL. No hand-written tables.
Napi::Value EnumNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string kind = info[0].As<Napi::String>().Utf8Value();
  Napi::Array out = Napi::Array::New(env);
  for (uint32_t i = 0; i < 1024; i++) {
    const char* s = nullptr;
    if (kind == "prog") {
      s = libbpf_bpf_prog_type_str(static_cast<bpf_prog_type>(i));
    } else if (kind == "attach") {
      s = libbpf_bpf_attach_type_str(static_cast<bpf_attach_type>(i));
    } else if (kind == "map") {
      s = libbpf_bpf_map_type_str(static_cast<bpf_map_type>(i));
    } else if (kind == "link") {
      s = libbpf_bpf_link_type_str(static_cast<bpf_link_type>(i));
    } else {
      ThrowTypeError(env, "enumNames: unknown kind " + kind);
    }
    if (s == nullptr) break;
    out.Set(i, s);
  }
  return out;
}

}  // namespace

void InitObject(Napi::Env env, Napi::Object exports) {
  ObjectHandle::Init(env, exports);
  exports.Set("openFile", Napi::Function::New<OpenFile>(env, "openFile"));
  exports.Set("openMem", Napi::Function::New<OpenMem>(env, "openMem"));
  exports.Set("enumNames", Napi::Function::New<EnumNames>(env, "enumNames"));
}

}  // namespace ebpf
