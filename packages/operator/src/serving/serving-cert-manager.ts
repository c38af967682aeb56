/**
 * The install's own serving certificates, made and rotated by the operator's leader (when the
 * chart does not delegate them to cert-manager):
 *
 * - Secret `<prefix>-ca` (Opaque): the CA's certificate and key. Read by nobody but the operator.
 * - one `kubernetes.io/tls` Secret per served endpoint (`<prefix>-agent-tls`,
 *   `<prefix>-metrics-tls`): `tls.crt`, `tls.key` and `ca.crt`, mounted by the agents and the
 *   operator, which re-read them (serving-certificate.ts).
 * - ConfigMap `<prefix>-serving-ca` (`ca.crt`): the CA bundle scrapers verify with, readable by
 *   every authenticated user (the ServiceMonitor and tenants' scrape configs point at it).
 *
 * Rotation: a serving certificate is re-issued when a third of its life is left, when its names
 * change, or when it is not signed by the current CA. The CA is renewed when a fifth of its life
 * is left: the new CA is first only *published* (the bundle holds both) and signs nothing until
 * it has been in the bundle for `caOverlapMs`, so scrapers have it before any certificate they
 * see needs it; the old CA stays in the bundle until it expires.
 */
import { CoreV1Api, type KubeConfig, type V1ConfigMap, type V1Secret } from "@kubernetes/client-node";
import { describeError, type Logger } from "@ebpf-operator/core";
import { isConflict, isNotFound } from "../kube/api-errors.js";
import { certificateFacts, createCa, issueServingCertificate, keyMatches, signedBy, splitBundle, type KeyPair } from "./certificates.js";

const DAY = 24 * 3600_000;
export const NEXT_CA_SINCE = "observability.cloud/next-ca-since";
const LABELS = { "app.kubernetes.io/name": "ebpf-operator", "app.kubernetes.io/part-of": "ebpf-operator", "app.kubernetes.io/managed-by": "ebpf-operator" };

export interface ServedEndpoint {
  /** The Secret that holds its certificate. */
  secret: string;
  /** The names scrapers verify (`<service>.<namespace>.svc`...). */
  dnsNames: string[];
}

export interface ServingCertOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  caSecret: string;
  caConfigMap: string;
  endpoints: ServedEndpoint[];
  logger: Logger;
  caLifetimeMs?: number;
  certLifetimeMs?: number;
  caOverlapMs?: number;
  /** How often the Secrets are checked. Default 10 min. */
  intervalMs?: number;
  now?: () => Date;
}

