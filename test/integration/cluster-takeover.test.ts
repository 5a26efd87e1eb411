/**
 * Cluster mode on an existing broker (a private mosquitto 2.0): taking over a lost instance's broker session
 * (src/broker/external.ts#takeOver) loses nothing the broker acknowledged to the devices — also what it hands the
 * shared group while the takeover ends. The lost instance is a plain MQTT client holding the session an instance holds
 * (`bridge-B`, clean session off, in the shared group) that went away; the survivor is the bridge's own MQTT side.
 * The readings published while the survivor asks whether the lost instance is still gone (`stillGone`, the moment
 * between the takeover client's disconnect and the end of the session) are the ones a takeover can lose.
 */
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { ExternalBroker } from '../../src/broker/external.js';
import type { InboundPublish } from '../../src/broker/mqtt-side.js';
import { createLogger } from '../../src/log.js';
import { startMosquitto, type MosquittoInstance } from '../../src/servers/mosquitto.js';
import { closeMqtt, mqttClient } from './harness.js';

const GROUP = 'bridges';
const FILTER = 'fleet/+/reading';

describe('cluster mode: taking over a lost instance\'s session on an existing broker', function () {
  this.timeout(60_000);
  let mosquitto: MosquittoInstance;
  let survivor: ExternalBroker | undefined;
  const clients: MqttClient[] = [];

  before(async function () {
    mosquitto = await startMosquitto({ extraConfig: 'max_queued_messages 0' });
  });

  afterEach(async function () {
    await survivor?.stop();
    survivor = undefined;
    await closeMqtt(...clients.splice(0));
  });

  after(async function () {
    await mosquitto?.removeDir();
  });

  /** The survivor's MQTT side (instance A), subscribed to the readings; every reading it takes, by payload. */
  async function startSurvivor(taken: string[]): Promise<ExternalBroker> {
    const side = new ExternalBroker(
      { url: mosquitto.url, clientId: 'bridge', cleanSession: false, protocolVersion: 4, keepalive: 30 },
      createLogger({ level: 'silent' }),
      'bridge/state',
      { instance: 'A', group: GROUP, others: () => true },
    );
    await side.start({
      onPublish: (msg: InboundPublish, done) => {
        taken.push(msg.payload.toString());
        done();
      },
      onWatched: () => undefined,
      onClientConnected: () => undefined,
      onClientDisconnected: () => undefined,
      onBrokerEvent: () => undefined,
    });
    await side.subscribe(FILTER, 'readings');
    return side;
  }

  /** A lost instance B: its session in the shared group, then gone without leaving it (as after a kill -9). */
  async function loseInstance(): Promise<void> {
    const b = mqtt.connect(mosquitto.url, { clientId: 'bridge-B', clean: false, reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      b.once('connect', () => resolve());
      b.once('error', reject);
    });
    await b.subscribeAsync(`$share/${GROUP}/${FILTER}`, { qos: 1 });
    b.stream.destroy();
    await b.endAsync(true).catch(() => undefined);
  }

  it('takes every reading the broker acknowledged, including those published while the takeover ends', async function () {
    const taken: string[] = [];
    const device = await mqttClient(mosquitto.url, { clientId: 'fleet-d1' });
    clients.push(device);
    await loseInstance();
    survivor = await startSurvivor(taken);
    let n = 0;
    const publish = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) await device.publishAsync('fleet/d1/reading', JSON.stringify({ seq: n++ }), { qos: 1 });
    };
    // Some of these are queued for the lost session (the broker hands the group's members their turns).
    await publish(10);
    const held = await survivor.takeOver('B', async () => {
      await publish(20); // each acknowledged by the broker before the next
      return true;
    });
    // And after it: the lost session is gone, every reading is the survivor's.
    await publish(10);
    const expected = Array.from({ length: n }, (_, i) => JSON.stringify({ seq: i }));
    const deadline = Date.now() + 10_000;
    while (new Set(taken).size < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    console.log(`      ${n} readings acknowledged by the broker; ${held} taken from the lost session; ${new Set(taken).size} reached the survivor`);
    assert.ok(held > 0, 'readings were queued for the lost session before the takeover');
    assert.deepEqual([...new Set(taken)].sort(), expected.sort());
  });

  it('leaves no member of the shared group behind when the lost instance counts as back', async function () {
    const taken: string[] = [];
    const device = await mqttClient(mosquitto.url, { clientId: 'fleet-d2' });
    clients.push(device);
    await loseInstance();
    survivor = await startSurvivor(taken);
    // The lost instance's heartbeat was seen again: its session is left to it — but it no longer takes a share
    // nobody reads (it subscribes again when it comes back).
    await survivor.takeOver('B', () => Promise.resolve(false));
    for (let i = 0; i < 20; i++) await device.publishAsync('fleet/d2/reading', JSON.stringify({ seq: i }), { qos: 1 });
    const deadline = Date.now() + 10_000;
    while (new Set(taken).size < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(new Set(taken).size, 20, `readings that reached the survivor: ${taken.length}`);
  });
});
