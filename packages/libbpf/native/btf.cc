// Describes kernel BTF types as plain JS objects (see BtfType in src/types.ts).
#include "btf.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "errors.h"
#include "log_capture.h"

namespace ebpf {

namespace {

const char* KindName(int kind) {
  switch (kind) {
    case BTF_KIND_UNKN: return "void";
    case BTF_KIND_INT: return "int";
    case BTF_KIND_PTR: return "ptr";
    case BTF_KIND_ARRAY: return "array";
    case BTF_KIND_STRUCT: return "struct";
    case BTF_KIND_UNION: return "union";
    case BTF_KIND_ENUM: return "enum";
    case BTF_KIND_FWD: return "fwd";
    case BTF_KIND_TYPEDEF: return "typedef";
    case BTF_KIND_VOLATILE: return "volatile";
    case BTF_KIND_CONST: return "const";
    case BTF_KIND_RESTRICT: return "restrict";
    case BTF_KIND_FUNC: return "func";
    case BTF_KIND_FUNC_PROTO: return "func_proto";
    case BTF_KIND_VAR: return "var";
    case BTF_KIND_DATASEC: return "datasec";
    case BTF_KIND_FLOAT: return "float";
    case BTF_KIND_DECL_TAG: return "decl_tag";
    case BTF_KIND_TYPE_TAG: return "type_tag";
#ifdef BTF_KIND_ENUM64
    case BTF_KIND_ENUM64: return "enum64";
#endif
    default: return "unknown";
  }
}

std::string Name(const btf* b, const btf_type* t) {
  const char* n = btf__name_by_offset(b, t->name_off);
  return n ? n : "";
}

Napi::Value Describe(Napi::Env env, const btf* b, uint32_t id, int depth) {
  // Resolve modifiers and typedefs.
  const btf_type* t = btf__type_by_id(b, id);
  for (int i = 0; t != nullptr && i < 64; i++) {
    int k = btf_kind(t);
    if (k != BTF_KIND_TYPEDEF && k != BTF_KIND_VOLATILE && k != BTF_KIND_CONST && k != BTF_KIND_RESTRICT &&
        k != BTF_KIND_TYPE_TAG) {
      break;
    }
    id = t->type;
    t = btf__type_by_id(b, id);
  }
  Napi::Object o = Napi::Object::New(env);
  if (t == nullptr) {
    o.Set("kind", "unknown");
    o.Set("name", "");
    o.Set("size", 0);
    o.Set("btfKind", "invalid");
    return o;
  }
  long long rs = btf__resolve_size(b, id);
  uint32_t size = rs > 0 ? static_cast<uint32_t>(rs) : 0;
  int kind = btf_kind(t);
  if (depth > 32) kind = -1;
  switch (kind) {
    case BTF_KIND_INT: {
      uint32_t enc = btf_int_encoding(t);
      o.Set("kind", "int");
      o.Set("name", Name(b, t));
      o.Set("size", t->size);
      o.Set("signed", (enc & BTF_INT_SIGNED) != 0);
      o.Set("char", (enc & BTF_INT_CHAR) != 0);
      o.Set("bool", (enc & BTF_INT_BOOL) != 0);
      return o;
    }
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION: {
      o.Set("kind", kind == BTF_KIND_STRUCT ? "struct" : "union");
      o.Set("name", Name(b, t));
      o.Set("size", t->size);
      Napi::Array members = Napi::Array::New(env);
      const btf_member* m = btf_members(t);
      for (uint32_t i = 0; i < btf_vlen(t); i++) {
        Napi::Object mo = Napi::Object::New(env);
        uint32_t bitOff = btf_member_bit_offset(t, i);
        mo.Set("name", btf__name_by_offset(b, m[i].name_off));
        mo.Set("offset", bitOff / 8);
        mo.Set("bitOffset", bitOff);
        mo.Set("bitSize", btf_member_bitfield_size(t, i));
        mo.Set("type", Describe(env, b, m[i].type, depth + 1));
        members.Set(i, mo);
      }
      o.Set("members", members);
      return o;
    }
    case BTF_KIND_ARRAY: {
      const struct btf_array* a = btf_array(t);
      o.Set("kind", "array");
      o.Set("size", size);
      o.Set("length", a->nelems);
      o.Set("elementType", Describe(env, b, a->type, depth + 1));
      return o;
    }
    case BTF_KIND_ENUM: {
      o.Set("kind", "enum");
      o.Set("name", Name(b, t));
      o.Set("size", t->size);
      bool isSigned = btf_kflag(t);
      o.Set("signed", isSigned);
      Napi::Array values = Napi::Array::New(env);
      const struct btf_enum* e = btf_enum(t);
      for (uint32_t i = 0; i < btf_vlen(t); i++) {
        Napi::Object v = Napi::Object::New(env);
        v.Set("name", btf__name_by_offset(b, e[i].name_off));
        if (isSigned) {
          v.Set("value", Napi::BigInt::New(env, static_cast<int64_t>(e[i].val)));
        } else {
          v.Set("value", Napi::BigInt::New(env, static_cast<uint64_t>(static_cast<uint32_t>(e[i].val))));
        }
        values.Set(i, v);
      }
      o.Set("values", values);
      return o;
    }
#ifdef BTF_KIND_ENUM64
    case BTF_KIND_ENUM64: {
      o.Set("kind", "enum");
      o.Set("name", Name(b, t));
      o.Set("size", t->size);
      bool isSigned = btf_kflag(t);
      o.Set("signed", isSigned);
      Napi::Array values = Napi::Array::New(env);
      const struct btf_enum64* e = btf_enum64(t);
      for (uint32_t i = 0; i < btf_vlen(t); i++) {
        Napi::Object v = Napi::Object::New(env);
        v.Set("name", btf__name_by_offset(b, e[i].name_off));
        uint64_t raw = btf_enum64_value(&e[i]);
        if (isSigned) {
          v.Set("value", Napi::BigInt::New(env, static_cast<int64_t>(raw)));
        } else {
          v.Set("value", Napi::BigInt::New(env, raw));
        }
        values.Set(i, v);
      }
      o.Set("values", values);
      return o;
    }
#endif
    case BTF_KIND_FLOAT:
      o.Set("kind", "float");
      o.Set("name", Name(b, t));
      o.Set("size", t->size);
      return o;
    case BTF_KIND_PTR:
      o.Set("kind", "pointer");
      o.Set("size", size);
      return o;
    default:
      o.Set("kind", "unknown");
      o.Set("name", Name(b, t));
      o.Set("size", size);
      o.Set("btfKind", depth > 32 ? "too deep" : KindName(btf_kind(t)));
      return o;
  }
}

// btfDescribe(btfId, typeIds[]) -> BtfType[]
Napi::Value BtfDescribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t btfId = info[0].As<Napi::Number>().Uint32Value();
  Napi::Array ids = info[1].As<Napi::Array>();
  LogCapture cap;
  btf* b = btf__load_from_kernel_by_id(btfId);
  if (b == nullptr) ThrowErrno(env, "btf__load_from_kernel_by_id(" + std::to_string(btfId) + ")", errno, cap.text());
  Napi::Array out = Napi::Array::New(env, ids.Length());
  try {
    for (uint32_t i = 0; i < ids.Length(); i++) {
      uint32_t id = ids.Get(i).As<Napi::Number>().Uint32Value();
      if (id == 0 || static_cast<uint32_t>(btf__type_cnt(b)) <= id) {
 ThrowErrno(env, "btf type " + std::to_string(id), ENOENT);
      }
      out.Set(i, Describe(env, b, id, 0));
    }
  } catch (...) {
    btf__free(b);
    throw;
  }
  btf__free(b);
  return out;
}

// btfNames(paths[], basePath | null, kind, prefix) -> string[]: names of the FUNC or TYPEDEF
// types that start with prefix in BTF files: standalone ones (base null, e.g.
// /sys/kernel/btf/vmlinux), or modules' split BTF over one base parsed once. A file that does not
// parse is skipped (a module unloaded meanwhile); a base that does not parse throws. For
// existence checks and "did you mean" of attach points.
Napi::Value BtfNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array paths = info[0].As<Napi::Array>();
  std::string kindName = info[2].As<Napi::String>().Utf8Value();
  std::string prefix = info[3].As<Napi::String>().Utf8Value();
  int kind = kindName == "func" ? BTF_KIND_FUNC : BTF_KIND_TYPEDEF;
  LogCapture cap;
  btf* base = nullptr;
  if (!info[1].IsNull()) {
    std::string basePath = info[1].As<Napi::String>().Utf8Value();
    base = btf__parse(basePath.c_str(), nullptr);
    if (base == nullptr) ThrowErrno(env, "btf__parse(" + basePath + ")", errno, cap.text());
  }
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (uint32_t i = 0; i < paths.Length(); i++) {
    std::string path = paths.Get(i).As<Napi::String>().Utf8Value();
    btf* b = base ? btf__parse_split(path.c_str(), base) : btf__parse(path.c_str(), nullptr);
    if (b == nullptr) {
      if (base == nullptr && paths.Length() == 1) ThrowErrno(env, "btf__parse(" + path + ")", errno, cap.text());
      continue;
    }
    uint32_t first = base ? static_cast<uint32_t>(btf__type_cnt(base)) : 1;
    uint32_t count = static_cast<uint32_t>(btf__type_cnt(b));
    for (uint32_t id = first; id < count; id++) {
      const btf_type* t = btf__type_by_id(b, id);
      if (t == nullptr || btf_kind(t) != kind) continue;
      const char* name = btf__name_by_offset(b, t->name_off);
      if (name == nullptr || strncmp(name, prefix.c_str(), prefix.size()) != 0) continue;
      out.Set(n++, name);
    }
    btf__free(b);
  }
  btf__free(base);
  return out;
}

}  // namespace

Napi::Value DescribeBtfType(Napi::Env env, const btf* b, uint32_t id) { return Describe(env, b, id, 0); }

void InitBtf(Napi::Env env, Napi::Object exports) {
  exports.Set("btfDescribe", Napi::Function::New<BtfDescribe>(env, "btfDescribe"));
  exports.Set("btfNames", Napi::Function::New<BtfNames>(env, "btfNames"));
}

}  // namespace ebpf
