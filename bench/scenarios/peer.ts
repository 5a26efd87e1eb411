/**
 * Scenario P, the peer: Prosody's own MQTT → PubSub gateway (prosody-modules' mod_pubsub_mqtt). A device publishes
 * to HOST/json/NODE (HOST = pubsub.localhost, a PubSub component); the module publishes the payload as an item
 * <json xmlns='urn:xmpp:json:0'/> to node NODE; the receiver, subscribed to every node (XEP-0060), gets each item as
 * an event notification (a headline message).
 *
 * Limits of the module (Prosody 0.12 / Debian prosody-modules), read from its source and reproduced:
 * - it never sends PUBACK, so QoS 1 cannot be measured (publishers would wait forever): P runs at QoS 0 only;
 * - its CONNECT parser reads the keep-alive as one byte but skips 11 bytes, leaving the last two bytes of the
 *   ClientId in the stream as the start of a bogus packet: only a zero-length ClientId keeps the stream in sync, so
 *   the devices connect with ClientId "" (clean session);
 * - it needs the PubSub nodes to exist (autocreate_on_publish is off): the receiver creates one node per device,
 *   with persist_items off (the module's best case: no archive write per item).
 */
import { sharedServer, PUBSUB, type BenchServer, type Qos, type Rig } from '../rig.js';
import { Fleet, FleetRig } from './devices.js';

export class PeerRig extends FleetRig implements Rig {
  readonly id = 'P' as const;
  readonly title = 'peer: devices → Prosody mod_pubsub_mqtt → PubSub → receiver';
  protected readonly fleet: Fleet;
  private nodes = 0;

  private constructor(private readonly server: BenchServer) {
    super();
    const port = server.prosody.mqttPort;
    if (port === undefined) throw new Error('Prosody has no mod_pubsub_mqtt port');
    this.fleet = new Fleet(server.prosody.listen, port, { clientId: '', topic: `${PUBSUB}/json/d{i}`, keepalive: 0 });
  }

  static async open(): Promise<PeerRig> {
    return new PeerRig(await sharedServer());
  }

  get pids(): Record<string, number | undefined> {
    return { prosody: this.server.prosody.pid, generator: this.fleet.pid, receiver: process.pid };
  }

  get tally() {
    return this.server.receiver.tally;
  }

  override supports(qos: Qos): boolean | string {
    return qos === 0 ? true : 'mod_pubsub_mqtt sends no PUBACK: QoS 1 is not supported';
  }

  override async prepare(devices: number, qos: Qos): Promise<void> {
    if (qos !== 0) throw new Error('P runs at QoS 0 only');
    if (devices > this.nodes) {
      const names = Array.from({ length: devices - this.nodes }, (_, k) => `d${this.nodes + k}`);
      await this.server.receiver.pubsubSetup(PUBSUB, names);
      this.nodes = devices;
    }
    await super.prepare(devices, 0);
  }

  async close(): Promise<void> {
    await this.fleet.stop();
  }
}
