/**
 * The Grafana dashboards: the generated ConfigMap manifest and the chart's copies match the JSON
 * sources, and every dashboard is built the same way (variables, datasource, queries). That the
 * queries return data is checked against a real Prometheus in test/kernel/prometheus.kernel.test.ts.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";

const root = new URL("../../", import.meta.url).pathname;
const sources = join(root, "deploy/grafana/dashboards");

interface Dashboard {
  uid: string;
  templating: { list: { name: string; type: string; includeAll?: boolean; multi?: boolean }[] };
  panels: { id: number; type: string; title: string; datasource?: { uid: string }; targets?: { expr: string; refId: string; datasource: { uid: string } }[] }[];
}

const dashboards = readdirSync(sources)
  .filter((f) => f.endsWith(".json"))
  .map((f) => JSON.parse(readFileSync(join(sources, f), "utf8")) as Dashboard);

describe("Grafana dashboards", () => {
  it("have up-to-date generated copies (node deploy/grafana/build.mjs)", () => {
    const result = spawnSync(process.execPath, [join(root, "deploy/grafana/build.mjs"), "--check"], { encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("ship an overview and one dashboard per example that runs without kprobes", () => {
    expect(dashboards.map((d) => d.uid).sort()).toEqual(
      ["overview", "execve", "syscalls", "read-size", "xdp", "socket", "cgroup-egress"].map((n) => `ebpf-operator-${n}`).sort(),
    );
  });

  it.each(dashboards.map((d) => [d.uid, d] as const))(
    "%s has the datasource, namespace, ebpfmap and instance variables and queries only through $datasource",
    (_, dashboard) => {
      const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));
      expect(variables.get("datasource")?.type).toBe("datasource");
      for (const name of ["namespace", "ebpfmap", "instance"]) expect(variables.get(name)).toMatchObject({ type: "query", includeAll: true, multi: true });
      const panels = dashboard.panels.filter((p) => p.type !== "row");
      expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
      for (const panel of panels) {
        expect(panel.datasource?.uid, panel.title).toBe("${datasource}");
        expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
        for (const target of panel.targets ?? []) {
          expect(target.datasource.uid).toBe("${datasource}");
          expect(target.expr, panel.title).toMatch(/instance=~"\$instance"/);
        }
      }
    },
  );

  it("label the generated ConfigMaps for the Grafana sidecar", () => {
    const manifest = readFileSync(join(root, "deploy/grafana/dashboards-configmap.yaml"), "utf8");
    expect(manifest.match(/^kind: ConfigMap$/gm)).toHaveLength(dashboards.length);
    expect(manifest.match(/^ {4}grafana_dashboard: "1"$/gm)).toHaveLength(dashboards.length);
    // Every document parses, and every data value is the dashboard JSON itself.
    const docs = parseAllDocuments(manifest).map((d) => d.toJS() as { data: Record<string, string> });
    expect(docs.map((d) => (JSON.parse(Object.values(d.data)[0]!) as Dashboard).uid).sort()).toEqual(dashboards.map((d) => d.uid).sort());
  });
});
