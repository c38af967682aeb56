/**
 * Flags and helpers shared by the commands that talk to Kubernetes (`run`, `agent`). Only those
 * commands import this (cli.ts loads each command's module on demand), so `compile-server` never
 * loads @kubernetes/client-node.
 */
import { readFileSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";
import { BUILTIN_PLUGINS, COMMON_OPTIONS, operatorError, parseDuration } from "@ebpf-operator/core";
import type { SecureServingOptions } from "../serving/secure-serving.js";

const SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
export const DEFAULT_CACHE_DIR = "/var/cache/ebpf-operator";

export const SERVING_USAGE = `  --tls-cert-file file               serving certificate (PEM; a Secret volume), re-read on rotation;
                                     without it a self-signed one is served until the file exists
  --tls-private-key-file file        its key
  --auth-cache-ttl DUR               how long an allowed TokenReview/SubjectAccessReview is cached (default 1m)
  Every endpoint but /healthz and /readyz takes a bearer token (401 without, 403 without the right).`;

export const KUBE_USAGE = `  --kubeconfig file                  default: in-cluster service account, else $KUBECONFIG
  --namespace ns                     the operator's namespace (default: the service account's, else ebpf-operator-system)
  --cache-dir dir is ${DEFAULT_CACHE_DIR} by default; --plugin replaces ${BUILTIN_PLUGINS.join(", ")}`;

export const KUBE_OPTIONS = {
  ...COMMON_OPTIONS,
  kubeconfig: { type: "string" },
  namespace: { type: "string" },
  "tls-cert-file": { type: "string" },
  "tls-private-key-file": { type: "string" },
  "auth-cache-ttl": { type: "string" },
} as const;
export function servingOptions(values: { "tls-cert-file"?: string; "tls-private-key-file"?: string; "auth-cache-ttl"?: string }): SecureServingOptions {
  const cert = values["tls-cert-file"];
  const key = values["tls-private-key-file"];
  if ((cert === undefined) !== (key === undefined)) throw operatorError("EOP_ERR_CONFIG", "--tls-cert-file and --tls-private-key-file go together");
  const ttl = values["auth-cache-ttl"];
  return {
    ...(cert && key && { tlsCertFile: cert, tlsKeyFile: key }),
    ...(ttl !== undefined && { authCacheTtlMs: parseDuration("--auth-cache-ttl", ttl) }),
  };
}
export function kubeConfigFrom(path: string | undefined): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (path) kubeConfig.loadFromFile(path);
  else kubeConfig.loadFromDefault();
  return kubeConfig;
}

export function readServiceAccountNamespace(): string | undefined {
  try {
    return readFileSync(SA_NAMESPACE, "utf8").trim();
  } catch {
    return undefined;
  }
}
