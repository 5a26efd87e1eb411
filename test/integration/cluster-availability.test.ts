/**
 * Cluster mode (docs/SCALING.md): a device's availability as every instance sees it — from an instance restarted after
 * a kill -9, before its shared state has reached the rest of its start; a device put to sleep at one instance and
 * commanded through the other; a device's return that the other instance has not heard of yet. One ejabberd, one
 * redis-server and one mosquitto; the instances of each test are started and stopped by it.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { Redis } from 'ioredis';
import type { MqttClient } from 'mqtt';
import { startMosquitto, type MosquittoInstance } from '../../src/servers/mosquitto.js';
import { clusterConfig, eventually, spawnInstance, startClusterServers, startInstance, type ChildInstance, type ClusterServers } from './cluster-harness.js';
import { closeMqtt, isPresenceFrom, mqttClient, removeDir, type RunningBridge, type XmppUser } from './harness.js';

const COMPONENT = 'iot.localhost';
const NS_ADHOC = 'http://jabber.org/protocol/commands';

const plug = (name: string): string => `plug-${name}@${COMPONENT}`;

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

describe('cluster mode: availability agreed across instances (ejabberd, Redis, mosquitto)', function () {
  this.timeout(120_000);
  let servers: ClusterServers;
  let mosquitto: MosquittoInstance;
  let redis: Redis;
  let alice: XmppUser;
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
    for (const d of dirs) removeDir(d);
  });

  async function inProcess(config: Record<string, unknown>): Promise<RunningBridge> {
    const r = await startInstance({ server: servers.server, config });
    dirs.push(r.dir);
    running.push(r);
    return r;
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
});
