/**
 * Which helpers a tenant may call. Default-deny: a helper is allowed only when a granted set or
 * a grant by name includes it, so helpers newer than this list (or than the UAPI header the
 * ids come from) are refused until someone decides about them.
 *
 * - `observe`: read-only helpers safe for tenants — map operations, time, CPU and NUMA ids,
 *   random numbers, the current task's pid/uid/comm/cgroup, read-only packet and socket loads,
 *   ring-buffer and perf output, bounded loops. Tracing program types (which already need
 *   CAP_PERFMON and see the whole node) also get the tracing reads: `bpf_probe_read_kernel/user`,
 *   `bpf_get_current_task`, stacks. For any other type those are dangerous: kernel and other
 *   processes' memory, exported through a map.
 * - `any`: every helper (for a cluster admin's own namespaces).
 *
 * Observe mode additionally refuses, whatever is granted, every helper that changes traffic or
 * behaviour: tail calls (the called program's verdict would be final), redirects, packet and
 * socket writers, `bpf_set_retval`, signals, return overrides.
 *
 * Names are checked against the generated UAPI table by a test, so a typo cannot silently
 * allow or deny nothing.
 */

export type HelperSetName = "observe" | "any";

/** libbpf's names of the program types that need CAP_PERFMON to load (the kernel's `is_perfmon_prog_type`). */
export const TRACING_PROGRAM_TYPES: ReadonlySet<string> = new Set([
  "kprobe",
  "tracepoint",
  "perf_event",
  "raw_tracepoint",
  "raw_tracepoint_writable",
  "tracing",
  "lsm",
  "struct_ops",
  "ext",
]);

export function isTracingProgramType(type: string): boolean {
  return TRACING_PROGRAM_TYPES.has(type);
}

/** Read-only helpers safe for any tenant program type. */
export const OBSERVE_HELPERS: ReadonlySet<string> = new Set([
  // maps
  "bpf_map_lookup_elem",
  "bpf_map_update_elem",
  "bpf_map_delete_elem",
  "bpf_map_push_elem",
  "bpf_map_pop_elem",
  "bpf_map_peek_elem",
  "bpf_map_lookup_percpu_elem",
  "bpf_for_each_map_elem",
  "bpf_spin_lock",
  "bpf_spin_unlock",
  // time, CPU, randomness
  "bpf_ktime_get_ns",
  "bpf_ktime_get_boot_ns",
  "bpf_ktime_get_coarse_ns",
  "bpf_ktime_get_tai_ns",
  "bpf_jiffies64",
  "bpf_get_smp_processor_id",
  "bpf_get_numa_node_id",
  "bpf_get_prandom_u32",
  // the current task (read)
  "bpf_get_current_pid_tgid",
  "bpf_get_current_uid_gid",
  "bpf_get_current_comm",
  "bpf_get_current_cgroup_id",
  "bpf_get_current_ancestor_cgroup_id",
  "bpf_get_ns_current_pid_tgid",
  // packets and sockets (read)
  "bpf_skb_load_bytes",
  "bpf_skb_load_bytes_relative",
  "bpf_xdp_load_bytes",
  "bpf_xdp_get_buff_len",
  "bpf_get_socket_cookie",
  "bpf_get_socket_uid",
  "bpf_get_netns_cookie",
  "bpf_get_cgroup_classid",
  "bpf_skb_cgroup_classid",
  "bpf_get_route_realm",
  "bpf_skb_cgroup_id",
  "bpf_skb_ancestor_cgroup_id",
  "bpf_sk_cgroup_id",
  "bpf_sk_ancestor_cgroup_id",
  "bpf_sk_fullsock",
  "bpf_tcp_sock",
  "bpf_get_listener_sock",
  "bpf_skc_to_tcp6_sock",
  "bpf_skc_to_tcp_sock",
  "bpf_skc_to_tcp_timewait_sock",
  "bpf_skc_to_tcp_request_sock",
  "bpf_skc_to_udp6_sock",
  "bpf_skc_to_unix_sock",
  "bpf_csum_diff",
  // output to user space
  "bpf_perf_event_output",
  "bpf_skb_output",
  "bpf_xdp_output",
  "bpf_ringbuf_output",
  "bpf_ringbuf_reserve",
  "bpf_ringbuf_submit",
  "bpf_ringbuf_discard",
  "bpf_ringbuf_query",
  "bpf_ringbuf_reserve_dynptr",
  "bpf_ringbuf_submit_dynptr",
  "bpf_ringbuf_discard_dynptr",
  // computation
  "bpf_loop",
  "bpf_strncmp",
  "bpf_strtol",
  "bpf_strtoul",
  "bpf_dynptr_from_mem",
  "bpf_dynptr_read",
  "bpf_dynptr_data",
]);

