// Program info and attachment. Every attach here works from a program fd alone:
// perf-event based attaches (tracepoint, kprobe, uprobe) open the perf event themselves and
// bind the program with bpf_link_create(BPF_PERF_EVENT) (kernel >= 5.15), so the returned link
// fd is the only thing that keeps the attachment alive and nothing leaks.
#include "program.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "errors.h"
#include "fd_handle.h"
#include "log_capture.h"

#ifndef SO_ATTACH_BPF
#define SO_ATTACH_BPF 50
#endif
#ifndef SO_DETACH_BPF
#define SO_DETACH_BPF 27
#endif

namespace ebpf {

namespace {

int ArgInt(const Napi::Value& v) { return v.As<Napi::Number>().Int32Value(); }
std::string ArgStr(const Napi::Value& v) { return v.As<Napi::String>().Utf8Value(); }

std::string Hex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) {
    s.push_back(digits[p[i] >> 4]);
    s.push_back(digits[p[i] & 15]);
  }
  return s;
}

// progGetFdById(id) -> FdHandle (bpf_prog_get_fd_by_id: CAP_SYS_ADMIN)
Napi::Value ProgGetFdById(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  LogCapture cap;
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) ThrowErrno(env, "bpf_prog_get_fd_by_id(" + std::to_string(id) + ")", fd, cap.text());
  return FdHandle::New(env, fd);
}

Napi::Value ProgInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info[0]);
  bpf_prog_info pi;
  memset(&pi, 0, sizeof(pi));
  uint32_t len = sizeof(pi);
  LogCapture cap;
  int err = bpf_obj_get_info_by_fd(fd, &pi, &len);
  if (err) ThrowErrno(env, "bpf_obj_get_info_by_fd(program)", err, cap.text());
  std::vector<uint32_t> mapIds(pi.nr_map_ids);
  if (pi.nr_map_ids > 0) {
    uint32_t n = pi.nr_map_ids;
    memset(&pi, 0, sizeof(pi));
    pi.nr_map_ids = n;
    pi.map_ids = reinterpret_cast<uint64_t>(mapIds.data());
    len = sizeof(pi);
    err = bpf_obj_get_info_by_fd(fd, &pi, &len);
    if (err) ThrowErrno(env, "bpf_obj_get_info_by_fd(program map ids)", err, cap.text());
    mapIds.resize(pi.nr_map_ids < n ? pi.nr_map_ids : n);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", pi.id);
  o.Set("name", std::string(pi.name, strnlen(pi.name, sizeof(pi.name))));
  const char* t = libbpf_bpf_prog_type_str(static_cast<bpf_prog_type>(pi.type));
  o.Set("type", t ? std::string(t) : "unknown(" + std::to_string(pi.type) + ")");
  o.Set("tag", Hex(pi.tag, sizeof(pi.tag)));
  o.Set("runCount", Napi::BigInt::New(env, static_cast<uint64_t>(pi.run_cnt)));
  o.Set("runTimeNs", Napi::BigInt::New(env, static_cast<uint64_t>(pi.run_time_ns)));
  Napi::Array ids = Napi::Array::New(env, mapIds.size());
  for (size_t i = 0; i < mapIds.size(); i++) ids.Set(static_cast<uint32_t>(i), mapIds[i]);
  o.Set("mapIds", ids);
  o.Set("btfId", pi.btf_id);
  return o;
}

// Reads a small text file holding one number ("5\n") or "config:N" style format string.
bool ReadSmallFile(const std::string& path, std::string& out, int& err) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = errno;
    return false;
  }
  char buf[256];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  err = errno;
  close(fd);
  if (n < 0) return false;
  out.assign(buf, static_cast<size_t>(n));
  return true;
}

