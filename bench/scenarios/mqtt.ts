/**
 * Scenario M, the MQTT ceiling: the same simulated devices → Mosquitto (src/servers/mosquitto.ts) → one MQTT
 * subscriber (mqtt.js) on the devices' topic filter, at the same QoS. Mosquitto keeps its defaults except
 * max_queued_messages, raised from 1000 so a burst is not dropped at the subscriber's queue.
 */
import { startMosquitto, type MosquittoInstance } from '../../src/servers/mosquitto.js';
import { MqttReceiver, Tally } from '../receiver.js';
import { DEVICE, type OfferArgs, type Qos, type Rig } from '../rig.js';
import { Fleet } from './devices.js';

export const MOSQUITTO_EXTRA = 'max_queued_messages 100000';

export class MqttRig implements Rig {
  readonly id = 'M' as const;
  readonly title = 'MQTT ceiling: devices → Mosquitto → one MQTT subscriber';
  private readonly fleet: Fleet;
  private receiver: MqttReceiver | undefined;
  private readonly idle = new Tally();

  private constructor(private readonly mosquitto: MosquittoInstance) {
    this.fleet = new Fleet(mosquitto.listen, mosquitto.port);
  }

  static async open(): Promise<MqttRig> {
    return new MqttRig(await startMosquitto({ extraConfig: MOSQUITTO_EXTRA }));
  }

  get pids(): Record<string, number | undefined> {
    return { mosquitto: this.mosquitto.pid, generator: this.fleet.pid, receiver: process.pid };
  }

  get tally(): Tally {
    return this.receiver?.tally ?? this.idle;
  }

  supports(): boolean {
    return true;
  }

  async prepare(devices: number, qos: Qos): Promise<void> {
    this.receiver = await MqttReceiver.connect(this.mosquitto.url, DEVICE.filter, qos);
    await this.fleet.connect(devices, qos);
  }

  offer(a: OfferArgs) {
    return this.fleet.offer(a);
  }

  async unprepare(): Promise<void> {
    await this.fleet.disconnect();
    await this.receiver?.stop();
    this.receiver = undefined;
  }

  async close(): Promise<void> {
    await this.fleet.stop();
    await this.receiver?.stop();
    await this.mosquitto.removeDir();
  }
}
