/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The pod a packet is of, for pod-scoped `xdp` and `socket` programs (spec.selector).
 *
 *   eop_pod_cgroup_id(ctx)   the cgroup id of the selected pod whose interface the packet is on,
 *                            or 0 when the agent's gate did not run (node-wide, or no room)
 *
 * `ctx` is the program's context: `struct xdp_md *` or `struct __sk_buff *`. Key the map by it
 * and name the metric's label `pod` with the decoders `uint`, `pod` over that key field: the
 * agent names the pod, and drops rows of ids that are none of the resource's pods.
 *
 * How it gets there (docs/architecture.md, "Pod-scoped xdp and socket programs"): the agent
 * attaches, in each pod's network namespace, a gate of its own that writes the pod's cgroup id
 * and tail-calls this program. XDP: 8 bytes of packet metadata at ctx->data_meta; socket
 * filter: skb->cb[0] (low half) and cb[1] (high half). A program that moves data_meta itself
 * (bpf_xdp_adjust_meta) should read the id first.
 *
 * Include <linux/bpf.h> (or vmlinux.h) before this header.
 */
#ifndef __EBPF_OPERATOR_POD_H
#define __EBPF_OPERATOR_POD_H

static __always_inline unsigned long long eop_xdp_pod_cgroup_id(struct xdp_md *ctx)
{
	void *meta = (void *)(long)ctx->data_meta;
	void *data = (void *)(long)ctx->data;
	unsigned long long id;

	if (meta + sizeof(id) > data)
		return 0;
	__builtin_memcpy(&id, meta, sizeof(id));
	return id;
}

static __always_inline unsigned long long eop_skb_pod_cgroup_id(struct __sk_buff *skb)
{
	return ((unsigned long long)skb->cb[1] << 32) | skb->cb[0];
}

#define eop_pod_cgroup_id(ctx)                                                                     \
	_Generic((ctx), struct xdp_md *: eop_xdp_pod_cgroup_id, struct __sk_buff *: eop_skb_pod_cgroup_id)(ctx)

#endif /* __EBPF_OPERATOR_POD_H */
