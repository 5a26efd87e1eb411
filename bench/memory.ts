/**
 * Memory per idle connected device: devices connect in steps (each subscribes to its command topic and publishes
 * one QoS 1 reading, so the bridge registers it and holds its state), then sit idle; after each step the process
 * under test runs full GCs (`--expose-gc`) and reports process.memoryUsage() over IPC. The slope of a least-squares
 * line over the steps is the cost of one device. Raw aedes (aedes-child.ts) is measured the same way.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Child, fmt, log, nowUs, sleep, until } from './common.js';
import type { MemorySample } from './memory-sample.js';
import { DEVICE, SIM_SOURCES, sharedServer } from './rig.js';
import { startBridgeProcess } from './scenarios/bridge.js';
import { Simulator } from './sim.js';
import type { Tally } from './receiver.js';

export interface MemoryPoint extends MemorySample {
  devices: number;
}

export interface MemorySeries {
  label: string;
  points: MemoryPoint[];
  /** Bytes per device (least-squares slope). */
  rssPerDevice: number;
  heapPerDevice: number;
  /** heapUsed + external (buffers outside the V8 heap). */
  heapExternalPerDevice: number;
  /** RSS and heap slopes without the 0-device point (its one-time costs — heap growth, JIT — inflate the first step). */
  rssPerDeviceMarginal: number;
  heapPerDeviceMarginal: number;
}

export interface MemoryResult {
  bridge?: MemorySeries;
  aedes?: MemorySeries;
  /** bridge / aedes, RSS slope. */
  rssRatio?: number;
  heapRatio?: number;
  notes: string[];
}

function slope(points: MemoryPoint[], f: (p: MemoryPoint) => number): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, p) => a + p.devices, 0) / n;
  const my = points.reduce((a, p) => a + f(p), 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.devices - mx) * (f(p) - my);
    den += (p.devices - mx) ** 2;
  }
  return Math.round(num / den);
}

function series(label: string, points: MemoryPoint[]): MemorySeries {
  return {
    label,
    points,
    rssPerDevice: slope(points, (p) => p.rss),
    heapPerDevice: slope(points, (p) => p.heapUsed),
    heapExternalPerDevice: slope(points, (p) => p.heapUsed + p.external),
    rssPerDeviceMarginal: slope(points.filter((p) => p.devices > 0), (p) => p.rss),
    heapPerDeviceMarginal: slope(points.filter((p) => p.devices > 0), (p) => p.heapUsed),
  };
}

let runId = 1_000_000;

/** Grow the fleet through `steps` device counts; `measure` is called at each, with the device count. */
async function ramp(
  sim: Simulator,
  host: string,
  port: number,
  steps: readonly number[],
  settleStep: (added: number, first: number) => Promise<void>,
  measure: (devices: number) => Promise<MemorySample>,
  label: string,
): Promise<MemoryPoint[]> {
  const points: MemoryPoint[] = [];
  let have = 0;
  for (const target of steps) {
    const add = target - have;
    if (add > 0) {
      const r = await sim.connect({
        host,
        port,
        first: have,
        count: add,
        clientId: DEVICE.clientId,
        topic: DEVICE.topic,
        subscribe: DEVICE.commands,
        subscribeQos: 1,
        sources: SIM_SOURCES,
        keepalive: 120,
        concurrency: 100,
        rate: 0,
        stopOnFailure: false,
        connectTimeoutMs: 20_000,
      });
      if (r.failed > 0) throw new Error(`${label}: ${r.failed} devices could not connect: ${JSON.stringify(r.errors)}`);
      await settleStep(add, have);
      have = target;
    }
    await sleep(500);
    const m = await measure(target);
    points.push({ devices: target, ...m });
    log(`memory ${label}: ${fmt(target)} devices: rss ${fmt(m.rss / 2 ** 20, 1)} MiB, heap ${fmt(m.heapUsed / 2 ** 20, 1)} MiB, external ${fmt(m.external / 2 ** 20, 1)} MiB`);
  }
  return points;
}

