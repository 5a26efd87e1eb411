/**
 * The most concurrent devices one bridge process holds: simulator processes (each with its own 127.0.0.x source
 * addresses, each below its own open-file limit) add devices in batches — connect, subscribe to the command topic,
 * publish one reading — until a connection fails, a device is dropped, the bridge dies, or the cap. Then the fleet is
 * held for a while and a probe checks the bridge still delivers readings.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmt, log, nowUs, rssBytes, sleep, summarize, until, type LatencySummary } from './common.js';
import { DEVICE, sharedServer } from './rig.js';
import { startBridgeProcess } from './scenarios/bridge.js';
import { Simulator } from './sim.js';

export interface CapacityResult {
  cap: number;
  openFilesLimit: number | undefined;
  /** Devices connected when the ramp stopped. */
  reached: number;
  /** Devices still connected after the hold. */
  held: number;
  stoppedBy: string;
  failure?: { at: number; reasons: Record<string, number> };
  connectRate: number;
  bridgeRssMiB?: number;
  bridgeAlive: boolean;
  probe?: { sent: number; received: number; latency: LatencySummary };
  /** Warnings and errors the bridge logged during the test (distinct messages, with counts). */
  bridgeLog: Record<string, number>;
  ms: number;
}

/** Distinct `msg` of the bridge's warn/error log lines (pino JSON), with counts. */
function logSummary(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as { level?: number; msg?: string; err?: unknown };
      if ((e.level ?? 0) < 40) continue;
      const key = `${e.level === 40 ? 'warn' : 'error'}: ${e.msg ?? ''}${typeof e.err === 'string' ? ` (${e.err.slice(0, 80)})` : ''}`;
      out[key] = (out[key] ?? 0) + 1;
    } catch {
      out['(unparsed line)'] = (out['(unparsed line)'] ?? 0) + 1;
    }
  }
  return out;
}

const GENERATORS = 4;
const BATCH = 1000;

function openFilesLimit(): number | undefined {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export async function runCapacity(cap: number, holdMs = 5000): Promise<CapacityResult> {
  log(`── most concurrent devices (cap ${fmt(cap)}, ${GENERATORS} simulator processes, batches of ${fmt(BATCH)})`);
  const t0 = Date.now();
  const server = await sharedServer();
  const bridge = await startBridgeProcess(server);
  const sims = Array.from({ length: GENERATORS }, (_, g) => Simulator.start(`sim-cap-${g}`));
  const have = new Array<number>(GENERATORS).fill(0);
  const result: CapacityResult = { cap, openFilesLimit: openFilesLimit(), reached: 0, held: 0, stoppedBy: 'cap', connectRate: 0, bridgeAlive: true, bridgeLog: {}, ms: 0 };
  const alive = (): boolean => bridge.child.proc.exitCode === null && bridge.child.proc.signalCode === null;
  let runId = 2_000_000;
  try {
    const rampStart = Date.now();
    let total = 0;
    ramp: while (total < cap) {
      const batch = Math.min(BATCH, cap - total);
      const per = Math.ceil(batch / GENERATORS);
      const results = await Promise.all(
        sims.map((sim, g) => {
          const count = Math.min(per, Math.max(0, batch - g * per));
          if (count === 0) return Promise.resolve(undefined);
          const first = g * 100_000 + have[g]!;
          return sim.connect({
            host: bridge.host,
            port: bridge.port,
            first,
            count,
            clientId: DEVICE.clientId,
            topic: DEVICE.topic,
            subscribe: DEVICE.commands,
            subscribeQos: 1,
            sources: [`127.0.0.${10 + 2 * g}`, `127.0.0.${11 + 2 * g}`],
            keepalive: 120,
            concurrency: 50,
            rate: 0,
            stopOnFailure: true,
            connectTimeoutMs: 15_000,
          });
        }),
      );
      const reasons: Record<string, number> = {};
      results.forEach((r, g) => {
        if (!r) return;
        have[g] = have[g]! + r.connected;
        total += r.connected;
        for (const [k, v] of Object.entries(r.errors)) reasons[k] = (reasons[k] ?? 0) + v;
      });
      // One reading per new device (registration), at QoS 0, paced.
      const startAtUs = nowUs() + 20_000;
      await Promise.all(
        sims.map((sim, g) => {
          const r = results[g];
          if (!r || r.connected === 0) return Promise.resolve(undefined);
          return sim.run({ runId: runId++, rate: 2000 / GENERATORS, total: r.connected, startAtUs, qos: 0, payload: 'climate', devices: r.connected, firstDevice: have[g]! - r.connected });
        }),
      );
      const stats = await Promise.all(sims.map((s) => s.stats()));
      const lost = stats.reduce((a, s) => a + s.lost, 0);
      if (lost > 0) for (const s of stats) for (const [k, v] of Object.entries(s.lostReasons)) reasons[`dropped: ${k}`] = (reasons[`dropped: ${k}`] ?? 0) + v;
      log(`capacity: ${fmt(total)} devices connected (bridge RSS ${fmt((rssBytes(bridge.child.pid) ?? 0) / 2 ** 20)} MiB)${Object.keys(reasons).length ? ` — failures: ${JSON.stringify(reasons)}` : ''}`);
      if (!alive()) {
        result.stoppedBy = 'bridge process exited';
        result.failure = { at: total, reasons: { ...reasons, [`bridge exited: ${bridge.child.stderr.split('\n').filter(Boolean).slice(-3).join(' / ')}`]: 1 } };
        break ramp;
      }
      if (Object.keys(reasons).length > 0) {
        const limit = result.openFilesLimit ?? Infinity;
        result.stoppedBy =
          total >= limit - 200 ? `the open-file limit of the bridge process (${fmt(limit)}): further connections were reset` : 'connection failure';
        result.failure = { at: total, reasons };
        break ramp;
      }
    }
    result.reached = total;
    result.connectRate = Math.round(total / ((Date.now() - rampStart) / 1000));
    log(`capacity: holding ${fmt(total)} devices for ${holdMs / 1000} s`);
    await sleep(holdMs);
    const stats = await Promise.all(sims.map((s) => s.stats()));
    result.held = stats.reduce((a, s) => a + s.connected, 0);
    result.bridgeAlive = alive();
    const rss = rssBytes(bridge.child.pid);
    if (rss !== undefined) result.bridgeRssMiB = Math.round(rss / 2 ** 20);
    if (result.bridgeAlive) {
      // Probe: 200 readings from the first simulator's devices; does the bridge still deliver?
      const id = runId++;
      const tally = server.receiver.tally;
      const n = Math.min(200, have[0]!);
      tally.arm(id, n);
      await sims[0]!.run({ runId: id, rate: 200, total: n, startAtUs: nowUs() + 20_000, qos: 0, payload: 'climate' });
      await until(() => tally.received >= n, 10_000);
      const t = tally.collect();
      result.probe = { sent: n, received: t.received, latency: summarize(t.hist) };
    }
    log(
      `capacity: reached ${fmt(result.reached)}, held ${fmt(result.held)} after ${holdMs / 1000} s (${result.stoppedBy}); ` +
        `${fmt(result.connectRate)} connections/s; bridge RSS ${fmt(result.bridgeRssMiB)} MiB` +
        (result.probe ? `; probe ${result.probe.received}/${result.probe.sent} delivered, p99 ${result.probe.latency.p99} ms` : ''),
    );
  } finally {
    await Promise.all(sims.map((s) => s.stop()));
    result.bridgeLog = logSummary(join(bridge.dir, 'bridge.log'));
    await bridge.stop();
  }
  result.ms = Date.now() - t0;
  return result;
}
