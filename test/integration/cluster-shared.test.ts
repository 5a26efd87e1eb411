/**
 * Cluster mode (docs/SCALING.md): the state two instances must agree on beyond devices and presence subscriptions —
 * import decisions, latest readings, PubSub subscriptions and presence requests — on ejabberd, Redis and mosquitto
 * (`$share`), with both instances in this process (their stores and events can be read).
 *
 * ejabberd hands each stanza for the domain to a connection at random and mosquitto hands each reading to one
 * instance in turn, so every test either checks the state at both instances, publishes until each instance has
 * handled a reading (each reading is seen at its instance through the `reading_sent` event), or stops an instance so
 * that the other receives everything that follows.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { startEsphomeNode, type EsphomeNode } from '../../src/demo/esphome-sim.js';
import type { MosquittoInstance } from '../../src/servers/mosquitto.js';
import { CLUSTER_MAPPINGS, eventually, startInstance, startInstancePair, type ClusterServers, type InstancePair } from './cluster-harness.js';
import { closeMqtt, exitOf, fromBare, mqttClient, removeDir, ROOT, spawnCli, type RunningBridge, type XmppUser } from './harness.js';
import { nextEvent } from './import-helpers.js';

const COMPONENT = 'iot.localhost';
const KITCHEN = `240ac4a1b2c3@${COMPONENT}`;
const MAPPINGS = [CLUSTER_MAPPINGS, join(ROOT, 'test/fixtures/cluster-shared/mappings')];
const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_EVENT = 'http://jabber.org/protocol/pubsub#event';
const NS_DELAY = 'urn:xmpp:delay';

const gauge = (name: string): string => `gauge-${name}@${COMPONENT}`;

/** The JSON of a PubSub notification of the readings node, or undefined. */
function notified(el: Element): string | undefined {
  if (el.name !== 'message') return undefined;
  return el.getChild('event', NS_EVENT)?.getChild('items')?.getChild('item')?.getChildText('json', 'urn:xmpp:json:0') ?? undefined;
}

