// The floor for reading a BPF map from user space, and a fast way to fill one.
//
//   batch-read read <pinned-map> <runs> [batch]   bpf_map_lookup_batch over the whole map, <runs>
//                                                 times; prints one JSON line: entries, syscalls
//                                                 per run, wall and CPU ns per run
//   batch-read serve <pinned-map> [batch]          one read per line on stdin, one JSON line per
//                                                 read on stdout (entries, syscalls, wall ns,
//                                                 thread CPU ns, run-queue wait ns, slices): the
//                                                 floor side of the bench's interleaved pairs
//   batch-read fill <pinned-map> <n> <u64|struct|u32>
//                                                 writes n entries with bpf_map_update_batch
//
// Buffers are allocated once, before the timed runs: this is the cost of the syscalls and the
// kernel's copy-out, nothing else. Built by bench/run.sh: gcc -O2 batch-read.c -lbpf.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct task_key {
  uint32_t pid;
  uint32_t cpu;
  char comm[16];
};

static uint64_t now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int open_map(const char* path, struct bpf_map_info* info) {
  int fd = bpf_obj_get(path);
  if (fd < 0) {
    fprintf(stderr, "bpf_obj_get(%s): %s\n", path, strerror(errno));
    exit(1);
  }
  uint32_t len = sizeof(*info);
  memset(info, 0, sizeof(*info));
  if (bpf_obj_get_info_by_fd(fd, info, &len)) {
    fprintf(stderr, "bpf_obj_get_info_by_fd: %s\n", strerror(errno));
    exit(1);
  }
  return fd;
}

static int is_percpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

static size_t value_stride(const struct bpf_map_info* info) {
  if (!is_percpu(info->type)) return info->value_size;
  int cpus = libbpf_num_possible_cpus();
  return (size_t)((info->value_size + 7) / 8 * 8) * (size_t)cpus;
}

struct reader {
  int fd;
  struct bpf_map_info info;
  size_t stride, cap;
  uint32_t batch;
  uint8_t *keys, *values;
};

static void open_reader(struct reader* r, const char* path, uint32_t batch) {
  r->fd = open_map(path, &r->info);
  r->stride = value_stride(&r->info);
  r->batch = batch;
  r->cap = r->info.max_entries + batch;
  r->keys = malloc(r->cap * r->info.key_size);
  r->values = malloc(r->cap * r->stride);
  if (!r->keys || !r->values) exit(1);
  memset(r->keys, 0, r->cap * r->info.key_size);
  memset(r->values, 0, r->cap * r->stride);
}

// One whole-map read; returns the entries read, counts the bpf() calls.
static size_t read_once(struct reader* r, uint64_t* syscalls) {
  uint8_t in[64], out[64];
  size_t count = 0;
  uint32_t chunk = r->batch;
  int first = 1;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  *syscalls = 0;
  for (;;) {
    uint32_t n = chunk;
    if (count + n > r->cap) n = (uint32_t)(r->cap - count);
    int err = bpf_map_lookup_batch(r->fd, first ? NULL : in, out, r->keys + count * r->info.key_size, r->values + count * r->stride, &n, &opts);
    (*syscalls)++;
    if (err && errno == ENOSPC) {
      chunk *= 2;
      continue;
    }
    if (err && errno != ENOENT) {
      fprintf(stderr, "bpf_map_lookup_batch: %s\n", strerror(errno));
      exit(1);
    }
    count += n;
    if (err) break;
    memcpy(in, out, sizeof(in));
    first = 0;
  }
  return count;
}

// This thread's time waiting for a CPU while runnable (run_delay, ns) and the times it was put on
// a CPU (pcount), from /proc/thread-self/schedstat (CONFIG_SCHED_INFO), opened once and read with
// pread: the bench reads the same file the same way around our read (scrape-target.ts), so both
// sides are measured alike (a few µs each).
static int sched_fd = -1;

static void sched_info(uint64_t* wait_ns, uint64_t* slices) {
  unsigned long long on_cpu = 0, wait = 0, count = 0;
  char text[128];
  if (sched_fd < 0) sched_fd = open("/proc/thread-self/schedstat", O_RDONLY);
  ssize_t n = sched_fd < 0 ? -1 : pread(sched_fd, text, sizeof(text) - 1, 0);
  text[n > 0 ? n : 0] = 0;
  if (sscanf(text, "%llu %llu %llu", &on_cpu, &wait, &count) != 3) wait = count = 0;
  *wait_ns = wait;
  *slices = count;
}

