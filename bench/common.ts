/**
 * Shared plumbing of the benchmarks: one clock for every process, HDR histograms, child processes driven over IPC,
 * CPU accounting from /proc, temp dirs that are always removed.
 *
 * Clock: CLOCK_MONOTONIC (process.hrtime) is one clock for every process of the machine, so a timestamp written by
 * the load generator can be compared with the receiver's clock in another process without calibration.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import hdr from 'hdr-histogram-js';
import { packageRoot } from '../src/version.js';

export { sleep };

export const ROOT = packageRoot();
/** Compiled bench modules live next to this file (dist/bench). */
export const BENCH_DIST = join(ROOT, 'dist', 'bench');
export const BENCH_SRC = join(ROOT, 'bench');

/** Microseconds on CLOCK_MONOTONIC, the same clock in every process of this machine. */
export function nowUs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e6 + ns / 1e3;
}

export function nowMs(): number {
  return nowUs() / 1000;
}

export interface PaceArgs {
  readonly rate: number;
  readonly total: number;
  readonly startAtUs: number;
}

export interface PaceResult {
  /** How far behind its schedule the generator emitted its latest message (µs). */
  readonly lagMaxUs: number;
  /** Messages emitted more than 10 ms late. */
  readonly lateOver10ms: number;
  readonly ms: number;
}

/**
 * Open-loop pacing shared by every load generator: message k is due at startAtUs + k/rate and is emitted with that
 * intended time as soon as a timer tick (≤ 1 ms) finds it due, whatever happened to the previous ones — so a
 * generator or system that falls behind shows up as latency, not as a lower offered rate (no coordinated omission).
 * `batch` wraps each tick's emissions (e.g. cork/uncork).
 */
export function pace(a: PaceArgs, emit: (k: number, dueUs: number) => void, batch: (run: () => void) => void = (run) => run()): Promise<PaceResult> {
  const period = 1e6 / a.rate;
  let k = 0;
  let lagMax = 0;
  let late = 0;
  const t0 = Date.now();
  return new Promise((resolve) => {
    const tick = (): void => {
      const now = nowUs();
      batch(() => {
        while (k < a.total) {
          const due = a.startAtUs + k * period;
          if (due > now) break;
          emit(k, due);
          const lag = now - due;
          if (lag > lagMax) lagMax = lag;
          if (lag > 10_000) late += 1;
          k += 1;
        }
      });
      if (k >= a.total) {
        resolve({ lagMaxUs: lagMax, lateOver10ms: late, ms: Date.now() - t0 });
        return;
      }
      setTimeout(tick, Math.max(0, Math.min(1, (a.startAtUs + k * period - nowUs()) / 1000)));
    };
    setTimeout(tick, Math.max(0, (a.startAtUs - nowUs()) / 1000));
  });
}

/** µs → ms with one decimal, as the results report generator lag. */
export function lagMs(us: number): number {
  return Math.round(us / 100) / 10;
}

// ---------------------------------------------------------------------------------------------- histograms

export interface LatencySummary {
  /** Samples. */
  count: number;
  /** Milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export type Histogram = ReturnType<typeof hdr.build>;

/** Values in microseconds, 3 significant digits, any range. */
export function histogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 2 * 3600 * 1e6, numberOfSignificantValueDigits: 3, autoResize: true });
}

export function recordUs(h: Histogram, us: number): void {
  h.recordValue(Math.max(1, Math.round(us)));
}

const ms = (us: number): number => Math.round(us) / 1000;

export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(s: string): Histogram {
  return hdr.decodeFromCompressedBase64(s, 32, false);
}

// ---------------------------------------------------------------------------------------------- child processes

interface Request {
  readonly rpc: number;
  readonly cmd: string;
  readonly args: unknown;
}
interface Reply {
  readonly rpc: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: string;
}
interface ChildEvent {
  readonly event: string;
  readonly data: unknown;
}

export type Handlers = Record<string, (args: never) => unknown>;

