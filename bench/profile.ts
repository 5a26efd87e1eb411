/**
 * CPU profiles of the bridge in scenario S (the bridge alone against the sink; B with --profile-scenario B), 100
 * devices, QoS 0 and QoS 1, at the cost part's rate (or 80 % of the scenario's sustained rate): the V8 sampling
 * profiler (what `node --cpu-prof` uses) started and stopped over IPC around the measured window only. The
 * .cpuprofile files (open in Chrome DevTools → Performance, or speedscope) go next to the results; the summary
 * lists self time by function and by file/package.
 *
 *   node dist/bench/profile.js FILE.cpuprofile      summarise an existing profile
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fmt, log, ROOT, sleep } from './common.js';
import type { BenchResults } from './run.js';
import { BridgeRig } from './scenarios/bridge.js';
import { SinkRig } from './scenarios/sink.js';
import { prepare, rigRunner } from './search.js';
import type { StepResult } from './search.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface HotSpot {
  name: string;
  selfMs: number;
  /** % of the non-idle samples. */
  selfPct: number;
  /** For functions: the nearest callers in the bridge or a package (node internals skipped), by share of the samples. */
  via?: string[];
}

export interface ProfileSummary {
  wallMs: number;
  /** % of the wall time the thread was not idle. */
  busyPct: number;
  functions: HotSpot[];
  files: HotSpot[];
  categories: HotSpot[];
}

export interface ProfileResult {
  scenario?: 'B' | 'S';
  qos: 0 | 1;
  devices: number;
  rate: number;
  file: string;
  step?: StepResult;
  summary: ProfileSummary;
}

