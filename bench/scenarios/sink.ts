/**
 * Scenario S, the bridge alone: simulated devices → the bridge (embedded aedes, mapping, validation, QoS 1 outbox and
 * barriers) → XEP-0114 → a sink (sink-child.ts) that answers the handshake and the barriers and counts readings but
 * routes nothing. No Prosody and no c2s receiver share the cores, so the bridge is the bottleneck and its CPU per
 * reading can be set against Mosquitto's CPU per message (scenario M). Also the null bridge against the same sink
 * (N on the sink): aedes and the component library with nothing of the bridge's own, the floor of those dependencies.
 */
import { randomBytes } from 'node:crypto';
import { Child } from '../common.js';
import { Tally } from '../receiver.js';
import { DOMAIN, RECEIVER_JID, type Rig } from '../rig.js';
import { startBridgeProcess, type BridgeProcess } from './bridge.js';
import { Fleet, FleetRig } from './devices.js';

export interface Sink {
  readonly child: Child;
  readonly service: string;
  readonly secret: string;
  readonly tally: Tally;
  stats(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** Start a sink in its own process; its readings feed a Tally in this one (latency taken by the sink). */
export async function startSink(): Promise<Sink> {
  const secret = randomBytes(12).toString('hex');
  const child = Child.fork('sink-child.js', { name: 'sink' });
  const tally = new Tally();
  child.on('samples', (d) => {
    const x = d as { r: number; s: number[]; lat: number[] };
    tally.samples(x.r, x.s, x.lat);
  });
  try {
    const { port } = await child.call<{ port: number }>('start', { domain: DOMAIN, secret }, 30_000);
    return {
      child,
      service: `xmpp://127.0.0.1:${port}`,
      secret,
      tally,
      stats: () => child.call('stats'),
      stop: () => child.stop(),
    };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

export class SinkRig extends FleetRig implements Rig {
  readonly id = 'S' as const;
  readonly title = 'bridge alone: devices → MQTT → bridge → sink XEP-0114 endpoint (no routing)';
  protected readonly fleet: Fleet;

  private constructor(
    readonly sink: Sink,
    readonly bridge: BridgeProcess,
  ) {
    super();
    this.fleet = new Fleet(bridge.host, bridge.port);
  }

  static async open(): Promise<SinkRig> {
    const sink = await startSink();
    try {
      return new SinkRig(sink, await startBridgeProcess(sink));
    } catch (err) {
      await sink.stop();
      throw err;
    }
  }

  get pids(): Record<string, number | undefined> {
    return { bridge: this.bridge.child.pid, sink: this.sink.child.pid, generator: this.fleet.pid, receiver: process.pid };
  }

  get tally(): Tally {
    return this.sink.tally;
  }

  async diagnostics(): Promise<unknown> {
    return { ...(await this.bridge.child.call<Record<string, unknown>>('metrics')), loop: await this.bridge.child.call('loop'), sink: await this.sink.stats() };
  }

  async close(): Promise<void> {
    await this.fleet.stop();
    await this.bridge.stop();
    await this.sink.stop();
  }
}

/** The null bridge (null-bridge.ts) against a sink: what aedes + @xmpp/component cost with no mapping at all. */
export class NullSinkRig extends FleetRig {
  readonly title = 'null bridge alone: devices → aedes → component (no mapping) → sink';
  protected readonly fleet: Fleet;

  private constructor(
    readonly sink: Sink,
    readonly bridge: Child,
    port: number,
  ) {
    super();
    this.fleet = new Fleet('127.0.0.1', port);
  }

  static async open(): Promise<NullSinkRig> {
    const sink = await startSink();
    const bridge = Child.fork('null-bridge.js', { name: 'null-bridge', execArgv: ['--expose-gc'], args: [sink.service, DOMAIN, sink.secret, RECEIVER_JID] });
    try {
      const { port } = await bridge.call<{ port: number }>('start', {}, 30_000);
      return new NullSinkRig(sink, bridge, port);
    } catch (err) {
      await bridge.stop();
      await sink.stop();
      throw err;
    }
  }

  get pids(): Record<string, number | undefined> {
    return { 'null-bridge': this.bridge.pid, sink: this.sink.child.pid, generator: this.fleet.pid, receiver: process.pid };
  }

  get tally(): Tally {
    return this.sink.tally;
  }

  async close(): Promise<void> {
    await this.fleet.stop();
    await this.bridge.stop();
    await this.sink.stop();
  }
}
