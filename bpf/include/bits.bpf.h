/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * "bits.bpf.h" as published BPF programs include it (libbpf-tools, cloudflare/ebpf_exporter's
 * examples): the same names and results, written for ebpf-operator, so such a program compiles
 * with its include lines unchanged.
 *
 *   log2(u32 v)        floor(log2(v)); 0 for v = 0 and v = 1
 *   log2l(u64 v)       the same over 64 bits
 *   READ_ONCE(x)       one volatile read of x
 *   WRITE_ONCE(x, v)   one volatile write of v to x
 *
 * Note the rounding: log2() rounds DOWN (3 -> 1), so a histogram bucketed with it counts 3 under
 * le="2" (ebpf_exporter's convention). <ebpf-operator/histogram.h> rounds up, which makes `le` a
 * true upper bound; prefer it in new programs.
 */
#ifndef __EBPF_OPERATOR_COMPAT_BITS_BPF_H
#define __EBPF_OPERATOR_COMPAT_BITS_BPF_H

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#pragma clang diagnostic push
/* log2 shares its name with the C library's double log2(double): BPF programs have no libm. */
#pragma clang diagnostic ignored "-Wincompatible-library-redeclaration"

/* Highest set bit of v, found by halving the search window: five compares, no loop. */
static __always_inline u64 log2(u32 v)
{
	u64 r = 0;

	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8)  { v >>= 8;  r += 8; }
	if (v >> 4)  { v >>= 4;  r += 4; }
	if (v >> 2)  { v >>= 2;  r += 2; }
	if (v >> 1)  { r += 1; }
	return r;
}

static __always_inline u64 log2l(u64 v)
{
	u32 high = (u32)(v >> 32);

	return high ? 32 + log2(high) : log2((u32)v);
}

#pragma clang diagnostic pop

#ifndef READ_ONCE
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#endif
#ifndef WRITE_ONCE
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#endif

#endif /* __EBPF_OPERATOR_COMPAT_BITS_BPF_H */
