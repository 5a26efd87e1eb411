/**
 * Cluster mode, variant (b) (docs/SCALING.md): the devices spread over the instances' embedded brokers, which act as
 * one broker through Redis (mqemitter-redis: messages; aedes-persistence-redis: sessions, retained messages, Wills).
 * Two instances in this process on one ejabberd component domain and one redis-server.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { clusterConfig, eventually, seqOf, startClusterServers, startInstance, type ClusterServers } from './cluster-harness.js';
import { closeMqtt, fromBare, isPresenceFrom, mqttClient, removeDir, type RunningBridge, type XmppUser } from './harness.js';

const COMPONENT = 'iot.localhost';
const KETTLE = `plug-kettle@${COMPONENT}`;
const SENSOR = `fleet-s1@${COMPONENT}`;
const NS_ADHOC = 'http://jabber.org/protocol/commands';
const COMMANDS = 20;

describe('cluster mode: two instances whose embedded brokers are joined over Redis', function () {
  this.timeout(120_000);
  let servers: ClusterServers;
  let a: RunningBridge;
  let b: RunningBridge;
  let alice: XmppUser;
  let kettle: MqttClient;
  let sensor: MqttClient;
  const received: string[] = [];
  const delivered = { a: 0, b: 0 };

  /** A command through an ad-hoc session of one step; resolves with the session's status. */
  async function switchKettle(state: 'ON' | 'OFF'): Promise<string | undefined> {
    const form = xml('x', { xmlns: 'jabber:x:data', type: 'submit' }, xml('field', { var: 'state' }, xml('value', {}, state)));
    const done = await alice.iq(xml('iq', { type: 'set', to: KETTLE }, xml('command', { xmlns: NS_ADHOC, node: 'set', action: 'execute' }, form)), 10_000);
    return done.getChild('command', NS_ADHOC)?.attrs['status'] ?? done.toString();
  }

  before(async function () {
    servers = await startClusterServers(COMPONENT);
    const config = clusterConfig(servers.redis);
    a = await startInstance({ server: servers.server, config });
    b = await startInstance({ server: servers.server, config });
    await eventually(() => !a.bridge.kernel.cluster.alone && !b.bridge.kernel.cluster.alone, 'each instance sees the other');
    a.bridge.kernel.bus.on('command_delivered', () => (delivered.a += 1));
    b.bridge.kernel.bus.on('command_delivered', () => (delivered.b += 1));
    alice = await servers.server.user('alice');
    // The kettle at instance A, with a Will; it obeys `set` and reports its new state.
    kettle = await mqttClient(a.mqttUrl, { clientId: 'kettle', reconnectPeriod: 0, will: { topic: 'plugs/kettle/availability', payload: Buffer.from('offline'), qos: 1, retain: true } });
    await kettle.subscribeAsync('plugs/kettle/set', { qos: 1 });
    kettle.on('message', (topic, payload) => {
      received.push(topic);
      const cmd = JSON.parse(payload.toString()) as { state: string };
      void kettle.publishAsync('plugs/kettle/state', JSON.stringify({ state: cmd.state, power: cmd.state === 'ON' ? 1850 : 0 }), { qos: 1 });
    });
    // A sensor at instance B.
    sensor = await mqttClient(b.mqttUrl, { clientId: 'fleet-s1' });
  });

  after(async function () {
    await closeMqtt(kettle, sensor);
    await b?.stop();
    await a?.stop();
    await servers?.stop();
    for (const r of [a, b]) if (r) removeDir(r.dir);
  });

  it('announces a device connected to one instance through either (availability shared)', async function () {
    const available = alice.waitFor(isPresenceFrom(KETTLE, undefined), 'kettle available');
    await kettle.publishAsync('plugs/kettle/availability', 'online', { qos: 1, retain: true });
    await eventually(() => a.bridge.registry.byJid(KETTLE)?.online === true && b.bridge.registry.byJid(KETTLE)?.online === true, 'the kettle online at both instances');
    assert.equal((await alice.subscribe(KETTLE)).attrs['type'], 'subscribed');
    await available;
  });

  it(`delivers commands to a device connected to the other instance (${COMMANDS} ad-hoc commands, each handled by either)`, async function () {
    const statuses: (string | undefined)[] = [];
    for (let i = 0; i < COMMANDS; i++) statuses.push(await switchKettle(i % 2 === 0 ? 'ON' : 'OFF'));
    console.log(`      ${COMMANDS} commands to the kettle at A: ${delivered.a} dispatched by A, ${delivered.b} by B (through Redis); the kettle received ${received.length}`);
    assert.deepEqual(statuses, Array(COMMANDS).fill('completed'));
    assert.equal(received.length, COMMANDS, 'each command reached the device once');
    // ejabberd spread the requests over both connections: B's commands reached the kettle through Redis.
    assert.ok(delivered.b > 0 && delivered.a > 0, `both instances dispatched (A ${delivered.a}, B ${delivered.b})`);
  });

  it('takes each reading once, at the instance its device is connected to', async function () {
    const atAlice = (): number[] => alice.stanzas.filter((el) => el.name === 'message' && fromBare(el) === SENSOR).flatMap((el) => seqOf(el) ?? []);
    await sensor.publishAsync('fleet/s1/reading', JSON.stringify({ temperature: 20, seq: 0 }), { qos: 1 });
    await eventually(() => a.bridge.registry.byJid(SENSOR) !== undefined, 'the sensor known at A');
    assert.equal((await alice.subscribe(SENSOR)).attrs['type'], 'subscribed');
    const before = { a: a.bridge.metrics.get('readings_total'), b: b.bridge.metrics.get('readings_total') };
    for (let s = 1; s <= 50; s++) await sensor.publishAsync('fleet/s1/reading', JSON.stringify({ temperature: 20, seq: s }), { qos: 1 });
    await eventually(() => atAlice().filter((s) => s >= 1).length >= 50, '50 readings at alice');
    // A ping through each connection: anything sent before it has reached alice's server.
    for (let i = 0; i < 4; i++) await alice.iq(xml('iq', { type: 'get', to: COMPONENT }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 5000);
    assert.deepEqual(
      atAlice().filter((s) => s >= 1),
      Array.from({ length: 50 }, (_v, i) => i + 1),
      'each once, in order (one connection, one instance)',
    );
    assert.equal(a.bridge.metrics.get('readings_total') - before.a, 0, 'A took none');
    assert.equal(b.bridge.metrics.get('readings_total') - before.b, 50, 'B took them all');
  });

  it('acts once on the Will of a device whose connection broke', async function () {
    const mark = alice.stanzas.length;
    const offline = alice.waitFor(isPresenceFrom(KETTLE, 'unavailable'), 'kettle unavailable');
    kettle.stream.destroy(); // no DISCONNECT: the broker publishes the Will
    await offline;
    await eventually(() => a.bridge.registry.byJid(KETTLE)?.online === false && b.bridge.registry.byJid(KETTLE)?.online === false, 'the kettle offline at both instances');
    for (let i = 0; i < 4; i++) await alice.iq(xml('iq', { type: 'get', to: KETTLE }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 5000);
    assert.equal(alice.stanzas.slice(mark).filter(isPresenceFrom(KETTLE, 'unavailable')).length, 1, 'one unavailable presence');
  });

  it('recovers when Redis restarts: a device reconnecting through the other instance is commanded again', async function () {
    // Restarted with its append-only file: the instances' connections come back by themselves (nothing to wait for).
    await servers.redis.restart();
    // The kettle comes back, this time through B; the subscription made before the restart still holds.
    const available = alice.waitFor(isPresenceFrom(KETTLE, undefined), 'kettle available again', 30_000);
    kettle = await mqttClient(b.mqttUrl, { clientId: 'kettle', reconnectPeriod: 0 });
    await kettle.subscribeAsync('plugs/kettle/set', { qos: 1 });
    received.length = 0;
    kettle.on('message', (topic, payload) => {
      received.push(topic);
      const cmd = JSON.parse(payload.toString()) as { state: string };
      void kettle.publishAsync('plugs/kettle/state', JSON.stringify({ state: cmd.state, power: 0 }), { qos: 1 });
    });
    await kettle.publishAsync('plugs/kettle/availability', 'online', { qos: 1, retain: true });
    await available;
    // The presence comes from the instance that won the change; the other follows over Redis pub/sub, resubscribed
    // after the restart — as in the first command test, command once both instances see the kettle online.
    await eventually(() => a.bridge.registry.byJid(KETTLE)?.online === true && b.bridge.registry.byJid(KETTLE)?.online === true, 'the kettle online at both instances');
    const statuses: (string | undefined)[] = [];
    for (let i = 0; i < 6; i++) statuses.push(await switchKettle(i % 2 === 0 ? 'ON' : 'OFF'));
    assert.deepEqual(statuses, Array(6).fill('completed'));
    assert.equal(received.length, 6);
  });
});