/** Child side: answer the parent's requests with these handlers; exit when the parent goes away. */
export function serve(handlers: Handlers): void {
  process.on('message', (m: Request) => {
    if (typeof m !== 'object' || m === null || typeof m.rpc !== 'number') return;
    const fn = handlers[m.cmd] as ((args: unknown) => unknown) | undefined;
    const reply = (r: Omit<Reply, 'rpc'>): void => {
      if (process.connected) process.send?.({ rpc: m.rpc, ...r });
    };
    if (!fn) return reply({ ok: false, error: `unknown command ${m.cmd}` });
    Promise.resolve()
      .then(() => fn(m.args))
      .then(
        (value) => reply({ ok: true, value }),
        (err: unknown) => reply({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
  // The orchestrator died or closed the channel: nothing is left to serve.
  process.on('disconnect', () => process.exit(0));
}

/** Child side: an unsolicited message to the parent. */
export function emit(event: string, data: unknown): void {
  if (process.connected) process.send?.({ event, data });
}

const live = new Set<Child>();
let hooksInstalled = false;
function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const c of live) c.proc.kill('SIGKILL');
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      console.error(`\n${sig}: stopping`);
      process.exit(130);
    });
  }
}

/** Parent side of a forked bench module. */
export class Child {
  private nextRpc = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly listeners = new Map<string, ((data: unknown) => void)[]>();
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  private stderrTail = '';
  /** stop() was called: an exit is expected. */
  private stopping = false;

  private constructor(
    readonly proc: ChildProcess,
    readonly name: string,
  ) {
    installHooks();
    live.add(this);
    proc.on('message', (m: Reply | ChildEvent) => {
      if ('rpc' in m) {
        const p = this.pending.get(m.rpc);
        if (!p) return;
        this.pending.delete(m.rpc);
        clearTimeout(p.timer);
        if (m.ok) p.resolve(m.value);
        else p.reject(new Error(`${name}: ${m.error ?? 'failed'}`));
      } else if ('event' in m) {
        for (const fn of this.listeners.get(m.event) ?? []) fn(m.data);
      }
    });
    proc.stderr?.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-4000);
      if (process.env['BENCH_VERBOSE']) process.stderr.write(`[${name}] ${d.toString()}`);
    });
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        live.delete(this);
        // A child that dies in the middle of a run is a finding: say how, with what it wrote last, when it happens.
        if (!this.stopping) log(`${name} exited unexpectedly (code ${code}, signal ${signal})${this.stderrTail ? `; its stderr ended with:\n${this.stderrTail}` : ''}`);
        for (const [, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`${name} exited (code ${code}, signal ${signal})${this.stderrTail ? `:\n${this.stderrTail}` : ''}`));
        }
        this.pending.clear();
        resolve({ code, signal });
      });
    });
  }

  /** Fork dist/bench/<module>.js with IPC; stdout is discarded, stderr kept (tail) for error reports. */
  static fork(module: string, opts: { name?: string; execArgv?: string[]; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Child {
    const proc = fork(join(BENCH_DIST, module), opts.args ?? [], {
      execArgv: opts.execArgv ?? [],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, ...opts.env },
      serialization: 'json',
    });
    return new Child(proc, opts.name ?? module);
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get stderr(): string {
    return this.stderrTail;
  }

  call<T>(cmd: string, args: unknown = {}, timeoutMs = 120_000): Promise<T> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
      return Promise.reject(new Error(`${this.name} is not running (exit code ${this.proc.exitCode}, signal ${this.proc.signalCode})`));
    }
    const rpc = this.nextRpc++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rpc);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(rpc, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.proc.send({ rpc, cmd, args } satisfies Request);
    });
  }

  on(event: string, fn: (data: unknown) => void): void {
    const list = this.listeners.get(event) ?? [];
    list.push(fn);
    this.listeners.set(event, list);
  }

  /** Ask politely (`cmd`), then SIGTERM, then SIGKILL. */
  async stop(cmd = 'stop', timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = this.exited.then(() => true);
    const within = (ms: number): Promise<boolean> => Promise.race([exited, sleep(ms).then(() => false)]);
    this.call(cmd, {}, timeoutMs).catch(() => undefined);
    if (await within(timeoutMs)) return;
    this.proc.kill('SIGTERM');
    if (await within(3000)) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }
}

// ---------------------------------------------------------------------------------------------- CPU and memory from /proc

const TICKS_PER_SECOND = 100; // _SC_CLK_TCK on Linux

