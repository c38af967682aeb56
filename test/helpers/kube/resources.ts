/** Small helpers for tests that drive EbpfMaps through the real API server with kubectl. */
import type { ControlPlaneHandle } from "./control-plane.js";

export interface KubeEbpfMap {
  metadata: { name: string; namespace: string; generation: number; finalizers?: string[]; uid: string };
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason: string; message: string; observedGeneration?: number }[];
    object?: { hash: string; configMap: string; namespace: string; generation: number };
    selectedNodes?: number;
    readyNodes?: number;
    failedNodes?: number;
    ready?: string;
    failures?: { node: string; phase: string; code?: string; message: string }[];
  };
}

export async function getEbpfMap(cp: ControlPlaneHandle, namespace: string, name: string): Promise<KubeEbpfMap | undefined> {
  const result = await cp.kubectl(["get", "ebpfmap", name, "-n", namespace, "-o", "json"]);
  return result.code === 0 ? (JSON.parse(result.stdout) as KubeEbpfMap) : undefined;
}

export function condition(resource: KubeEbpfMap | undefined, type: string) {
  return resource?.status?.conditions?.find((c) => c.type === type);
}

export async function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Indents a C program for a YAML block scalar. */
export function indent(text: string, spaces: number): string {
  return text
    .split("\n")
    .map((line) => `${" ".repeat(spaces)}${line}`)
    .join("\n");
}
