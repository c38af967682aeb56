/**
 * `pod`: a cgroup v2 id (decimal text, after `uint`; what `bpf_skb_cgroup_id()` or
 * `bpf_get_current_cgroup_id()` returns in a pod-scoped program) as the name of the selected pod
 * that cgroup belongs to (the pod's own cgroup or one of its containers'). Only pod-scoped
 * resources may use it, and only as the last decoder of their `pod` label (api/metrics-check.ts):
 * the label's value is then always the agent's, never the tenant's.
 *
 * The id -> pod table is the resource's own (the agent fills it with the cgroups of the pods it
 * attached to, agent/pod-scope.ts): an id of any other cgroup — another namespace's pod, a pod
 * no longer selected or gone, a cgroup made below a container — drops the row. So the series
 * are bounded by the selected pods, and unknown ids never become series. The core registry's
 * `pod` (no table) drops every row: it is what `ebpf-agent validate` and a resource without pod
 * scope see.
 */
import { SKIP } from "../plugin/sdk.js";
import type { CoreDecoder } from "./decoder.js";
import { parseDecimal } from "./input.js";

export const POD_DECODER = "pod";

export function createPodDecoder(lookup: (cgroupId: bigint) => string | undefined): CoreDecoder {
  return {
    name: POD_DECODER,
    decode(input) {
      const id = parseDecimal(input);
      if (id === undefined) return SKIP;
      return lookup(id) ?? SKIP;
    },
  };
}

export const pod: CoreDecoder = createPodDecoder(() => undefined);
