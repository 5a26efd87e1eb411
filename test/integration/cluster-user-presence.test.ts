/**
 * Cluster mode (docs/SCALING.md): which users are online is shared. ejabberd hands a user's presence to a device to
 * one instance at random, yet each instance gates the readings it handles on it (features/uplink/recipients.ts): a
 * follower whose login reached instance A gets the readings instance B handles, and their logout seen by one
 * instance stops the other.
 *
 * Two instances in this process on ejabberd, Redis and mosquitto (`$share`: readings go to each instance in turn).
 * Which instance received a presence is seen through its `user_available` / `user_unavailable` events: an instance
 * that only applies another's change emits none.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { CLUSTER_MAPPINGS, eventually, startInstancePair, type InstancePair } from './cluster-harness.js';
import { closeMqtt, fromBare, mqttClient, ROOT, type RunningBridge, type XmppUser } from './harness.js';

const COMPONENT = 'iot.localhost';
const MAPPINGS = [CLUSTER_MAPPINGS, join(ROOT, 'test/fixtures/cluster-shared/mappings')];
const DEVICE = `gauge-up1@${COMPONENT}`;
const TOPIC = 'gauges/up1/reading';
const ERIN = 'erin@localhost';
const NS_JSON = 'urn:xmpp:json:0';
const NS_DELAY = 'urn:xmpp:delay';

describe('cluster mode: which users are online, shared by two instances', function () {
  this.timeout(120_000);
  let pair: InstancePair;
  let a: RunningBridge;
  let b: RunningBridge;
  let publisher: MqttClient;
  let erin: XmppUser | undefined;
  /** Readings handled, in order: the reading's JSON and 'A' | 'B'. */
  const handled: { json: string; by: string }[] = [];
  /** Erin's presence as each instance received it from ejabberd (not as applied from the other): 'A+', 'B-'… */
  const received: string[] = [];
  let n = 0;

  const instances = (): readonly (readonly [string, RunningBridge])[] => pair.instances;
  const without = (run: RunningBridge): number => run.bridge.metrics.get('readings_without_recipients_total');

  /** Publish readings until `done` says so, each awaited until an instance handled it; at most 10. */
  async function publishUntil(done: (by: string[]) => boolean): Promise<{ json: string; by: string }[]> {
    const out: { json: string; by: string }[] = [];
    for (let i = 0; i < 10 && !done(out.map((o) => o.by)); i++) {
      const json = JSON.stringify({ temperature: 20 + n++ });
      await publisher.publishAsync(TOPIC, json, { qos: 1 });
      await eventually(() => handled.some((h) => h.json === json), `the reading ${json} handled`);
      out.push(handled.find((h) => h.json === json)!);
    }
    assert.ok(done(out.map((o) => o.by)), JSON.stringify(out));
    return out;
  }

  before(async function () {
    pair = await startInstancePair(COMPONENT, MAPPINGS);
    ({ a, b } = pair);
    for (const [name, run] of instances()) {
      run.bridge.kernel.bus.on('reading_sent', ({ reading }) => {
        if (reading.device.jid === DEVICE) handled.push({ json: reading.json, by: name });
      });
      run.bridge.kernel.bus.on('user_available', ({ user, tracked }) => {
        if (user === ERIN && tracked) received.push(`${name}+`);
      });
      run.bridge.kernel.bus.on('user_unavailable', ({ user }) => {
        if (user === ERIN) received.push(`${name}-`);
      });
    }
    publisher = await mqttClient(pair.mosquitto.url, { clientId: 'gauges' });
  });

  after(async function () {
    await erin?.stop();
    await closeMqtt(publisher);
    await pair?.stop();
  });

  const onlineAt = (): string => instances().map(([name, run]) => `${name}: ${run.bridge.kernel.users.isOnline(ERIN)}`).join(', ');

  it('delivers through B to a follower whose login reached A, and stops at both when one sees the logout', async function () {
    await publisher.publishAsync(TOPIC, JSON.stringify({ temperature: 1 }), { qos: 1 });
    await eventually(() => a.bridge.registry.byJid(DEVICE) !== undefined && b.bridge.registry.byJid(DEVICE) !== undefined, 'the gauge known at both');
    // Erin follows the gauge and shares her presence with it (she approves its request): her logins and logouts reach
    // the bridge.
    erin = await pair.servers.server.user('erin');
    assert.equal((await erin.subscribe(DEVICE)).attrs['type'], 'subscribed');
    await eventually(() => instances().every(([, run]) => run.bridge.kernel.stores.presenceRequests.get(DEVICE, ERIN) === 'granted'), 'her presence granted, known at both');
    await erin.stop();
    erin = undefined;
    await eventually(() => instances().every(([, run]) => !run.bridge.kernel.users.isOnline(ERIN)), () => `erin offline at both (${onlineAt()})`);

    // Log in until her available presence reached A (ejabberd picks the connection at random); the ones that reached
    // B are undone by logging out again.
    for (let i = 0; i < 8; i++) {
      const count = received.length;
      erin = await pair.servers.server.user('erin');
      await eventually(() => received.slice(count).some((r) => r.endsWith('+')), () => `her login seen by an instance (${received.join(' ')})`);
      if (received.slice(count).includes('A+')) break;
      await erin.stop();
      erin = undefined;
      await eventually(() => instances().every(([, run]) => !run.bridge.kernel.users.isOnline(ERIN)), () => `erin offline at both (${onlineAt()})`);
    }
    assert.ok(erin, `a login seen by A within 8 (${received.join(' ')})`);
    const user = erin;

    // B learns it from A: a reading B handles goes to her now.
    await eventually(() => b.bridge.kernel.users.isOnline(ERIN), () => `erin online at B (${onlineAt()})`, 10_000);
    const before = without(b);
    const sent = await publishUntil((by) => by.at(-1) === 'B');
    assert.equal(without(b) - before, 0, 'B had a recipient for its reading');
    const json = sent.at(-1)!.json;
    await user.waitForAny((el) => el.name === 'message' && fromBare(el) === DEVICE && el.getChild('delay', NS_DELAY) === undefined && el.getChildText('json', NS_JSON) === json, `the reading ${json} B handled`);

    // Her logout reaches one instance: neither sends her readings any more.
    const count = received.length;
    await user.stop();
    erin = undefined;
    await eventually(() => received.slice(count).some((r) => r.endsWith('-')), () => `her logout seen by an instance (${received.join(' ')})`);
    await eventually(() => instances().every(([, run]) => !run.bridge.kernel.users.isOnline(ERIN)), () => `erin offline at both (${onlineAt()})`, 10_000);
    const was = { A: without(a), B: without(b) };
    const after = await publishUntil((by) => by.includes('A') && by.includes('B'));
    for (const [name, run] of instances()) {
      assert.equal(without(run) - was[name as 'A' | 'B'], after.filter((r) => r.by === name).length, `every reading ${name} handled had no recipient (${JSON.stringify(after)})`);
    }
  });
});