static int do_read(const char* path, int runs, uint32_t batch) {
  struct reader r;
  open_reader(&r, path, batch);
  printf("{\"entries\":[");
  uint64_t wall[runs], cpu[runs], calls[runs], counts[runs];
  for (int i = 0; i < runs; i++) {
    uint64_t t0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    counts[i] = read_once(&r, &calls[i]);
    wall[i] = now_ns(CLOCK_MONOTONIC) - t0;
    cpu[i] = now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
  }
  for (int i = 0; i < runs; i++) printf("%s%llu", i ? "," : "", (unsigned long long)counts[i]);
  printf("],\"syscalls\":[");
  for (int i = 0; i < runs; i++) printf("%s%llu", i ? "," : "", (unsigned long long)calls[i]);
  printf("],\"wallNs\":[");
  for (int i = 0; i < runs; i++) printf("%s%llu", i ? "," : "", (unsigned long long)wall[i]);
  printf("],\"cpuNs\":[");
  for (int i = 0; i < runs; i++) printf("%s%llu", i ? "," : "", (unsigned long long)cpu[i]);
  printf("]}\n");
  return 0;
}

// Reads on request: a long-lived process woken by a line on a pipe, as the agent is woken by the
// bench's message before its read (a fresh process per read would be placed by the scheduler as a
// new task, which a CPU hog treats differently).
static int do_serve(const char* path, uint32_t batch) {
  struct reader r;
  open_reader(&r, path, batch);
  uint64_t calls;
  read_once(&r, &calls);  // touch the buffers, as the agent's unrecorded first read does
  char line[64];
  while (fgets(line, sizeof(line), stdin)) {
    uint64_t w0, s0, w1, s1;
    uint64_t t0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    sched_info(&w0, &s0);
    size_t count = read_once(&r, &calls);
    sched_info(&w1, &s1);
    uint64_t cpu = now_ns(CLOCK_THREAD_CPUTIME_ID) - c0, wall = now_ns(CLOCK_MONOTONIC) - t0;
    printf("{\"entries\":%zu,\"syscalls\":%llu,\"wallNs\":%llu,\"cpuNs\":%llu,\"waitNs\":%llu,\"slices\":%llu}\n", count,
           (unsigned long long)calls, (unsigned long long)wall, (unsigned long long)cpu, (unsigned long long)(w1 - w0),
           (unsigned long long)(s1 - s0));
    fflush(stdout);
  }
  return 0;
}

static int do_fill(const char* path, uint32_t n, const char* kind) {
  struct bpf_map_info info;
  int fd = open_map(path, &info);
  size_t stride = value_stride(&info);
  const uint32_t chunk = 65536;
  uint8_t* keys = calloc(chunk, info.key_size);
  uint8_t* values = calloc(chunk, stride);
  if (!keys || !values) return 1;
  size_t slots = stride / 8;
  for (uint32_t start = 0; start < n; start += chunk) {
    uint32_t count = n - start < chunk ? n - start : chunk;
    for (uint32_t j = 0; j < count; j++) {
      uint32_t i = start + j;
      uint8_t* k = keys + (size_t)j * info.key_size;
      if (strcmp(kind, "u64") == 0) {
        uint64_t v = i;
        memcpy(k, &v, 8);
      } else if (strcmp(kind, "u32") == 0) {
        memcpy(k, &i, 4);
      } else {
        struct task_key tk;
        memset(&tk, 0, sizeof(tk));
        tk.pid = 1000 + i;
        tk.cpu = i % 2;
        snprintf(tk.comm, sizeof(tk.comm), "proc-%u", i % 100);
        memcpy(k, &tk, sizeof(tk));
      }
      for (size_t s = 0; s < slots; s++) {
        uint64_t v = (uint64_t)i * 7 + s;
        memcpy(values + (size_t)j * stride + s * 8, &v, 8);
      }
    }
    uint32_t done = count;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_update_batch(fd, keys, values, &done, &opts)) {
      fprintf(stderr, "bpf_map_update_batch at %u: %s\n", start, strerror(errno));
      return 1;
    }
  }
  printf("{\"filled\":%u}\n", n);
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 4 && strcmp(argv[1], "read") == 0) {
    return do_read(argv[2], atoi(argv[3]), argc >= 5 ? (uint32_t)atoi(argv[4]) : 4096);
  }
  if (argc >= 3 && strcmp(argv[1], "serve") == 0) return do_serve(argv[2], argc >= 4 ? (uint32_t)atoi(argv[3]) : 4096);
  if (argc == 5 && strcmp(argv[1], "fill") == 0) return do_fill(argv[2], (uint32_t)strtoul(argv[3], NULL, 10), argv[4]);
  fprintf(stderr, "usage: batch-read read <pinned-map> <runs> [batch] | serve <pinned-map> [batch] | fill <pinned-map> <n> <u64|struct|u32>\n");
  return 2;
}
