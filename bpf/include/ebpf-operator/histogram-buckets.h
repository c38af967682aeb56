/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Bucket index computation for ebpf-operator histograms, in plain C (no BPF helpers) so the same
 * code is tested natively against the collector's bucket bounds. See histogram.h.
 */
#ifndef __EBPF_OPERATOR_HISTOGRAM_BUCKETS_H
#define __EBPF_OPERATOR_HISTOGRAM_BUCKETS_H

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Smallest i with 2^i >= v (0 for v <= 1): ceil(log2(v)), branch-light and loop-free for the
 * verifier. Above `max` the overflow index max + 2 is returned. */
static __always_inline u32 eop_bucket_log2(u64 v, u32 max)
{
	u32 r = 0;

	if (v <= 1)
		return 0;
	v--; /* 2^k - 1 has k bits: the bit length of v - 1 is the answer */
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8)  { v >>= 8;  r += 8; }
	if (v >> 4)  { v >>= 4;  r += 4; }
	if (v >> 2)  { v >>= 2;  r += 2; }
	if (v >> 1)  { v >>= 1;  r += 1; }
	r += (u32)v; /* the last bit */
	return r > max ? max + 2 : r;
}

/* ceil(v / step) (0 for v == 0); above `max` the overflow index max + 2. */
static __always_inline u32 eop_bucket_linear(u64 v, u64 step, u32 max)
{
	u64 i;

	if (step == 0)
		return max + 2;
	i = v / step + (v % step != 0);
	return i > max ? max + 2 : (u32)i;
}

#endif /* __EBPF_OPERATOR_HISTOGRAM_BUCKETS_H */
