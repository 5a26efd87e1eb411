/** The device side shared by the MQTT scenarios (B, N, M, P): one simulator process, devices connected per prepare(). */
import type { SimConnectArgs } from '../sim.js';
import { Simulator } from '../sim.js';
import { DEVICE, SIM_SOURCES, type OfferArgs, type OfferResult, type Qos } from '../rig.js';

export interface FleetOptions {
  readonly clientId?: string;
  readonly topic?: string;
  readonly subscribe?: string;
  readonly keepalive?: number;
}

export class Fleet {
  readonly sim = Simulator.start();
  private qos: Qos = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly opts: FleetOptions = {},
  ) {}

  get pid(): number {
    return this.sim.pid;
  }

  async connect(devices: number, qos: Qos): Promise<void> {
    this.qos = qos;
    const args: SimConnectArgs = {
      host: this.host,
      port: this.port,
      first: 0,
      count: devices,
      clientId: this.opts.clientId ?? DEVICE.clientId,
      topic: this.opts.topic ?? DEVICE.topic,
      ...(this.opts.subscribe ? { subscribe: this.opts.subscribe } : {}),
      subscribeQos: 1,
      sources: SIM_SOURCES,
      keepalive: this.opts.keepalive ?? 60,
      concurrency: 100,
      rate: 0,
      stopOnFailure: false,
      connectTimeoutMs: 20_000,
    };
    const r = await this.sim.connect(args);
    if (r.failed > 0) throw new Error(`${r.failed} of ${devices} devices could not connect: ${JSON.stringify(r.errors)}`);
  }

  offer(a: OfferArgs): Promise<OfferResult> {
    return this.sim.run({ ...a, qos: this.qos, payload: 'climate' });
  }

  disconnect(): Promise<void> {
    return this.sim.disconnectAll();
  }

  stop(): Promise<void> {
    return this.sim.stop();
  }
}

/** What the scenarios whose devices are a Fleet share: devices are connected, driven and disconnected through it. */
export abstract class FleetRig {
  protected abstract readonly fleet: Fleet;

  supports(_qos: Qos): boolean | string {
    return true;
  }

  prepare(devices: number, qos: Qos): Promise<void> {
    return this.fleet.connect(devices, qos);
  }

  offer(a: OfferArgs): Promise<OfferResult> {
    return this.fleet.offer(a);
  }

  unprepare(): Promise<void> {
    return this.fleet.disconnect();
  }
}
