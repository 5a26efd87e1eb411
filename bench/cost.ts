/**
 * CPU per message: the bridge alone (scenario S, against the sink) next to Mosquitto (scenario M, same simulator),
 * and the null bridge against the same sink (aedes + @xmpp/component with no mapping: the floor those dependencies
 * set). Each system is offered the same open-loop rate, well below every ceiling, for a few steps; its CPU time per
 * delivered message is read from /proc/<pid>/task/<tid>/schedstat (nanoseconds, all threads) — not a throughput
 * search, so other people's work on a shared machine changes the figures far less. Medians and spread over the steps.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fmt, log, sleep } from './common.js';
import type { Qos, Rig } from './rig.js';
import { MqttRig } from './scenarios/mqtt.js';
import { NullSinkRig, SinkRig } from './scenarios/sink.js';
import { prepare, settle, step, type StepResult } from './search.js';

/** CPU nanoseconds used so far by every thread of a process (schedstat: time on CPU); undefined when gone. */
export function cpuNs(pid: number): number | undefined {
  try {
    let total = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    }
    return total;
  } catch {
    return undefined;
  }
}

/** Read and write system calls made so far by a process (/proc/<pid>/io: syscr, syscw). */
export function syscalls(pid: number): { r: number; w: number } | undefined {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    return { r: Number(/syscr: (\d+)/.exec(io)?.[1]), w: Number(/syscw: (\d+)/.exec(io)?.[1]) };
  } catch {
    return undefined;
  }
}

export type CostSystem = 'S' | 'M' | 'N';

/** The process whose CPU is counted, per system. */
const MEASURED: Record<CostSystem, string> = { S: 'bridge', M: 'mosquitto', N: 'null-bridge' };
const TITLES: Record<CostSystem, string> = {
  S: 'bridge alone (sink)',
  M: 'Mosquitto (one subscriber)',
  N: 'null bridge alone (sink)',
};

export interface CostStep {
  /** CPU µs of the measured process per delivered message. */
  usPerMsg: number;
  /** Read and write system calls of the measured process per delivered message (/proc/<pid>/io). */
  readsPerMsg?: number;
  writesPerMsg?: number;
  delivered: number;
  p99: number;
  /** CPU % of one core per process over the step (from the step's own meter). */
  cpu: Record<string, number>;
}

export interface CostReading {
  system: CostSystem;
  process: string;
  devices: number;
  qos: Qos;
  rate: number;
  steps: CostStep[];
  median?: number;
  min?: number;
  max?: number;
  error?: string;
}

export interface CostRatio {
  devices: number;
  qos: Qos;
  bridge?: number;
  mosquitto?: number;
  nullBridge?: number;
  ratio?: number;
  nullRatio?: number;
  target: number;
  met?: boolean;
}

export interface CostResult {
  rate: number;
  stepMs: number;
  repeats: number;
  readings: CostReading[];
  ratios: CostRatio[];
}

export interface CostOptions {
  readonly systems: CostSystem[];
  readonly devices: number[];
  readonly qos: Qos[];
  readonly rate: number;
  readonly stepMs: number;
  readonly repeats: number;
  readonly warmMs: number;
  /** The warm-up's rate (default: the search's 2,000/s). */
  readonly warmRate?: number;
}

export const TARGET: Record<Qos, number> = { 0: 1.5, 1: 2 };

function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1]! + s[m]!) / 2;
}

const r2 = (x: number | undefined): number | undefined => (x === undefined ? undefined : Math.round(x * 100) / 100);

async function open(system: CostSystem): Promise<Rig & { close(): Promise<void> }> {
  if (system === 'S') return SinkRig.open();
  if (system === 'M') return MqttRig.open();
  return NullSinkRig.open() as unknown as Promise<Rig>;
}

/** One measured step: the rig's step, with the measured process's CPU read around it. */
async function costStep(rig: Rig, pid: number, rate: number, ms: number): Promise<{ s: StepResult; us: number; reads?: number; writes?: number }> {
  const io0 = syscalls(pid);
  const ns0 = cpuNs(pid) ?? NaN;
  const s = await step(rig, rate, ms, { graceMs: 2000 });
  const ns1 = cpuNs(pid) ?? NaN;
  const io1 = syscalls(pid);
  const n = Math.max(1, s.received);
  const per = (x: number): number => Math.round((x / n) * 1000) / 1000;
  return { s, us: (ns1 - ns0) / 1000 / n, ...(io0 && io1 ? { reads: per(io1.r - io0.r), writes: per(io1.w - io0.w) } : {}) };
}