/** CPU seconds (user + system) used so far by a process; undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Resident set size of a process in bytes. */
export function rssBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Busy and total jiffies of the whole machine (/proc/stat). */
function machineJiffies(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/**
 * CPU use of named processes over an interval, in % of one core; plus `other`: what the rest of the machine used
 * meanwhile (other users' work on a shared machine shows up there).
 */
export class CpuMeter {
  private start = new Map<string, number>();
  private t0 = 0;
  private machine0: { busy: number; total: number } | undefined;
  constructor(private readonly pids: Record<string, number | undefined>) {}

  begin(): void {
    this.t0 = nowMs();
    this.machine0 = machineJiffies();
    this.start = new Map();
    for (const [name, pid] of Object.entries(this.pids)) {
      const s = pid === undefined ? undefined : cpuSeconds(pid);
      if (s !== undefined) this.start.set(name, s);
    }
  }

  end(): Record<string, number> {
    const wall = (nowMs() - this.t0) / 1000;
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      const s0 = this.start.get(name);
      const s1 = pid === undefined ? undefined : cpuSeconds(pid);
      if (s0 !== undefined && s1 !== undefined && wall > 0) out[name] = Math.round(((s1 - s0) / wall) * 100);
    }
    const m1 = machineJiffies();
    if (this.machine0 && m1 && wall > 0) {
      const machine = Math.round(((m1.busy - this.machine0.busy) / TICKS_PER_SECOND / wall) * 100);
      const ours = Object.values(out).reduce((a, b) => a + b, 0);
      out['other'] = Math.max(0, machine - ours);
    }
    return out;
  }
}

/** CPU (% of one core) used by processes other than `pids` over one window: other users of a shared machine. */
export async function otherCpu(pids: Record<string, number | undefined>, windowMs = 1000): Promise<number> {
  const m = new CpuMeter(pids);
  m.begin();
  await sleep(windowMs);
  return m.end()['other'] ?? 0;
}

/** Wait (bounded) until the rest of the machine uses less than `limit` % of a core; returns the last reading. */
export async function waitForQuietMachine(pids: Record<string, number | undefined>, limit: number, maxMs: number): Promise<number> {
  const deadline = Date.now() + maxMs;
  let other = await otherCpu(pids);
  while (other >= limit && Date.now() < deadline) other = await otherCpu(pids);
  return other;
}

// ---------------------------------------------------------------------------------------------- temp dirs, misc

const tempDirs = new Set<string>();

/** A temp dir removed at exit (or earlier with removeTempDir). */
export function tempDir(prefix: string): string {
  installHooks();
  const d = mkdtempSync(join(tmpdir(), `mxb-bench-${prefix}-`));
  tempDirs.add(d);
  return d;
}

export function removeTempDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

/** Loopback source addresses for load generators (≈ 28k ephemeral ports each). */
export function sourceAddresses(first: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.0.${first + i}`);
}

export function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined || Number.isNaN(n)) return 'n/a';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return undefined;
  return Math.round((a / b) * 100) / 100;
}

/** Wait until `cond` holds, polling; false on timeout. */
export async function until(cond: () => boolean, timeoutMs: number, pollMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() >= deadline) return false;
    await sleep(pollMs);
  }
  return true;
}

export function log(msg: string): void {
  const t = new Date().toISOString().slice(11, 19);
  console.log(`[${t}] ${msg}`);
}

/** The servers a scenario measures (the XMPP or MQTT server): with --pin they get a core of their own. */
const SERVER_PROCESSES = new Set(['prosody', 'mosquitto']);

/**
 * --pin: the server on the last core, every other bench process (generator, bridge, receiver) on the others, so
 * that what a scenario costs beyond the server cannot take CPU from the server (sched_setaffinity via taskset -a:
 * all threads). Returns what was pinned where.
 */
export function pinProcesses(pids: Record<string, number | undefined>, cores: number): Record<string, string> {
  const last = String(cores - 1);
  const rest = cores > 2 ? `0-${cores - 2}` : '0';
  const done: Record<string, string> = {};
  for (const [name, pid] of Object.entries(pids)) {
    if (pid === undefined) continue;
    const list = SERVER_PROCESSES.has(name) ? last : rest;
    execFileSync('taskset', ['-a', '-p', '-c', list, String(pid)], { stdio: 'ignore' });
    done[name] = list;
  }
  return done;
}
