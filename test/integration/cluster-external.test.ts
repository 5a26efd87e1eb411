/**
 * Cluster mode, variant (a) (docs/SCALING.md): two bridge instances on one component domain of ejabberd, their shared
 * state in Redis, the devices on an existing broker (mosquitto) whose `$share/<group>/…` subscriptions hand each
 * reading to one instance. Instance A runs in this process (its metrics are read), instance B is a child process of
 * the CLI (it is killed -9 and restarted).
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { Redis } from 'ioredis';
import type { MqttClient } from 'mqtt';
import { startMosquitto, type MosquittoInstance } from '../../src/servers/mosquitto.js';
import { clusterConfig, eventually, seqOf, spawnInstance, startClusterServers, startInstance, type ChildInstance, type ClusterServers } from './cluster-harness.js';
import { closeMqtt, fromBare, isPresenceFrom, mqttClient, removeDir, type RunningBridge, type XmppUser } from './harness.js';

const COMPONENT = 'iot.localhost';
const KETTLE = `plug-kettle@${COMPONENT}`;
const NS_ADHOC = 'http://jabber.org/protocol/commands';
const NS_PING = 'urn:xmpp:ping';
/** Simulated devices and readings per device (the 20,000 readings from 200 devices; env CLUSTER_DEVICES, CLUSTER_READINGS). */
const DEVICES = Number(process.env['CLUSTER_DEVICES'] ?? 200);
const PER_DEVICE = Number(process.env['CLUSTER_READINGS'] ?? 100);

const fleet = (n: number): string => `fleet-d${n}@${COMPONENT}`;

/** Readings received by a user (by device JID and seq), counted as they arrive. */
class Tally {
  /** Key → times received. */
  readonly counts = new Map<string, number>();

  constructor(user: XmppUser) {
    user.client.on('stanza', (el: Element) => {
      if (el.name !== 'message' || el.attrs['type'] === 'error') return;
      const seq = seqOf(el);
      if (seq === undefined) return;
      const key = `${fromBare(el)}#${seq}`;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    });
  }

  /** How many of `keys` arrived, and how many extra copies of them. */
  of(keys: ReadonlySet<string>): { distinct: number; duplicates: number; missing: string[] } {
    let distinct = 0;
    let duplicates = 0;
    const missing: string[] = [];
    for (const k of keys) {
      const n = this.counts.get(k) ?? 0;
      if (n > 0) distinct += 1;
      else missing.push(k);
      duplicates += Math.max(0, n - 1);
    }
    return { distinct, duplicates, missing };
  }

  /** Readings of keys nobody published. */
  unexpected(keys: ReadonlySet<string>): string[] {
    return [...this.counts.keys()].filter((k) => !keys.has(k));
  }
}

