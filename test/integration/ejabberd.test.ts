/**
 * The core scenarios with ejabberd 23.01 as the XMPP server instead of Prosody: the component (`iot.localhost`,
 * XEP-0114 on ejabberd_service) carries readings, subscriptions and presence, discovery, ping and commands between
 * the embedded MQTT broker and real c2s users of ejabberd (`localhost`).
 */
import assert from 'node:assert/strict';
import { component } from '@xmpp/component';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { startEjabberdTestServer, type EjabberdTestServer } from './ejabberd-harness.js';
import { closeMqtt, eventually, isMessageFrom, isPresenceFrom, jsonOf, mqttClient, nextMqttMessage, removeDir, startBridge, type RunningBridge, type XmppUser } from './harness.js';

const COMPONENT = 'iot.localhost';
const KITCHEN = 'home-kitchen@iot.localhost';
const CELLAR = 'home-cellar@iot.localhost';
const KETTLE = 'plug-kettle@iot.localhost';
const NS_INFO = 'http://jabber.org/protocol/disco#info';
const NS_ITEMS = 'http://jabber.org/protocol/disco#items';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const NS_COMMAND = 'urn:mqtt-xmpp-bridge:command:0';

function condition(reply: Element): string | undefined {
  return reply.getChild('error')?.getChildElements().find((c) => c.attrs['xmlns'] === NS_STANZAS)?.name;
}