int PerfEventOpen(perf_event_attr* attr, int pid, int cpu) {
  return static_cast<int>(syscall(__NR_perf_event_open, attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

// Binds progFd to the perf event pfd with a BPF link, closes pfd and returns a link handle.
Napi::Value LinkPerfEvent(Napi::Env env, int progFd, int pfd, const std::string& what) {
  LogCapture cap;
  int linkFd = bpf_link_create(progFd, pfd, BPF_PERF_EVENT, nullptr);
  int err = linkFd < 0 ? linkFd : 0;
  if (linkFd >= 0 && ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0) < 0) {
    err = -errno;
    close(linkFd);
  }
  close(pfd);
  if (err) ThrowErrno(env, "bpf_link_create(" + what + ", BPF_PERF_EVENT)", err, cap.text());
  return FdHandle::New(env, linkFd);
}

// PMU type and retprobe bit of a dynamic PMU ("kprobe" or "uprobe").
void ProbePmu(Napi::Env env, const char* pmu, bool retprobe, uint32_t& type, uint64_t& config) {
  std::string base = std::string("/sys/bus/event_source/devices/") + pmu;
  std::string s;
  int err = 0;
  if (!ReadSmallFile(base + "/type", s, err)) ThrowErrno(env, "read " + base + "/type", err);
  type = static_cast<uint32_t>(strtoul(s.c_str(), nullptr, 10));
  config = 0;
  if (retprobe) {
    if (!ReadSmallFile(base + "/format/retprobe", s, err)) ThrowErrno(env, "read " + base + "/format/retprobe", err);
    int bit = 0;
    if (sscanf(s.c_str(), "config:%d", &bit) != 1) ThrowErrno(env, "parse " + base + "/format/retprobe", EINVAL);
    config = 1ULL << bit;
  }
}

// attachTracepoint(progFd, category, name, dryRun?)
Napi::Value AttachTracepoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int progFd = ArgInt(info[0]);
  std::string cat = ArgStr(info[1]);
  std::string name = ArgStr(info[2]);
  std::string s;
  int err = 0;
  std::string path = "/sys/kernel/tracing/events/" + cat + "/" + name + "/id";
  if (!ReadSmallFile(path, s, err)) {
    std::string legacy = "/sys/kernel/debug/tracing/events/" + cat + "/" + name + "/id";
    int err2 = 0;
    if (!ReadSmallFile(legacy, s, err2)) ThrowErrno(env, "read " + path, err);
  }
  bool dryRun = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.size = sizeof(attr);
  attr.config = strtoull(s.c_str(), nullptr, 10);
  // A dry run binds the program to a disabled event, never enabled (so the program never runs),
  // for the kernel's attach-time checks alone (the ctx bounds against the event's record size).
  attr.disabled = dryRun ? 1 : 0;
  int pfd = PerfEventOpen(&attr, -1, 0);
  if (pfd < 0) ThrowErrno(env, "perf_event_open(tracepoint " + cat + ":" + name + ")", errno);
  if (dryRun) {
    LogCapture cap;
    int linkFd = bpf_link_create(progFd, pfd, BPF_PERF_EVENT, nullptr);
    int err = linkFd < 0 ? linkFd : 0;
    if (linkFd >= 0) close(linkFd);
    close(pfd);
    if (err) ThrowErrno(env, "bpf_link_create(tracepoint " + cat + ":" + name + ", BPF_PERF_EVENT, disabled event)", err, cap.text());
    return env.Undefined();
  }
  return LinkPerfEvent(env, progFd, pfd, "tracepoint " + cat + ":" + name);
}

// attachKprobe(progFd, func, retprobe, offset)
Napi::Value AttachKprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int progFd = ArgInt(info[0]);
  std::string func = ArgStr(info[1]);
  bool retprobe = info[2].As<Napi::Boolean>().Value();
  uint64_t offset = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());
  perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  uint32_t type;
  uint64_t config;
  ProbePmu(env, "kprobe", retprobe, type, config);
  attr.type = type;
  attr.size = sizeof(attr);
  attr.config = config;
  attr.config1 = reinterpret_cast<uint64_t>(func.c_str());
  attr.config2 = offset;
  int pfd = PerfEventOpen(&attr, -1, 0);
  if (pfd < 0) ThrowErrno(env, "perf_event_open(kprobe " + func + ")", errno);
  return LinkPerfEvent(env, progFd, pfd, "kprobe " + func);
}

