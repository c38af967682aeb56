/**
 * The CustomResourceDefinitions, generated from core's schemas. `deploy/crds/*.yaml` is this
 * output (`npm run generate -w @ebpf-operator/operator`); a test fails when it is stale.
 */
import {
  API_GROUP,
  API_VERSION,
  EbpfMapSpecSchema,
  EbpfMapStatusSchema,
  KIND,
  NODE_STATUS_KIND,
  NodeStatusSpecSchema,
  NodeStatusStatusSchema,
  POLICY_KIND,
  POLICY_PLURAL,
  EbpfTenancyPolicySpecSchema,
} from "@ebpf-operator/core";
import { toStructuralSchema, type JsonObject } from "./structural-schema.js";

export const EBPFMAP_PLURAL = "ebpfmaps";
export const NODE_STATUS_PLURAL = "ebpfmapnodestatuses";
export { POLICY_PLURAL };

function crd(options: {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  spec: unknown;
  status?: unknown;
  statusSubresource: boolean;
  scope?: "Namespaced" | "Cluster";
  printerColumns: JsonObject[];
  description: string;
}): JsonObject {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${options.plural}.${API_GROUP}`, labels: { "app.kubernetes.io/part-of": "ebpf-operator" } },
    spec: {
      group: API_GROUP,
      names: {
        kind: options.kind,
        listKind: `${options.kind}List`,
        plural: options.plural,
        singular: options.singular,
        shortNames: options.shortNames,
        categories: ["ebpf-operator"],
      },
      scope: options.scope ?? "Namespaced",
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          ...(options.statusSubresource ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: options.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: options.description,
              required: ["spec"],
              properties: {
                apiVersion: { type: "string" },
                kind: { type: "string" },
                metadata: { type: "object" },
                spec: toStructuralSchema(options.spec, "spec"),
                ...(options.status ? { status: toStructuralSchema(options.status, "status") } : {}),
              },
            },
          },
        },
      ],
    },
  };
}

export function ebpfMapCrd(): JsonObject {
  return crd({
    kind: KIND,
    plural: EBPFMAP_PLURAL,
    singular: "ebpfmap",
    shortNames: ["ebpfm"],
    spec: EbpfMapSpecSchema,
    status: EbpfMapStatusSchema,
    statusSubresource: true,
    description: "An eBPF program (C code, program type, attach point) whose map is served as Prometheus metrics by the agent on every selected node.",
    printerColumns: [
      { name: "Type", type: "string", jsonPath: ".spec.type" },
      { name: "Target", type: "string", jsonPath: ".spec.target" },
      { name: "Ready", type: "string", jsonPath: ".status.ready", description: "ready/selected nodes" },
      { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    ],
  });
}

export function nodeStatusCrd(): JsonObject {
  return crd({
    kind: NODE_STATUS_KIND,
    plural: NODE_STATUS_PLURAL,
    singular: "ebpfmapnodestatus",
    shortNames: ["ebpfmns"],
    spec: NodeStatusSpecSchema,
    status: NodeStatusStatusSchema,
    statusSubresource: false,
    description: "The state of one EbpfMap on one node, written only by that node's agent.",
    printerColumns: [
      { name: "EbpfMap", type: "string", jsonPath: ".spec.ebpfMap" },
      { name: "Node", type: "string", jsonPath: ".spec.nodeName" },
      { name: "Phase", type: "string", jsonPath: ".status.phase" },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    ],
  });
}

export function tenancyPolicyCrd(): JsonObject {
  return crd({
    kind: POLICY_KIND,
    plural: POLICY_PLURAL,
    singular: "ebpftenancypolicy",
    shortNames: ["ebpftp"],
    spec: EbpfTenancyPolicySpecSchema,
    statusSubresource: false,
    scope: "Cluster",
    description:
      "What the EbpfMaps of the selected namespaces may do (program types, target scopes, helpers, verdict mode, nodes, quotas). Written by cluster admins; see docs/tenancy.md.",
    printerColumns: [
      { name: "Priority", type: "integer", jsonPath: ".spec.priority" },
      { name: "Scopes", type: "string", jsonPath: ".spec.targetScopes" },
      { name: "Verdict", type: "string", jsonPath: ".spec.verdictMode" },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    ],
  });
}
