/**
 * Steps and the rate search. A step offers `rate` messages/s for `durationMs` (open loop, intended send times) and
 * waits a grace period for stragglers; it passes when ≥ 99.9 % of the offered messages arrived and p99 < 100 ms.
 * The sustained rate is the highest rate whose full-length step passed: a quick ×2 ramp with short steps finds the
 * bracket, then full-length steps go up by ×1.25 (or down by ÷1.25) from the last short pass, then bisection (geometric
 * mean) between the sustained rate and the failure above it until they are within 4 %, all within a time budget.
 */
import { CpuMeter, nowMs, nowUs, sleep, summarize, until, waitForQuietMachine, type LatencySummary } from './common.js';
import type { Rig } from './rig.js';

export const PASS_DELIVERED = 0.999;
export const PASS_P99_MS = 100;
/** Bisection stops once the sustained rate and the failure above it are this close (ratio). */
export const BISECT_RESOLUTION = 1.04;
/**
 * The machine may be shared: a step during which processes outside the bench used more than this (% of one core) is
 * "contaminated". A contaminated failure is retried after the machine quiets down (so other people's work does not
 * lower a sustained rate); latency steps are retried when contaminated, pass or fail. At most CLEAN_ATTEMPTS runs.
 */
export const OTHER_CPU_LIMIT = 25;
let cleanAttempts = 3;

/** Quick mode runs each step once (contamination is only flagged). */
export function setCleanAttempts(n: number): void {
  cleanAttempts = Math.max(1, n);
}

export interface StepResult {
  rate: number;
  durationMs: number;
  offered: number;
  sent: number;
  received: number;
  dup: number;
  stale: number;
  delivered: number;
  latency: LatencySummary;
  pass: boolean;
  why?: string;
  /** How far the load generator fell behind its schedule (ms). */
  generatorLagMs: number;
  /** CPU per process in % of one core (the machine has 2 cores). */
  cpu: Record<string, number>;
  /** Downlink: latency to the device (the round trip is `latency`), and the IQ errors by condition. */
  toDevice?: LatencySummary;
  errors?: Record<string, number>;
  /** Runs of this step (retries after contamination by other processes). */
  attempts?: number;
  /** Every attempt ran while other processes used > OTHER_CPU_LIMIT % of a core (this is the least affected one). */
  contaminated?: boolean;
}

export interface StepOptions {
  readonly graceMs: number;
}

let nextRunId = 1;

export async function step(rig: Rig, rate: number, durationMs: number, opts: StepOptions): Promise<StepResult> {
  const runId = nextRunId++;
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const tally = rig.tally;
  tally.arm(runId, total);
  const cpu = new CpuMeter(rig.pids);
  const startAtUs = nowUs() + 30_000;
  cpu.begin();
  const gen = await rig.offer({ runId, rate, total, startAtUs });
  const endMs = startAtUs / 1000 + durationMs;
  await until(() => tally.received >= total, Math.max(0, endMs - nowMs()) + opts.graceMs, 5);
  const cpuPct = cpu.end();
  const t = tally.collect();
  const latency = summarize(t.hist);
  const delivered = t.received / total;
  const reasons: string[] = [];
  if (delivered < PASS_DELIVERED) reasons.push(`delivered ${(delivered * 100).toFixed(2)} %`);
  if (!(latency.p99 < PASS_P99_MS)) reasons.push(`p99 ${latency.p99} ms`);
  return {
    rate,
    durationMs,
    offered: total,
    sent: gen.sent,
    received: t.received,
    dup: t.dup,
    stale: t.stale,
    delivered: Math.round(delivered * 100000) / 100000,
    latency,
    pass: reasons.length === 0,
    ...(reasons.length ? { why: reasons.join(', ') } : {}),
    generatorLagMs: gen.lagMaxMs,
    cpu: cpuPct,
  };
}

