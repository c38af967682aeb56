/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * "maps.bpf.h" as published BPF programs include it, written for ebpf-operator with the names and
 * behaviour of both common versions, so such programs compile with their include lines unchanged:
 *
 * libbpf-tools
 *   bpf_map_lookup_or_try_init(map, key, init)   the value at key, inserting *init first when
 *                                                the key is missing; NULL if that fails
 * cloudflare/ebpf_exporter examples
 *   increment_map(map, key, n)                   atomically add n to the u64 at key (inserting 0
 *                                                first); returns the new value, 0 on failure
 *   increment_map_nosync(map, key, n)            the same with a plain (per-CPU map) add
 *   lookup_or_zero_init_key(map, key, into)      statement macro: into = pointer to the u64 at
 *                                                key, inserted as 0 if missing; `return 0` from
 *                                                the calling function if that fails
 *   read_array_ptr(map, key, into)               statement macro: into = lookup, `return 0` if
 *                                                missing
 *   increment_exp2_histogram(map, key, v, max)   key.bucket = log2l(v) (rounded DOWN), clamped
 *                                                to max; +1 there, +v at bucket max + 1 (the sum)
 *   increment_exp2zero_histogram(map, key, v, max)
 *                                                bucket 0 holds v = 0, bucket log2l(v) + 1 the rest
 *   ..._nosync variants of both                  plain adds
 *   `map` is the map's address (&my_map), `key` an lvalue struct with a `bucket` member.
 *
 * Served with spec.metrics[].histogram bucketType exp2 / exp2zero, bucketMax: max. Values above
 * 2^max land in the top finite bucket here (ebpf_exporter's clamp); <ebpf-operator/histogram.h>
 * rounds up and keeps such values out of finite buckets instead.
 *
 * Include <bpf/bpf_helpers.h> (or vmlinux.h + <bpf/bpf_helpers.h>) first.
 */
#ifndef __EBPF_OPERATOR_COMPAT_MAPS_BPF_H
#define __EBPF_OPERATOR_COMPAT_MAPS_BPF_H

#include "bits.bpf.h"

#ifndef BPF_ANY
#define BPF_ANY 0
#endif
#ifndef BPF_NOEXIST
#define BPF_NOEXIST 1
#endif
#ifndef EEXIST
#define EEXIST 17
#endif

static __always_inline void *bpf_map_lookup_or_try_init(void *map, const void *key, const void *init)
{
	void *value = bpf_map_lookup_elem(map, key);
	long err;

	if (value)
		return value;
	err = bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	/* EEXIST: another CPU inserted it meanwhile, which is as good. */
	if (err && err != -EEXIST)
		return 0;
	return bpf_map_lookup_elem(map, key);
}

/* The u64 at key, inserted as 0 when missing; NULL only if the map is full. */
static __always_inline u64 *__eop_compat_counter(void *map, void *key)
{
	u64 zero = 0;
	u64 *count = bpf_map_lookup_elem(map, key);

	if (count)
		return count;
	bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

static __always_inline int increment_map(void *map, void *key, u64 increment)
{
	u64 *count = __eop_compat_counter(map, key);

	if (!count)
		return 0;
	__sync_fetch_and_add(count, increment);
	return *count;
}

static __always_inline int increment_map_nosync(void *map, void *key, u64 increment)
{
	u64 *count = __eop_compat_counter(map, key);

	if (!count)
		return 0;
	*count += increment;
	return *count;
}

#define lookup_or_zero_init_key(map, key, into)                                \
	into = __eop_compat_counter((void *)(map), (void *)(key));             \
	if (!into)                                                             \
		return 0;

#define read_array_ptr(map, key, into)                                         \
	into = bpf_map_lookup_elem(map, key);                                  \
	if (!into)                                                             \
		return 0;

/* One observation: +1 at key.bucket (clamped to max), +increment at the sum key max + 1. */
#define __eop_compat_histogram(map, key, increment, max_bucket, add)           \
	do {                                                                   \
		if ((key).bucket > (max_bucket))                               \
			(key).bucket = (max_bucket);                           \
		add(map, &(key), 1);                                           \
		if ((increment) > 0) {                                         \
			(key).bucket = (max_bucket) + 1;                       \
			add(map, &(key), increment);                           \
		}                                                              \
	} while (0)

#define increment_exp2_histogram(map, key, increment, max_bucket)              \
	do {                                                                   \
		(key).bucket = log2l(increment);                               \
		__eop_compat_histogram(map, key, increment, max_bucket, increment_map); \
	} while (0)

#define increment_exp2_histogram_nosync(map, key, increment, max_bucket)       \
	do {                                                                   \
		(key).bucket = log2l(increment);                               \
		__eop_compat_histogram(map, key, increment, max_bucket, increment_map_nosync); \
	} while (0)

#define increment_exp2zero_histogram(map, key, increment, max_bucket)          \
	do {                                                                   \
		(key).bucket = (increment) == 0 ? 0 : log2l(increment) + 1;    \
		__eop_compat_histogram(map, key, increment, max_bucket, increment_map); \
	} while (0)

#define increment_exp2zero_histogram_nosync(map, key, increment, max_bucket)   \
	do {                                                                   \
		(key).bucket = (increment) == 0 ? 0 : log2l(increment) + 1;    \
		__eop_compat_histogram(map, key, increment, max_bucket, increment_map_nosync); \
	} while (0)

#endif /* __EBPF_OPERATOR_COMPAT_MAPS_BPF_H */