// File offset of function symbol `name` in the ELF file at `path` (.symtab first, then .dynsym).
// Returns -errno on failure.
long ElfSymbolOffset(const std::string& path, const std::string& name, std::string& detail) {
  if (elf_version(EV_CURRENT) == EV_NONE) return -EINVAL;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (elf == nullptr) {
    close(fd);
    detail = std::string("libelf: ") + elf_errmsg(-1);
    return -EINVAL;
  }
  long result = -ENOENT;
  for (int pass = 0; pass < 2 && result == -ENOENT; pass++) {
    Elf64_Word want = pass == 0 ? SHT_SYMTAB : SHT_DYNSYM;
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(elf, scn)) != nullptr && result == -ENOENT) {
      GElf_Shdr sh;
      if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type != want || sh.sh_entsize == 0) continue;
      Elf_Data* data = elf_getdata(scn, nullptr);
      if (data == nullptr) continue;
      size_t n = sh.sh_size / sh.sh_entsize;
      for (size_t i = 0; i < n; i++) {
        GElf_Sym sym;
        if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) continue;
        int t = GELF_ST_TYPE(sym.st_info);
        if (t != STT_FUNC && t != STT_GNU_IFUNC) continue;
        if (sym.st_shndx == SHN_UNDEF) continue;
        const char* sname = elf_strptr(elf, sh.sh_link, sym.st_name);
        if (sname == nullptr) continue;
        size_t len = strlen(sname);
        const char* at = strchr(sname, '@');
        if (at != nullptr) len = static_cast<size_t>(at - sname);
        if (len != name.size() || strncmp(sname, name.c_str(), len) != 0) continue;
        Elf_Scn* symScn = elf_getscn(elf, sym.st_shndx);
        GElf_Shdr symSh;
        if (symScn == nullptr || gelf_getshdr(symScn, &symSh) == nullptr) continue;
        result = static_cast<long>(sym.st_value - symSh.sh_addr + symSh.sh_offset);
        break;
      }
    }
  }
  elf_end(elf);
  close(fd);
  if (result == -ENOENT) detail = "symbol '" + name + "' not found in " + path;
  return result;
}

// attachUprobe(progFd, binaryPath, symbol|null, offset, pid, retprobe)
Napi::Value AttachUprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int progFd = ArgInt(info[0]);
  std::string path = ArgStr(info[1]);
  uint64_t offset = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());
  int pid = ArgInt(info[4]);
  bool retprobe = info[5].As<Napi::Boolean>().Value();
  std::string what = "uprobe " + path;
  if (info[2].IsString()) {
    std::string symbol = ArgStr(info[2]);
    std::string detail;
    long off = ElfSymbolOffset(path, symbol, detail);
    if (off < 0) ThrowErrno(env, "resolve uprobe symbol " + symbol + " in " + path, static_cast<int>(off), detail);
    offset += static_cast<uint64_t>(off);
    what += ":" + symbol;
  }
  uint32_t type;
  uint64_t config;
  ProbePmu(env, "uprobe", retprobe, type, config);
  perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.type = type;
  attr.size = sizeof(attr);
  attr.config = config;
  attr.config1 = reinterpret_cast<uint64_t>(path.c_str());
  attr.config2 = offset;
  int pfd = PerfEventOpen(&attr, pid < 0 ? -1 : pid, pid < 0 ? 0 : -1);
  if (pfd < 0) ThrowErrno(env, "perf_event_open(" + what + ")", errno);
  return LinkPerfEvent(env, progFd, pfd, what);
}

// attachRawTracepoint(progFd, name)
Napi::Value AttachRawTracepoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgStr(info[1]);
  LogCapture cap;
  int fd = bpf_raw_tracepoint_open(name.c_str(), ArgInt(info[0]));
  if (fd < 0) ThrowErrno(env, "bpf_raw_tracepoint_open(" + name + ")", fd, cap.text());
  return FdHandle::New(env, fd);
}

// attachTrace(progFd): a BPF_PROG_TYPE_TRACING program (tp_btf, fentry, fexit) attaches where
// its attach BTF id, fixed at load, says (bpf_raw_tracepoint_open with no name, kernel 5.5+).
Napi::Value AttachTrace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LogCapture cap;
  int fd = bpf_raw_tracepoint_open(nullptr, ArgInt(info[0]));
  if (fd < 0) ThrowErrno(env, "bpf_raw_tracepoint_open(tracing program)", fd, cap.text());
  return FdHandle::New(env, fd);
}

