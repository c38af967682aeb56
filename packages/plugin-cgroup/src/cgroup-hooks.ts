/**
 * The cgroup hooks a target can name, each with the program type and attach type libbpf knows
 * it by. The hook words follow libbpf's SEC() names (`cgroup/skb`, `cgroup/connect4`, `sockops`)
 * with the direction of `cgroup/skb` spelled out, so a target reads like the program's section.
 */
export interface CgroupHook {
  /** libbpf program type name. */
  programType: string;
  /** libbpf attach type name. */
  attachType: string;
}

export const CGROUP_HOOKS: ReadonlyMap<string, CgroupHook> = new Map([
  ["cgroup/skb/egress", { programType: "cgroup_skb", attachType: "cgroup_inet_egress" }],
  ["cgroup/skb/ingress", { programType: "cgroup_skb", attachType: "cgroup_inet_ingress" }],
  // libbpf's SEC("cgroup/skb") leaves the direction open; the usual question is what a workload sends.
  ["cgroup/skb", { programType: "cgroup_skb", attachType: "cgroup_inet_egress" }],
  ["cgroup/sock_create", { programType: "cgroup_sock", attachType: "cgroup_inet_sock_create" }],
  ["cgroup/sock", { programType: "cgroup_sock", attachType: "cgroup_inet_sock_create" }],
  ["cgroup/sock_release", { programType: "cgroup_sock", attachType: "cgroup_inet_sock_release" }],
  ["cgroup/post_bind4", { programType: "cgroup_sock", attachType: "cgroup_inet4_post_bind" }],
  ["cgroup/post_bind6", { programType: "cgroup_sock", attachType: "cgroup_inet6_post_bind" }],
  ["cgroup/bind4", { programType: "cgroup_sock_addr", attachType: "cgroup_inet4_bind" }],
  ["cgroup/bind6", { programType: "cgroup_sock_addr", attachType: "cgroup_inet6_bind" }],
  ["cgroup/connect4", { programType: "cgroup_sock_addr", attachType: "cgroup_inet4_connect" }],
  ["cgroup/connect6", { programType: "cgroup_sock_addr", attachType: "cgroup_inet6_connect" }],
  ["cgroup/sendmsg4", { programType: "cgroup_sock_addr", attachType: "cgroup_udp4_sendmsg" }],
  ["cgroup/sendmsg6", { programType: "cgroup_sock_addr", attachType: "cgroup_udp6_sendmsg" }],
  ["cgroup/recvmsg4", { programType: "cgroup_sock_addr", attachType: "cgroup_udp4_recvmsg" }],
  ["cgroup/recvmsg6", { programType: "cgroup_sock_addr", attachType: "cgroup_udp6_recvmsg" }],
  ["sockops", { programType: "sock_ops", attachType: "cgroup_sock_ops" }],
]);
