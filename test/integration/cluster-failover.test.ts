/**
 * Cluster mode (docs/SCALING.md), devices on mosquitto: a device's availability as every instance sees it — from an
 * instance restarted after a kill -9, before the rest of its start; a device put to sleep at one instance and commanded
 * through the other; a device's return that the other instance has not heard of yet — and what happens to an
 * instance's work when it stops cleanly (SIGTERM) and when it comes back after being taken over. One ejabberd, one
 * redis-server and one mosquitto; the instances of each test are started and stopped by it.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { Redis } from 'ioredis';
import type { MqttClient } from 'mqtt';
import { startMosquitto, type MosquittoInstance } from '../../src/servers/mosquitto.js';
import { clusterConfig, eventually, logLines, seqOf, spawnInstance, startClusterServers, startInstance, type ChildInstance, type ClusterServers } from './cluster-harness.js';
import { closeMqtt, fromBare, isPresenceFrom, mqttClient, removeDir, type RunningBridge, type XmppUser } from './harness.js';

const COMPONENT = 'iot.localhost';
const NS_ADHOC = 'http://jabber.org/protocol/commands';

const plug = (name: string): string => `plug-${name}@${COMPONENT}`;
/** Devices of the readings tests, and readings each publishes per round. */
const FLEET = 10;
const PER_ROUND = 30;

/** A plug on mosquitto that obeys `set` (counting what it received) and confirms by reporting its state. */
async function startPlug(url: string, name: string): Promise<{ client: MqttClient; received: string[] }> {
  const client = await mqttClient(url, { clientId: name });
  const received: string[] = [];
  await client.subscribeAsync(`plugs/${name}/set`, { qos: 1 });
  client.on('message', (_t, payload) => {
    received.push(payload.toString());
    const cmd = JSON.parse(payload.toString()) as { state: string };
    void client.publishAsync(`plugs/${name}/state`, JSON.stringify({ state: cmd.state, power: cmd.state === 'ON' ? 1850 : 0 }), { qos: 1 });
  });
  return { client, received };
}

/** A `set` command as one ad-hoc step; resolves with the reply. */
function setCommand(user: XmppUser, jid: string, state: 'ON' | 'OFF', timeoutMs = 10_000): Promise<Element> {
  const form = xml('x', { xmlns: 'jabber:x:data', type: 'submit' }, xml('field', { var: 'state' }, xml('value', {}, state)));
  return user.iq(xml('iq', { type: 'set', to: jid }, xml('command', { xmlns: NS_ADHOC, node: 'set', action: 'execute' }, form)), timeoutMs);
}

