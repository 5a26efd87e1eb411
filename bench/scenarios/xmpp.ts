/** Scenario X, the XMPP ceiling: pre-built reading stanzas from a bare @xmpp/component → Prosody → the receiver. */
import { Child } from '../common.js';
import { DOMAIN, RECEIVER_JID, sharedServer, type BenchServer, type OfferArgs, type OfferResult, type Rig } from '../rig.js';

export class XmppRig implements Rig {
  readonly id = 'X' as const;
  readonly title = 'XMPP ceiling: bare component (pre-built stanzas) → Prosody → receiver';
  private devices = 1;

  private constructor(
    private readonly server: BenchServer,
    private readonly gen: Child,
  ) {}

  static async open(): Promise<XmppRig> {
    const server = await sharedServer();
    const gen = Child.fork('xmpp-gen.js', { name: 'xmpp-gen' });
    try {
      await gen.call('start', { service: server.service, domain: DOMAIN, secret: server.secret }, 30_000);
      return new XmppRig(server, gen);
    } catch (err) {
      await gen.stop();
      throw err;
    }
  }

  get pids(): Record<string, number | undefined> {
    return { prosody: this.server.prosody.pid, generator: this.gen.pid, receiver: process.pid };
  }

  get tally() {
    return this.server.receiver.tally;
  }

  /** XMPP has no QoS: the same stream carries both; the QoS 0 and QoS 1 ratios use the same X figures. */
  supports(): boolean {
    return true;
  }

  prepare(devices: number): Promise<void> {
    this.devices = devices;
    return Promise.resolve();
  }

  offer(a: OfferArgs): Promise<OfferResult> {
    return this.gen.call<OfferResult>('run', { ...a, devices: this.devices, to: RECEIVER_JID, domain: DOMAIN }, (a.total / a.rate) * 1000 + 60_000);
  }

  unprepare(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    await this.gen.stop();
  }
}
