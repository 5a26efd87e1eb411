/**
 * The device simulator, parent side: one forked process (sim-child.ts) per `Simulator`, so the load generator does
 * not share an event loop with the receiver or the system under test.
 */
import { Child, decodeHistogram, type Histogram } from './common.js';

export type PayloadKind = 'climate' | 'tiny' | 'fleet';

export interface SimConnectArgs {
  readonly host: string;
  readonly port: number;
  /** Global index of the first device (ids and topics use it). */
  readonly first: number;
  readonly count: number;
  /** `{i}` is replaced by the device index; '' connects with a zero-length ClientId (clean session). */
  readonly clientId: string;
  /** Publish topic, `{i}` replaced. */
  readonly topic: string;
  /** Optional subscription per device (commands), `{i}` replaced. */
  readonly subscribe?: string;
  readonly subscribeQos: 0 | 1;
  /** Source addresses, used round robin. */
  readonly sources: readonly string[];
  readonly keepalive: number;
  /** CONNECTs in flight at once. */
  readonly concurrency: number;
  /** New connections per second at most; 0 = as fast as the concurrency allows. */
  readonly rate: number;
  readonly stopOnFailure: boolean;
  readonly connectTimeoutMs: number;
}

export interface SimConnectResult {
  connected: number;
  failed: number;
  errors: Record<string, number>;
  ms: number;
  /** Devices held by this simulator after the call. */
  total: number;
}

export interface SimRunArgs {
  readonly runId: number;
  /** Messages per second, all devices together, spread round robin. */
  readonly rate: number;
  readonly total: number;
  /** When message 0 is due (CLOCK_MONOTONIC µs). */
  readonly startAtUs: number;
  readonly qos: 0 | 1;
  readonly payload: PayloadKind;
  /** Use only n devices (default all)… */
  readonly devices?: number;
  /** …starting at this one (default 0). */
  readonly firstDevice?: number;
  /**
   * Payload 'fleet' (scenario F): message k is device k mod n's reading of round roundBase + ⌊k/n⌋
   * (fleet-model.ts fleetReading); devices from switchFrom on are switches.
   */
  readonly fleet?: { readonly switchFrom: number; readonly roundBase: number };
  /** Added to every sequence number (a run continued by a second call). */
  readonly seqBase?: number;
}

export interface SimRunResult {
  offered: number;
  sent: number;
  notConnected: number;
  /** How far the generator fell behind its schedule (ms): large values mean it was starved of CPU. */
  lagMaxMs: number;
  lateOver10ms: number;
  ms: number;
}

export interface SimStats {
  devices: number;
  connected: number;
  lost: number;
  lostReasons: Record<string, number>;
  inflight: number;
  rss: number;
}

export interface CmdCollectResult {
  received: number;
  dup: number;
  stale: number;
  hist: string;
}

export class Simulator {
  private constructor(readonly child: Child) {}

  static start(name = 'sim'): Simulator {
    return new Simulator(Child.fork('sim-child.js', { name }));
  }

  get pid(): number {
    return this.child.pid;
  }

  connect(a: SimConnectArgs): Promise<SimConnectResult> {
    return this.child.call<SimConnectResult>('connect', a, 600_000);
  }

  run(a: SimRunArgs): Promise<SimRunResult> {
    const ms = (a.total / a.rate) * 1000;
    return this.child.call<SimRunResult>('run', a, ms + 60_000);
  }

  stats(): Promise<SimStats> {
    return this.child.call<SimStats>('stats');
  }

  cmdArm(runId: number, total: number): Promise<boolean> {
    return this.child.call<boolean>('cmdArm', { runId, total });
  }

  async cmdCollect(): Promise<{ received: number; dup: number; stale: number; hist: Histogram }> {
    const r = await this.child.call<CmdCollectResult>('cmdCollect');
    return { ...r, hist: decodeHistogram(r.hist) };
  }

  async disconnectAll(): Promise<void> {
    await this.child.call('close', {}, 30_000);
  }

  stop(): Promise<void> {
    return this.child.stop('stop', 5000);
  }
}
