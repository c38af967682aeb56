/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Histogram helpers for maps exported with `spec.metrics[].type: histogram`.
 *
 *   EOP_HIST_LOG2_INC(map, key, value)                 bucketType: exp2,   bucketMax: EOP_HIST_LOG2_MAX
 *   EOP_HIST_LINEAR_INC(map, key, value, step, max)    bucketType: linear, bucketMultiplier: step, bucketMax: max
 *
 * `key` is an lvalue struct whose LAST member is named `bucket` (an unsigned integer); its other
 * members become labels. The map's value is u64 (hash, LRU hash, or their per-CPU variants).
 * Each call adds 1 to the value at the observation's bucket and adds the observed value at
 * bucket `max + 1`, which the collector serves as `_sum`. A value above the top bucket goes to
 * bucket `max + 2`, which the collector counts in `+Inf` only (never in a finite bucket).
 * Size max_entries for (number of label sets) x (max + 3) keys.
 *
 * Bucket semantics, identical to the collector's (packages/core/src/collector/histogram.ts):
 *   log2:   bucket i holds values <= 2^i   (0 and 1 -> 0, 2 -> 1, 3..4 -> 2, 5..8 -> 3, ...):
 *           the value rounded UP to the next power of two, so `le` is a true upper bound.
 *   linear: bucket i holds values <= i * step (0 -> 0, 1..step -> 1, ...).
 *
 * Include <bpf/bpf_helpers.h> before this header (it includes ebpf-operator/metrics.h).
 */
#ifndef __EBPF_OPERATOR_HISTOGRAM_H
#define __EBPF_OPERATOR_HISTOGRAM_H

#include "histogram-buckets.h"
#include "metrics.h"

/* Highest log2 bucket: 64 covers every u64. Define before including to use fewer buckets. */
#ifndef EOP_HIST_LOG2_MAX
#define EOP_HIST_LOG2_MAX 64
#endif

/* Set the bucket, count the observation, add the value to the sum key. `key` is evaluated
 * several times: pass a plain variable. */
#define __EOP_HIST_RECORD(map, key, bucket_index, value, max)                  \
	do {                                                                   \
		u64 __eop_v = (u64)(value);                                    \
		(key).bucket = (bucket_index);                                 \
		EOP_COUNTER_ADD(map, key, 1);                                  \
		(key).bucket = (max) + 1;                                      \
		EOP_COUNTER_ADD(map, key, __eop_v);                            \
	} while (0)

#define EOP_HIST_LOG2_INC(map, key, value)                                     \
	do {                                                                   \
		u64 __eop_l = (u64)(value);                                    \
		__EOP_HIST_RECORD(map, key, eop_bucket_log2(__eop_l, EOP_HIST_LOG2_MAX), __eop_l, EOP_HIST_LOG2_MAX); \
	} while (0)

#define EOP_HIST_LINEAR_INC(map, key, value, step, max)                        \
	do {                                                                   \
		u64 __eop_n = (u64)(value);                                    \
		__EOP_HIST_RECORD(map, key, eop_bucket_linear(__eop_n, (step), (max)), __eop_n, (max)); \
	} while (0)

#endif /* __EBPF_OPERATOR_HISTOGRAM_H */
