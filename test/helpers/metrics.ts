/**
 * Reading what the agent serves: Prometheus text samples, the /status document, and promtool's
 * verdict on the exposition.
 */
import { spawnSync } from "node:child_process";

export interface StatusDocument {
  ready: boolean;
  resources: {
    namespace: string;
    name: string;
    phase: string;
    lastError?: { code?: string; message: string };
    program?: { id: number; pinDir: string; adopted: boolean; attachments: string[] };
    programs?: { name: string; type: string; target: string; id: number; pin: string; attachments: string[] }[];
    conditions: { type: string; status: string; reason: string; message: string }[];
  }[];
  problems: { code: string; message: string; source: string }[];
  /** What the agent says about its compiler (standalone). */
  compiler?: { sandbox: { mode: string; reason?: string; uid?: number }; clang?: string; warning?: string };
}

export async function fetchText(url: string): Promise<{ status: number; contentType: string | null; body: string }> {
  const response = await fetch(url);
  return { status: response.status, contentType: response.headers.get("content-type"), body: await response.text() };
}

export async function fetchStatus(baseUrl: string): Promise<StatusDocument> {
  return (await (await fetch(`${baseUrl}/status`)).json()) as StatusDocument;
}

/** The value of the one sample of `name` whose labels include `labels`; undefined when absent. */
export function sampleValue(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of body.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[3] ?? "";
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(match[4]);
  }
  return undefined;
}

/**
 * promtool's verdict. Exit 1 is a parse error; exit 3 lists lint findings. One finding is a style
 * note about names users choose, not a defect: "metric name should not include type 'counter'"
 * (the README's own `syscall_counter_total` earns it). Those are returned apart from problems.
 */
export function promtoolCheck(body: string): { problems: string[]; styleNotes: string[] } {
  const result = spawnSync("promtool", ["check", "metrics"], { input: body, encoding: "utf8" });
  const lines = `${result.stdout}${result.stderr}`.split("\n").filter((l) => l.trim() !== "");
  if (result.status === 0) return { problems: [], styleNotes: [] };
  if (result.status !== 3) return { problems: [`promtool exited ${result.status}`, ...lines], styleNotes: [] };
  const isStyleNote = (l: string) => /metric name should not include type '(counter|gauge)'/.test(l);
  return { problems: lines.filter((l) => !isStyleNote(l)), styleNotes: lines.filter(isStyleNote) };
}

export function runTimes(command: string, times: number): void {
  for (let i = 0; i < times; i++) {
    const result = spawnSync(command, [], { stdio: "ignore" });
    if (result.status !== 0) throw new Error(`${command} exited with ${result.status}`);
  }
}
