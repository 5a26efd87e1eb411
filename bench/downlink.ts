/**
 * Downlink: XMPP command IQs → bridge → MQTT publishes received by devices. A commander (a real XMPP client in its
 * own process, commander.ts) sends commands open loop to 100 devices; the devices (simulator) time the publish they
 * receive, the commander times the IQ result (round trip), both from the command's intended send time. Sustained =
 * highest rate with ≥ 99.9 % of commands received by devices and answered `result`, and round-trip p99 < 100 ms.
 * Run for the mapping's QoS 1 command (`set`) and its QoS 0 twin (`set0`).
 */
import { cpus } from 'node:os';
import { Child, CpuMeter, decodeHistogram, fmt, log, nowMs, nowUs, pinProcesses, sleep, summarize } from './common.js';
import { COMMANDER_USER, DEVICE, DOMAIN, ECHO_DOMAIN, HOST, NULL_DOMAIN, RECEIVER_JID, SIM_SOURCES, sharedServer } from './rig.js';
import { startBridgeProcess } from './scenarios/bridge.js';
import { latencyAt, PASS_DELIVERED, PASS_P99_MS, search, type Runner, type SearchOptions, type SearchResult, type StepResult } from './search.js';
import { Simulator } from './sim.js';
import { formatProfile, summariseProfile, type CpuProfile, type ProfileSummary } from './profile.js';
import { mkdirSync, readFileSync } from 'node:fs';
import { cpuNs } from './cost.js';
import { join } from 'node:path';

export interface DownlinkRun {
  command: string;
  qos: 0 | 1;
  /** CPU profile of the bridge at 80 % of the sustained rate. */
  profile?: { file: string; rate: number; step: StepResult; summary: ProfileSummary };
  sustained?: number;
  at?: StepResult;
  latency: { fraction: number; step: StepResult }[];
  search: Omit<SearchResult, 'at' | 'sustained'>;
}

export interface DownlinkResult {
  devices: number;
  runs: DownlinkRun[];
  /**
   * Against the server's own round-trip ceiling, in the same run: a bare component (iq-echo.ts) on a second domain
   * answering every command IQ at once — the same two stanzas through Prosody per command.
   */
  paired?: PairedLadder[];
  /** CPU µs per command of the bridge and of the bare component at one fixed rate (`--downlink-cost`). */
  cost?: DownlinkCost[];
}

/**
 * CPU time per command at one rate well below both ceilings: the CPU nanoseconds of the bridge's process (and of the
 * bare component's) over a step, from /proc/<pid>/task/<tid>/schedstat, divided by the commands answered. Like the uplink's
 * cost part, it does not depend on who else uses the machine nearly as much as a rate search does.
 */
export interface DownlinkCost {
  command: string;
  qos: 0 | 1;
  rate: number;
  /** µs of CPU per command, one value per step. */
  bridge: number[];
  ceiling: number[];
  bridgeMedian?: number;
  ceilingMedian?: number;
  /** The null bridge's (--downlink-null): aedes + a component, no mapping. */
  nullBridge?: number[];
  nullBridgeMedian?: number;
}

/** The bridge and the bare component stepped through the same rates, alternately: the highest rate each passed. */
export interface PairedLadder {
  command: string;
  qos: 0 | 1;
  bridge?: number;
  ceiling?: number;
  /** The null bridge (aedes + a component publishing each command, no mapping: null-bridge.ts), when measured. */
  nullBridge?: number;
  steps: { rate: number; bridge?: StepResult; ceiling?: StepResult; nullBridge?: StepResult }[];
  /** The bridge's .cpuprofile at the first rate. */
  profile?: string;
}

/** Rates of the interleaved comparison (commands/s): at most 14 % apart from 5,000 up, where the ceilings are. */
export const LADDER = [1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10_000];

let runId = 3_000_000;

/** The downlink's devices: each subscribed to its command topic at QoS 1. */
function deviceFleet(devices: number) {
  return {
    first: 0,
    count: devices,
    clientId: DEVICE.clientId,
    topic: DEVICE.topic,
    subscribe: DEVICE.commands,
    subscribeQos: 1 as const,
    sources: SIM_SOURCES,
    keepalive: 60,
    concurrency: 100,
    rate: 0,
    stopOnFailure: false,
    connectTimeoutMs: 20_000,
  };
}

