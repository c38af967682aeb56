/**
 * `cgroup_namespace`, `cgroup_pod` and `cgroup_container`: a cgroup v2 id (decimal text, after `uint`; what
 * `bpf_get_current_cgroup_id()` or `bpf_skb_cgroup_id()` returns in a node-wide program) as the
 * namespace and the name of the pod that cgroup belongs to (the pod's own cgroup or one of its
 * containers'), and the container's name (a container's cgroup only), on this node, in any namespace. A decoder makes one label, so a metric that
 * wants both names two labels over the same key field (`field: cgroup`), one with each decoder;
 * both read one shared lookup (pods/cgroup-identity.ts), so they agree and cost one cache.
 *
 * Names of other namespaces' pods are the API server's metadata, which a tenant may not be
 * allowed to list: a resource using these decoders needs a tenancy policy with
 * `crossNamespacePodLabels: true` (its namespace's policy decides; api/metrics-check.ts lists the
 * uses, the operator's tenancy policy refuses them), whatever its scope — a program can write
 * any id into its keys, so the decoders must be refused, not the ids filtered.
 *
 * An id that names no pod the node runs — a host cgroup, a cgroup made inside a container, a pod
 * not (yet) listed, a made-up number — drops the row, never a series: counters of a pod stay
 * monotonic (an `unknown` bucket summing ids that come and go would go down when an id becomes
 * known), and unknown ids cost a bounded negative cache entry, never a series. The core
 * registry's decoders (no pods) drop every row: what `ebpf-agent validate` and a registry
 * without a node's pods see; the agent's container derives the real ones (agent/pod-labels.ts).
 */
import { CROSS_NAMESPACE_DECODERS } from "../api/metrics-check.js";
import { SKIP } from "../plugin/sdk.js";
import type { CgroupIdentity } from "../pods/cgroup-identity.js";
import type { CoreDecoder } from "./decoder.js";
import { parseDecimal } from "./input.js";

/** The names the policy check knows them by (api/metrics-check.ts). */
export const [CGROUP_NAMESPACE_DECODER, CGROUP_POD_DECODER, CGROUP_CONTAINER_DECODER] = CROSS_NAMESPACE_DECODERS as [string, string, string];

/**
 * The three decoders over one lookup (cgroup id -> identity, or undefined when it names no pod).
 * `cgroup_container` names a container's cgroup by the container's name, which needs the pods'
 * statuses: `onContainerNames` is called at its first decode (the agent starts its container
 * watch then); a cgroup that is no named container (the pod's own, the sandbox's, a container
 * whose status is not known yet) drops the row.
 */
export function createCgroupPodDecoders(lookup: (cgroupId: bigint) => CgroupIdentity | undefined, onContainerNames?: () => void): CoreDecoder[] {
  const over =
    (pick: (identity: CgroupIdentity) => string | undefined) =>
    (input: Buffer): string | typeof SKIP => {
      const id = parseDecimal(input);
      if (id === undefined || id < 0n) return SKIP;
      const identity = lookup(id);
      return (identity && pick(identity)) ?? SKIP;
    };
  let asked = false;
  const container = over((i) => i.container);
  return [
    { name: CGROUP_NAMESPACE_DECODER, decode: over((i) => i.namespace) },
    { name: CGROUP_POD_DECODER, decode: over((i) => i.pod) },
    {
      name: CGROUP_CONTAINER_DECODER,
      decode(input) {
        if (!asked) {
          asked = true;
          onContainerNames?.();
        }
        return container(input);
      },
    },
  ];
}

const [cgroupNamespaceNone, cgroupPodNone, cgroupContainerNone] = createCgroupPodDecoders(() => undefined);
export const cgroupNamespace: CoreDecoder = cgroupNamespaceNone!;
export const cgroupPod: CoreDecoder = cgroupPodNone!;
export const cgroupContainer: CoreDecoder = cgroupContainerNone!;