// probeTracing(attachType, btfName, btfKind) -> { supported, errno, log }: loads (never attaches)
// a two-instruction BPF_PROG_TYPE_TRACING program for the vmlinux BTF type btfName (a FUNC for
// fentry/fexit, a btf_trace_* TYPEDEF for tp_btf). libbpf_probe_bpf_prog_type cannot tell these
// apart: a kernel may load tp_btf programs and refuse fentry trampolines.
Napi::Value ProbeTracing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int attachType = ArgInt(info[0]);
  std::string name = ArgStr(info[1]);
  int kind = ArgStr(info[2]) == "func" ? BTF_KIND_FUNC : BTF_KIND_TYPEDEF;
  Napi::Object out = Napi::Object::New(env);
  LogCapture cap;
  btf* vmlinux = btf__load_vmlinux_btf();
  if (vmlinux == nullptr) {
    out.Set("supported", false);
    out.Set("errno", -errno);
    out.Set("log", "no kernel BTF (/sys/kernel/btf/vmlinux): " + ErrnoText(errno));
    return out;
  }
  int id = btf__find_by_name_kind(vmlinux, name.c_str(), kind);
  btf__free(vmlinux);
  if (id < 0) {
    out.Set("supported", false);
    out.Set("errno", id);
    out.Set("log", "no BTF type " + name + " in the kernel");
    return out;
  }
  struct bpf_insn insns[2];
  memset(insns, 0, sizeof(insns));
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = 0
  insns[1].code = BPF_JMP | BPF_EXIT;
  char log[4096] = {0};
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = static_cast<bpf_attach_type>(attachType),
              .attach_btf_id = static_cast<uint32_t>(id), .log_level = 1, .log_size = sizeof(log), .log_buf = log);
  int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "eop_probe", "GPL", insns, 2, &opts);
  int err = fd < 0 ? -errno : 0;
  if (fd >= 0) close(fd);
  out.Set("supported", fd >= 0);
  out.Set("errno", err);
  out.Set("log", std::string(log, strnlen(log, sizeof(log))));
  return out;
}

// attachXdp(progFd, ifindex, flags)
Napi::Value AttachXdp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ifindex = ArgInt(info[1]);
  LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = info[2].As<Napi::Number>().Uint32Value());
  LogCapture cap;
  int fd = bpf_link_create(ArgInt(info[0]), ifindex, BPF_XDP, &opts);
  if (fd < 0) ThrowErrno(env, "bpf_link_create(ifindex " + std::to_string(ifindex) + ", BPF_XDP)", fd, cap.text());
  return FdHandle::New(env, fd);
}

// attachCgroup(progFd, pathOrFd, attachType)
Napi::Value AttachCgroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int cgFd;
  bool own = false;
  std::string what;
  if (info[1].IsString()) {
    what = ArgStr(info[1]);
    cgFd = open(what.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgFd < 0) ThrowErrno(env, "open cgroup " + what, errno);
    own = true;
  } else {
    cgFd = ArgInt(info[1]);
    what = "fd " + std::to_string(cgFd);
  }
  int attachType = ArgInt(info[2]);
  LogCapture cap;
  int fd = bpf_link_create(ArgInt(info[0]), cgFd, static_cast<bpf_attach_type>(attachType), nullptr);
  int err = fd < 0 ? fd : 0;
  if (own) close(cgFd);
  if (err) {
    const char* t = libbpf_bpf_attach_type_str(static_cast<bpf_attach_type>(attachType));
    ThrowErrno(env, "bpf_link_create(cgroup " + what + ", " + (t ? t : "?") + ")", err, cap.text());
  }
  return FdHandle::New(env, fd);
}

// attachSocket(socketFd, progFd)
Napi::Value AttachSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = ArgInt(info[0]);
  int progFd = ArgInt(info[1]);
  if (setsockopt(sock, SOL_SOCKET, SO_ATTACH_BPF, &progFd, sizeof(progFd)) < 0) {
    ThrowErrno(env, "setsockopt(SO_ATTACH_BPF)", errno);
  }
  return env.Undefined();
}

// detachSocket(socketFd)
Napi::Value DetachSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = ArgInt(info[0]);
  int dummy = 0;
  if (setsockopt(sock, SOL_SOCKET, SO_DETACH_BPF, &dummy, sizeof(dummy)) < 0) {
    ThrowErrno(env, "setsockopt(SO_DETACH_BPF)", errno);
  }
  return env.Undefined();
}

// probeProgType(type) -> boolean
Napi::Value ProbeProgType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LogCapture cap;
  errno = 0;
  int r = libbpf_probe_bpf_prog_type(static_cast<bpf_prog_type>(ArgInt(info[0])), nullptr);
  // libbpf answers 0 ("unsupported") for every failed probe load, EPERM included: a process
  // without CAP_BPF would read "the kernel lacks this type". errno still holds the load's error.
  if (r == 0 && (errno == EPERM || errno == EACCES)) ThrowErrno(env, "libbpf_probe_bpf_prog_type (probe load)", -errno, cap.text());
  if (r == -EOPNOTSUPP) return Napi::Boolean::New(env, false);
  if (r < 0) ThrowErrno(env, "libbpf_probe_bpf_prog_type", r, cap.text());
  return Napi::Boolean::New(env, r > 0);
}