describe('ejabberd 23.01 as the XMPP server', function () {
  this.timeout(60_000);
  let server: EjabberdTestServer;
  let run: RunningBridge;
  let alice: XmppUser;
  let bob: XmppUser;
  let kitchen: MqttClient;
  let kettle: MqttClient;
  let probe: MqttClient;
  const published: { topic: string; payload: string }[] = [];

  before(async function () {
    server = await startEjabberdTestServer({ domain: COMPONENT });
    run = await startBridge({ server });
    alice = await server.user('alice');
    bob = await server.user('bob');
    kitchen = await mqttClient(run.mqttUrl, { clientId: 'climate-home-kitchen' });
    // A plug that obeys `set` and reports its new state, as real ones do.
    kettle = await mqttClient(run.mqttUrl, { clientId: 'kettle' });
    await kettle.subscribeAsync('plugs/kettle/set', { qos: 1 });
    kettle.on('message', (_t, payload) => {
      const cmd = JSON.parse(payload.toString()) as { state: string };
      void kettle.publishAsync('plugs/kettle/state', JSON.stringify({ state: cmd.state, power: cmd.state === 'ON' ? 1850 : 0 }), { qos: 1 });
    });
    await kettle.publishAsync('plugs/kettle/availability', 'online', { qos: 1, retain: true });
    probe = await mqttClient(run.mqttUrl, { clientId: 'probe' });
    probe.on('message', (topic, payload) => published.push({ topic, payload: payload.toString() }));
    await probe.subscribeAsync('plugs/+/set', { qos: 1 });
  });

  after(async function () {
    await closeMqtt(kitchen, kettle, probe);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  it('approves the subscription of a viewer (alice) and refuses bob, who is none', async function () {
    const available = alice.waitFor(isPresenceFrom(KITCHEN, undefined), 'available presence after approval');
    assert.equal((await alice.subscribe(KITCHEN)).attrs['type'], 'subscribed');
    // The device is connected, so the approval is followed by available presence (RFC 6121 §3.1.5).
    await available;
    assert.equal((await bob.subscribe(KITCHEN)).attrs['type'], 'unsubscribed', 'bob is not a viewer of the climate mapping');
    assert.equal(run.bridge.metrics.get('subscriptions_refused_total'), 1);
    // ejabberd keeps the approved subscription in alice's roster, both ways: the device asked for her presence too.
    const roster = await alice.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
    const item = roster.getChild('query', 'jabber:iq:roster')!.getChildren('item').find((i) => i.attrs['jid'] === KITCHEN);
    assert.equal(item?.attrs['subscription'], 'both');
  });

  it('delivers a reading to the subscribed user with the body and the payload as XEP-0335 JSON, and to nobody else', async function () {
    const reading = alice.waitFor(isMessageFrom(KITCHEN, (m) => m.getChildText('body') === '21.5 °C, 40 % RH'), 'the kitchen reading');
    await kitchen.publishAsync('sensors/home/kitchen/telemetry', JSON.stringify({ temperature: 21.54, humidity: 40.2 }), { qos: 1 });
    const msg = await reading;
    assert.equal(msg.attrs['type'], 'chat');
    assert.equal(msg.attrs['to']?.split('/')[0], 'alice@localhost');
    assert.equal(msg.getChild('json', 'urn:xmpp:json:0')?.getText(), '{"temperature":21.54,"humidity":40.2}');
    assert.deepEqual(jsonOf(msg), { temperature: 21.54, humidity: 40.2 });
    assert.equal(bob.received(isMessageFrom(KITCHEN)).length, 0, 'a refused user receives no readings');
  });

  it('confirms delivered QoS 1 readings with the barrier ping (ejabberd routes the component\'s ping to itself back to it)', async function () {
    const before = run.bridge.metrics.get('readings_confirmed_total');
    const got = alice.waitFor(isMessageFrom(KITCHEN, (m) => m.getChildText('body') === '7.0 °C, 70 % RH'), 'the last of three readings');
    for (const t of [5, 6, 7]) await kitchen.publishAsync('sensors/home/kitchen/telemetry', JSON.stringify({ temperature: t, humidity: t * 10 }), { qos: 1 });
    await got;
    await eventually(() => run.bridge.delivery.backlog.outbox === 0, `the outbox drains (now ${JSON.stringify(run.bridge.delivery.backlog)})`, 10_000);
    assert.deepEqual(run.bridge.delivery.backlog, { outbox: 0, qos0: 0, held: 0 });
    assert.ok(run.bridge.metrics.get('readings_confirmed_total') >= before + 3);
    assert.equal(run.bridge.metrics.get('barrier_timeouts_total'), 0);
    assert.equal(run.bridge.metrics.get('xmpp_connects_total'), 1, 'the component connected once and never reconnected');
  });

  it('follows the device connection: available on connect, unavailable on a clean disconnect', async function () {
    const c = await mqttClient(run.mqttUrl, { clientId: 'climate-home-cellar' });
    try {
      const online = alice.waitFor(isPresenceFrom(CELLAR, undefined), 'cellar online');
      assert.equal((await alice.subscribe(CELLAR)).attrs['type'], 'subscribed');
      await online;
      const offline = alice.waitFor(isPresenceFrom(CELLAR, 'unavailable'), 'cellar offline after DISCONNECT');
      await c.endAsync(); // a clean DISCONNECT
      assert.equal((await offline).getChildText('status'), 'disconnected from MQTT');
      const again = alice.waitFor(isPresenceFrom(CELLAR, undefined), 'cellar online again');
      const c2 = await mqttClient(run.mqttUrl, { clientId: 'climate-home-cellar' });
      await again;
      await closeMqtt(c2);
    } finally {
      await closeMqtt(c);
    }
  });

  it('answers the presence probes ejabberd sends for a new login of a subscriber', async function () {
    const again = await server.user('alice');
    try {
      await again.waitForAny(isPresenceFrom(KITCHEN, undefined), 'the kitchen presence on the new resource');
      await again.waitForAny(isPresenceFrom(CELLAR, 'unavailable'), 'the cellar presence on the new resource');
    } finally {
      await again.stop();
    }
  });

  it('answers disco#info on the component and on a device, and disco#items per requester', async function () {
    const info = await alice.iq(xml('iq', { type: 'get', to: COMPONENT }, xml('query', { xmlns: NS_INFO })));
    assert.equal(info.attrs['type'], 'result');
    assert.equal(info.attrs['from'], COMPONENT);
    const q = info.getChild('query', NS_INFO)!;
    const id = q.getChild('identity')!;
    assert.deepEqual([id.attrs['category'], id.attrs['type'], id.attrs['name']], ['gateway', 'mqtt', 'MQTT bridge']);
    const features = q.getChildren('feature').map((f) => f.attrs['var']);
    for (const f of [NS_INFO, NS_ITEMS, 'urn:xmpp:ping', 'jabber:iq:version']) assert.ok(features.includes(f), f);

    const device = await alice.iq(xml('iq', { type: 'get', to: KITCHEN }, xml('query', { xmlns: NS_INFO })));
    assert.equal(device.attrs['type'], 'result');
    assert.equal(device.attrs['from'], KITCHEN);
    const dq = device.getChild('query', NS_INFO)!;
    assert.equal(dq.getChild('identity')!.attrs['name'], 'kitchen climate (home)');
    const fields = Object.fromEntries(dq.getChild('x', 'jabber:x:data')!.getChildren('field').map((f): [string, string | null] => [f.attrs['var'] ?? '', f.getChildText('value')]));
    assert.equal(fields['FORM_TYPE'], 'urn:mqtt-xmpp-bridge:device:0');
    assert.equal(fields['schema'], 'urn:mqtt-xmpp-bridge:example:climate');
    assert.equal(fields['topic'], 'sensors/home/kitchen/telemetry');
    assert.equal(fields['online'], '1');

    const items = await alice.iq(xml('iq', { type: 'get', to: COMPONENT }, xml('query', { xmlns: NS_ITEMS })));
    assert.deepEqual(
      items.getChild('query', NS_ITEMS)!.getChildren('item').map((i) => [i.attrs['jid'], i.attrs['name']]),
      [
        [CELLAR, 'cellar climate (home)'],
        [KITCHEN, 'kitchen climate (home)'],
        [KETTLE, 'plug-kettle'],
      ],
    );
    const forBob = await bob.iq(xml('iq', { type: 'get', to: COMPONENT }, xml('query', { xmlns: NS_ITEMS })));
    assert.deepEqual(forBob.getChild('query', NS_ITEMS)!.getChildren('item').map((i) => i.attrs['jid']), [KETTLE], 'bob is no viewer of the climate mapping');
    const hidden = await bob.iq(xml('iq', { type: 'get', to: KITCHEN }, xml('query', { xmlns: NS_INFO })));
    assert.equal(condition(hidden), 'item-not-found');
  });

  it('answers XEP-0199 ping on the component and on a device; unknown IQs get service-unavailable exactly once', async function () {
    const c = await alice.iq(xml('iq', { type: 'get', to: COMPONENT }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.equal(c.attrs['type'], 'result');
    assert.equal(c.attrs['from'], COMPONENT);
    assert.equal(c.getChildElements().length, 0);
    const d = await alice.iq(xml('iq', { type: 'get', to: KETTLE }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.equal(d.attrs['type'], 'result');

    const before = alice.stanzas.length;
    const r = await alice.iq(xml('iq', { type: 'get', to: KETTLE }, xml('query', { xmlns: 'urn:example:unknown' })));
    assert.equal(r.attrs['type'], 'error');
    assert.equal(condition(r), 'service-unavailable');
    const set = await alice.iq(xml('iq', { type: 'set', to: COMPONENT }, xml('query', { xmlns: 'urn:example:unknown' })));
    assert.equal(condition(set), 'service-unavailable');
    await alice.iq(xml('iq', { type: 'get', to: COMPONENT }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    const replies = alice.stanzas.slice(before).filter((s) => s.name === 'iq' && (s.attrs['type'] === 'result' || s.attrs['type'] === 'error'));
    assert.equal(replies.length, 3);
  });

  it('relays an IQ command to the plug\'s MQTT command topic byte for byte and returns the confirming state', async function () {
    const json = '{ "state" : "ON" }';
    const n = published.length;
    const reply = await alice.iq(xml('iq', { type: 'set', to: KETTLE }, xml('command', { xmlns: NS_COMMAND, name: 'set' }, xml('json', { xmlns: 'urn:xmpp:json:0' }, json))));
    assert.equal(reply.attrs['type'], 'result');
    const cmd = reply.getChild('command', NS_COMMAND)!;
    assert.deepEqual({ ...cmd.attrs }, { xmlns: NS_COMMAND, name: 'set', status: 'confirmed', topic: 'plugs/kettle/set' });
    assert.equal(cmd.getChildText('json', 'urn:xmpp:json:0'), '{"state":"ON","power":1850}');
    // The probe is another subscriber of the command topic: its copy may arrive after the reply.
    await eventually(() => published.length > n, 'the probe sees the command', 10_000);
    assert.deepEqual(published.slice(n), [{ topic: 'plugs/kettle/set', payload: json }]);
  });

  it('relays a chat command and replies with the outcome; refuses bob, who is no operator', async function () {
    const n = published.length;
    const reply = alice.waitFor(isMessageFrom(KETTLE, (m) => /^[✓✗]/.test(m.getChildText('body') ?? '')), 'the reply to "set state=on"');
    await alice.send(xml('message', { to: KETTLE, type: 'chat' }, xml('body', {}, 'set state=on')));
    assert.equal((await reply).getChildText('body'), '✓ set: confirmed — ON, 1850.0 W');
    await eventually(() => published.length > n, 'the probe sees the command', 10_000);
    assert.deepEqual(published.slice(n), [{ topic: 'plugs/kettle/set', payload: '{"state":"ON"}' }]);

    const refused = bob.waitFor(isMessageFrom(KETTLE, (m) => /^[✓✗]/.test(m.getChildText('body') ?? '')), 'the reply to bob');
    await bob.send(xml('message', { to: KETTLE, type: 'chat' }, xml('body', {}, 'set state=OFF')));
    assert.equal((await refused).getChildText('body'), '✗ forbidden: bob@localhost may not command plug-kettle@iot.localhost');
    // A command after bob's, seen by the probe: nothing was published in between.
    const after = published.length;
    await alice.iq(xml('iq', { type: 'set', to: KETTLE }, xml('command', { xmlns: NS_COMMAND, name: 'set' }, xml('json', { xmlns: 'urn:xmpp:json:0' }, '{"state":"OFF"}'))));
    await eventually(() => published.length > after, 'the probe sees the next command', 10_000);
    assert.deepEqual(published.slice(n + 1), [{ topic: 'plugs/kettle/set', payload: '{"state":"OFF"}' }], 'nothing published for bob');
  });

  it('accepts a second connection for the component domain and splits the stanzas for it between the two (Prosody refuses it with conflict)', async function () {
    // What a second bridge instance with the same domain and secret would do: ejabberd_service registers one more
    // route, and its router picks one of the connections per stanza (no domain_balancing configured: at random).
    const second = component({ service: server.service, domain: COMPONENT, password: server.secret });
    second.reconnect.stop();
    second.on('error', () => undefined);
    await second.start(); // no stream error: the handshake is accepted
    try {
      // The bare component answers our pings with service-unavailable (its library's default), the bridge with a result.
      const replies: string[] = [];
      for (let i = 0; i < 30; i++) {
        const r = await alice.iq(xml('iq', { type: 'get', to: COMPONENT }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
        replies.push(r.attrs['type'] === 'result' ? 'bridge' : (condition(r) ?? 'other'));
      }
      assert.ok(replies.includes('bridge') && replies.includes('service-unavailable'), `both connections answered: ${replies.join(' ')}`);
      assert.deepEqual([...new Set(replies)].sort(), ['bridge', 'service-unavailable']);
      // The other instance's delivery barriers (pings from the domain to itself) reach the bridge too, which tells it
      // that a second bridge is connected: it reports that loudly instead of losing track of its own barriers.
      await probe.subscribeAsync('mqtt-xmpp-bridge/bridge/event');
      const noticed = nextMqttMessage(probe, 'mqtt-xmpp-bridge/bridge/event', (p) => p.toString().includes('another_instance'));
      // 20 pings, each routed to one of the two connections at random: the bridge gets at least one (1 - 2^-20).
      for (let i = 0; i < 20; i++) await second.send(xml('iq', { type: 'get', id: `barrier-other-${i}`, from: COMPONENT, to: COMPONENT }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
      await noticed;
      assert.ok(run.bridge.metrics.get('foreign_instances_total') >= 1, 'the bridge noticed the other instance');
    } finally {
      await second.stop();
    }
    // With the second connection gone, every stanza reaches the bridge again, which never noticed.
    for (let i = 0; i < 10; i++) {
      assert.equal((await alice.iq(xml('iq', { type: 'get', to: COMPONENT }, xml('ping', { xmlns: 'urn:xmpp:ping' })))).attrs['type'], 'result');
    }
    assert.equal(run.bridge.metrics.get('xmpp_connects_total'), 1);
  });

  it('reconnects after an ejabberd restart and delivers what was published while the server was down', async function () {
    const stopped = new Promise<void>((resolve) => run.bridge.link.once('offline', () => resolve()));
    await server.ejabberd.stop(); // ejabberd ends the component stream with system-shutdown: not fatal, the bridge retries
    await stopped;
    await kitchen.publishAsync('sensors/home/kitchen/telemetry', '{"temperature":12.5,"humidity":55}', { qos: 1 });
    assert.equal(run.bridge.delivery.backlog.outbox, 1, 'kept in the outbox while the server is down');
    const online = new Promise<void>((resolve) => run.bridge.link.once('online', () => resolve()));
    await server.ejabberd.restart();
    await online;
    // Accounts and rosters live in the Mnesia spool, which the restart keeps: alice's subscription still holds.
    const again = await server.user('alice');
    const late = await again.waitForAny(isMessageFrom(KITCHEN, (m) => m.getChildText('body') === '12.5 °C, 55 % RH'), 'the reading published during the outage', 30_000);
    // The bridge usually replays before alice is back, so ejabberd stores the message offline and adds a delay of
    // its own (from='localhost'); the bridge's stamp must be there either way.
    const stamps = late.getChildren('delay', 'urn:xmpp:delay').map((d) => d.attrs['from']);
    assert.equal(stamps.filter((f) => f === COMPONENT).length, 1, `delivered late, so with the bridge's XEP-0203 delay stamp (stamps from: ${stamps.join(', ')})`);
    await eventually(() => run.bridge.delivery.backlog.outbox === 0, 'the outbox drains after the reconnect', 10_000);
    assert.equal(run.bridge.metrics.get('xmpp_connects_total'), 2);
  });
});
