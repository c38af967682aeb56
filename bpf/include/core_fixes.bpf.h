/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * "core_fixes.bpf.h" as libbpf-tools programs include it: CO-RE shims for kernel structures that
 * changed shape, written for ebpf-operator with the same names.
 *
 *   get_task_state(task)   a task's state: task_struct.__state (5.14+) or .state (before)
 *
 * Include "vmlinux.h" and <bpf/bpf_core_read.h> first.
 */
#ifndef __EBPF_OPERATOR_COMPAT_CORE_FIXES_BPF_H
#define __EBPF_OPERATOR_COMPAT_CORE_FIXES_BPF_H

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* The two shapes of task_struct's state; libbpf matches each to the running kernel (CO-RE
 * ignores the ___suffix) and bpf_core_field_exists picks the one that exists. */
struct task_struct___eop_new {
	unsigned int __state;
} __attribute__((preserve_access_index));

struct task_struct___eop_old {
	long state;
} __attribute__((preserve_access_index));

static __always_inline __s64 get_task_state(void *task)
{
	struct task_struct___eop_new *t = task;

	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___eop_old *)task, state);
}

#endif /* __EBPF_OPERATOR_COMPAT_CORE_FIXES_BPF_H */