/** Reads of kernel and user memory and the current task: part of `observe` for tracing types only. */
export const TRACING_READ_HELPERS: ReadonlySet<string> = new Set([
  "bpf_probe_read_kernel",
  "bpf_probe_read_kernel_str",
  "bpf_probe_read_user",
  "bpf_probe_read_user_str",
  "bpf_probe_read",
  "bpf_probe_read_str",
  "bpf_get_current_task",
  "bpf_get_current_task_btf",
  "bpf_task_pt_regs",
  "bpf_get_stackid",
  "bpf_get_stack",
  "bpf_get_task_stack",
  "bpf_perf_event_read",
  "bpf_perf_event_read_value",
  "bpf_perf_prog_read_value",
  "bpf_get_func_ip",
  "bpf_get_attach_cookie",
  "bpf_get_func_arg",
  "bpf_get_func_ret",
  "bpf_get_func_arg_cnt",
  "bpf_get_branch_snapshot",
  "bpf_read_branch_records",
  "bpf_current_task_under_cgroup",
  "bpf_copy_from_user",
  "bpf_copy_from_user_task",
  "bpf_d_path",
  "bpf_find_vma",
]);

/**
 * Helpers refused in observe mode even when granted by name: each can change a verdict,
 * traffic, a socket or another process. The reason is shown in the refusal.
 */
export const OBSERVE_FORBIDDEN_HELPERS: ReadonlyMap<string, string> = new Map([
  ["bpf_tail_call", "jumps to another program whose verdict would be final"],
  ["bpf_redirect", "redirects the packet"],
  ["bpf_redirect_map", "redirects the packet"],
  ["bpf_redirect_peer", "redirects the packet"],
  ["bpf_redirect_neigh", "redirects the packet"],
  ["bpf_clone_redirect", "sends a copy of the packet elsewhere"],
  ["bpf_sk_redirect_map", "redirects the message"],
  ["bpf_sk_redirect_hash", "redirects the message"],
  ["bpf_msg_redirect_map", "redirects the message"],
  ["bpf_msg_redirect_hash", "redirects the message"],
  ["bpf_sk_assign", "steers the packet to another socket"],
  ["bpf_sk_select_reuseport", "steers the connection to another socket"],
  ["bpf_xdp_adjust_head", "changes the packet"],
  ["bpf_xdp_adjust_tail", "changes the packet"],
  ["bpf_xdp_adjust_meta", "changes the packet's metadata"],
  ["bpf_xdp_store_bytes", "writes the packet"],
  ["bpf_skb_store_bytes", "writes the packet"],
  ["bpf_l3_csum_replace", "writes the packet"],
  ["bpf_l4_csum_replace", "writes the packet"],
  ["bpf_csum_update", "changes the packet's checksum state"],
  ["bpf_csum_level", "changes the packet's checksum state"],
  ["bpf_skb_change_proto", "changes the packet"],
  ["bpf_skb_change_type", "changes the packet"],
  ["bpf_skb_change_tail", "changes the packet"],
  ["bpf_skb_change_head", "changes the packet"],
  ["bpf_skb_adjust_room", "changes the packet"],
  ["bpf_skb_pull_data", "changes the packet's layout"],
  ["bpf_skb_vlan_push", "changes the packet"],
  ["bpf_skb_vlan_pop", "changes the packet"],
  ["bpf_skb_set_tunnel_key", "changes the packet's tunnel"],
  ["bpf_skb_set_tunnel_opt", "changes the packet's tunnel"],
  ["bpf_skb_set_tstamp", "changes the packet"],
  ["bpf_skb_ecn_set_ce", "marks the packet congested"],
  ["bpf_set_hash", "changes the packet's hash"],
  ["bpf_set_hash_invalid", "changes the packet's hash"],
  ["bpf_get_hash_recalc", "recomputes and stores the packet's hash"],
  ["bpf_lwt_push_encap", "changes the packet"],
  ["bpf_lwt_seg6_store_bytes", "changes the packet"],
  ["bpf_lwt_seg6_adjust_srh", "changes the packet"],
  ["bpf_lwt_seg6_action", "changes the packet's route"],
  ["bpf_msg_apply_bytes", "changes the message"],
  ["bpf_msg_cork_bytes", "changes the message"],
  ["bpf_msg_pull_data", "changes the message"],
  ["bpf_msg_push_data", "changes the message"],
  ["bpf_msg_pop_data", "changes the message"],
  ["bpf_store_hdr_opt", "writes TCP header options"],
  ["bpf_reserve_hdr_opt", "writes TCP header options"],
  ["bpf_setsockopt", "changes a socket"],
  ["bpf_sock_ops_cb_flags_set", "changes a socket"],
  ["bpf_sock_map_update", "changes a socket map"],
  ["bpf_sock_hash_update", "changes a socket map"],
  ["bpf_bind", "binds a socket"],
  ["bpf_tcp_send_ack", "sends a packet"],
  ["bpf_set_retval", "changes the result the hook returns"],
  ["bpf_sysctl_set_new_value", "changes a sysctl write"],
  ["bpf_override_return", "changes a kernel function's result"],
  ["bpf_send_signal", "signals a process"],
  ["bpf_send_signal_thread", "signals a thread"],
  ["bpf_probe_write_user", "writes another process's memory"],
  ["bpf_dynptr_write", "writes through a dynptr (packet data included)"],
  ["bpf_sk_storage_delete", "changes socket storage"],
  ["bpf_rc_repeat", "injects input events"],
  ["bpf_rc_keydown", "injects input events"],
  ["bpf_rc_pointer_rel", "injects input events"],
  ["bpf_bprm_opts_set", "changes how a program executes"],
  ["bpf_sys_bpf", "runs bpf() commands"],
  ["bpf_sys_close", "closes file descriptors"],
]);

