/** Tiny SVG charts for docs/benchmarks-*.svg: a log-log line chart and a grouped bar chart. */

const W = 720;
const H = 420;
const M = { left: 70, right: 190, top: 40, bottom: 55 };
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const fmt = (v: number): string => (v >= 1000 ? `${+(v / 1000).toPrecision(3)}k` : `${+v.toPrecision(3)}`);

export interface Series {
  name: string;
  points: [number, number][];
  dashed?: boolean;
}

function header(title: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${W / 2 - M.right / 2 + M.left / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>
`;
}

/** Log-log line chart (both axes powers of ten). */
export function lineChart(options: { title: string; xLabel: string; yLabel: string; series: Series[] }): string {
  const all = options.series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0);
  const x0 = Math.floor(Math.log10(Math.min(...all.map((p) => p[0]))));
  const x1 = Math.ceil(Math.log10(Math.max(...all.map((p) => p[0]))));
  const y0 = Math.floor(Math.log10(Math.min(...all.map((p) => p[1]))));
  const y1 = Math.ceil(Math.log10(Math.max(...all.map((p) => p[1]))));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number): number => M.left + ((Math.log10(x) - x0) / Math.max(1, x1 - x0)) * pw;
  const sy = (y: number): number => M.top + ph - ((Math.log10(y) - y0) / Math.max(1, y1 - y0)) * ph;
  let out = header(options.title);
  for (let e = y0; e <= y1; e++) {
    const y = sy(10 ** e);
    out += `<line x1="${M.left}" x2="${M.left + pw}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${M.left - 6}" y="${y + 4}" text-anchor="end">${fmt(10 ** e)}</text>\n`;
  }
  for (let e = x0; e <= x1; e++) {
    const x = sx(10 ** e);
    out += `<line x1="${x}" x2="${x}" y1="${M.top}" y2="${M.top + ph}" stroke="#ddd"/><text x="${x}" y="${M.top + ph + 16}" text-anchor="middle">${fmt(10 ** e)}</text>\n`;
  }
  out += `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>\n`;
  out += `<text x="${M.left + pw / 2}" y="${H - 14}" text-anchor="middle">${esc(options.xLabel)}</text>\n`;
  out += `<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(options.yLabel)}</text>\n`;
  options.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = s.points.filter(([x, y]) => x > 0 && y > 0);
    out += `<polyline fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""} points="${pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ")}"/>\n`;
    for (const [x, y] of pts) out += `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${color}"/>\n`;
    const ly = M.top + 10 + i * 20;
    out += `<line x1="${W - M.right + 12}" x2="${W - M.right + 36}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/><text x="${W - M.right + 42}" y="${ly + 4}">${esc(s.name)}</text>\n`;
  });
  return `${out}</svg>\n`;
}

/** Grouped bars on a linear axis: one group per category, one bar per series. */
export function barChart(options: { title: string; yLabel: string; categories: string[]; series: { name: string; values: number[] }[] }): string {
  const max = Math.max(...options.series.flatMap((s) => s.values).filter(Number.isFinite), 1e-9);
  const magnitude = 10 ** Math.floor(Math.log10(max));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => max / s <= 6) ?? magnitude * 10;
  const top = Math.ceil(max / step) * step;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sy = (v: number): number => M.top + ph - (v / top) * ph;
  let out = header(options.title);
  for (let v = 0; v <= top + step / 2; v += step) {
    out += `<line x1="${M.left}" x2="${M.left + pw}" y1="${sy(v)}" y2="${sy(v)}" stroke="#ddd"/><text x="${M.left - 6}" y="${sy(v) + 4}" text-anchor="end">${fmt(v)}</text>\n`;
  }
  out += `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>\n`;
  out += `<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(options.yLabel)}</text>\n`;
  const groupW = pw / options.categories.length;
  const barW = (groupW * 0.8) / options.series.length;
  options.categories.forEach((c, g) => {
    out += `<text x="${M.left + groupW * (g + 0.5)}" y="${M.top + ph + 16}" text-anchor="middle">${esc(c)}</text>\n`;
    options.series.forEach((s, i) => {
      const v = s.values[g] ?? NaN;
      if (!Number.isFinite(v)) return;
      const x = M.left + groupW * g + groupW * 0.1 + barW * i;
      out += `<rect x="${x.toFixed(1)}" y="${sy(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(M.top + ph - sy(v)).toFixed(1)}" fill="${COLORS[i % COLORS.length]}"/>`;
      out += `<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(sy(v) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${fmt(v)}</text>\n`;
    });
  });
  options.series.forEach((s, i) => {
    const ly = M.top + 10 + i * 20;
    out += `<rect x="${W - M.right + 12}" y="${ly - 6}" width="20" height="12" fill="${COLORS[i % COLORS.length]}"/><text x="${W - M.right + 38}" y="${ly + 4}">${esc(s.name)}</text>\n`;
  });
  return `${out}</svg>\n`;
}
