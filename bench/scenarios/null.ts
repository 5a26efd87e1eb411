/** Scenario N, the null bridge: devices → aedes → component with no mapping or validation → Prosody → receiver. */
import { Child } from '../common.js';
import { DOMAIN, RECEIVER_JID, sharedServer, type BenchServer, type Rig } from '../rig.js';
import { Fleet, FleetRig } from './devices.js';

export class NullRig extends FleetRig implements Rig {
  readonly id = 'N' as const;
  readonly title = 'null bridge: devices → aedes → component (no mapping) → Prosody → receiver';
  protected readonly fleet: Fleet;

  private constructor(
    private readonly server: BenchServer,
    private readonly bridge: Child,
    port: number,
  ) {
    super();
    this.fleet = new Fleet('127.0.0.1', port);
  }

  static async open(): Promise<NullRig> {
    const server = await sharedServer();
    const bridge = Child.fork('null-bridge.js', { name: 'null-bridge', execArgv: ['--expose-gc'], args: [server.service, DOMAIN, server.secret, RECEIVER_JID] });
    try {
      const { port } = await bridge.call<{ port: number }>('start', {}, 30_000);
      return new NullRig(server, bridge, port);
    } catch (err) {
      await bridge.stop();
      throw err;
    }
  }

  get pids(): Record<string, number | undefined> {
    return { 'null-bridge': this.bridge.pid, prosody: this.server.prosody.pid, generator: this.fleet.pid, receiver: process.pid };
  }

  get tally() {
    return this.server.receiver.tally;
  }

  async close(): Promise<void> {
    await this.fleet.stop();
    await this.bridge.stop();
  }
}