describe('cluster mode: two instances, ejabberd, Redis, devices on mosquitto ($share)', function () {
  this.timeout(180_000);
  let servers: ClusterServers;
  let mosquitto: MosquittoInstance;
  let a: RunningBridge;
  let b: ChildInstance;
  let watcher: XmppUser;
  let alice: XmppUser;
  let kettle: MqttClient;
  let devices: MqttClient[] = [];
  let redis: Redis;
  let seq = 0;
  const dirs: string[] = [];
  /** Every reading published so far. */
  const published = new Set<string>();
  let atWatcher: Tally;
  let atAlice: Tally;

  /** Every device publishes `count` readings (QoS 1), each awaited to its PUBACK; resolves with the keys published. */
  async function publishReadings(count: number, onEach?: (n: number) => void): Promise<Set<string>> {
    const keys = new Set<string>();
    const first = seq;
    seq += count;
    let done = 0;
    await Promise.all(
      devices.map(async (d, n) => {
        for (let s = first; s < first + count; s++) {
          await d.publishAsync(`fleet/d${n}/reading`, JSON.stringify({ temperature: 20 + (s % 10), seq: s }), { qos: 1 });
          keys.add(`${fleet(n)}#${s}`);
          published.add(`${fleet(n)}#${s}`);
          onEach?.(++done);
        }
      }),
    );
    return keys;
  }

  before(async function () {
    servers = await startClusterServers(COMPONENT);
    // A queue per session without a cap: mosquitto's default (1000) drops acknowledged QoS 1 readings queued for an
    // instance that is busy or gone beyond it (docs/SCALING.md).
    mosquitto = await startMosquitto({ extraConfig: 'max_queued_messages 0' });
    redis = new Redis(servers.redis.url, { lazyConnect: true });
    await redis.connect();
    // A plug that obeys `set` and reports its new state; online (retained) before any instance exists.
    kettle = await mqttClient(mosquitto.url, { clientId: 'kettle' });
    await kettle.subscribeAsync('plugs/kettle/set', { qos: 1 });
    kettle.on('message', (_t, payload) => {
      const cmd = JSON.parse(payload.toString()) as { state: string };
      void kettle.publishAsync('plugs/kettle/state', JSON.stringify({ state: cmd.state, power: cmd.state === 'ON' ? 1850 : 0 }), { qos: 1 });
    });
    await kettle.publishAsync('plugs/kettle/availability', 'online', { qos: 1, retain: true });
    const config = clusterConfig(servers.redis, { mqtt: { embedded: { enabled: false }, external: { url: mosquitto.url, clientId: 'bridge' } } });
    a = await startInstance({ server: servers.server, config });
    dirs.push(a.dir);
    b = spawnInstance({ server: servers.server, config });
    dirs.push(b.dir);
    await b.online();
    await eventually(() => a.bridge.kernel.cluster.alone === false, 'A sees B in the cluster');
    watcher = await servers.server.user('watcher');
    alice = await servers.server.user('alice');
    atWatcher = new Tally(watcher);
    atAlice = new Tally(alice);
    for (let n = 0; n < DEVICES; n++) devices.push(await mqttClient(mosquitto.url, { clientId: `fleet-d${n}` }));
  });

  after(async function () {
    await closeMqtt(kettle, ...devices);
    devices = [];
    await b?.stop();
    await a?.stop();
    redis?.disconnect();
    await mosquitto?.removeDir();
    await servers?.stop();
    // The instances' logs (bridge.log in each directory) are the only record of a failed run: keep them then.
    const failed = this.test?.parent?.tests.some((t) => t.state === 'failed') ?? false;
    if (failed || process.env['KEEP_DIRS']) console.log(`      instance directories kept: ${dirs.join(' ')}`);
    else for (const d of dirs) removeDir(d);
  });

  it(`delivers every QoS 1 reading once to the XMPP user (${DEVICES} devices × ${PER_DEVICE}), split between the instances`, async function () {
    const before = a.bridge.metrics.get('readings_total');
    const t0 = Date.now();
    const keys = await publishReadings(PER_DEVICE);
    await eventually(() => atWatcher.of(keys).distinct >= keys.size, () => `${keys.size} readings at the watcher (${atWatcher.of(keys).distinct} arrived)`, 120_000);
    const ms = Date.now() - t0;
    // One ping through each instance's share of the domain: what they sent before it has reached the watcher's server.
    for (let i = 0; i < 4; i++) await watcher.iq(xml('iq', { type: 'get', to: COMPONENT }, xml('ping', { xmlns: NS_PING })), 5000);
    const { distinct, duplicates, missing } = atWatcher.of(keys);
    const taken = a.bridge.metrics.get('readings_total') - before;
    console.log(`      ${keys.size} readings from ${DEVICES} devices in ${ms} ms: ${distinct} distinct, ${duplicates} duplicates; instance A took ${taken}, B ${keys.size - taken}`);
    assert.deepEqual(atWatcher.unexpected(published), [], 'nothing but what was published');
    assert.deepEqual(missing, [], 'every reading');
    assert.equal(duplicates, 0, 'each once');
    // Both instances took a share of the readings (mosquitto hands a shared subscription's messages round-robin).
    assert.ok(taken > 0 && taken < keys.size, `A took ${taken} of ${keys.size}`);
  });

  it('honours at both instances a subscription made through one of them', async function () {
    const announced = new Redis(servers.redis.url, { lazyConnect: true });
    await announced.connect();
    const heard = new Promise<void>((resolve) => {
      announced.on('message', (_c: string, text: string) => {
        const m = JSON.parse(text) as { k: string; d?: string; u?: string };
        if (m.k === 'sub' && m.d === fleet(0) && m.u === 'alice@localhost') resolve();
      });
    });
    await announced.subscribe(`mqtt-xmpp-bridge:${COMPONENT}:events`);
    try {
      // The server hands the subscription request to either instance; the other hears of it over Redis.
      assert.equal((await alice.subscribe(fleet(0))).attrs['type'], 'subscribed');
      await heard;
    } finally {
      announced.disconnect();
    }
    const before = a.bridge.metrics.get('readings_total');
    const first = seq;
    seq += 20;
    const keys = new Set<string>();
    for (let s = first; s < first + 20; s++) {
      await devices[0]!.publishAsync('fleet/d0/reading', JSON.stringify({ temperature: 21, seq: s }), { qos: 1 });
      keys.add(`${fleet(0)}#${s}`);
      published.add(`${fleet(0)}#${s}`);
    }
    await eventually(() => atAlice.of(keys).distinct >= 20, '20 readings at alice');
    const taken = a.bridge.metrics.get('readings_total') - before;
    console.log(`      20 readings to the subscriber: instance A delivered ${taken}, B ${20 - taken}`);
    assert.equal(atAlice.of(keys).duplicates, 0);
    assert.ok(taken > 0 && taken < 20, `both instances delivered to the subscriber (A: ${taken} of 20)`);
  });

  it('answers 100 pings and completes 20 multi-step ad-hoc sessions across the instances without a timeout', async function () {
    const forwardedBefore = a.bridge.metrics.get('cluster_iq_forwarded_total');
    let pings = 0;
    for (let i = 0; i < 100; i++) {
      const to = i % 2 === 0 ? COMPONENT : KETTLE;
      const reply = await alice.iq(xml('iq', { type: 'get', to }, xml('ping', { xmlns: NS_PING })), 5000);
      if (reply.attrs['type'] === 'result') pings += 1;
    }
    let sessions = 0;
    for (let i = 0; i < 20; i++) {
      const state = i % 2 === 0 ? 'ON' : 'OFF';
      const start = await alice.iq(xml('iq', { type: 'set', to: KETTLE }, xml('command', { xmlns: NS_ADHOC, node: 'set', action: 'execute' })), 5000);
      const cmd = start.getChild('command', NS_ADHOC);
      assert.equal(cmd?.attrs['status'], 'executing', start.toString());
      const submit = xml('x', { xmlns: 'jabber:x:data', type: 'submit' }, xml('field', { var: 'state' }, xml('value', {}, state)));
      // The second step reaches either instance; the one that holds the session answers it.
      const done: Element = await alice.iq(
        xml('iq', { type: 'set', to: KETTLE }, xml('command', { xmlns: NS_ADHOC, node: 'set', sessionid: cmd.attrs['sessionid'], action: 'complete' }, submit)),
        10_000,
      );
      if (done.getChild('command', NS_ADHOC)?.attrs['status'] === 'completed') sessions += 1;
      else assert.fail(`session ${i}: ${done.toString()}`);
    }
    const forwarded = a.bridge.metrics.get('cluster_iq_forwarded_total') - forwardedBefore;
    console.log(`      100 pings: ${pings} answered; 20 ad-hoc sessions: ${sessions} completed (instance A forwarded ${forwarded} IQs to B)`);
    assert.equal(pings, 100);
    assert.equal(sessions, 20);
  });

  it('loses no acknowledged reading when an instance is killed -9 mid-stream; commands keep working through the survivor', async function () {
    const lost = new Promise<{ instance: string; readings: number }>((resolve) => {
      const off = a.bridge.kernel.bus.on('cluster_member_lost', (d) => {
        off();
        resolve(d);
      });
    });
    let killed: Promise<void> | undefined;
    const total = PER_DEVICE * DEVICES;
    // Kill B once a third of the stream is acknowledged by the broker.
    const keys = await publishReadings(PER_DEVICE, (n) => {
      if (n === Math.floor(total / 3)) killed = b.kill9();
    });
    await killed;
    const takeover = await lost;
    // A command through the survivor alone (the server now hands it every stanza of the domain).
    const confirmed = await alice.iq(xml('iq', { type: 'set', to: KETTLE }, xml('command', { xmlns: NS_ADHOC, node: 'set', action: 'execute' }, xml('x', { xmlns: 'jabber:x:data', type: 'submit' }, xml('field', { var: 'state' }, xml('value', {}, 'ON'))))), 10_000);
    assert.equal(confirmed.getChild('command', NS_ADHOC)?.attrs['status'], 'completed', confirmed.toString());
    const bySurvivor = atWatcher.of(keys).distinct;
    // What B acknowledged but had not delivered is in its outbox: the restarted instance delivers it.
    b.restart();
    await b.online();
    await eventually(() => atWatcher.of(keys).distinct >= keys.size, () => `${keys.size} readings after the restart (${atWatcher.of(keys).distinct} arrived)`, 120_000);
    const { distinct, duplicates, missing } = atWatcher.of(keys);
    console.log(
      `      kill -9 after ${Math.floor(total / 3)} of ${keys.size} acknowledged readings: the survivor took over ${takeover.readings} from B's broker session; ${bySurvivor} delivered before B's restart, ${distinct} after; ${duplicates} duplicates`,
    );
    assert.equal(takeover.instance.length, 8);
    assert.deepEqual(missing, [], 'no acknowledged reading lost');
  });

  it('keeps availability single: the kettle went online once for a subscriber, not once per instance', async function () {
    // After B's restart: whichever instance answers (B's answer may come before it has attached to the broker),
    // the kettle's current presence, from the shared availability, follows the approval.
    const mark = alice.stanzas.length;
    const shown = alice.waitFor((el) => isPresenceFrom(KETTLE, undefined)(el) || isPresenceFrom(KETTLE, 'unavailable')(el), 'kettle presence after the approval');
    assert.equal((await alice.subscribe(KETTLE)).attrs['type'], 'subscribed');
    assert.equal((await shown).attrs['type'], undefined, 'the kettle shown available (it is online)');
    const offline = alice.waitFor(isPresenceFrom(KETTLE, 'unavailable'), 'kettle unavailable');
    await kettle.publishAsync('plugs/kettle/availability', 'offline', { qos: 1, retain: true });
    await offline;
    // A ping to each instance's share of the domain orders what they might still send after the presence.
    for (let i = 0; i < 10; i++) await alice.iq(xml('iq', { type: 'get', to: KETTLE }, xml('ping', { xmlns: NS_PING })), 5000);
    const unavailable = alice.stanzas.slice(mark).filter(isPresenceFrom(KETTLE, 'unavailable')).length;
    assert.equal(unavailable, 1, 'one unavailable presence');
  });
});
