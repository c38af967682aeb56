/**
 * Who may read the agent's (and the operator's) endpoints, decided by the API server the way
 * the kubelet and kube-rbac-proxy decide it, in-process: the bearer token is checked with a
 * TokenReview, the right with a SubjectAccessReview for the identity the review returned.
 *
 * Decisions are cached briefly (bounded LRU caches, keyed by a hash of the token and by the
 * identity plus the attributes), so a scraper that comes back every 15-30 s costs about one
 * review of each kind per cache period and node, not one per scrape. An authenticated token is
 * never cached past its own `exp`. Concurrent requests with the same token share one review;
 * reviews in flight are capped, so a flood of made-up tokens cannot queue unbounded calls to
 * the API server (beyond the cap: 429). Every decision and every review call is counted.
 */
import { createHash } from "node:crypto";
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig, type V1NonResourceAttributes, type V1ResourceAttributes } from "@kubernetes/client-node";
import { describeError, type AccessControl, type Identity, type Logger, type ReadTarget, type Refusal } from "@ebpf-operator/core";
import { LRUCache } from "lru-cache";
import { Counter, type Registry } from "prom-client";

/** What a SubjectAccessReview asks about a view: a resource or a non-resource URL. */
export type AccessAttributes = { resource: V1ResourceAttributes } | { nonResource: V1NonResourceAttributes };

/** The API group of EbpfMaps, and the subresource-like permission that reads their metrics. */
export const METRICS_PERMISSION = { group: "observability.cloud", resource: "ebpfmaps", subresource: "metrics", verb: "get" } as const;

/**
 * The agent's rule: the whole node (`/metrics`, `/status`) needs `get ebpfmaps/metrics` in every
 * namespace (a ClusterRoleBinding); one namespace's view needs it in that namespace (a
 * RoleBinding there is enough). See docs/tenancy.md for why not a non-resource URL.
 */
export function agentAttributes(target: ReadTarget): AccessAttributes {
  return { resource: { ...METRICS_PERMISSION, namespace: target.view === "namespace" ? target.namespace : "" } };
}

/** The operator's rule (controller metrics, no tenant data): `get` on the non-resource URL, as controller-runtime does. */
export function operatorAttributes(target: ReadTarget): AccessAttributes {
  return { nonResource: { path: target.path, verb: "get" } };
}

export interface KubeAccessOptions {
  kubeConfig: KubeConfig;
  attributes: (target: ReadTarget) => AccessAttributes;
  /** Metric name prefix (`ebpf_operator_agent_`, `ebpf_operator_controller_`); see register(). */
  metricPrefix: string;
  logger: Logger;
  /** How long an allowed (authenticated) decision is kept. Default 60 s. */
  allowedTtlMs?: number;
  /** How long a refusal is kept. Default 10 s. */
  deniedTtlMs?: number;
  /** Entries per cache. Default 4096. */
  maxEntries?: number;
  /** Reviews in flight at once. Default 32. */
  maxInFlight?: number;
  /** Per review call. Default 5 s. */
  timeoutMs?: number;
  now?: () => number;
}

/** Longer Authorization headers are refused unread (service-account tokens are ~1 KiB). */
const MAX_TOKEN_BYTES = 16 * 1024;
const UNAUTHORIZED: Refusal = { status: 401, message: "Unauthorized: a valid bearer token is required" };
const UNAVAILABLE: Refusal = { status: 503, message: "the API server could not review the request; try again" };
const THROTTLED: Refusal = { status: 429, message: "too many reviews in flight; try again" };

type Decision<T> = { value: T; expires: number };

export class KubeAccessControl implements AccessControl {
  private readonly authn: AuthenticationV1Api;
  private readonly authz: AuthorizationV1Api;
  private readonly tokens: LRUCache<string, Decision<Identity | Refusal>>;
  private readonly rights: LRUCache<string, Decision<true | Refusal>>;
  private readonly inFlight = new Map<string, Promise<unknown>>();
  private readonly authentications: Counter<"result">;
  private readonly authorizations: Counter<"view" | "result">;
  private readonly reviews: Counter<"kind" | "result">;
  private readonly now: () => number;
  private readonly allowedTtlMs: number;
  private readonly deniedTtlMs: number;

  constructor(private readonly options: KubeAccessOptions) {
    this.authn = options.kubeConfig.makeApiClient(AuthenticationV1Api);
    this.authz = options.kubeConfig.makeApiClient(AuthorizationV1Api);
    this.tokens = new LRUCache({ max: options.maxEntries ?? 4096 });
    this.rights = new LRUCache({ max: options.maxEntries ?? 4096 });
    this.now = options.now ?? Date.now;
    this.allowedTtlMs = options.allowedTtlMs ?? 60_000;
    this.deniedTtlMs = options.deniedTtlMs ?? 10_000;
    const registers: Registry[] = [];
    this.authentications = new Counter({
      name: `${options.metricPrefix}http_authentications_total`,
      help: "Requests to the data endpoints by authentication result (authenticated, unauthenticated, throttled, error).",
      labelNames: ["result"],
      registers,
    });
    this.authorizations = new Counter({
      name: `${options.metricPrefix}http_authorizations_total`,
      help: "Authenticated requests to the data endpoints by view (cluster, namespace) and result (allowed, forbidden, throttled, error).",
      labelNames: ["view", "result"],
      registers,
    });
    this.reviews = new Counter({
      name: `${options.metricPrefix}http_access_reviews_total`,
      help: "Calls to the API server's TokenReview and SubjectAccessReview (cache misses), by result (ok, error).",
      labelNames: ["kind", "result"],
      registers,
    });
    for (const result of ["authenticated", "unauthenticated", "throttled", "error"]) this.authentications.inc({ result }, 0);
    for (const view of ["cluster", "namespace"])
      for (const result of ["allowed", "forbidden", "throttled", "error"]) this.authorizations.inc({ view, result }, 0);
    for (const kind of ["TokenReview", "SubjectAccessReview"]) for (const result of ["ok", "error"]) this.reviews.inc({ kind, result }, 0);
  }

