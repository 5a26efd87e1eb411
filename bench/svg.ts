/**
 * Figures drawn from the bench's own results, as plain SVG (no plotting dependency):
 *   throughput-<devices>-q<qos>.svg  delivered rate against offered rate, every scenario side by side (every step of
 *                                    the searches, the diagonal = everything delivered);
 *   latency-<devices>-q<qos>.svg     p99 latency against offered rate (log scale), same steps;
 *   cpu-per-message.svg              CPU µs per message of each measured process (the cost part), median with range;
 *   fleet.svg                        scenario F: stanzas the bridge wrote and Prosody CPU per delivery configuration.
 *
 *   node dist/bench/svg.js RESULTS.json OUTDIR      draw the figures of an existing results file
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchResults } from './run.js';

const COLORS: Record<string, string> = { B: '#1f77b4', S: '#d62728', X: '#2ca02c', N: '#9467bd', M: '#ff7f0e', P: '#8c564b' };
const W = 640;
const H = 400;
const PAD = { l: 70, r: 150, t: 40, b: 50 };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

function niceTicks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
    return out;
  }
  const step = 10 ** Math.floor(Math.log10((hi - lo) / 4 || 1));
  const k = [1, 2, 5, 10].find((m) => (hi - lo) / (step * m) <= 6) ?? 10;
  const out: number[] = [];
  for (let v = Math.ceil(lo / (step * k)) * step * k; v <= hi + 1e-9; v += step * k) out.push(v);
  return out;
}

const label = (v: number): string => (v >= 1000 ? `${Math.round(v / 100) / 10}k` : String(Math.round(v * 100) / 100));

/** A scatter/line chart of several series. */
export function lineChart(title: string, xLabel: string, yLabel: string, series: Series[], o: { logX?: boolean; logY?: boolean; diagonal?: boolean } = {}): string {
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0) && (!o.logY || y > 0));
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const x0 = o.logX ? Math.min(...xs) : 0;
  const x1 = Math.max(...xs, 1);
  const y0 = o.logY ? Math.max(0.1, Math.min(...ys)) : 0;
  const y1 = Math.max(...ys, o.diagonal ? x1 : 1);
  const fx = (x: number): number => PAD.l + ((o.logX ? Math.log10(x) - Math.log10(x0) : x - x0) / ((o.logX ? Math.log10(x1) - Math.log10(x0) : x1 - x0) || 1)) * (W - PAD.l - PAD.r);
  const fy = (y: number): number => H - PAD.b - ((o.logY ? Math.log10(Math.max(y, y0)) - Math.log10(y0) : y - y0) / ((o.logY ? Math.log10(y1) - Math.log10(y0) : y1 - y0) || 1)) * (H - PAD.t - PAD.b);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2 - PAD.r / 2}" y="20" text-anchor="middle" font-size="13">${esc(title)}</text>`);
  for (const t of niceTicks(x0, x1, !!o.logX)) {
    if (t < x0 || t > x1) continue;
    out.push(`<line x1="${fx(t)}" x2="${fx(t)}" y1="${PAD.t}" y2="${H - PAD.b}" stroke="#eee"/><text x="${fx(t)}" y="${H - PAD.b + 15}" text-anchor="middle">${label(t)}</text>`);
  }
  for (const t of niceTicks(y0, y1, !!o.logY)) {
    if (t < y0 || t > y1) continue;
    out.push(`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${fy(t)}" y2="${fy(t)}" stroke="#eee"/><text x="${PAD.l - 5}" y="${fy(t) + 4}" text-anchor="end">${label(t)}</text>`);
  }
  out.push(`<rect x="${PAD.l}" y="${PAD.t}" width="${W - PAD.l - PAD.r}" height="${H - PAD.t - PAD.b}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${(PAD.l + W - PAD.r) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(PAD.t + H - PAD.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  if (o.diagonal) out.push(`<line x1="${fx(x0)}" y1="${fy(x0)}" x2="${fx(Math.min(x1, y1))}" y2="${fy(Math.min(x1, y1))}" stroke="#bbb" stroke-dasharray="4 3"/>`);
  series.forEach((s, i) => {
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logY || y > 0)).sort((a, b) => a[0] - b[0]);
    if (p.length > 1) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${p.map(([x, y]) => `${fx(x).toFixed(1)},${fy(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of p) out.push(`<circle cx="${fx(x).toFixed(1)}" cy="${fy(y).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    out.push(`<rect x="${W - PAD.r + 12}" y="${PAD.t + i * 18}" width="10" height="10" fill="${s.color}"/><text x="${W - PAD.r + 27}" y="${PAD.t + i * 18 + 9}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Horizontal bars with a range whisker. */
export function barChart(title: string, unit: string, bars: { name: string; value: number; min?: number; max?: number; color: string }[]): string {
  const rowH = 22;
  const h = PAD.t + bars.length * rowH + 40;
  const left = 260;
  const vmax = Math.max(...bars.map((b) => b.max ?? b.value), 1);
  const fx = (v: number): number => left + (v / vmax) * (W - left - 60);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${h}" fill="white"/>`];
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="13">${esc(title)}</text>`);
  bars.forEach((b, i) => {
    const y = PAD.t + i * rowH;
    out.push(`<text x="${left - 6}" y="${y + 13}" text-anchor="end">${esc(b.name)}</text>`);
    out.push(`<rect x="${left}" y="${y + 3}" width="${Math.max(0, fx(b.value) - left).toFixed(1)}" height="${rowH - 8}" fill="${b.color}"/>`);
    if (b.min !== undefined && b.max !== undefined) out.push(`<line x1="${fx(b.min).toFixed(1)}" x2="${fx(b.max).toFixed(1)}" y1="${y + 10}" y2="${y + 10}" stroke="black"/>`);
    out.push(`<text x="${(fx(b.max ?? b.value) + 4).toFixed(1)}" y="${y + 13}">${b.value} ${esc(unit)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Every figure of a results file: name → SVG text. */
export function figures(r: BenchResults): Record<string, string> {
  const out: Record<string, string> = {};
  const keys = new Set<string>();
  for (const s of Object.values(r.scenarios)) for (const run of s?.runs ?? []) keys.add(`${run.devices}/${run.qos}`);
  for (const key of keys) {
    const [devices, qos] = key.split('/').map(Number) as [number, number];
    const tput: Series[] = [];
    const lat: Series[] = [];
    for (const [id, s] of Object.entries(r.scenarios)) {
      // X has no QoS: its QoS 0 run is the reference of both.
      const run = s?.runs.find((x) => x.devices === devices && x.qos === (id === 'X' ? 0 : qos));
      const steps = [...(run?.search?.steps ?? []), ...(run?.latency.map((l) => l.step) ?? [])];
      if (steps.length === 0) continue;
      const color = COLORS[id] ?? '#333';
      tput.push({ name: `${id} ${s?.title ?? ''}`.slice(0, 24), color, points: steps.map((st) => [st.rate, st.rate * st.delivered]) });
      lat.push({ name: `${id} ${s?.title ?? ''}`.slice(0, 24), color, points: steps.map((st) => [st.rate, st.latency.p99]) });
    }
    if (tput.length === 0) continue;
    out[`throughput-${devices}-q${qos}.svg`] = lineChart(`Delivered vs offered, ${devices} devices, QoS ${qos}`, 'offered msg/s', 'delivered msg/s', tput, { diagonal: true });
    out[`latency-${devices}-q${qos}.svg`] = lineChart(`p99 latency vs offered, ${devices} devices, QoS ${qos}`, 'offered msg/s', 'p99 ms (log)', lat, { logY: true });
  }
  if (r.cost) {
    const bars = r.cost.readings
      .filter((x) => x.median !== undefined)
      .map((x) => ({ name: `${x.system === 'S' ? 'bridge (S)' : x.system === 'M' ? 'Mosquitto (M)' : 'null bridge (N, sink)'}, ${x.devices} dev, QoS ${x.qos}`, value: x.median!, ...(x.min !== undefined ? { min: x.min } : {}), ...(x.max !== undefined ? { max: x.max } : {}), color: COLORS[x.system] ?? '#333' }));
    if (bars.length) out['cpu-per-message.svg'] = barChart(`CPU per message at ${r.cost.rate} msg/s (median, range)`, 'µs', bars);
  }
  if (r.fleet) {
    const rows = r.fleet.summary.filter((x) => x.prosodyCpuS !== undefined);
    if (rows.length) out['fleet.svg'] = fleetChart(r.fleet.plan.devices, r.fleet.plan.windowMs * r.fleet.plan.compression, rows);
  }
  return out;
}

const FLEET_COLORS: Record<string, string> = { old: '#7f7f7f', chat: '#1f77b4', headline: '#2ca02c', demo: '#d62728', drop: '#9467bd' };

/** Scenario F: two bar charts side by side — stanzas per fleet minute, and Prosody CPU per fleet minute (median, range). */
function fleetChart(devices: number, fleetMs: number, rows: NonNullable<BenchResults['fleet']>['summary']): string {
  const perMin = (s: number): number => Math.round(((s * 1000) / (fleetMs / 60_000)) * 10) / 10; // CPU ms per fleet minute
  const left = barChart(`Stanzas the bridge writes per minute, ${devices} devices`, '/min', rows.map((x) => ({ name: x.config, value: Math.round(x.stanzasPerMinute ?? 0), color: FLEET_COLORS[x.config] ?? '#333' })));
  const right = barChart(
    'Prosody CPU, ms per minute of fleet time (median, range)',
    'ms',
    rows.map((x) => ({ name: `${x.config}${x.ratio?.median !== undefined ? ` (${x.ratio.median}× old)` : ''}`, value: perMin(x.prosodyCpuS!), min: perMin(x.prosodyCpuMin ?? x.prosodyCpuS!), max: perMin(x.prosodyCpuMax ?? x.prosodyCpuS!), color: FLEET_COLORS[x.config] ?? '#333' })),
  );
  const h = Number(/height="(\d+)"/.exec(left)?.[1] ?? H);
  const inner = (svg: string): string => svg.replace(/^<svg[^>]*>/, '').replace(/<\/svg>$/, '');
  return [`<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${h}" viewBox="0 0 ${2 * W} ${h}" font-family="sans-serif" font-size="11">`, inner(left), `<g transform="translate(${W} 0)">${inner(right)}</g>`, '</svg>'].join('\n');
}

export function writeFigures(r: BenchResults, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return Object.entries(figures(r)).map(([name, svg]) => {
    writeFileSync(join(dir, name), `${svg}\n`);
    return join(dir, name);
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, dir] = process.argv.slice(2);
  if (!file || !dir) {
    console.error('usage: node dist/bench/svg.js RESULTS.json OUTDIR');
    process.exit(1);
  }
  for (const f of writeFigures(JSON.parse(readFileSync(file, 'utf8')) as BenchResults, dir)) console.log(f);
}
