// seccomp filters built with libseccomp, for the compiler sandbox (bubblewrap's --seccomp takes a
// compiled classic-BPF program). libseccomp resolves syscall names for the running architecture,
// adds the architecture check (a foreign-ABI syscall, e.g. int 0x80 or x32 on x86_64, is killed)
// and orders the rules; hand-writing that BPF per architecture is what it exists to avoid.
//
// buildSeccompFilter({ defaultErrno, rules: [{ syscall, action, errno?, args? }] })
//   -> { program: Buffer, unresolved: string[] }
// action: "allow" | "errno"; args: [{ index, op: "eq" | "masked_eq", value, mask? }] (all must
// hold). Names this architecture or this libseccomp does not know are returned in `unresolved`
// and skipped, so one list serves every architecture.
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <napi.h>

#include "errors.h"

namespace ebpf {

namespace {

struct CtxDeleter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

uint64_t ToU64(Napi::Env env, const Napi::Value& value, const char* what) {
  if (value.IsBigInt()) {
    bool lossless = false;
    uint64_t v = value.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) ThrowTypeError(env, std::string(what) + " does not fit in 64 bits");
    return v;
  }
  if (value.IsNumber()) {
    double d = value.As<Napi::Number>().DoubleValue();
    if (d < 0 || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
      ThrowTypeError(env, std::string(what) + " must be a non-negative integer");
    }
    return static_cast<uint64_t>(d);
  }
  ThrowTypeError(env, std::string(what) + " must be a number or a bigint");
}

Napi::Value BuildSeccompFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) ThrowTypeError(env, "buildSeccompFilter: expected an options object");
  Napi::Object options = info[0].As<Napi::Object>();
  int defaultErrno = options.Get("defaultErrno").As<Napi::Number>().Int32Value();
  Napi::Array rules = options.Get("rules").As<Napi::Array>();

  Ctx ctx(seccomp_init(SCMP_ACT_ERRNO(static_cast<uint32_t>(defaultErrno))));
  if (!ctx) ThrowPlainError(env, "seccomp_init failed");
  // bubblewrap sets no_new_privs itself; the exported program does not need libseccomp to.
  seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);

  Napi::Array unresolved = Napi::Array::New(env);
  uint32_t unresolvedCount = 0;
  for (uint32_t i = 0; i < rules.Length(); i++) {
    Napi::Object rule = rules.Get(i).As<Napi::Object>();
    std::string name = rule.Get("syscall").As<Napi::String>().Utf8Value();
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) {
      unresolved.Set(unresolvedCount++, name);
      continue;
    }
    std::string action = rule.Get("action").As<Napi::String>().Utf8Value();
    uint32_t act;
    if (action == "allow") {
      act = SCMP_ACT_ALLOW;
    } else if (action == "errno") {
      act = SCMP_ACT_ERRNO(static_cast<uint32_t>(rule.Get("errno").As<Napi::Number>().Int32Value()));
    } else {
      ThrowTypeError(env, "buildSeccompFilter: unknown action \"" + action + "\" for " + name);
    }
    std::vector<scmp_arg_cmp> cmps;
    Napi::Value argsValue = rule.Get("args");
    if (argsValue.IsArray()) {
      Napi::Array args = argsValue.As<Napi::Array>();
      for (uint32_t j = 0; j < args.Length(); j++) {
        Napi::Object arg = args.Get(j).As<Napi::Object>();
        scmp_arg_cmp cmp{};
        cmp.arg = arg.Get("index").As<Napi::Number>().Uint32Value();
        std::string op = arg.Get("op").As<Napi::String>().Utf8Value();
        if (op == "eq") {
          cmp.op = SCMP_CMP_EQ;
          cmp.datum_a = ToU64(env, arg.Get("value"), "args.value");
        } else if (op == "masked_eq") {
          cmp.op = SCMP_CMP_MASKED_EQ;
          cmp.datum_a = ToU64(env, arg.Get("mask"), "args.mask");
          cmp.datum_b = ToU64(env, arg.Get("value"), "args.value");
        } else {
          ThrowTypeError(env, "buildSeccompFilter: unknown comparison \"" + op + "\" for " + name);
        }
        cmps.push_back(cmp);
      }
    }
    int rc = seccomp_rule_add_array(ctx.get(), act, nr, static_cast<unsigned int>(cmps.size()), cmps.data());
    if (rc < 0) ThrowErrno(env, "seccomp_rule_add(" + name + ")", -rc);
  }

  // libseccomp 2.5 exports to a file descriptor only.
  int fd = memfd_create("seccomp-filter", MFD_CLOEXEC);
  if (fd < 0) ThrowErrno(env, "memfd_create", errno);
  int rc = seccomp_export_bpf(ctx.get(), fd);
  if (rc < 0) {
    close(fd);
    ThrowErrno(env, "seccomp_export_bpf", -rc);
  }
  off_t size = lseek(fd, 0, SEEK_END);
  std::vector<uint8_t> bytes(size > 0 ? static_cast<size_t>(size) : 0);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      close(fd);
      ThrowErrno(env, "read exported seccomp filter", err);
    }
    done += static_cast<size_t>(n);
  }
  close(fd);

  Napi::Object result = Napi::Object::New(env);
  result.Set("program", Napi::Buffer<uint8_t>::Copy(env, bytes.data(), bytes.size()));
  result.Set("unresolved", unresolved);
  return result;
}

}  // namespace

void InitSeccomp(Napi::Env env, Napi::Object exports) {
  exports.Set("buildSeccompFilter", Napi::Function::New<BuildSeccompFilter>(env, "buildSeccompFilter"));
}

}  // namespace ebpf
