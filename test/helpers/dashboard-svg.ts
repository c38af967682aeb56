/**
 * A picture of a dashboard's data: one small line chart per panel, drawn from Prometheus range
 * query results as hand-written SVG (polylines, no dependencies). Not Grafana's rendering — the
 * same queries and data, so docs/overview-dashboard.svg shows what the overview shows.
 */
import type { PromSeries } from "./prometheus.js";

export interface ChartPanel {
  title: string;
  unit?: string;
  series: { name: string; points: [number, number][] }[];
}

const COLUMNS = 3;
const WIDTH = 340;
const HEIGHT = 190;
const PAD = { left: 56, right: 10, top: 26, bottom: 40 };
const COLORS = ["#3274d9", "#e0752d", "#56a64b", "#c4162a", "#8f3bb8", "#f2cc0c", "#2ca5a8", "#d44a97"];

/** Range-query results as chart series, named by a Grafana-style legend (`{{label}}`). */
export function toChartSeries(result: PromSeries[], legend: string): ChartPanel["series"] {
  return result.map((s) => ({
    name: legend === "__auto" || legend === "" ? JSON.stringify(s.metric) : legend.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, l: string) => s.metric[l] ?? ""),
    points: (s.values ?? []).map(([t, v]) => [t, Number(v)] as [number, number]).filter(([, v]) => Number.isFinite(v)),
  }));
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function formatValue(value: number, unit = ""): string {
  const abs = Math.abs(value);
  if (unit === "percentunit") return `${(value * 100).toPrecision(3)}%`;
  const scaled =
    abs >= 1e9
      ? `${(value / 1e9).toPrecision(3)}G`
      : abs >= 1e6
        ? `${(value / 1e6).toPrecision(3)}M`
        : abs >= 1e3
          ? `${(value / 1e3).toPrecision(3)}k`
          : abs > 0 && abs < 0.01
            ? value.toExponential(1)
            : `${+value.toPrecision(3)}`;
  const suffix: Record<string, string> = { ns: " ns", s: " s", bytes: " B", Bps: " B/s", ops: "/s", pps: " p/s", cps: "/s", reqps: " req/s" };
  return `${scaled}${suffix[unit] ?? ""}`;
}

function chart(panel: ChartPanel, x: number, y: number): string {
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const points = panel.series.flatMap((s) => s.points);
  const parts = [`<g transform="translate(${x},${y})">`, `<rect width="${WIDTH - 8}" height="${HEIGHT - 8}" rx="4" fill="#181b1f" stroke="#2c3235"/>`];
  parts.push(`<text x="10" y="17" class="title">${escape(panel.title)}</text>`);
  if (points.length === 0) {
    parts.push(`<text x="${WIDTH / 2}" y="${HEIGHT / 2}" class="axis" text-anchor="middle">no data</text></g>`);
    return parts.join("");
  }
  const [t0, t1] = [Math.min(...points.map((p) => p[0])), Math.max(...points.map((p) => p[0]))];
  const v0 = Math.min(0, ...points.map((p) => p[1]));
  const v1 = Math.max(...points.map((p) => p[1]), v0 + 1e-9);
  const px = (t: number) => PAD.left + ((t - t0) / Math.max(t1 - t0, 1)) * plotW;
  const py = (v: number) => PAD.top + plotH - ((v - v0) / (v1 - v0)) * plotH;
  for (const frac of [0, 0.5, 1]) {
    const v = v0 + frac * (v1 - v0);
    parts.push(`<line x1="${PAD.left}" x2="${PAD.left + plotW}" y1="${py(v).toFixed(1)}" y2="${py(v).toFixed(1)}" class="grid"/>`);
    parts.push(`<text x="${PAD.left - 4}" y="${(py(v) + 3).toFixed(1)}" class="axis" text-anchor="end">${escape(formatValue(v, panel.unit))}</text>`);
  }
  parts.push(`<text x="${PAD.left}" y="${PAD.top + plotH + 12}" class="axis">-${Math.round(t1 - t0)} s</text>`);
  parts.push(`<text x="${PAD.left + plotW}" y="${PAD.top + plotH + 12}" class="axis" text-anchor="end">now</text>`);
  const shown = panel.series.filter((s) => s.points.length > 0).slice(0, COLORS.length);
  shown.forEach((s, i) => {
    const d = s.points.map(([t, v]) => `${px(t).toFixed(1)},${py(v).toFixed(1)}`).join(" ");
    parts.push(`<polyline points="${d}" fill="none" stroke="${COLORS[i]}" stroke-width="1.5"/>`);
  });
  // Legend: up to four names on one line below the plot.
  let lx = PAD.left;
  for (const [i, s] of shown.slice(0, 4).entries()) {
    const name = s.name.length > 22 ? `${s.name.slice(0, 21)}…` : s.name;
    parts.push(
      `<rect x="${lx}" y="${HEIGHT - 22}" width="8" height="3" fill="${COLORS[i]}"/><text x="${lx + 11}" y="${HEIGHT - 18}" class="legend">${escape(name)}</text>`,
    );
    lx += 14 + name.length * 5;
    if (lx > WIDTH - 60) break;
  }
  parts.push("</g>");
  return parts.join("");
}

/** The whole picture: a title and a grid of panels. */
export function renderDashboardSvg(title: string, subtitle: string, panels: readonly ChartPanel[]): string {
  const rows = Math.ceil(panels.length / COLUMNS);
  const width = COLUMNS * WIDTH + 16;
  const height = rows * HEIGHT + 56;
  const body = panels.map((p, i) => chart(p, 8 + (i % COLUMNS) * WIDTH, 48 + Math.floor(i / COLUMNS) * HEIGHT)).join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Inter, Helvetica, Arial, sans-serif">
<style>.title{fill:#d8d9da;font-size:12px;font-weight:600}.axis{fill:#8e8e8e;font-size:9px}.legend{fill:#bdbdbd;font-size:9px}.grid{stroke:#2c3235;stroke-width:1}</style>
<rect width="100%" height="100%" fill="#111217"/>
<text x="12" y="22" fill="#e8e8e8" font-size="15" font-weight="600">${escape(title)}</text>
<text x="12" y="38" fill="#8e8e8e" font-size="10">${escape(subtitle)}</text>
${body}
</svg>
`;
}