describe('cluster mode: imports, latest readings, PubSub subscriptions and presence requests shared by two instances', function () {
  this.timeout(120_000);
  let pair: InstancePair;
  let servers: ClusterServers;
  let mosquitto: MosquittoInstance;
  let a: RunningBridge;
  let b: RunningBridge;
  let alice: XmppUser;
  let publisher: MqttClient;
  let kitchen: EsphomeNode | undefined;
  /** The readings each instance handled, in order: device JID, the reading's JSON, 'A' | 'B'. */
  const handled: { jid: string; json: string; by: string }[] = [];

  function track(run: RunningBridge, name: string): void {
    run.bridge.kernel.bus.on('reading_sent', ({ reading }) => handled.push({ jid: reading.device.jid, json: reading.json, by: name }));
  }

  /**
   * Publish readings (QoS 1) until `done` says so, each awaited until an instance handled it (the reading whose JSON
   * `publish` says it contains); at most `max`.
   */
  async function publishUntil(deviceJid: string, publish: (n: number) => Promise<string>, done: (by: string[]) => boolean, max = 10): Promise<{ json: string; by: string }[]> {
    const out: { json: string; by: string }[] = [];
    for (let n = 0; n < max && !done(out.map((o) => o.by)); n++) {
      const part = await publish(n);
      const find = (): { json: string; by: string } | undefined => handled.find((h) => h.jid === deviceJid && h.json.includes(part));
      await eventually(() => find() !== undefined, () => `a reading of ${deviceJid} with ${part} handled; handled: ${JSON.stringify(handled.filter((h) => h.jid === deviceJid))}`);
      out.push(find()!);
    }
    assert.ok(done(out.map((o) => o.by)), `within ${max} readings: ${JSON.stringify(out)}`);
    return out;
  }

  const both = (by: string[]): boolean => by.includes('A') && by.includes('B');

  async function pubsubSubscribe(user: XmppUser, device: string): Promise<void> {
    const reply = await user.iq(xml('iq', { type: 'set', to: device }, xml('pubsub', { xmlns: NS_PUBSUB }, xml('subscribe', { node: 'readings', jid: user.jid }))));
    assert.equal(reply.attrs['type'], 'result', reply.toString());
  }

  before(async function () {
    pair = await startInstancePair(COMPONENT, MAPPINGS, { import: { homeassistant: { mode: 'approve', access: { viewers: ['*@localhost'] } } } });
    ({ servers, mosquitto, a, b } = pair);
    track(a, 'A');
    track(b, 'B');
    alice = await servers.server.user('alice');
    publisher = await mqttClient(mosquitto.url, { clientId: 'gauges' });
  });

  after(async function () {
    await kitchen?.stop();
    await closeMqtt(publisher);
    await pair?.stop();
  });

  it('imports a device approved through instance A at instance B too, which then serves its readings', async function () {
    const pending = Promise.all([a, b].map((run) => nextEvent(run, 'import_pending', (e) => e.jid === KITCHEN)));
    kitchen = await startEsphomeNode(mosquitto.url);
    await pending;
    const addedAtB = nextEvent(b, 'import_added', (e) => e.jid === KITCHEN);
    // The request topic's operation, run at A (a request published on the broker would reach either instance).
    const outcome = await a.bridge.kernel.operations.run('import/approve', { id: '240ac4a1b2c3' }, { via: 'mqtt', name: 'operator' });
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    await addedAtB;
    await eventually(
      () => a.bridge.registry.byJid(KITCHEN) !== undefined && b.bridge.registry.byJid(KITCHEN) !== undefined,
      () => `the device at both (A: ${a.bridge.registry.byJid(KITCHEN) !== undefined}, ${a.bridge.kernel.stores.imports.get('homeassistant', '240ac4a1b2c3')?.status}; B: ${b.bridge.registry.byJid(KITCHEN) !== undefined}, ${b.bridge.kernel.stores.imports.get('homeassistant', '240ac4a1b2c3')?.status})`,
      10_000,
    );
    // Readings of the device reach a PubSub subscriber whichever instance takes them.
    await pubsubSubscribe(alice, KITCHEN);
    const node = kitchen;
    const sent = await publishUntil(KITCHEN, async (n) => {
      const t = 30 + n;
      await node.setTemperature(t);
      return String(t);
    }, both);
    for (const { json } of sent) await alice.waitForAny((el) => fromBare(el) === KITCHEN && notified(el) === json, `the reading ${json} at alice`);
  });

  it('blocks it at both instances with the CLI, which writes the decision to Redis in cluster mode', async function () {
    const removed = Promise.all([a, b].map((run) => nextEvent(run, 'import_removed', (e) => e.jid === KITCHEN)));
    const block = spawnCli(['devices', 'block', '240ac4a1b2c3', '--config', a.configFile]);
    assert.equal((await exitOf(block, 20_000)).code, 0, block.output());
    assert.match(block.output(), /^Blocked Kitchen \(homeassistant 240ac4a1b2c3\) <240ac4a1b2c3@iot\.localhost>\.\nEvery running instance applies it at once\.\n$/);
    await removed;
    for (const run of [a, b]) assert.equal(run.bridge.kernel.stores.imports.get('homeassistant', '240AC4A1B2C3')?.status, 'blocked');
  });

  it('publishes to a PubSub subscriber through both instances, whichever received the subscription', async function () {
    const device = gauge('g1');
    await publisher.publishAsync('gauges/g1/reading', JSON.stringify({ temperature: 10 }), { qos: 1 });
    await eventually(() => a.bridge.registry.byJid(device) !== undefined && b.bridge.registry.byJid(device) !== undefined, 'the gauge known at both');
    await pubsubSubscribe(alice, device);
    // The instance that answered has it at once; the other's local copy follows over Redis pub/sub a moment later.
    await eventually(() => [a, b].every((run) => run.bridge.kernel.stores.pubsub.of(device, 'readings').size > 0), 'the subscription at both instances');
    for (const run of [a, b]) assert.deepEqual([...run.bridge.kernel.stores.pubsub.of(device, 'readings')], [alice.jid]);
    const sent = await publishUntil(device, async (n) => {
      const json = JSON.stringify({ temperature: 11 + n });
      await publisher.publishAsync('gauges/g1/reading', json, { qos: 1 });
      return json;
    }, both);
    for (const { json } of sent) await alice.waitForAny((el) => fromBare(el) === device && notified(el) === json, `the reading ${json} at alice`);
  });

  it('does not repeat a presence request declined through the other instance', async function () {
    const device = gauge('g2');
    await publisher.publishAsync('gauges/g2/reading', JSON.stringify({ temperature: 12 }), { qos: 1 });
    await eventually(() => a.bridge.registry.byJid(device) !== undefined && b.bridge.registry.byJid(device) !== undefined, 'the gauge known at both');
    const dave = await servers.server.user('dave');
    dave.autoApprove = false;
    const request = dave.waitForAny((el) => el.name === 'presence' && fromBare(el) === device && el.attrs['type'] === 'subscribe', 'the device asking for dave\'s presence');
    assert.equal((await dave.subscribe(device)).attrs['type'], 'subscribed');
    await request;
    const dj = dave.jid.split('/')[0]!;
    await eventually(() => [a, b].every((run) => run.bridge.kernel.stores.presenceRequests.get(device, dj) === 'asked'), 'the request known at both');
    await dave.send(xml('presence', { to: device, type: 'unsubscribed' }));
    await eventually(() => [a, b].every((run) => run.bridge.kernel.stores.presenceRequests.get(device, dj) === 'declined'), () => `declined at both (A: ${a.bridge.kernel.stores.presenceRequests.get(device, dj)}, B: ${b.bridge.kernel.stores.presenceRequests.get(device, dj)})`);
    // An instance that starts now asks the subscribers it has no answer from; dave answered.
    const c = await startInstance({ server: servers.server, config: pair.config, mappings: MAPPINGS });
    try {
      assert.equal(c.bridge.kernel.stores.presenceRequests.get(device, dj), 'declined');
      // After its first connection's requests, on the same stream: ejabberd delivers them to dave in order.
      const marker = dave.waitFor((el) => el.name === 'message' && el.getChildText('body') === 'marker', 'the marker');
      c.bridge.link.send(xml('message', { from: COMPONENT, to: dave.jid, type: 'normal' }, xml('body', {}, 'marker')));
      await marker;
      const asked = dave.received((el) => el.name === 'presence' && fromBare(el) === device && el.attrs['type'] === 'subscribe');
      assert.equal(asked.length, 1, 'only the first request');
    } finally {
      await c.stop();
      removeDir(c.dir);
    }
  });

  it('gives a returning follower, through instance B, the latest value that instance A received', async function () {
    const device = gauge('g3');
    await publisher.publishAsync('gauges/g3/reading', JSON.stringify({ temperature: 5 }), { qos: 1 });
    await eventually(() => a.bridge.registry.byJid(device) !== undefined && b.bridge.registry.byJid(device) !== undefined, 'the gauge known at both');
    // Carol follows without sharing her presence: never taken as online, she gets the current value when her server
    // probes the device at her next login (docs/DELIVERY.md).
    let carol = await servers.server.user('carol');
    carol.autoApprove = false;
    assert.equal((await carol.subscribe(device)).attrs['type'], 'subscribed');
    await carol.stop();
    // Readings until the last one went to A.
    const sent = await publishUntil(device, async (n) => {
      const json = JSON.stringify({ temperature: 40 + n });
      await publisher.publishAsync('gauges/g3/reading', json, { qos: 1 });
      return json;
    }, (by) => by.at(-1) === 'A');
    const last = sent.at(-1)!.json;
    // A leaves: B alone receives what follows, carol's login and its probe included.
    await a.stop();
    carol = await servers.server.user('carol');
    const got = await carol.waitForAny((el) => el.name === 'message' && fromBare(el) === device && el.getChild('delay', NS_DELAY) !== undefined, 'the latest value');
    assert.equal(got.getChildText('json', 'urn:xmpp:json:0'), last, `the value A received last (${JSON.stringify(sent)})`);
  });
});