/** kfuncs refused in observe mode even when granted: `bpf_throw` ends the program with its own verdict. */
export const OBSERVE_FORBIDDEN_KFUNCS: ReadonlyMap<string, string> = new Map([["bpf_throw", "ends the program with the exception callback's verdict"]]);

/**
 * Helpers outside `observe` that docs and messages explain (the list is informational: anything
 * not granted is refused, listed here or not).
 */
export const DANGEROUS_HELPER_REASONS: ReadonlyMap<string, string> = new Map([
  ...OBSERVE_FORBIDDEN_HELPERS,
  ["bpf_probe_read_kernel", "reads kernel memory (tracing program types only)"],
  ["bpf_probe_read_kernel_str", "reads kernel memory (tracing program types only)"],
  ["bpf_probe_read_user", "reads other processes' memory (tracing program types only)"],
  ["bpf_probe_read_user_str", "reads other processes' memory (tracing program types only)"],
  ["bpf_probe_read", "reads kernel memory (tracing program types only)"],
  ["bpf_probe_read_str", "reads kernel memory (tracing program types only)"],
  ["bpf_get_current_task", "hands out a kernel pointer (tracing program types only)"],
  ["bpf_get_current_task_btf", "hands out a kernel pointer (tracing program types only)"],
  ["bpf_trace_printk", "writes to the node's shared trace buffer"],
  ["bpf_trace_vprintk", "writes to the node's shared trace buffer"],
  ["bpf_snprintf_btf", "formats kernel memory"],
  ["bpf_kallsyms_lookup_name", "reveals kernel addresses"],
  ["bpf_per_cpu_ptr", "reads kernel per-CPU memory"],
  ["bpf_this_cpu_ptr", "reads kernel per-CPU memory"],
  ["bpf_kptr_xchg", "moves kernel object references"],
  ["bpf_sk_storage_get", "allocates memory on every socket (outside map quotas)"],
  ["bpf_task_storage_get", "allocates memory on every task (outside map quotas)"],
  ["bpf_inode_storage_get", "allocates memory on every inode (outside map quotas)"],
  ["bpf_timer_init", "keeps code running after the program returns"],
]);

/** Map types safe for tenants: plain storage and output. */
export const OBSERVE_MAP_TYPES: readonly string[] = [
  "hash",
  "array",
  "percpu_hash",
  "percpu_array",
  "lru_hash",
  "lru_percpu_hash",
  "lpm_trie",
  "queue",
  "stack",
  "bloom_filter",
  "ringbuf",
  "perf_event_array",
];

export interface HelperGrant {
  sets: readonly HelperSetName[];
  /** Helpers granted by name (`bpf_probe_read_kernel`), beyond the sets. */
  names?: readonly string[];
}

/** Whether a helper is granted for a program of `programType` (libbpf name). */
export function helperGranted(name: string, programType: string, grant: HelperGrant): boolean {
  if (grant.sets.includes("any")) return true;
  if (grant.names?.includes(name)) return true;
  if (grant.sets.includes("observe")) {
    if (OBSERVE_HELPERS.has(name)) return true;
    if (TRACING_READ_HELPERS.has(name) && isTracingProgramType(programType)) return true;
  }
  return false;
}