function shortUrl(url: string): string {
  let u = url.replace(/^file:\/\//, '');
  if (u.startsWith(ROOT)) u = u.slice(ROOT.length + 1);
  return u.replace(/^dist\//, '');
}

function category(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native/V8)';
  const u = shortUrl(url);
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (nm) return nm[1]!;
  if (u.startsWith('node:')) return 'node: internals';
  if (u.startsWith('src/')) return 'bridge src/';
  if (u.startsWith('bench/')) return 'bench/';
  return u;
}

export function summariseProfile(p: CpuProfile, top = 25): ProfileSummary {
  const wallMs = (p.endTime - p.startTime) / 1000;
  const totalSamples = p.samples?.length ?? p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0);
  const msPerSample = totalSamples > 0 ? wallMs / totalSamples : 0;
  const hits = new Map<number, number>();
  if (p.samples) for (const id of p.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  else for (const n of p.nodes) hits.set(n.id, n.hitCount ?? 0);
  const byFn = new Map<string, number>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  /** Function → caller description → samples. */
  const callers = new Map<string, Map<string, number>>();
  const callerOf = (id: number): string => {
    const chain: string[] = [];
    for (let up = parent.get(id); up !== undefined && chain.length < 2; up = parent.get(up)) {
      const f = byId.get(up)?.callFrame;
      if (!f || !f.url || f.url.startsWith('node:')) continue;
      chain.push(`${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`);
    }
    return chain.join(' ← ') || '(no JS caller)';
  };
  const byFile = new Map<string, number>();
  const byCat = new Map<string, number>();
  let idle = 0;
  for (const n of p.nodes) {
    const h = hits.get(n.id) ?? 0;
    if (h === 0) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') {
      idle += h;
      continue;
    }
    const fn = `${functionName || '(anonymous)'}${url ? ` ${shortUrl(url)}:${lineNumber + 1}` : ''}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + h);
    const via = callers.get(fn) ?? new Map<string, number>();
    const c = callerOf(n.id);
    via.set(c, (via.get(c) ?? 0) + h);
    callers.set(fn, via);
    const file = url ? shortUrl(url) : functionName;
    byFile.set(file, (byFile.get(file) ?? 0) + h);
    const cat = category(url, functionName);
    byCat.set(cat, (byCat.get(cat) ?? 0) + h);
  }
  const busy = totalSamples - idle;
  const list = (m: Map<string, number>, n: number): HotSpot[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, h]) => ({ name, selfMs: Math.round(h * msPerSample), selfPct: busy > 0 ? Math.round((h / busy) * 1000) / 10 : 0 }));
  const functions = list(byFn, top).map((f) => {
    const via = callers.get(f.name);
    const total = f.selfMs / msPerSample;
    if (!via || f.name.startsWith('(garbage') || f.name.startsWith('(program')) return f;
    return {
      ...f,
      via: [...via]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 2)
        .map(([c, h]) => `${Math.round((h / total) * 100)} % via ${c}`),
    };
  });
  return {
    wallMs: Math.round(wallMs),
    busyPct: totalSamples > 0 ? Math.round((busy / totalSamples) * 1000) / 10 : 0,
    functions,
    files: list(byFile, 15),
    // Every area: the report adds the bridge's own ones up (bench/report.ts), whatever their rank.
    categories: list(byCat, byCat.size),
  };
}

export function formatProfile(s: ProfileSummary, n = 15): string[] {
  return [
    `busy ${s.busyPct} % of ${fmt(s.wallMs / 1000, 1)} s; self time by package/area: ${s.categories
      .slice(0, 8)
      .map((c) => `${c.name} ${c.selfPct} %`)
      .join(', ')}`,
    ...s.functions.slice(0, n).map((f) => `  ${String(f.selfPct).padStart(5)} %  ${f.name}${f.via?.[0] ? `   [${f.via[0]}]` : ''}`),
  ];
}

/**
 * Profile the bridge at the cost part's rate (S) or at 80 % of B's sustained rate (B) for 100 devices: high load
 * that the system still carries for the whole window, so the profile shows steady-state work, not overload
 * (backlog replays, congestion pauses).
 */
export async function runProfiles(results: BenchResults, ms: number, outDir: string, scenario: 'B' | 'S' = 'S', devices = 100, fraction = 0.8): Promise<ProfileResult[]> {
  const out: ProfileResult[] = [];
  for (const qos of [0, 1] as const) {
    const b = results.scenarios.B?.runs.find((r) => r.devices === devices && r.qos === qos);
    const rate = scenario === 'S' ? (results.cost?.rate ?? 10_000) : Math.round((b?.sustained ?? (qos === 0 ? 10_000 : 8000)) * fraction);
    log(`── CPU profile of the bridge, scenario ${scenario}, ${devices} devices, QoS ${qos}, ${fmt(rate)} msg/s for ${ms / 1000} s`);
    const rig = scenario === 'S' ? await SinkRig.open() : await BridgeRig.open();
    try {
      await prepare(rig, devices, qos, 1500);
      await rig.bridge.child.call('profStart', { intervalUs: 250 });
      const step = await rigRunner(rig).step(rate, ms, 1000);
      const stamp = results.startedAt.replace(/[:.]/g, '-').slice(0, 19);
      const file = join(outDir, `${stamp}-bridge-${scenario}-q${qos}.cpuprofile`);
      mkdirSync(outDir, { recursive: true });
      await rig.bridge.child.call('profStop', { file });
      const summary = summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
      log(`profile QoS ${qos}: delivered ${(step.delivered * 100).toFixed(2)} %, p99 ${step.latency.p99} ms, cpu ${JSON.stringify(step.cpu)}`);
      for (const line of formatProfile(summary)) log(`profile QoS ${qos}: ${line}`);
      out.push({ scenario, qos, devices, rate, file, step, summary });
      await rig.unprepare();
    } finally {
      await rig.close();
      await sleep(300);
    }
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node dist/bench/profile.js FILE.cpuprofile');
    process.exit(1);
  }
  const s = summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, 40);
  for (const line of formatProfile(s, 40)) console.log(line);
  console.log('by file:');
  for (const f of s.files) console.log(`  ${String(f.selfPct).padStart(5)} %  ${f.name}`);
}