/** After an overload: wait until nothing has arrived for `quietMs` (bounded), so the next step starts clean. */
export async function settle(rig: Rig, quietMs = 400, maxMs = 15_000): Promise<void> {
  await until(() => rig.tally.quietForMs() >= quietMs, maxMs, 50);
}

export interface SearchOptions {
  readonly startRate: number;
  readonly maxRate: number;
  readonly minRate: number;
  readonly rampMs: number;
  readonly stepMs: number;
  readonly graceMs: number;
  readonly factor: number;
  /** Full-length steps at most after the ramp. */
  readonly maxRefine: number;
  /** Full-length steps at most between the sustained rate and the failure above it (each halves the gap, in log). */
  readonly bisect: number;
  readonly budgetMs: number;
}

export interface SearchResult {
  /** Highest rate whose full-length step passed (messages/s); undefined if none did. */
  sustained: number | undefined;
  /** The step that established it. */
  at: StepResult | undefined;
  steps: (StepResult & { phase: 'ramp' | 'refine' })[];
  stoppedBy: string;
  ms: number;
}

export type StepLogger = (s: StepResult, phase: string) => void;

/** What the search drives: one step at a rate, and a wait for a quiet system after a failed one. */
export interface Runner {
  step(rate: number, durationMs: number, graceMs: number): Promise<StepResult>;
  settle(): Promise<void>;
  /** The bench's own processes (everything else counts as `other`). */
  readonly pids: Record<string, number | undefined>;
}

export function rigRunner(rig: Rig): Runner {
  return { step: (rate, ms, graceMs) => step(rig, rate, ms, { graceMs }), settle: () => settle(rig), pids: rig.pids };
}

/** A step, retried when other processes disturbed it (see OTHER_CPU_LIMIT): failures only, or always (`always`). */
export async function cleanStep(runner: Runner, rate: number, ms: number, graceMs: number, always: boolean): Promise<StepResult> {
  let best: StepResult | undefined;
  for (let attempt = 1; ; attempt++) {
    const s = await runner.step(rate, ms, graceMs);
    const disturbed = (s.cpu['other'] ?? 0) > OTHER_CPU_LIMIT;
    if (!disturbed || (s.pass && !always)) return { ...s, attempts: attempt };
    if (!best || (s.cpu['other'] ?? 0) < (best.cpu['other'] ?? 0)) best = s;
    if (attempt >= cleanAttempts) return { ...best, attempts: attempt, contaminated: true };
    if (!s.pass) await runner.settle();
    await waitForQuietMachine(runner.pids, OTHER_CPU_LIMIT / 2, 30_000);
  }
}