/** Every new device publishes one QoS 1 reading; wait for the receiver (bridge) or the PUBACKs (aedes). */
async function publishOnce(sim: Simulator, added: number, first: number, tally?: Tally): Promise<void> {
  const id = runId++;
  tally?.arm(id, added);
  const rate = 2000;
  await sim.run({ runId: id, rate, total: added, startAtUs: nowUs() + 20_000, qos: 1, payload: 'climate', devices: added, firstDevice: first });
  if (tally) {
    const ok = await until(() => tally.received >= added, 30_000);
    if (!ok) log(`memory: only ${tally.received} of ${added} registration readings arrived`);
  }
  for (let i = 0; i < 100; i++) {
    const s = await sim.stats();
    if (s.inflight === 0) break;
    await sleep(100);
  }
}

/** `snapshotDir`: write a heap snapshot of the bridge at each step there (bridge-<devices>.heapsnapshot). */
export async function runMemory(steps: readonly number[], snapshotDir?: string): Promise<MemoryResult> {
  const result: MemoryResult = {
    notes: [
      'Each device: MQTT 3.1.1 connection, one QoS 1 subscription (its command topic), one QoS 1 reading, then idle (keep-alive 120 s).',
      'After each step: full GCs (--expose-gc), then process.memoryUsage() of the process under test; slope by least squares.',
    ],
  };
  log('── memory per idle device: raw aedes');
  {
    const aedes = Child.fork('aedes-child.js', { name: 'aedes', execArgv: ['--expose-gc'] });
    const sim = Simulator.start('sim-memory');
    try {
      const { port } = await aedes.call<{ port: number }>('start');
      const points = await ramp(sim, '127.0.0.1', port, steps, (added, first) => publishOnce(sim, added, first), () => aedes.call<MemorySample>('memory'), 'aedes');
      result.aedes = series('raw aedes 1.2.0', points);
    } finally {
      await sim.stop();
      await aedes.stop();
    }
  }
  log('── memory per idle device: bridge');
  if (snapshotDir) mkdirSync(snapshotDir, { recursive: true });
  {
    const server = await sharedServer();
    const bridge = await startBridgeProcess(server);
    const sim = Simulator.start('sim-memory');
    try {
      const points = await ramp(
        sim,
        bridge.host,
        bridge.port,
        steps,
        (added, first) => publishOnce(sim, added, first, server.receiver.tally),
        async (devices) => {
          const m = await bridge.child.call<MemorySample>('memory');
          if (snapshotDir) {
            const file = await bridge.child.call<string>('heapSnapshot', { file: join(snapshotDir, `bridge-${devices}.heapsnapshot`) });
            log(`memory bridge: heap snapshot ${file}`);
          }
          return m;
        },
        'bridge',
      );
      result.bridge = series('bridge (embedded aedes + registry + SQLite)', points);
    } finally {
      await sim.stop();
      await bridge.stop();
      }
  }
  if (result.bridge && result.aedes) {
    result.rssRatio = Math.round((result.bridge.rssPerDevice / result.aedes.rssPerDevice) * 100) / 100;
    result.heapRatio = Math.round((result.bridge.heapPerDevice / result.aedes.heapPerDevice) * 100) / 100;
  }
  for (const s of [result.aedes, result.bridge]) {
    if (s) {
      log(
        `memory ${s.label}: ${fmt(s.rssPerDevice / 1024, 1)} KB RSS/device, ${fmt(s.heapPerDevice / 1024, 1)} KB heap/device, ` +
          `${fmt(s.heapExternalPerDevice / 1024, 1)} KB heap+external/device (without the 0 point: ${fmt(s.rssPerDeviceMarginal / 1024, 1)} KB RSS, ${fmt(s.heapPerDeviceMarginal / 1024, 1)} KB heap)`,
      );
    }
  }
  return result;
}
