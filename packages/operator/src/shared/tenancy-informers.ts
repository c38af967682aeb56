/**
 * The watches a tenancy policy is computed from: EbpfTenancyPolicies and Namespaces (a namespace's
 * labels decide which policy selects it). The operator and every agent evaluate the policy
 * themselves (an agent does not trust the operator's verdict), so both build the same pair here.
 */
import type { KubeConfig, V1Namespace } from "@kubernetes/client-node";
import { API_GROUP_VERSION, POLICY_KIND, type Logger } from "@ebpf-operator/core";
import { POLICY_PLURAL } from "../crd/crds.js";
import type { PolicyObject } from "./tenancy-policy.js";
import { Informer } from "../kube/informer.js";

export interface TenancyInformers {
  policies: Informer<PolicyObject>;
  namespaces: Informer<V1Namespace>;
}

export function tenancyInformers(kubeConfig: KubeConfig, logger: Logger): TenancyInformers {
  return {
    policies: new Informer<PolicyObject>({
      kubeConfig,
      apiVersion: API_GROUP_VERSION,
      kind: POLICY_KIND,
      path: `/apis/${API_GROUP_VERSION}/${POLICY_PLURAL}`,
      logger,
    }),
    namespaces: new Informer<V1Namespace>({ kubeConfig, apiVersion: "v1", kind: "Namespace", path: "/api/v1/namespaces", logger }),
  };
}