function runner(sim: Simulator | undefined, commander: Child, devices: number, command: string, pids: Record<string, number | undefined>, domain = DOMAIN): Runner {
  return {
    async step(rate, durationMs, graceMs): Promise<StepResult> {
      const id = runId++;
      const total = Math.max(1, Math.round((rate * durationMs) / 1000));
      await sim?.cmdArm(id, total);
      const cpu = new CpuMeter(pids);
      const startAtUs = nowUs() + 50_000;
      cpu.begin();
      const gen = await commander.call<{ offered: number; sent: number; lagMaxMs: number }>('run', { runId: id, rate, total, startAtUs, devices, domain, command }, durationMs + 60_000);
      const deadline = startAtUs / 1000 + durationMs + graceMs;
      let answers = { ok: 0, errors: {} as Record<string, number>, hist: '' };
      // Without devices (the bare component's ceiling), an answered command counts as delivered.
      const devCollect = async (): Promise<{ received: number; dup: number; stale: number; hist: ReturnType<typeof decodeHistogram> | undefined }> =>
        sim ? sim.cmdCollect() : { received: answers.ok, dup: 0, stale: 0, hist: undefined };
      let dev = await devCollect();
      for (;;) {
        answers = await commander.call('collect');
        dev = await devCollect();
        const answered = answers.ok + Object.values(answers.errors).reduce((a, b) => a + b, 0);
        if ((answered >= total && dev.received >= total) || nowMs() >= deadline) break;
        await sleep(50);
      }
      const cpuPct = cpu.end();
      const rt = summarize(decodeHistogram(answers.hist));
      const toDevice = dev.hist ? summarize(dev.hist) : undefined;
      const delivered = dev.received / total;
      const okRatio = answers.ok / total;
      const why: string[] = [];
      if (delivered < PASS_DELIVERED) why.push(`devices got ${(delivered * 100).toFixed(2)} %`);
      if (okRatio < PASS_DELIVERED) why.push(`answered ok ${(okRatio * 100).toFixed(2)} %`);
      if (!(rt.p99 < PASS_P99_MS)) why.push(`round-trip p99 ${rt.p99} ms`);
      return {
        rate,
        durationMs,
        offered: total,
        sent: gen.sent,
        received: dev.received,
        dup: dev.dup,
        stale: dev.stale,
        delivered: Math.round(delivered * 100000) / 100000,
        latency: rt,
        ...(toDevice ? { toDevice } : {}),
        errors: answers.errors,
        pass: why.length === 0,
        ...(why.length ? { why: why.join(', ') } : {}),
        generatorLagMs: gen.lagMaxMs,
        cpu: cpuPct,
      };
    },
    settle: () => sleep(2000),
    pids,
  };
}

function line(command: string, s: StepResult, phase: string): string {
  const cpu = Object.entries(s.cpu)
    .map(([k, v]) => `${k} ${v}%`)
    .join(' ');
  return (
    `downlink ${command} ${phase.padEnd(12)} ${fmt(s.rate).padStart(7)}/s devices got ${(s.delivered * 100).toFixed(2)}% ` +
    `round trip p50 ${s.latency.p50} p99 ${s.latency.p99} ms, to device p50 ${s.toDevice?.p50} p99 ${s.toDevice?.p99} ms ` +
    `${s.pass ? 'PASS' : `FAIL (${s.why})`}${s.errors && Object.keys(s.errors).length ? ` errors ${JSON.stringify(s.errors)}` : ''} | cpu ${cpu}` +
    `${(s.attempts ?? 1) > 1 ? ` | attempt ${s.attempts}${s.contaminated ? ', still disturbed' : ''}` : ''}`
  );
}