// enableStats() -> FdHandle (BPF_STATS_RUN_TIME)
Napi::Value EnableStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LogCapture cap;
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) ThrowErrno(env, "bpf_enable_stats(BPF_STATS_RUN_TIME)", fd, cap.text());
  return FdHandle::New(env, fd);
}


// progLoad(type, expectedAttachType, name, license, instructions, logSize) -> FdHandle: loads a
// program from raw instructions, outside any object (the agent's own small programs, such as the
// pod-scope gate). Maps are referenced by fd in the instructions (BPF_PSEUDO_MAP_FD). A refusal
// throws a BpfLoadError with the verifier's log.
Napi::Value ProgLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int type = ArgInt(info[0]);
  int attachType = ArgInt(info[1]);
  std::string name = ArgStr(info[2]);
  std::string license = ArgStr(info[3]);
  Napi::Uint8Array code = info[4].As<Napi::Uint8Array>();
  if (code.ByteLength() == 0 || code.ByteLength() % sizeof(bpf_insn) != 0) ThrowTypeError(env, "progLoad: instructions must be a non-empty multiple of 8 bytes");
  std::vector<bpf_insn> insns(code.ByteLength() / sizeof(bpf_insn));
  memcpy(insns.data(), code.Data(), code.ByteLength());
  size_t logSize = static_cast<size_t>(info[5].As<Napi::Number>().Int64Value());
  std::vector<char> log(logSize > 0 ? logSize : 1, 0);
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = static_cast<bpf_attach_type>(attachType), .log_level = logSize > 0 ? 1u : 0u,
              .log_size = static_cast<uint32_t>(logSize), .log_buf = logSize > 0 ? log.data() : nullptr);
  LogCapture cap;
  int fd = bpf_prog_load(static_cast<bpf_prog_type>(type), name.c_str(), license.c_str(), insns.data(), insns.size(), &opts);
  if (fd < 0) {
    int err = -errno;
    // Without a log buffer the kernel says nothing: load again with one for the error.
    if (logSize == 0) {
      std::vector<char> retry(65536, 0);
      LIBBPF_OPTS(bpf_prog_load_opts, again, .expected_attach_type = static_cast<bpf_attach_type>(attachType), .log_level = 1,
                  .log_size = static_cast<uint32_t>(retry.size()), .log_buf = retry.data());
      int fd2 = bpf_prog_load(static_cast<bpf_prog_type>(type), name.c_str(), license.c_str(), insns.data(), insns.size(), &again);
      if (fd2 >= 0) return FdHandle::New(env, fd2);
      ThrowLoadError(env, "bpf_prog_load(" + name + ")", err, cap.text(), std::string(retry.data(), strnlen(retry.data(), retry.size())), name);
    }
    ThrowLoadError(env, "bpf_prog_load(" + name + ")", err, cap.text(), std::string(log.data(), strnlen(log.data(), log.size())), name);
  }
  return FdHandle::New(env, fd);
}

}  // namespace

void InitProgram(Napi::Env env, Napi::Object exports) {
  exports.Set("progInfo", Napi::Function::New<ProgInfo>(env, "progInfo"));
  exports.Set("attachTracepoint", Napi::Function::New<AttachTracepoint>(env, "attachTracepoint"));
  exports.Set("attachKprobe", Napi::Function::New<AttachKprobe>(env, "attachKprobe"));
  exports.Set("attachUprobe", Napi::Function::New<AttachUprobe>(env, "attachUprobe"));
  exports.Set("attachRawTracepoint", Napi::Function::New<AttachRawTracepoint>(env, "attachRawTracepoint"));
  exports.Set("attachTrace", Napi::Function::New<AttachTrace>(env, "attachTrace"));
  exports.Set("probeTracing", Napi::Function::New<ProbeTracing>(env, "probeTracing"));
  exports.Set("attachXdp", Napi::Function::New<AttachXdp>(env, "attachXdp"));
  exports.Set("attachCgroup", Napi::Function::New<AttachCgroup>(env, "attachCgroup"));
  exports.Set("attachSocket", Napi::Function::New<AttachSocket>(env, "attachSocket"));
  exports.Set("detachSocket", Napi::Function::New<DetachSocket>(env, "detachSocket"));
  exports.Set("probeProgType", Napi::Function::New<ProbeProgType>(env, "probeProgType"));
  exports.Set("enableStats", Napi::Function::New<EnableStats>(env, "enableStats"));
  exports.Set("progGetFdById", Napi::Function::New<ProgGetFdById>(env, "progGetFdById"));
  exports.Set("progLoad", Napi::Function::New<ProgLoad>(env, "progLoad"));
}

}  // namespace ebpf
