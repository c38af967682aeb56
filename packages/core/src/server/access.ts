/**
 * Who may read what from the HTTP endpoints. The server knows the views (the whole node, one
 * namespace) and asks an `AccessControl` about each request; how identities are checked is the
 * caller's business (in a cluster: TokenReview and SubjectAccessReview, in the operator package;
 * core stays free of Kubernetes clients). No access control: every view is open, which is the
 * standalone agent's plain local default.
 */

/** What a request asks to read. */
export type ReadTarget =
  /** `/metrics`, `/status`: every namespace on this node, and the agent's own families. */
  | { readonly view: "cluster"; readonly path: string }
  /** `/namespaces/<ns>/metrics`, `/namespaces/<ns>/status`: one namespace's resources. */
  | { readonly view: "namespace"; readonly namespace: string; readonly path: string };

/** An authenticated caller, as the authenticator saw it (a Kubernetes user in a cluster). */
export interface Identity {
  readonly name: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

/** Why a request is not served: 401 (who are you?), 403 (not yours), 429/503 (try later). */
export interface Refusal {
  readonly status: 401 | 403 | 429 | 503;
  /** Shown to the caller: never the reason a token was refused in detail. */
  readonly message: string;
}

export interface AccessControl {
  /** `authorization`: the request's Authorization header, if any. */
  authenticate(authorization: string | undefined): Promise<Identity | Refusal>;
  authorize(identity: Identity, target: ReadTarget): Promise<true | Refusal>;
}

export function isRefusal(value: Identity | Refusal | true): value is Refusal {
  return typeof value === "object" && "status" in value;
}

/** A namespace name as the API server allows it (a DNS-1123 label). */
const NAMESPACE = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

/** The served paths: which view and which endpoint a path is, or undefined (404). */
export function routeOf(path: string): { endpoint: "metrics" | "status"; target: ReadTarget } | undefined {
  if (path === "/metrics" || path === "/status") return { endpoint: path.slice(1) as "metrics" | "status", target: { view: "cluster", path } };
  const match = /^\/namespaces\/([^/]+)\/(metrics|status)$/.exec(path);
  if (!match || !NAMESPACE.test(match[1]!)) return undefined;
  return { endpoint: match[2] as "metrics" | "status", target: { view: "namespace", namespace: match[1]!, path } };
}
