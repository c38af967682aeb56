/**
 * `container`: a cgroup v2 id (decimal text, after `uint`) as the name of the container of a
 * selected pod that cgroup is (`server`, `sidecar`: the name in the pod's spec). Like `pod`, only
 * pod-scoped resources may use it, and only as the last decoder of their `container` label
 * (api/metrics-check.ts): the value is always the agent's.
 *
 * The id -> name table is the resource's own (agent/pod-scope.ts `containerIdTable`: the
 * attached pods' containers whose runtime ids the pods' statuses name; with
 * `spec.selector.container`, that container only). Any other id — the pod's own cgroup, the
 * sandbox's, a sibling container not selected, another namespace's pod, a cgroup made below a
 * container — drops the row, so unknown ids never become series. The core registry's
 * `container` (no table) drops every row: what `ebpf-agent validate` and a resource without pod
 * scope see.
 */
import { SKIP } from "../plugin/sdk.js";
import type { CoreDecoder } from "./decoder.js";
import { parseDecimal } from "./input.js";

export const CONTAINER_DECODER = "container";

export function createContainerDecoder(lookup: (cgroupId: bigint) => string | undefined): CoreDecoder {
  return {
    name: CONTAINER_DECODER,
    decode(input) {
      const id = parseDecimal(input);
      if (id === undefined) return SKIP;
      return lookup(id) ?? SKIP;
    },
  };
}

export const container: CoreDecoder = createContainerDecoder(() => undefined);