export async function search(runner: Runner, o: SearchOptions, onStep: StepLogger = () => undefined): Promise<SearchResult> {
  const t0 = Date.now();
  const steps: SearchResult['steps'] = [];
  const over = (): boolean => Date.now() - t0 > o.budgetMs;
  const run = async (rate: number, ms: number, phase: 'ramp' | 'refine'): Promise<StepResult> => {
    const s = await cleanStep(runner, rate, ms, o.graceMs, false);
    steps.push({ ...s, phase });
    onStep(s, phase);
    if (!s.pass) await runner.settle();
    else await sleep(100);
    return s;
  };

  // Ramp: ×2 with short steps until a failure (or the cap).
  let lastPass: StepResult | undefined;
  let firstFail: number | undefined;
  let stoppedBy = 'bracketed';
  for (let rate = o.startRate; ; rate = Math.min(o.maxRate, rate * 2)) {
    if (over()) {
      stoppedBy = 'budget';
      break;
    }
    let s = await run(rate, o.rampMs, 'ramp');
    // A failure of the very first step may be a start-up blip (JIT, first writes): it gets one more try.
    if (!s.pass && lastPass === undefined && rate === o.startRate) s = await run(rate, o.rampMs, 'ramp');
    if (!s.pass) {
      firstFail = rate;
      break;
    }
    lastPass = s;
    if (rate >= o.maxRate) {
      stoppedBy = 'cap';
      break;
    }
  }
  // Nothing passed: go down until something does.
  if (lastPass === undefined) {
    for (let rate = o.startRate / 2; rate >= o.minRate && !over(); rate /= 2) {
      const s = await run(rate, o.rampMs, 'ramp');
      if (s.pass) {
        lastPass = s;
        break;
      }
      firstFail = rate;
    }
  }
  if (lastPass === undefined) return { sustained: undefined, at: undefined, steps, stoppedBy: 'nothing passed', ms: Date.now() - t0 };

  // Refine with full-length steps: confirm the last short pass (or go down), then go up by the factor while
  // below the first failure.
  let sustained: number | undefined;
  let at: StepResult | undefined;
  let direction: 'up' | 'down' | undefined;
  let rate = lastPass.rate;
  if (o.stepMs <= o.rampMs) {
    sustained = lastPass.rate;
    at = lastPass;
    direction = 'up';
    rate = Math.round(lastPass.rate * o.factor);
  }
  for (let refined = 0; refined < o.maxRefine && rate >= o.minRate && rate <= o.maxRate; refined++) {
    if (direction === 'up' && firstFail !== undefined && rate >= firstFail) break;
    if (over()) {
      stoppedBy = 'budget';
      break;
    }
    const s = await run(rate, o.stepMs, 'refine');
    if (s.pass) {
      if (sustained === undefined || rate > sustained) {
        sustained = rate;
        at = s;
      }
      if (direction === 'down') break;
      direction = 'up';
      rate = Math.round(rate * o.factor);
    } else {
      if (direction === 'up') break;
      direction = 'down';
      rate = Math.round(rate / o.factor);
    }
  }
  // Bisect between the sustained rate and the lowest failure above it, `bisect` times at most, while they are more
  // than BISECT_RESOLUTION apart: the factor alone (×1.25) cannot tell a ratio of 0.8 from one of 0.95.
  for (let i = 0; i < o.bisect && sustained !== undefined && !over(); i++) {
    const fails = steps.filter((x) => !x.pass && x.rate > sustained!).map((x) => x.rate);
    const fail = fails.length > 0 ? Math.min(...fails) : undefined;
    if (fail === undefined || fail / sustained <= BISECT_RESOLUTION) break;
    const mid = Math.round(Math.sqrt(sustained * fail));
    const s = await run(mid, o.stepMs, 'refine');
    if (s.pass) {
      sustained = mid;
      at = s;
    }
  }
  return { sustained, at, steps, stoppedBy, ms: Date.now() - t0 };
}

/** Latency at fractions of a rate (open loop, full-length steps). */
export async function latencyAt(runner: Runner, rate: number, fractions: readonly number[], ms: number, graceMs: number, onStep: StepLogger = () => undefined): Promise<{ fraction: number; step: StepResult }[]> {
  const out: { fraction: number; step: StepResult }[] = [];
  for (const fraction of fractions) {
    const s = await cleanStep(runner, Math.max(1, Math.round(rate * fraction)), ms, graceMs, true);
    onStep(s, `latency ${fraction * 100}%`);
    out.push({ fraction, step: s });
    if (!s.pass) await runner.settle();
    else await sleep(100);
  }
  return out;
}

/** Connect the devices and warm up: every device publishes once (registration), then a short run for the JIT. */
export async function prepare(rig: Rig, devices: number, qos: 0 | 1, warmMs: number, warmRate = 2000): Promise<StepResult> {
  await rig.prepare(devices, qos);
  const rate = Math.min(5000, Math.max(200, devices * 2));
  const first = await step(rig, rate, Math.max(500, (devices / rate) * 1000), { graceMs: 3000 });
  await settle(rig, 200, 10_000);
  if (warmMs <= 0 || !first.pass) return first;
  const warm = await step(rig, warmRate, warmMs, { graceMs: 1000 });
  await settle(rig, 200, 10_000);
  return warm;
}