  /** Serves the counters from `registry` (the process's own metrics). */
  register(registry: Registry): void {
    for (const metric of [this.authentications, this.authorizations, this.reviews]) registry.registerMetric(metric);
  }

  async authenticate(header: string | undefined): Promise<Identity | Refusal> {
    const token = bearerToken(header);
    const result = token === undefined ? UNAUTHORIZED : await this.reviewToken(token);
    this.authentications.inc({ result: "status" in result ? resultOf(result) : "authenticated" });
    return result;
  }

  async authorize(identity: Identity, target: ReadTarget): Promise<true | Refusal> {
    const attributes = this.options.attributes(target);
    const key = hash(JSON.stringify([identity.name, identity.uid ?? "", [...identity.groups].sort(), identity.extra ?? {}, attributes]));
    const result = await this.cached(this.rights, key, () => this.reviewAccess(identity, attributes, target));
    this.authorizations.inc({ view: target.view, result: result === true ? "allowed" : resultOf(result) });
    return result;
  }

  private async reviewToken(token: string): Promise<Identity | Refusal> {
    return this.cached(this.tokens, hash(token), async () => {
      let review;
      try {
        review = await this.withTimeout(
          this.authn.createTokenReview({ body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } } }),
        );
        this.reviews.inc({ kind: "TokenReview", result: "ok" });
      } catch (error) {
        this.reviews.inc({ kind: "TokenReview", result: "error" });
        this.options.logger.warn({ error: describeError(error) }, "TokenReview failed");
        return { value: UNAVAILABLE, expires: 0 };
      }
      const status = review.status;
      if (!status?.authenticated || !status.user?.username) return { value: UNAUTHORIZED, expires: this.now() + this.deniedTtlMs };
      const identity: Identity = {
        name: status.user.username,
        ...(status.user.uid && { uid: status.user.uid }),
        groups: status.user.groups ?? [],
        ...(status.user.extra && { extra: status.user.extra }),
      };
      // Never trust a cached token past its expiry (service-account and OIDC tokens are JWTs).
      const exp = jwtExpiry(token);
      return { value: identity, expires: Math.min(this.now() + this.allowedTtlMs, exp ?? Infinity) };
    });
  }

  private async reviewAccess(identity: Identity, attributes: AccessAttributes, target: ReadTarget): Promise<Decision<true | Refusal>> {
    let review;
    try {
      review = await this.withTimeout(
        this.authz.createSubjectAccessReview({
          body: {
            apiVersion: "authorization.k8s.io/v1",
            kind: "SubjectAccessReview",
            spec: {
              user: identity.name,
              ...(identity.uid && { uid: identity.uid }),
              groups: [...identity.groups],
              ...(identity.extra && { extra: Object.fromEntries(Object.entries(identity.extra).map(([k, v]) => [k, [...v]])) }),
              ...("resource" in attributes ? { resourceAttributes: attributes.resource } : { nonResourceAttributes: attributes.nonResource }),
            },
          },
        }),
      );
      this.reviews.inc({ kind: "SubjectAccessReview", result: "ok" });
    } catch (error) {
      this.reviews.inc({ kind: "SubjectAccessReview", result: "error" });
      this.options.logger.warn({ error: describeError(error) }, "SubjectAccessReview failed");
      return { value: UNAVAILABLE, expires: 0 };
    }
    if (review.status?.allowed && !review.status.denied) return { value: true, expires: this.now() + this.allowedTtlMs };
    const what = "resource" in attributes ? `get ${attributes.resource.resource}/${attributes.resource.subresource}` : `get ${attributes.nonResource.path}`;
    const where = target.view === "namespace" ? `in namespace "${target.namespace}"` : "in all namespaces";
    return { value: { status: 403, message: `Forbidden: user "${identity.name}" may not ${what} ${where}` }, expires: this.now() + this.deniedTtlMs };
  }

  /** A fresh cached decision, or one review shared by concurrent callers (capped in number). */
  private async cached<T>(cache: LRUCache<string, Decision<T>>, key: string, review: () => Promise<Decision<T>>): Promise<T | Refusal> {
    const hit = cache.get(key);
    if (hit && hit.expires > this.now()) return hit.value;
    const shared = this.inFlight.get(key) as Promise<Decision<T>> | undefined;
    if (shared) return (await shared).value;
    if (this.inFlight.size >= (this.options.maxInFlight ?? 32)) return THROTTLED;
    const pending = review().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, pending);
    const decision = await pending;
    if (decision.expires > this.now()) cache.set(key, decision);
    else cache.delete(key);
    return decision.value;
  }

  private withTimeout<T>(call: Promise<T>): Promise<T> {
    const ms = this.options.timeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      call,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }
}

function resultOf(refusal: Refusal): string {
  return { 401: "unauthenticated", 403: "forbidden", 429: "throttled", 503: "error" }[refusal.status];
}

function hash(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The token of an `Authorization: Bearer <token>` header; undefined for anything else. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length > MAX_TOKEN_BYTES) return undefined;
  const match = /^Bearer +([!-~]+) *$/i.exec(header);
  return match?.[1];
}

/** The `exp` of a JWT in ms, read without verifying (it only shortens how long a decision is cached). */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (token.split(".").length !== 3 || !payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp?: unknown }).exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