export interface DownlinkOptions {
  readonly commands?: readonly { name: string; qos: 0 | 1 }[];
  readonly fractions?: readonly number[];
  /** Profile the bridge for this long at each command's sustained rate (0: no profile). */
  readonly profileMs?: number;
  readonly outDir?: string;
  readonly stamp?: string;
  /** The rates of the interleaved comparison with the bare component, and its step length. */
  readonly ladder?: readonly number[];
  readonly ladderStepMs?: number;
  /** false: only the interleaved comparison, no search of the bridge's sustained rate. */
  readonly search?: boolean;
  /** Only CPU per command: this many steps of each side per command at `costRate` (no search, no ladder). */
  readonly costRepeats?: number;
  readonly costRate?: number;
  /** Step the downlink's null bridge through the ladder too (--downlink-null). */
  readonly nullBridge?: boolean;
  /** --pin: Prosody alone on the last core, the bridge, devices, commander and bare component on the others. */
  readonly pin?: boolean;
}

function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return Math.round((s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2) * 10) / 10;
}

/** The downlink's null bridge on NULL_DOMAIN with its own devices (the same ids, connected to its aedes). */
async function startNullDownlink(server: { service: string; secret: string }, devices: number): Promise<{ sim: Simulator; pids: Record<string, number | undefined>; stop(): Promise<void> }> {
  const child = Child.fork('null-bridge.js', { name: 'null-bridge', args: [server.service, NULL_DOMAIN, server.secret, RECEIVER_JID] });
  const sim = Simulator.start('sim-null');
  const stop = async (): Promise<void> => {
    await sim.stop();
    await child.stop();
  };
  try {
    const { port } = await child.call<{ port: number }>('start', {}, 30_000);
    const r = await sim.connect({ ...deviceFleet(devices), host: '127.0.0.1', port });
    if (r.failed > 0) throw new Error(`null bridge: ${r.failed} devices could not connect`);
    return { sim, pids: { 'null-bridge': child.pid, 'null-devices': sim.pid }, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** CPU µs of `pid` per command answered over one step of `run`. */
async function costStep(run: Runner, pid: number | undefined, rate: number, stepMs: number): Promise<{ us: number; step: StepResult } | undefined> {
  if (pid === undefined) return undefined;
  const ns0 = cpuNs(pid);
  const s = await run.step(rate, stepMs, 2000);
  const ns1 = cpuNs(pid);
  const answered = Math.round((s.latency.count ?? 0) || s.received);
  if (ns0 === undefined || ns1 === undefined || answered === 0) return undefined;
  return { us: Math.round((ns1 - ns0) / 1000 / answered * 10) / 10, step: s };
}

export async function runDownlink(devices: number, searchOpts: SearchOptions, o: DownlinkOptions = {}): Promise<DownlinkResult> {
  const commands = o.commands ?? [
    { name: 'set', qos: 1 },
    { name: 'set0', qos: 0 },
  ];
  const fractions = o.fractions ?? [0.5];
  log(`── downlink: command IQs → bridge → ${devices} devices`);
  const server = await sharedServer();
  const bridge = await startBridgeProcess(server);
  const sim = Simulator.start('sim-downlink');
  const commander = Child.fork('commander.js', { name: 'commander' });
  const result: DownlinkResult = { devices, runs: [] };
  try {
    const r = await sim.connect({ ...deviceFleet(devices), host: bridge.host, port: bridge.port });
    if (r.failed > 0) throw new Error(`${r.failed} devices could not connect`);
    // Registration: each device publishes once, so the bridge knows it (commands go to known, online devices).
    const tally = server.receiver.tally;
    const reg = runId++;
    tally.arm(reg, devices);
    await sim.run({ runId: reg, rate: 1000, total: devices, startAtUs: nowUs() + 20_000, qos: 1, payload: 'climate' });
    const deadline = Date.now() + 10_000;
    while (tally.received < devices && Date.now() < deadline) await sleep(20);
    await commander.call('start', { service: `xmpp://${server.prosody.listen}:${server.prosody.c2sPort}`, domain: HOST, username: COMMANDER_USER, password: `pw-${COMMANDER_USER}` });
    const pids = { bridge: bridge.child.pid, prosody: server.prosody.pid, devices: sim.pid, commander: commander.pid };
    if (o.pin) log(`downlink: pinned ${JSON.stringify(pinProcesses(pids, cpus().length))}`);
    if (o.costRepeats) {
      result.cost = await downlinkCost(sim, commander, devices, commands, pids, bridge.child, server, o);
      return result;
    }
    for (const c of o.search === false ? [] : commands) {
      const run = runner(sim, commander, devices, c.name, pids);
      await run.step(500, 1000, 2000); // warm-up
      await sleep(500);
      const res = await search(run, searchOpts, (s, phase) => log(line(c.name, s, phase)));
      const entry: DownlinkRun = { command: c.name, qos: c.qos, sustained: res.sustained, at: res.at, latency: [], search: { steps: res.steps, stoppedBy: res.stoppedBy, ms: res.ms } };
      log(`downlink ${c.name} (QoS ${c.qos}): sustained ${fmt(res.sustained)} commands/s`);
      if (res.sustained !== undefined) entry.latency = await latencyAt(run, res.sustained, fractions, Math.max(2000, searchOpts.stepMs), searchOpts.graceMs, (s, phase) => log(line(c.name, s, phase)));
      if (o.profileMs && o.outDir && res.sustained !== undefined) {
        await sleep(1000);
        mkdirSync(o.outDir, { recursive: true });
        const file = join(o.outDir, `${o.stamp ?? 'downlink'}-bridge-downlink-${c.name}.cpuprofile`);
        await bridge.child.call('profStart', { intervalUs: 250 });
        const step = await run.step(Math.round(res.sustained * 0.8), o.profileMs, searchOpts.graceMs);
        await bridge.child.call('profStop', { file });
        const summary = summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
        log(line(c.name, step, 'profiled'));
        for (const l of formatProfile(summary)) log(`profile downlink ${c.name}: ${l}`);
        entry.profile = { file, rate: Math.round(res.sustained * 0.8), step, summary };
      }
      result.runs.push(entry);
      await sleep(1000);
    }
    // The ceiling, in the same run and interleaved with the bridge rate by rate: a bare component on a second domain
    // answers the same command IQs at once (two stanzas through Prosody per command, as through the bridge). Steps
    // alternate between the two at each rate, so a machine shared with other work disturbs both alike.
    const echo = Child.fork('iq-echo.js', { name: 'iq-echo' });
    const nul = o.nullBridge ? await startNullDownlink(server, devices) : undefined;
    try {
      await echo.call('start', { service: server.service, domain: ECHO_DOMAIN, secret: server.secret }, 30_000);
      if (o.pin) pinProcesses({ 'iq-echo': echo.pid, ...nul?.pids }, cpus().length);
      const all = { ...pids, 'iq-echo': echo.pid, ...nul?.pids };
      const ceilingRun = runner(undefined, commander, devices, commands[0]?.name ?? 'set', all, ECHO_DOMAIN);
      await ceilingRun.step(500, 1000, 2000); // warm-up
      result.paired = [];
      for (const c of commands) {
        const bridgeRun = runner(sim, commander, devices, c.name, all);
        const nullRun = nul ? runner(nul.sim, commander, devices, c.name, all, NULL_DOMAIN) : undefined;
        if (nullRun) await nullRun.step(500, 1000, 2000); // warm-up
        const pair: PairedLadder = { command: c.name, qos: c.qos, steps: [] };
        let bridgeUp = true;
        let echoUp = true;
        let nullUp = nullRun !== undefined;
        // Each side gets one retry of a failed step (a stall of the shared machine).
        const one = async (r: Runner, up: boolean, rate: number): Promise<StepResult | undefined> => {
          if (!up) return undefined;
          let s = await r.step(rate, o.ladderStepMs ?? 3000, 2000);
          if (!s.pass) {
            await r.settle();
            s = await r.step(rate, o.ladderStepMs ?? 3000, 2000);
          }
          if (!s.pass) await r.settle();
          return s;
        };
        const ladder = o.ladder ?? LADDER;
        /** Per side: the first ladder rate it failed. */
        const failedAt: { bridge?: number; ceiling?: number; nullBridge?: number } = {};
        for (const rate of ladder) {
          if (!bridgeUp && !echoUp && !nullUp) break;
          // The bridge's CPU profile at the first rate, which both sides carry (what a command costs it).
          const profile = rate === ladder[0] && o.outDir ? join(o.outDir, `${o.stamp ?? 'downlink'}-bridge-downlink-ladder-${c.name}.cpuprofile`) : undefined;
          if (profile) {
            mkdirSync(o.outDir!, { recursive: true });
            await bridge.child.call('profStart', { intervalUs: 250 });
          }
          const b = await one(bridgeRun, bridgeUp, rate);
          if (profile) {
            await bridge.child.call('profStop', { file: profile });
            const summary = summariseProfile(JSON.parse(readFileSync(profile, 'utf8')) as CpuProfile);
            for (const l of formatProfile(summary)) log(`profile downlink ${c.name} at ${rate}/s: ${l}`);
            pair.profile = profile;
          }
          const e = await one(ceilingRun, echoUp, rate);
          const n = nullRun ? await one(nullRun, nullUp, rate) : undefined;
          if (b) log(line(c.name, b, 'ladder'));
          if (e) log(line('ceiling', e, 'ladder'));
          if (n) log(line('null', n, 'ladder'));
          pair.steps.push({ rate, ...(b ? { bridge: b } : {}), ...(e ? { ceiling: e } : {}), ...(n ? { nullBridge: n } : {}) });
          if (b && b.pass && bridgeUp) pair.bridge = rate;
          else if (bridgeUp) {
            bridgeUp = false;
            failedAt.bridge = rate;
          }
          if (e && e.pass && echoUp) pair.ceiling = rate;
          else if (echoUp) {
            echoUp = false;
            failedAt.ceiling = rate;
          }
          if (n && n.pass && nullUp) pair.nullBridge = rate;
          else if (nullUp) {
            nullUp = false;
            failedAt.nullBridge = rate;
          }
        }
        await refine(pair, failedAt, { bridge: bridgeRun, ceiling: ceilingRun, ...(nullRun ? { nullBridge: nullRun } : {}) }, one, c.name);
        log(
          `downlink ${c.name} vs the bare component, interleaved ladder: ${fmt(pair.bridge)} / ${fmt(pair.ceiling)} commands/s` +
            (nullRun ? `; null bridge ${fmt(pair.nullBridge)}` : ''),
        );
        result.paired.push(pair);
      }
    } finally {
      await echo.stop();
      await nul?.stop();
    }
  } finally {
    await commander.stop();
    await sim.stop();
    await bridge.stop();
  }
  return result;
}

/** The bridge and the bare component, alternately, `costRepeats` steps each per command at one rate. */
/** Steps of the refinement, as a share of the lower rate. */
const REFINE_STEP = 0.05;

/**
 * The ladder's rates are 14–50 % apart (4,000 → 5,000 → 6,000 where a slower machine has its ceilings): too coarse
 * for a ratio whose target is 0.9. Between each side's last passing and first failing rate, the sides are stepped
 * again, interleaved as in the ladder, every 5 % of the lowest of those rates; each side stops at its first failure
 * (after its retry), and its highest passed rate is what the ratios use.
 */
async function refine(
  pair: PairedLadder,
  failedAt: { bridge?: number; ceiling?: number; nullBridge?: number },
  runs: { bridge: Runner; ceiling: Runner; nullBridge?: Runner },
  one: (r: Runner, up: boolean, rate: number) => Promise<StepResult | undefined>,
  name: string,
): Promise<void> {
  const keys = (['bridge', 'ceiling', 'nullBridge'] as const).filter((k) => runs[k] && pair[k] !== undefined && failedAt[k] !== undefined);
  if (keys.length === 0) return;
  const lo = Math.min(...keys.map((k) => pair[k]!));
  const hi = Math.max(...keys.map((k) => failedAt[k]!));
  const step = Math.max(50, Math.round((lo * REFINE_STEP) / 50) * 50);
  const up = new Set(keys);
  for (let rate = lo + step; rate < hi && up.size > 0; rate += step) {
    const at: PairedLadder['steps'][number] = { rate };
    for (const k of keys) {
      if (!up.has(k) || rate <= pair[k]! || rate >= failedAt[k]!) continue;
      const s = await one(runs[k]!, true, rate);
      if (!s) continue;
      at[k] = s;
      log(line(k === 'bridge' ? name : k === 'ceiling' ? 'ceiling' : 'null', s, 'refine'));
      if (s.pass) pair[k] = rate;
      else up.delete(k);
    }
    if (at.bridge || at.ceiling || at.nullBridge) pair.steps.push(at);
  }
  pair.steps.sort((a, b) => a.rate - b.rate);
}

async function downlinkCost(
  sim: Simulator,
  commander: Child,
  devices: number,
  commands: readonly { name: string; qos: 0 | 1 }[],
  pids: Record<string, number | undefined>,
  bridgeChild: Child,
  server: { service: string; secret: string },
  o: DownlinkOptions,
): Promise<DownlinkCost[]> {
  const rate = o.costRate ?? 1000;
  const stepMs = o.ladderStepMs ?? 3000;
  const echo = Child.fork('iq-echo.js', { name: 'iq-echo' });
  const nul = o.nullBridge ? await startNullDownlink(server, devices) : undefined;
  const out: DownlinkCost[] = [];
  try {
    await echo.call('start', { service: server.service, domain: ECHO_DOMAIN, secret: server.secret }, 30_000);
    if (o.pin) pinProcesses({ 'iq-echo': echo.pid, ...nul?.pids }, cpus().length);
    const all = { ...pids, 'iq-echo': echo.pid, ...nul?.pids };
    const ceilingRun = runner(undefined, commander, devices, commands[0]?.name ?? 'set', all, ECHO_DOMAIN);
    await ceilingRun.step(500, 1000, 2000); // warm-up
    for (const c of commands) {
      const bridgeRun = runner(sim, commander, devices, c.name, all);
      await bridgeRun.step(500, 1000, 2000); // warm-up
      const nullRun = nul ? runner(nul.sim, commander, devices, c.name, all, NULL_DOMAIN) : undefined;
      if (nullRun) await nullRun.step(500, 1000, 2000); // warm-up
      const entry: DownlinkCost = { command: c.name, qos: c.qos, rate, bridge: [], ceiling: [], ...(nullRun ? { nullBridge: [] } : {}) };
      if (o.profileMs && o.outDir) {
        mkdirSync(o.outDir, { recursive: true });
        const file = join(o.outDir, `${o.stamp ?? 'downlink'}-bridge-downlink-cost-${c.name}.cpuprofile`);
        await bridgeChild.call('profStart', { intervalUs: 250 });
        const s = await bridgeRun.step(rate, o.profileMs, 2000);
        await bridgeChild.call('profStop', { file });
        log(line(c.name, s, 'profiled'));
        for (const l of formatProfile(summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile))) log(`profile downlink ${c.name} at ${rate}/s: ${l}`);
      }
      for (let i = 0; i < (o.costRepeats ?? 3); i++) {
        const b = await costStep(bridgeRun, bridgeChild.pid, rate, stepMs);
        const e = await costStep(ceilingRun, echo.pid, rate, stepMs);
        const n = nullRun ? await costStep(nullRun, nul?.pids['null-bridge'], rate, stepMs) : undefined;
        if (b) entry.bridge.push(b.us);
        if (e) entry.ceiling.push(e.us);
        if (n) entry.nullBridge?.push(n.us);
        log(
          `downlink cost ${c.name} at ${fmt(rate)}/s: bridge ${b?.us ?? 'n/a'} µs/command (${b?.step.pass ? 'pass' : `FAIL ${b?.step.why}`}), ` +
            `bare component ${e?.us ?? 'n/a'} µs/command${nullRun ? `, null bridge ${n?.us ?? 'n/a'} µs/command` : ''} | other ${b?.step.cpu['other'] ?? '?'}% / ${e?.step.cpu['other'] ?? '?'}%`,
        );
      }
      const bm = median(entry.bridge);
      const em = median(entry.ceiling);
      const nm = entry.nullBridge ? median(entry.nullBridge) : undefined;
      if (bm !== undefined) entry.bridgeMedian = bm;
      if (em !== undefined) entry.ceilingMedian = em;
      if (nm !== undefined) entry.nullBridgeMedian = nm;
      log(
        `downlink cost ${c.name} (QoS ${c.qos}): bridge ${bm} µs/command [${entry.bridge.join(', ')}], bare component ${em} µs/command [${entry.ceiling.join(', ')}]` +
          (entry.nullBridge ? `, null bridge ${nm} µs/command [${entry.nullBridge.join(', ')}]` : ''),
      );
      out.push(entry);
    }
  } finally {
    await echo.stop();
    await nul?.stop();
  }
  return out;
}
