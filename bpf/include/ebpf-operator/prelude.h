/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ebpf-operator prelude: force-included (`clang -include`) before every user program.
 *
 * It gives kernel-style integer names (u8 ... s64) so programs written like kernel code compile
 * with only <linux/bpf.h> and friends. They are typedef'd from base C types, not from
 * <linux/types.h>, so the prelude pulls in no header of its own. The underlying types match
 * the ones vmlinux.h uses (`typedef __u32 u32; typedef unsigned int __u32;` ...), so when a
 * program also includes vmlinux.h the second typedef is an identical redefinition, which C11
 * allows.
 */
#ifndef __EBPF_OPERATOR_PRELUDE_H
#define __EBPF_OPERATOR_PRELUDE_H

#if defined(__STDC_VERSION__) && __STDC_VERSION__ < 201112L
#error "ebpf-operator programs must be compiled as C11 or later (identical typedef redefinitions)"
#endif

typedef signed char s8;
typedef unsigned char u8;
typedef short int s16;
typedef short unsigned int u16;
typedef int s32;
typedef unsigned int u32;
typedef long long int s64;
typedef long long unsigned int u64;

#endif /* __EBPF_OPERATOR_PRELUDE_H */
