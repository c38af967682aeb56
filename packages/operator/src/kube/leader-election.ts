/**
 * Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it, so two
 * operator replicas are safe: only the holder reconciles. The holder renews every `retryMs`;
 * another candidate takes over once `renewTime + leaseDuration` has passed. Updates use the
 * Lease's resourceVersion, so two candidates racing for an expired lease cannot both win (the
 * loser gets 409 Conflict). Losing the lease calls `onLost` — the operator exits, as
 * controller-runtime does, rather than risk two leaders.
 */
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import type { Logger } from "@ebpf-operator/core";
import { apiMessage, isConflict, isNotFound } from "./api-errors.js";

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  retryMs?: number;
  logger: Logger;
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private timer?: NodeJS.Timeout;
  private leading = false;
  private stopped = false;
  /** The renewal in flight, if any: release waits for it so the two never race on the Lease. */
  private renewing?: Promise<boolean>;

  constructor(private readonly options: LeaderElectionOptions) {
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Resolves once this candidate leads; keeps renewing afterwards. */
  async acquire(onLost: () => void): Promise<void> {
    const retryMs = this.options.retryMs ?? 2_000;
    for (;;) {
      if (this.stopped) throw new Error("leader election stopped");
      if (await this.tryAcquireOrRenew()) break;
      await new Promise((r) => setTimeout(r, retryMs));
    }
    this.options.logger.info({ lease: this.options.name, identity: this.options.identity }, "became leader");
    const renew = async () => {
      if (this.stopped) return;
      this.renewing = this.tryAcquireOrRenew();
      const renewed = await this.renewing;
      this.renewing = undefined;
      // Stopping while a renewal was in flight is not losing the lease: release() takes over.
      if (this.stopped) return;
      if (!renewed) {
        this.leading = false;
        this.options.logger.error({ lease: this.options.name }, "lost the leader lease");
        onLost();
        return;
      }
      this.timer = setTimeout(() => void renew(), retryMs);
    };
    this.timer = setTimeout(() => void renew(), retryMs);
  }

  /** Gives the lease up (on graceful shutdown) so a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // A renewal already sent would otherwise bump the Lease's resourceVersion between our read
    // and our update, and the release would fail with 409 Conflict, leaving the lease held.
    await this.renewing;
    if (!this.leading) return;
    const { name, namespace } = this.options;
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const lease = await this.api.readNamespacedLease({ name, namespace });
        if (lease.spec?.holderIdentity !== this.options.identity) break;
        lease.spec.holderIdentity = undefined;
        lease.spec.leaseDurationSeconds = 1;
        await this.api.replaceNamespacedLease({ name, namespace, body: lease });
        break;
      } catch (error) {
        if (isConflict(error) && attempt < 3) continue;
        this.options.logger.warn({ error: apiMessage(error) }, "releasing the leader lease failed");
        break;
      }
    }
    this.leading = false;
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const duration = this.options.leaseDurationSeconds ?? 15;
    // Lease times are MicroTime: the API server wants six fractional digits.
    const now = new V1MicroTime();
    try {
      let lease: V1Lease;
      try {
        lease = await this.api.readNamespacedLease({ name, namespace });
      } catch (error) {
        if (!isNotFound(error)) throw error;
        await this.api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: { holderIdentity: identity, leaseDurationSeconds: duration, acquireTime: now, renewTime: now, leaseTransitions: 0 },
          },
        });
        this.leading = true;
        return true;
      }
      const spec = lease.spec ?? {};
      const heldByUs = spec.holderIdentity === identity;
      const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
      const expired = !spec.holderIdentity || renewed + (spec.leaseDurationSeconds ?? duration) * 1000 < now.getTime();
      if (!heldByUs && !expired) return false;
      lease.spec = {
        ...spec,
        acquireTime: spec.acquireTime ? new V1MicroTime(spec.acquireTime) : now,
        holderIdentity: identity,
        leaseDurationSeconds: duration,
        renewTime: now,
        ...(heldByUs ? {} : { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
      };
      await this.api.replaceNamespacedLease({ name, namespace, body: lease });
      this.leading = true;
      return true;
    } catch (error) {
      if (!isConflict(error)) this.options.logger.warn({ error: apiMessage(error) }, "leader election request failed");
      return false;
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
