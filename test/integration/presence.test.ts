/**
 * Devices as XMPP entities: subscriptions approved or refused per mapping and remembered across restarts; presence
 * that follows MQTT liveness (connect, clean disconnect, Will, availability topic); probes answered.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import {
  closeMqtt,
  isMessageFrom,
  isPresenceFrom,
  mqttClient,
  removeDir,
  startBridge,
  startTestServer,
  type RunningBridge,
  type TestServer,
  type XmppUser,
} from './harness.js';

const KITCHEN = 'home-kitchen@iot.localhost';
const KETTLE = 'plug-kettle@iot.localhost';
const FRONT = 'door-front@iot.localhost';

describe('presence: devices come and go on XMPP as they do on MQTT', function () {
  let server: TestServer;
  let run: RunningBridge | undefined;
  let alice: XmppUser;
  let bob: XmppUser;
  const clients: MqttClient[] = [];

  before(async function () {
    server = await startTestServer();
    run = await startBridge({ server });
    alice = await server.user('alice');
    bob = await server.user('bob');
  });

  after(async function () {
    await closeMqtt(...clients);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  async function device(clientId: string, opts: Parameters<typeof mqttClient>[1] = {}): Promise<MqttClient> {
    const c = await mqttClient(run!.mqttUrl, { clientId, ...opts });
    clients.push(c);
    return c;
  }

  it('approves a subscription from a viewer and refuses one from anybody else', async function () {
    const kitchen = await device('climate-home-kitchen');
    await kitchen.publishAsync('sensors/home/kitchen/telemetry', '{"temperature":20}', { qos: 1 });
    const available = alice.waitFor(isPresenceFrom(KITCHEN, undefined), 'available presence after approval');
    assert.equal((await alice.subscribe(KITCHEN)).attrs['type'], 'subscribed');
    // The device is connected, so the approval is followed by available presence (RFC 6121 §3.1.5).
    await available;

    assert.equal((await bob.subscribe(KITCHEN)).attrs['type'], 'unsubscribed', 'bob is not a viewer of the climate mapping');
    assert.equal(run!.bridge.metrics.get('subscriptions_refused_total'), 1);
    await kitchen.publishAsync('sensors/home/kitchen/telemetry', '{"temperature":20.5}', { qos: 1 });
    await alice.waitForAny(isMessageFrom(KITCHEN, (m) => m.getChildText('body')?.startsWith('20.5') === true), 'the reading for alice');
    assert.equal(bob.received(isMessageFrom(KITCHEN)).length, 0, 'a refused user receives no readings');
  });

  it('refuses subscriptions to JIDs that are no device', async function () {
    assert.equal((await alice.subscribe('nobody-here@iot.localhost')).attrs['type'], 'unsubscribed');
  });

  it('follows the device connection: clean disconnect, then reconnect', async function () {
    const CELLAR = 'home-cellar@iot.localhost';
    const c = await device('climate-home-cellar');
    const online = alice.waitFor(isPresenceFrom(CELLAR, undefined), 'cellar online');
    assert.equal((await alice.subscribe(CELLAR)).attrs['type'], 'subscribed');
    await online;
    const offline = alice.waitFor(isPresenceFrom(CELLAR, 'unavailable'), 'cellar offline after DISCONNECT');
    await c.endAsync(); // a clean DISCONNECT
    assert.equal((await offline).getChildText('status'), 'disconnected from MQTT');
    const again = alice.waitFor(isPresenceFrom(CELLAR, undefined), 'cellar online again');
    await device('climate-home-cellar');
    await again;
  });

  it('follows the availability topic and the Will the broker publishes for a lost device', async function () {
    const plug = await device('kettle', { will: { topic: 'plugs/kettle/availability', payload: Buffer.from('offline'), qos: 1, retain: true } });
    await plug.publishAsync('plugs/kettle/availability', 'online', { qos: 1, retain: true });
    const online = bob.waitFor(isPresenceFrom(KETTLE, undefined), 'kettle online');
    assert.equal((await bob.subscribe(KETTLE)).attrs['type'], 'subscribed', 'the plug mapping lets every local user view it');
    await online;
    const gone = bob.waitFor(isPresenceFrom(KETTLE, 'unavailable'), 'kettle offline through its Will');
    plug.stream.destroy(); // the connection is lost without DISCONNECT: the broker publishes the Will
    assert.equal((await gone).getChildText('status'), 'reported offline');
  });

  it('reads Zigbee2MQTT availability JSON ({"state":"online"})', async function () {
    const z2m = await device('zigbee2mqtt-gateway');
    await z2m.publishAsync('zigbee2mqtt/door/front/availability', '{"state":"online"}', { qos: 1, retain: true });
    const online = alice.waitFor(isPresenceFrom(FRONT, undefined), 'door online');
    assert.equal((await alice.subscribe(FRONT)).attrs['type'], 'subscribed');
    await online;
    const off = alice.waitFor(isPresenceFrom(FRONT, 'unavailable'), 'door offline');
    await z2m.publishAsync('zigbee2mqtt/door/front/availability', '{"state":"offline"}', { qos: 1, retain: true });
    await off;
  });

  it('answers the presence probes of a new login with the current presence of each subscribed device', async function () {
    // Clients do not send probes; their server does, for every roster contact, when a user logs in
    // (RFC 6121 §4.2.2). A second login of alice triggers them, bob's login triggers them for the plug only.
    const again = await server.user('alice');
    await again.waitForAny(isPresenceFrom(FRONT, 'unavailable'), 'the door presence on the new resource');
    await again.waitForAny(isPresenceFrom(KITCHEN, undefined), 'the kitchen presence on the new resource');
    await again.waitForAny(isPresenceFrom('home-cellar@iot.localhost', undefined), 'the cellar presence on the new resource');
    assert.equal(again.received(isPresenceFrom(KETTLE, undefined)).length + again.received(isPresenceFrom(KETTLE, 'unavailable')).length, 0, 'alice never subscribed to the kettle');
    await again.stop();
  });

  it('remembers subscriptions across a bridge restart', async function () {
    const dir = run!.dir;
    await run!.stop();
    // Same data directory, new process state.
    run = await startBridge({ server, dir });
    const online = alice.waitFor(isPresenceFrom(KITCHEN, undefined), 'kitchen online after restart');
    const c = await device('climate-home-kitchen');
    await online;
    const reading = alice.waitFor(isMessageFrom(KITCHEN, (m) => m.getChildText('body')?.startsWith('23.8') === true), 'a reading after restart without subscribing again');
    await c.publishAsync('sensors/home/kitchen/telemetry', '{"temperature":23.75}', { qos: 1 });
    await reading;
    // And the refused user is still refused, nothing was stored for him.
    assert.equal(bob.received(isMessageFrom(KITCHEN)).length, 0);
  });

  it('sends unavailable presence for online devices when the bridge stops', async function () {
    const off = alice.waitFor((s) => isPresenceFrom(KITCHEN, 'unavailable')(s) && s.getChildText('status') === 'bridge stopped', 'kitchen unavailable on stop');
    const dir = run!.dir;
    await run!.stop();
    await off;
    run = await startBridge({ server, dir });
  });

  it('keeps answering after an unsubscribe, and stops sending readings', async function () {
    const kitchen = await device('climate-home-kitchen');
    const gone = alice.waitFor(isPresenceFrom(KITCHEN, 'unavailable'), 'unavailable after unsubscribe');
    await alice.send(xml('presence', { to: KITCHEN, type: 'unsubscribe' }));
    await gone;
    const n = alice.received(isMessageFrom(KITCHEN)).length;
    // carol subscribes and receives; alice no longer does.
    const carol = await server.user('carol');
    assert.equal((await carol.subscribe(KITCHEN)).attrs['type'], 'subscribed');
    await kitchen.publishAsync('sensors/home/kitchen/telemetry', '{"temperature":11}', { qos: 1 });
    await carol.waitForAny(isMessageFrom(KITCHEN, (m) => m.getChildText('body')?.startsWith('11.0') === true), 'carol gets the reading');
    assert.equal(alice.received(isMessageFrom(KITCHEN)).length, n);
  });
});