export async function runCost(o: CostOptions): Promise<CostResult> {
  const readings: CostReading[] = [];
  for (const system of o.systems) {
    let rig: (Rig & { close(): Promise<void> }) | undefined;
    try {
      rig = await open(system);
    } catch (err) {
      log(`cost ${system}: could not start: ${(err as Error).message}`);
      for (const devices of o.devices) for (const qos of o.qos) readings.push({ system, process: MEASURED[system], devices, qos, rate: o.rate, steps: [], error: (err as Error).message });
      continue;
    }
    try {
      const pid = rig.pids[MEASURED[system]] ?? -1;
      for (const devices of o.devices) {
        for (const qos of o.qos) {
          const reading: CostReading = { system, process: MEASURED[system], devices, qos, rate: o.rate, steps: [] };
          readings.push(reading);
          try {
            await prepare(rig, devices, qos, o.warmMs, o.warmRate);
            for (let i = 0; i < o.repeats; i++) {
              const { s, us, reads, writes } = await costStep(rig, pid, o.rate, o.stepMs);
              reading.steps.push({ usPerMsg: Math.round(us * 100) / 100, ...(reads !== undefined ? { readsPerMsg: reads, writesPerMsg: writes } : {}), delivered: s.delivered, p99: s.latency.p99, cpu: s.cpu });
              log(`cost ${system} d=${devices} q${qos} ${fmt(o.rate)}/s: ${MEASURED[system]} ${us.toFixed(2)} µs/msg, syscalls/msg read ${reads ?? 'n/a'} write ${writes ?? 'n/a'}, delivered ${(s.delivered * 100).toFixed(2)} %, p99 ${s.latency.p99} ms | cpu ${Object.entries(s.cpu).map(([k, v]) => `${k} ${v}%`).join(' ')}`);
              if (!s.pass) await settle(rig);
              else await sleep(100);
            }
            const xs = reading.steps.filter((x) => x.delivered >= 0.999).map((x) => x.usPerMsg);
            reading.median = r2(median(xs));
            reading.min = r2(xs.length ? Math.min(...xs) : undefined);
            reading.max = r2(xs.length ? Math.max(...xs) : undefined);
            if (xs.length === 0) reading.error = `no step delivered ≥ 99.9 % at ${o.rate}/s`;
          } catch (err) {
            reading.error = (err as Error).message;
            log(`cost ${system} d=${devices} q${qos}: error: ${reading.error}`);
          } finally {
            await rig.unprepare().catch(() => undefined);
          }
        }
      }
    } finally {
      await rig.close().catch(() => undefined);
      await sleep(200);
    }
  }
  const find = (system: CostSystem, devices: number, qos: Qos): number | undefined => readings.find((x) => x.system === system && x.devices === devices && x.qos === qos)?.median;
  const ratios: CostRatio[] = [];
  for (const devices of o.devices) {
    for (const qos of o.qos) {
      const bridge = find('S', devices, qos);
      const mosquitto = find('M', devices, qos);
      const nullBridge = find('N', devices, qos);
      const ratio = bridge !== undefined && mosquitto ? r2(bridge / mosquitto) : undefined;
      const nullRatio = nullBridge !== undefined && mosquitto ? r2(nullBridge / mosquitto) : undefined;
      ratios.push({
        devices,
        qos,
        target: TARGET[qos],
        ...(bridge !== undefined ? { bridge } : {}),
        ...(mosquitto !== undefined ? { mosquitto } : {}),
        ...(nullBridge !== undefined ? { nullBridge } : {}),
        ...(ratio !== undefined ? { ratio, met: ratio <= TARGET[qos] } : {}),
        ...(nullRatio !== undefined ? { nullRatio } : {}),
      });
    }
  }
  return { rate: o.rate, stepMs: o.stepMs, repeats: o.repeats, readings, ratios };
}

export function costTitle(system: CostSystem): string {
  return TITLES[system];
}
