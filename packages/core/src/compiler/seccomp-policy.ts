/**
 * The system calls clang may make inside the compiler sandbox: an allow-list, compiled for the
 * running architecture by libseccomp (@ebpf-operator/libbpf's buildSeccompFilter) and applied
 * by bubblewrap right before it executes clang. Anything not listed fails with EPERM.
 *
 * The list is what clang 14 and glibc 2.36 were seen to call compiling BPF programs
 * (`strace -f -c`), plus the variants other glibc/clang builds use for the same purpose
 * (statx, faccessat2, clock_nanosleep, ...). Deliberately absent, among everything else:
 * sockets, ptrace and process_vm_*, mount and namespaces (unshare, setns, clone with CLONE_NEW*),
 * bpf, perf_event_open, keyctl, io_uring, userfaultfd, memfd_create, SysV IPC, chroot and
 * handle-based opens. clang runs its frontend in-process; the shell that runs both clang stages
 * starts the first with vfork (no flags: it cannot make a namespace), so vfork is allowed;
 * clone is allowed only without namespace flags (threads, glibc's fork), clone3 reports ENOSYS
 * so glibc falls back to clone (its flags cannot be inspected).
 */
import type { SeccompRule } from "@ebpf-operator/libbpf";

const EPERM = 1;
const ENOSYS = 38;

const ALLOWED = [
  // memory (mmap and prlimit64 have argument rules below)
  "brk",
  "munmap",
  "mremap",
  "mprotect",
  "madvise",
  // files: only what the sandbox's mount namespace holds is reachable
  "read",
  "write",
  "readv",
  "writev",
  "pread64",
  "pwrite64",
  "preadv",
  "pwritev",
  "lseek",
  "_llseek",
  "open",
  "openat",
  "close",
  "fstat",
  "stat",
  "lstat",
  "newfstatat",
  "fstatat64",
  "statx",
  "access",
  "faccessat",
  "faccessat2",
  "readlink",
  "readlinkat",
  "getdents64",
  "getcwd",
  "fcntl",
  "dup",
  "dup2",
  "dup3",
  "rename",
  "renameat",
  "renameat2",
  "unlink",
  "unlinkat",
  "ftruncate",
  "fallocate",
  "fsync",
  "fdatasync",
  "fadvise64",
  "umask",
  "fchmod",
  // time
  "clock_gettime",
  "clock_getres",
  "gettimeofday",
  "time",
  "nanosleep",
  "clock_nanosleep",
  // the process itself
  "execve",
  "exit",
  "exit_group",
  "getpid",
  "gettid",
  "getppid",
  "getuid",
  "geteuid",
  "getgid",
  "getegid",
  "getgroups",
  "getresuid",
  "getresgid",
  "uname",
  "sysinfo",
  "getrlimit",
  "getrusage",
  "times",
  "sched_getaffinity",
  "sched_yield",
  "set_tid_address",
  "set_robust_list",
  "rseq",
  "arch_prctl",
  "getrandom",
  // signals (abort() raises one at itself; the pid namespace holds nothing else to signal)
  "rt_sigaction",
  "rt_sigprocmask",
  "rt_sigreturn",
  "sigaltstack",
  "kill",
  "tgkill",
  "tkill",
  // threads
  "futex",
  "futex_waitv",
  "membarrier",
  // bwrap's PID-1 reaper runs under the same filter and waits for clang; so does the shell
  // that runs both clang stages (two-stage.ts), which starts the first with vfork (dash does)
  "wait4",
  "waitid",
  "vfork",
];

/** Flags of clone that create namespaces (not the low byte: that is the exit signal). */
const CLONE_NEW_FLAGS = 0x7e020000;
const MAP_SHARED = 0x01;
const MAP_ANONYMOUS = 0x20;
const TCGETS = 0x5401;
const TIOCGWINSZ = 0x5413;

export function compilerSeccompRules(): SeccompRule[] {
  return [
    ...ALLOWED.map((syscall): SeccompRule => ({ syscall, action: "allow" })),
    // Private mappings (the heap, mapped files) or file-backed shared ones; never shared
    // anonymous memory, which RLIMIT_DATA would not count.
    { syscall: "mmap", action: "allow", args: [{ index: 3, op: "masked_eq", mask: MAP_SHARED, value: 0 }] },
    { syscall: "mmap", action: "allow", args: [{ index: 3, op: "masked_eq", mask: MAP_ANONYMOUS, value: 0 }] },
    { syscall: "clone", action: "allow", args: [{ index: 0, op: "masked_eq", mask: CLONE_NEW_FLAGS, value: 0 }] },
    { syscall: "clone3", action: "errno", errno: ENOSYS },
    // Reading limits, never setting them.
    { syscall: "prlimit64", action: "allow", args: [{ index: 2, op: "eq", value: 0 }] },
    // isatty() and the terminal width for diagnostics; nothing else (no TIOCSTI).
    { syscall: "ioctl", action: "allow", args: [{ index: 1, op: "eq", value: TCGETS }] },
    { syscall: "ioctl", action: "allow", args: [{ index: 1, op: "eq", value: TIOCGWINSZ }] },
  ];
}

export const SECCOMP_DEFAULT_ERRNO = EPERM;
