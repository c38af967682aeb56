/**
 * Pod labels for node-wide programs: the `cgroup_namespace`, `cgroup_pod` and `cgroup_container` decoders over one
 * `CgroupIdentities` shared by every resource of the agent (one negative cache, one rescan rate
 * limit, whatever the number of resources or labels). The lookup starts on first use (most
 * agents never decode a pod label: no cgroup walk, no pod-change work until then) and follows
 * the node's pods from then on (a pod change schedules one refresh; unknown ids ask for rescans
 * at most once per interval). The pods and cgroups are pod scope's (agent/pod-scope.ts): the
 * node's metadata-only pod informer and the kernel's cgroup tree, root-owned cgroups only.
 */
import { createCgroupPodDecoders } from "../decoders/cgroup-pod.js";
import type { CoreDecoder } from "../decoders/decoder.js";
import { CgroupIdentities, type CgroupIdentity, type CgroupIdentityOptions } from "../pods/cgroup-identity.js";
import type { PodScopeDependencies } from "./pod-scope.js";

export type PodLabelOptions = Pick<CgroupIdentityOptions, "negativeMax" | "negativeTtlMs" | "rescanIntervalMs" | "now">;

export class PodLabels {
  readonly identities: CgroupIdentities;
  private started = false;

  constructor(
    private readonly pods: Pick<PodScopeDependencies, "source" | "scan">,
    options: PodLabelOptions = {},
  ) {
    this.identities = new CgroupIdentities({ scan: (wanted) => pods.scan(wanted), pods: pods.source, ...options });
    pods.source.onChange(() => {
      if (this.started) this.identities.refreshSoon();
    });
  }

  /** The identity of a cgroup id; the first call starts the lookup (its first scan answers the next scrapes). */
  readonly lookup = (id: bigint): CgroupIdentity | undefined => {
    if (!this.started) {
      this.started = true;
      void this.identities.refresh().catch(() => undefined);
    }
    return this.identities.lookup(id);
  };

  /** `cgroup_namespace`, `cgroup_pod` and `cgroup_container` over this lookup; the last starts the container watch at its first use. */
  decoders(): CoreDecoder[] {
    return createCgroupPodDecoders(this.lookup, () => {
      this.pods.source.watchContainers?.();
      if (this.started) this.identities.refreshSoon();
    });
  }

  close(): void {
    this.identities.close();
  }
}
