/**
 * What the cluster agent and the operator serve their endpoints with: HTTPS with the install's
 * certificate (re-read on rotation) and every read checked with the API server
 * (kube-access.ts). The standalone agent has neither: it serves plain HTTP on loopback.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger, ReadTarget } from "@ebpf-operator/core";
import type { Registry } from "prom-client";
import { KubeAccessControl, type AccessAttributes } from "./kube-access.js";
import { ServingCertificate } from "./serving-certificate.js";

export interface SecureServingOptions {
  /** PEM certificate and key (a Secret volume), re-read on rotation. Absent: self-signed. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** How long an allowed decision (token, right) is cached. Default 60 s; refusals 10 s. */
  authCacheTtlMs?: number;
}

export interface SecureServing {
  certificate: ServingCertificate;
  access: KubeAccessControl;
}

export async function startSecureServing(
  options: SecureServingOptions,
  context: { kubeConfig: KubeConfig; attributes: (target: ReadTarget) => AccessAttributes; metricPrefix: string; logger: Logger; registry?: Registry },
): Promise<SecureServing> {
  const certificate = await ServingCertificate.start({
    ...(options.tlsCertFile && { certFile: options.tlsCertFile }),
    ...(options.tlsKeyFile && { keyFile: options.tlsKeyFile }),
    dnsNames: ["localhost"],
    logger: context.logger,
  });
  const access = new KubeAccessControl({
    kubeConfig: context.kubeConfig,
    attributes: context.attributes,
    metricPrefix: context.metricPrefix,
    logger: context.logger,
    ...(options.authCacheTtlMs !== undefined && { allowedTtlMs: options.authCacheTtlMs }),
  });
  if (context.registry) access.register(context.registry);
  return { certificate, access };
}