/** The names a Service answers to inside the cluster. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}`, service];
}

interface CaState {
  current: KeyPair;
  next?: KeyPair;
  nextSince?: Date;
  previous: string[];
}

export class ServingCertManager {
  private readonly api: CoreV1Api;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly now: () => Date;
  private readonly caLifetimeMs: number;
  private readonly certLifetimeMs: number;
  private readonly caOverlapMs: number;

  constructor(private readonly options: ServingCertOptions) {
    this.api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.now = options.now ?? (() => new Date());
    this.caLifetimeMs = options.caLifetimeMs ?? 5 * 365 * DAY;
    this.certLifetimeMs = options.certLifetimeMs ?? 90 * DAY;
    this.caOverlapMs = options.caOverlapMs ?? DAY;
  }

  /** Checks now and then periodically; failures are logged and retried on the next round. */
  start(): void {
    const round = () => {
      this.running = this.running.then(() =>
        this.reconcile().catch((error: unknown) =>
          this.options.logger.warn({ error: describeError(error) }, "serving certificates: reconcile failed; retrying"),
        ),
      );
    };
    round();
    this.timer = setInterval(round, this.options.intervalMs ?? 10 * 60_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass: the CA (made, renewed, promoted), the bundle, every endpoint's certificate. */
  async reconcile(): Promise<void> {
    const ca = await this.ensureCa();
    const bundle = [ca.current.cert, ...(ca.next ? [ca.next.cert] : []), ...ca.previous].join("");
    await this.ensureBundle(bundle);
    for (const endpoint of this.options.endpoints) await this.ensureEndpoint(endpoint, ca.current, bundle);
  }

  private async ensureCa(): Promise<CaState> {
    const { namespace, caSecret } = this.options;
    const now = this.now();
    const existing = await this.readSecret(caSecret);
    let state = existing ? caFromSecret(existing) : undefined;
    let changed = false;
    if (!state) {
      state = { current: await createCa("ebpf-operator-serving-ca", now, this.caLifetimeMs), previous: [] };
      changed = true;
      this.options.logger.info({ secret: `${namespace}/${caSecret}` }, "serving CA created");
    }
    const left = certificateFacts(state.current.cert).notAfter.getTime() - now.getTime();
    if (!state.next && left < this.caLifetimeMs / 5) {
      state.next = await createCa("ebpf-operator-serving-ca", now, this.caLifetimeMs);
      state.nextSince = now;
      changed = true;
      this.options.logger.info(
        { secret: `${namespace}/${caSecret}` },
        "serving CA renewal: the new CA is published; it signs once scrapers have had it for the overlap",
      );
    }
    if (state.next && state.nextSince && now.getTime() - state.nextSince.getTime() >= this.caOverlapMs) {
      state = { current: state.next, previous: [state.current.cert, ...state.previous] };
      changed = true;
      this.options.logger.info({ secret: `${namespace}/${caSecret}` }, "serving CA renewal: the new CA signs from now on");
    }
    const unexpired = state.previous.filter((pem) => certificateFacts(pem).notAfter.getTime() > now.getTime());
    if (unexpired.length !== state.previous.length) {
      state.previous = unexpired;
      changed = true;
    }
    if (changed)
      await this.writeSecret(caSecret, "Opaque", caToData(state), existing, state.nextSince ? { [NEXT_CA_SINCE]: state.nextSince.toISOString() } : {});
    return state;
  }

  private async ensureBundle(bundle: string): Promise<void> {
    const { namespace, caConfigMap } = this.options;
    let existing: V1ConfigMap | undefined;
    try {
      existing = await this.api.readNamespacedConfigMap({ namespace, name: caConfigMap });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    if (existing?.data?.["ca.crt"] === bundle) return;
    const body: V1ConfigMap = {
      metadata: { name: caConfigMap, namespace, labels: LABELS, ...(existing && { resourceVersion: existing.metadata?.resourceVersion }) },
      data: { "ca.crt": bundle },
    };
    if (existing) await this.api.replaceNamespacedConfigMap({ namespace, name: caConfigMap, body });
    else await this.api.createNamespacedConfigMap({ namespace, body });
    this.options.logger.info({ configMap: `${namespace}/${caConfigMap}`, certificates: splitBundle(bundle).length }, "serving CA bundle published");
  }

  private async ensureEndpoint(endpoint: ServedEndpoint, ca: KeyPair, bundle: string): Promise<void> {
    const now = this.now();
    const existing = await this.readSecret(endpoint.secret);
    const pair = existing ? { cert: decode(existing, "tls.crt"), key: decode(existing, "tls.key") } : undefined;
    const reason = this.renewalReason(pair, endpoint, ca, now);
    if (!reason) {
      if (decode(existing!, "ca.crt") !== bundle)
        await this.writeSecret(endpoint.secret, "kubernetes.io/tls", { "tls.crt": pair!.cert, "tls.key": pair!.key, "ca.crt": bundle }, existing);
      return;
    }
    const issued = await issueServingCertificate(ca, endpoint.dnsNames, now, this.certLifetimeMs);
    await this.writeSecret(endpoint.secret, "kubernetes.io/tls", { "tls.crt": issued.cert, "tls.key": issued.key, "ca.crt": bundle }, existing);
    this.options.logger.info(
      { secret: `${this.options.namespace}/${endpoint.secret}`, reason, notAfter: certificateFacts(issued.cert).notAfter.toISOString() },
      "serving certificate issued",
    );
  }

  private renewalReason(pair: KeyPair | undefined, endpoint: ServedEndpoint, ca: KeyPair, now: Date): string | undefined {
    if (!pair?.cert || !pair.key) return "missing";
    if (!keyMatches(pair)) return "key does not match";
    const facts = certificateFacts(pair.cert);
    if (facts.notAfter.getTime() - now.getTime() < (facts.notAfter.getTime() - facts.notBefore.getTime()) / 3) return "expiring";
    if ([...facts.dnsNames].sort().join(",") !== [...endpoint.dnsNames].sort().join(",")) return "names changed";
    if (!signedBy(pair.cert, ca.cert)) return "not signed by the current CA";
    return undefined;
  }

  private async readSecret(name: string): Promise<V1Secret | undefined> {
    try {
      return await this.api.readNamespacedSecret({ namespace: this.options.namespace, name });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Creates or replaces (guarded by resourceVersion: two leaders never both win). */
  private async writeSecret(
    name: string,
    type: string,
    data: Record<string, string>,
    existing: V1Secret | undefined,
    annotations: Record<string, string> = {},
  ): Promise<void> {
    const { namespace } = this.options;
    const body: V1Secret = {
      metadata: { name, namespace, labels: LABELS, annotations, ...(existing && { resourceVersion: existing.metadata?.resourceVersion }) },
      type,
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
    };
    try {
      if (existing) await this.api.replaceNamespacedSecret({ namespace, name, body });
      else await this.api.createNamespacedSecret({ namespace, body });
    } catch (error) {
      if (isConflict(error)) throw new Error(`Secret ${namespace}/${name} changed meanwhile; retrying next round`);
      throw error;
    }
  }
}

function decode(secret: V1Secret, key: string): string {
  const value = secret.data?.[key];
  return value ? Buffer.from(value, "base64").toString("utf8") : "";
}

function caFromSecret(secret: V1Secret): CaState | undefined {
  const current = { cert: decode(secret, "ca.crt"), key: decode(secret, "ca.key") };
  if (!current.cert || !keyMatches(current)) return undefined;
  const next = { cert: decode(secret, "next.crt"), key: decode(secret, "next.key") };
  const since = secret.metadata?.annotations?.[NEXT_CA_SINCE];
  const hasNext = next.cert !== "" && keyMatches(next) && since !== undefined && !Number.isNaN(Date.parse(since));
  return { current, ...(hasNext && { next, nextSince: new Date(since) }), previous: splitBundle(decode(secret, "previous.crt")) };
}

function caToData(state: CaState): Record<string, string> {
  return {
    "ca.crt": state.current.cert,
    "ca.key": state.current.key,
    ...(state.next && { "next.crt": state.next.cert, "next.key": state.next.key }),
    ...(state.previous.length > 0 && { "previous.crt": state.previous.join("") }),
  };
}
