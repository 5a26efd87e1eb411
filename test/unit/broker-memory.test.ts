/**
 * The core with the real embedded broker — aedes behind the bridge's guard, hooks and sessions — and mqtt.js clients
 * over in-memory streams (no sockets), plus the in-memory component link: a device's reading reaches its subscriber,
 * its presence follows its Will, a command reaches its own session, and another identity cannot take its
 * client id.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { MqttClient } from 'mqtt';
import { CredentialStore } from '../../src/store/credentials.js';
import { openDatabase } from '../../src/store/db.js';
import { memoryClient } from '../support/memory-broker.js';
import { startTestBridge, type TestBridge } from '../support/test-bridge.js';

const NS_JSON = 'urn:xmpp:json:0';
const LAMP = 'plug-lamp@iot.example.org';
const KETTLE = 'plug-kettle@iot.example.org';
const ALICE = 'alice@example.org';

describe('the core with the real broker over in-memory streams', () => {
  let t: TestBridge;
  const clients: MqttClient[] = [];
  const client = async (opts: Parameters<typeof memoryClient>[1]): Promise<MqttClient> => {
    const c = await memoryClient(t.broker!, opts);
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    t = await startTestBridge({ broker: 'aedes', config: { mqtt: { embedded: { allowAnonymous: true } } } });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    await t.stop();
  });

  it('carries a reading from an MQTT client to a subscriber, and presence follows the device\'s Will', async () => {
    const lamp = await client({ clientId: 'plug-lamp', will: { topic: 'plugs/lamp/availability', payload: Buffer.from('offline'), qos: 1, retain: true } });
    const online = new Promise<void>((resolve) => {
      const off = t.bridge.kernel.bus.on('device_availability', ({ device }) => {
        if (device.jid === LAMP && device.online) resolve(off());
      });
    });
    await lamp.publishAsync('plugs/lamp/availability', 'online', { qos: 1, retain: true });
    await online;
    await t.link.inject(xml('presence', { to: LAMP, from: ALICE, type: 'subscribe' }));
    assert.deepEqual(
      t.link.take((el) => el.attrs['to'] === ALICE).map((p) => p.attrs['type'] ?? 'available'),
      ['subscribed', 'available', 'subscribe'],
    );
    // Readings go to followers who are online: Alice's client tells the lamp she is.
    await t.link.inject(xml('presence', { to: LAMP, from: `${ALICE}/phone` }));
    const reading = t.link.next((el) => el.name === 'message' && el.attrs['from'] === LAMP, 'the reading');
    await lamp.publishAsync('plugs/lamp/state', '{"state":"ON","power":21.5}', { qos: 1 });
    assert.equal((await reading).getChildText('json', NS_JSON), '{"state":"ON","power":21.5}');
    // The connection is lost (no DISCONNECT): the broker publishes the Will, and the lamp goes unavailable.
    const gone = t.link.next((el) => el.name === 'presence' && el.attrs['from'] === LAMP && el.attrs['type'] === 'unavailable', 'unavailable');
    (lamp as unknown as { stream: Duplex }).stream.destroy();
    assert.equal((await gone).getChildText('status'), 'reported offline');
  });

  it('publishes a command to the device\'s own session and confirms it by the state echo', async () => {
    const kettle = await client({ clientId: 'plug-kettle' });
    await kettle.publishAsync('plugs/kettle/availability', 'online', { qos: 1, retain: true });
    await kettle.subscribeAsync('plugs/kettle/set', { qos: 1 });
    kettle.on('message', (topic, payload) => {
      if (topic === 'plugs/kettle/set') void kettle.publishAsync('plugs/kettle/state', payload.toString(), { qos: 1 });
    });
    const reply = await t.link.inject(
      xml('iq', { type: 'set', to: KETTLE, from: `${ALICE}/x`, id: 'c1' }, xml('command', { xmlns: 'urn:mqtt-xmpp-bridge:command:0', name: 'set' }, xml('json', { xmlns: NS_JSON }, '{"state":"ON"}'))),
    );
    assert.equal(reply?.attrs['type'], 'result', reply?.toString());
    assert.equal(reply?.getChild('command', 'urn:mqtt-xmpp-bridge:command:0')?.attrs['status'], 'confirmed');
  });

  it('refuses another identity on a client id in use (CONNACK 2, before any takeover), and the first keeps its connection', async () => {
    const db = openDatabase(join(t.dir, 'data'));
    const password = await new CredentialStore(db).add('plug-lamp', 'device');
    db.close();
    const first = await client({ clientId: 'gateway-1' }); // anonymous
    await assert.rejects(client({ clientId: 'gateway-1', username: 'plug-lamp', password }), (err: Error & { code?: number }) => err.code === 2);
    assert.equal(first.connected, true);
    // The same identity may take its own client id over, as MQTT says [MQTT-3.1.4-2].
    const again = await client({ clientId: 'gateway-1' });
    assert.equal(again.connected, true);
  });
});
