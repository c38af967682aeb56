// The floor for reading a BPF map from user space, and a fast way to fill one.
//
//   batch-read read <pinned-map> <runs> [batch]   bpf_map_lookup_batch over the whole map, <runs>
//                                                 times; prints one JSON line: entries, syscalls
//                                                 per run, wall and CPU ns per run
//   batch-read fill <pinned-map> <n> <u64|struct|u32>
//                                                 writes n entries with bpf_map_update_batch
//
// Buffers are allocated once, before the timed runs: this is the cost of the syscalls and the
// kernel's copy-out, nothing else. Built by bench/run.sh: gcc -O2 batch-read.c -lbpf.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

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

static int do_read(const char* path, int runs, uint32_t batch) {
  struct bpf_map_info info;
  int fd = open_map(path, &info);
  size_t stride = value_stride(&info);
  size_t cap = info.max_entries + batch;
  uint8_t* keys = malloc(cap * info.key_size);
  uint8_t* values = malloc(cap * stride);
  uint8_t in[64], out[64];
  if (!keys || !values) return 1;
  memset(keys, 0, cap * info.key_size);
  memset(values, 0, cap * stride);
  printf("{\"entries\":[");
  uint64_t wall[runs], cpu[runs], calls[runs], counts[runs];
  for (int r = 0; r < runs; r++) {
    uint64_t t0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    size_t count = 0;
    uint64_t syscalls = 0;
    uint32_t chunk = batch;
    int first = 1;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    for (;;) {
      uint32_t n = chunk;
      if (count + n > cap) n = (uint32_t)(cap - count);
      int err = bpf_map_lookup_batch(fd, first ? NULL : in, out, keys + count * info.key_size, values + count * stride, &n, &opts);
      syscalls++;
      if (err && errno == ENOSPC) {
        chunk *= 2;
        continue;
      }
      if (err && errno != ENOENT) {
        fprintf(stderr, "bpf_map_lookup_batch: %s\n", strerror(errno));
        return 1;
      }
      count += n;
      if (err) break;
      memcpy(in, out, sizeof(in));
      first = 0;
    }
    wall[r] = now_ns(CLOCK_MONOTONIC) - t0;
    cpu[r] = now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
    calls[r] = syscalls;
    counts[r] = count;
  }
  for (int r = 0; r < runs; r++) printf("%s%llu", r ? "," : "", (unsigned long long)counts[r]);
  printf("],\"syscalls\":[");
  for (int r = 0; r < runs; r++) printf("%s%llu", r ? "," : "", (unsigned long long)calls[r]);
  printf("],\"wallNs\":[");
  for (int r = 0; r < runs; r++) printf("%s%llu", r ? "," : "", (unsigned long long)wall[r]);
  printf("],\"cpuNs\":[");
  for (int r = 0; r < runs; r++) printf("%s%llu", r ? "," : "", (unsigned long long)cpu[r]);
  printf("]}\n");
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
  if (argc == 5 && strcmp(argv[1], "fill") == 0) return do_fill(argv[2], (uint32_t)strtoul(argv[3], NULL, 10), argv[4]);
  fprintf(stderr, "usage: batch-read read <pinned-map> <runs> [batch] | fill <pinned-map> <n> <u64|struct|u32>\n");
  return 2;
}