describe('cluster mode: availability and failover across instances (ejabberd, Redis, mosquitto)', function () {
  this.timeout(120_000);
  let servers: ClusterServers;
  let mosquitto: MosquittoInstance;
  let redis: Redis;
  let alice: XmppUser;
  let watcher: XmppUser;
  /** Readings at the watcher: `<device JID>#<seq>` → times received. */
  const atWatcher = new Map<string, number>();
  let seq = 0;
  const dirs: string[] = [];
  const running: { stop(): Promise<void> }[] = [];
  const clients: MqttClient[] = [];
  let external: Record<string, unknown>;

  before(async function () {
    servers = await startClusterServers(COMPONENT);
    mosquitto = await startMosquitto({ extraConfig: 'max_queued_messages 0' });
    redis = new Redis(servers.redis.url, { lazyConnect: true });
    await redis.connect();
    alice = await servers.server.user('alice');
    watcher = await servers.server.user('watcher');
    watcher.client.on('stanza', (el: Element) => {
      const n = el.name === 'message' && el.attrs['type'] !== 'error' ? seqOf(el) : undefined;
      if (n === undefined) return;
      const key = `${fromBare(el)}#${n}`;
      atWatcher.set(key, (atWatcher.get(key) ?? 0) + 1);
    });
    external = clusterConfig(servers.redis, { mqtt: { embedded: { enabled: false }, external: { url: mosquitto.url, clientId: 'bridge' } } });
  });

  afterEach(async function () {
    for (const r of running.splice(0).reverse()) await r.stop();
    await closeMqtt(...clients.splice(0));
  });

  after(async function () {
    redis?.disconnect();
    await mosquitto?.removeDir();
    await servers?.stop();
    if (!process.env["KEEP_DIRS"]) for (const d of dirs) removeDir(d);
    else console.log(dirs);
  });

  async function inProcess(config: Record<string, unknown>): Promise<RunningBridge> {
    const r = await startInstance({ server: servers.server, config });
    dirs.push(r.dir);
    running.push(r);
    return r;
  }

  /** Every fleet device publishes `count` QoS 1 readings, each awaited to its PUBACK; resolves with their keys. */
  async function publishReadings(devices: MqttClient[], count: number, onEach?: (n: number) => void): Promise<Set<string>> {
    const keys = new Set<string>();
    const first = seq;
    seq += count;
    let done = 0;
    await Promise.all(
      devices.map(async (d, n) => {
        for (let s = first; s < first + count; s++) {
          await d.publishAsync(`fleet/f${n}/reading`, JSON.stringify({ temperature: 20, seq: s }), { qos: 1 });
          keys.add(`fleet-f${n}@${COMPONENT}#${s}`);
          onEach?.(++done);
        }
      }),
    );
    return keys;
  }

  function tally(keys: ReadonlySet<string>): { distinct: number; duplicates: number; missing: number } {
    let distinct = 0;
    let duplicates = 0;
    for (const k of keys) {
      const n = atWatcher.get(k) ?? 0;
      if (n > 0) distinct += 1;
      duplicates += Math.max(0, n - 1);
    }
    return { distinct, duplicates, missing: keys.size - distinct };
  }

  async function fleet(): Promise<MqttClient[]> {
    const devices: MqttClient[] = [];
    for (let n = 0; n < FLEET; n++) devices.push(await mqttClient(mosquitto.url, { clientId: `fleet-f${n}` }));
    clients.push(...devices);
    return devices;
  }

  /**
   * When `r` has taken over `instance` (its cluster_member_lost event). Only that instance's: an instance an earlier
   * test left stopped is taken over by the next one to look, which may be this test's.
   */
  function lostAt(r: RunningBridge, instance: string): Promise<{ instance: string; readings: number; at: number }> {
    return new Promise((resolve) => {
      const off = r.bridge.kernel.bus.on('cluster_member_lost', (d) => {
        if (d.instance !== instance) return;
        off();
        resolve({ ...d, at: Date.now() });
      });
    });
  }

  function child(config: Record<string, unknown>): ChildInstance {
    const c = spawnInstance({ server: servers.server, config });
    dirs.push(c.dir);
    running.push(c);
    return c;
  }

  it('answers a new subscriber of an online device with its presence from an instance restarted after a kill -9, before that instance has attached to the broker', async function () {
    const kettle = await startPlug(mosquitto.url, 'kettle');
    clients.push(kettle.client);
    await kettle.client.publishAsync('plugs/kettle/availability', 'online', { qos: 1, retain: true });
    const a = await inProcess(external);
    const b = child(external);
    await b.online();
    await eventually(() => !a.bridge.kernel.cluster.alone, 'A sees B in the cluster');
    await eventually(() => a.bridge.registry.byJid(plug('kettle'))?.online === true, 'the kettle online at A');
    const lost = new Promise<void>((resolve) => {
      const off = a.bridge.kernel.bus.on('cluster_member_lost', () => {
        off();
        resolve();
      });
    });
    await b.kill9();
    await lost;
    // B alone answers what is sent to the domain from now on: A leaves (the kettle stays online: it is on the broker).
    await a.stop();
    // The bad window, held open: B's component is online while its start waits for the broker's CONNACK — the
    // cluster feature, which used to copy the shared availability into the devices, starts after that.
    const pid = mosquitto.pid;
    assert.ok(pid !== undefined);
    process.kill(pid, 'SIGSTOP');
    try {
      b.restart();
      await b.online();
      const mark = alice.stanzas.length;
      const shown = alice.waitFor((el) => isPresenceFrom(plug('kettle'), undefined)(el) || isPresenceFrom(plug('kettle'), 'unavailable')(el), 'kettle presence after the approval');
      assert.equal((await alice.subscribe(plug('kettle'))).attrs['type'], 'subscribed');
      const first = await shown;
      console.log(`      presence after the approval from the restarted instance: ${first.attrs['type'] ?? 'available'} (${alice.stanzas.length - mark} stanzas)`);
      assert.equal(first.attrs['type'], undefined, `the kettle shown available (it is online): ${first.toString()}`);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });
  it('holds a command for a device put to sleep at the other instance, and delivers it once when the device wakes', async function () {
    const a = await inProcess(external);
    const b = await inProcess(external);
    await eventually(() => !a.bridge.kernel.cluster.alone && !b.bridge.kernel.cluster.alone, 'each instance sees the other');
    const jid = `sleeper-s1@${COMPONENT}`;
    const dispatched = new Map<RunningBridge, number>([[a, 0], [b, 0]]);
    const acted = new Map<RunningBridge, string[]>([[a, []], [b, []]]);
    for (const r of [a, b]) {
      r.bridge.kernel.bus.on('command_delivered', () => dispatched.set(r, (dispatched.get(r) ?? 0) + 1));
      r.bridge.kernel.bus.on('device_availability', ({ device }) => {
        if (device.jid === jid) acted.get(r)!.push(device.asleep ? 'asleep' : device.online ? 'awake' : 'offline');
      });
    }
    const device = await mqttClient(mosquitto.url, { clientId: 'sleeper-s1' });
    clients.push(device);
    const received: string[] = [];
    await device.subscribeAsync('sleepers/s1/set', { qos: 1 });
    device.on('message', (_t, payload) => received.push(payload.toString()));
    await device.publishAsync('sleepers/s1/availability', 'online', { qos: 1 });
    await eventually(() => a.bridge.registry.byJid(jid)?.online === true && b.bridge.registry.byJid(jid)?.online === true, 'the sleeper online at both');
    // The broker hands the message to one instance of the share group: the reader. The command goes to the other.
    await device.publishAsync('sleepers/s1/availability', 'sleeping', { qos: 1 });
    await eventually(() => acted.get(a)!.includes('asleep') || acted.get(b)!.includes('asleep'), 'the sleep acted on', 10_000);
    const [reader, other] = acted.get(a)!.includes('asleep') ? [a, b] : [b, a];
    await eventually(() => other.bridge.registry.byJid(jid)?.asleep === true, 'the sleeper asleep at the other instance too (shared)', 10_000);
    // Only the other instance's component is connected from now on: the command reaches it.
    await reader.bridge.link.stop();
    const reply = setCommand(alice, jid, 'ON', 30_000);
    const queue = other.bridge.kernel.stores.commandQueue;
    await eventually(() => queue.forDevice(jid).length === 1, 'the command held at the other instance', 10_000);
    assert.deepEqual(received, [], 'nothing published to a sleeping device');
    // The device wakes: whichever instance reads it, the change is agreed once and the held command released once.
    await device.publishAsync('sleepers/s1/availability', 'online', { qos: 1 });
    const done = await reply;
    assert.equal(done.getChild('command', NS_ADHOC)?.attrs['status'], 'completed', done.toString());
    await eventually(() => a.bridge.kernel.stores.commandQueue.forDevice(jid).length === 0 && b.bridge.kernel.stores.commandQueue.forDevice(jid).length === 0, 'the held command gone at both');
    await eventually(() => received.length > 0, 'the command at the device');
    console.log(
      `      sleep read by ${reader === a ? 'A' : 'B'}, command through ${other === a ? 'A' : 'B'}: held; on wake published by A ${dispatched.get(a)}, by B ${dispatched.get(b)}; the device received it ${received.length} time(s)`,
    );
    assert.deepEqual(received, ['{"state":"ON"}'], 'delivered exactly once, on wake');
    assert.equal(dispatched.get(a)! + dispatched.get(b)!, 1);
  });

  it('takes a command for a device whose return has reached Redis but not yet this instance\'s copy', async function () {
    const lamp = await startPlug(mosquitto.url, 'lamp');
    clients.push(lamp.client);
    await lamp.client.publishAsync('plugs/lamp/availability', 'offline', { qos: 1, retain: true });
    const a = await inProcess(external);
    const b = await inProcess(external);
    await eventually(() => !a.bridge.kernel.cluster.alone && !b.bridge.kernel.cluster.alone, 'each instance sees the other');
    const jid = plug('lamp');
    await eventually(() => a.bridge.registry.byJid(jid) !== undefined && b.bridge.registry.byJid(jid) !== undefined, 'the lamp known at both');
    assert.equal(a.bridge.registry.byJid(jid)?.online, false);
    assert.equal(b.bridge.registry.byJid(jid)?.online, false);
    // The window held open: the lamp's return is in Redis (as the instance that read it writes it) while its
    // announcement has reached neither instance — whichever receives the command sees the lamp offline locally.
    const key = `mqtt-xmpp-bridge:${COMPONENT}:availability`;
    await redis.hset(key, jid, JSON.stringify({ o: 1, h: '', s: 0, t: 'returned', at: Date.now(), r: 'availability-topic' }));
    const done = await setCommand(alice, jid, 'ON');
    console.log(`      command while the local copies still say offline: ${done.getChild('command', NS_ADHOC)?.attrs['status'] ?? done.getChild('error')?.children.map((c) => (c as Element).name).join(' ')}; the lamp received ${lamp.received.length}`);
    assert.equal(done.attrs['type'], 'result', done.toString());
    assert.equal(done.getChild('command', NS_ADHOC)?.attrs['status'], 'completed', done.toString());
    assert.deepEqual(lamp.received, ['{"state":"ON"}']);
  });
  it('hands a stopped instance\'s work over at once (SIGTERM: no heartbeat awaited) and loses no acknowledged reading', async function () {
    // Heartbeats a minute apart: a takeover within the bounded wait below cannot come from a heartbeat.
    const slow = { ...external, cluster: { ...(external['cluster'] as object), heartbeatSeconds: 60 } };
    const a = await inProcess(slow);
    const b = child(slow);
    await b.online();
    const devices = await fleet();
    const lost = lostAt(a, b.instanceId());
    let stopped: Promise<void> | undefined;
    let sigtermAt = 0;
    const total = FLEET * PER_ROUND;
    const before = a.bridge.metrics.get('readings_total');
    // SIGTERM to B once a third of the readings are acknowledged by the broker.
    const keys = await publishReadings(devices, PER_ROUND, (n) => {
      if (n !== Math.floor(total / 3)) return;
      sigtermAt = Date.now();
      stopped = b.stop();
    });
    await stopped;
    const takeover = await Promise.race([
      lost,
      new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('B not taken over within 20 s of its stop (the next heartbeat is a minute away)')), 20_000)),
    ]);
    const handedOverMs = takeover.at - sigtermAt;
    await eventually(() => tally(keys).distinct === keys.size, () => `${keys.size} readings at the watcher (${tally(keys).distinct} arrived)`, 60_000);
    const { distinct, duplicates, missing } = tally(keys);
    const byA = a.bridge.metrics.get('readings_total') - before;
    console.log(
      `      SIGTERM after ${Math.floor(total / 3)} of ${keys.size} acknowledged readings: taken over ${handedOverMs} ms after the SIGTERM (heartbeat 60 s), ${takeover.readings} taken from B's session; A took ${byA}; ${distinct} delivered, ${missing} missing, ${duplicates} duplicates`,
    );
    assert.equal(missing, 0, 'no acknowledged reading lost');
  });

  it('gives an instance restarted after its takeover its share of the readings back', async function () {
    const a = await inProcess(external);
    const b = child(external);
    await b.online();
    await eventually(() => !a.bridge.kernel.cluster.alone, 'A sees B in the cluster');
    const devices = await fleet();
    const lost = lostAt(a, b.instanceId());
    await b.kill9();
    const takeover = await lost;
    // Its first start may or may not have finished before the kill.
    const starts = logLines(b.dir, 'bridge started');
    b.restart();
    await b.online();
    await eventually(() => !a.bridge.kernel.cluster.alone, 'A sees B back in the cluster');
    // B's readings client is attached and subscribed again: its share is queued for it from now.
    // ('bridge started' is logged once its brokers are attached and every mapped topic is subscribed.)
    await eventually(() => logLines(b.dir, 'bridge started') > starts, 'B started again (subscribed to the mapped topics)');
    const before = a.bridge.metrics.get('readings_total');
    const keys = await publishReadings(devices, PER_ROUND);
    await eventually(() => tally(keys).distinct === keys.size, () => `${keys.size} readings at the watcher (${tally(keys).distinct} arrived)`, 60_000);
    const byA = a.bridge.metrics.get('readings_total') - before;
    const { distinct, duplicates } = tally(keys);
    console.log(
      `      after the takeover (${takeover.readings} readings taken from B's session) and B's restart: ${keys.size} readings, A took ${byA}, B ${keys.size - byA}; ${distinct} delivered, ${duplicates} duplicates`,
    );
    assert.ok(byA < keys.size && byA > 0, `both instances took a share (A: ${byA} of ${keys.size})`);
    assert.equal(duplicates, 0);
  });
});
