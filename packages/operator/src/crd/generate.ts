/**
 * Writes deploy/crds/*.yaml from the schemas. Run: `npm run generate -w @ebpf-operator/operator`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { ebpfMapCrd, nodeStatusCrd, tenancyPolicyCrd } from "./crds.js";

export const GENERATED_HEADER = "# Generated from packages/core/src/api by packages/operator/src/crd/generate.ts: do not edit.\n";

export function renderCrds(): Record<string, string> {
  const render = (object: object) => `${GENERATED_HEADER}${stringify(object, { lineWidth: 0, aliasDuplicateObjects: false })}`;
  return {
    "observability.cloud_ebpfmaps.yaml": render(ebpfMapCrd()),
    "observability.cloud_ebpfmapnodestatuses.yaml": render(nodeStatusCrd()),
    "observability.cloud_ebpftenancypolicies.yaml": render(tenancyPolicyCrd()),
  };
}

export function writeCrds(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return Object.entries(renderCrds()).map(([file, text]) => {
    writeFileSync(join(dir, file), text);
    return join(dir, file);
  });
}
