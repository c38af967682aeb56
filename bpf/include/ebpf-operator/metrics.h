/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Small helpers for maps that ebpf-operator exports as Prometheus metrics.
 *
 *   EOP_COUNTER_INC(map, key)     add 1 to the u64 value at key (creating it)
 *   EOP_COUNTER_ADD(map, key, n)  add n to the u64 value at key (creating it)
 *   EOP_GAUGE_SET(map, key, v)    store v as the u64 value at key
 *
 * `map` is a map defined with SEC(".maps") whose value type is u64 (hash, LRU hash, array,
 * or their per-CPU variants); `key` is an lvalue of the map's key type (its address is taken).
 * Include <bpf/bpf_helpers.h> (or vmlinux.h + <bpf/bpf_helpers.h>) before this header.
 *
 * Counters use __sync_fetch_and_add so concurrent CPUs never lose increments on shared maps.
 * A missing key is inserted with BPF_NOEXIST; if another CPU inserted it first the insert
 * fails and the add is retried on the now-present value, so no increment is dropped.
 */
#ifndef __EBPF_OPERATOR_METRICS_H
#define __EBPF_OPERATOR_METRICS_H

#ifndef BPF_ANY
#define BPF_ANY 0
#endif
#ifndef BPF_NOEXIST
#define BPF_NOEXIST 1
#endif

/* Functions, not bare statement macros, so `key` and `n` are evaluated exactly once. */
static __always_inline void __eop_counter_add(void *map, const void *key, u64 n)
{
	u64 *value = bpf_map_lookup_elem(map, key);

	if (value) {
		__sync_fetch_and_add(value, n);
		return;
	}
	if (bpf_map_update_elem(map, key, &n, BPF_NOEXIST) == 0)
		return;
	/* Lost the race to insert: the key exists now, add to it. */
	value = bpf_map_lookup_elem(map, key);
	if (value)
		__sync_fetch_and_add(value, n);
}

static __always_inline void __eop_gauge_set(void *map, const void *key, u64 v)
{
	bpf_map_update_elem(map, key, &v, BPF_ANY);
}

#define EOP_COUNTER_ADD(map, key, n) __eop_counter_add((void *)&(map), &(key), (u64)(n))
#define EOP_COUNTER_INC(map, key) EOP_COUNTER_ADD(map, key, 1)
#define EOP_GAUGE_SET(map, key, v) __eop_gauge_set((void *)&(map), &(key), (u64)(v))

#endif /* __EBPF_OPERATOR_METRICS_H */
