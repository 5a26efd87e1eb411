/**
 * Rights on the embedded broker beyond the ones derived from the mappings: the bridge's own topics, the operator's
 * ACL rules (`mqtt.embedded.acl`) and anonymous clients on a bench where anonymous access is on. Real broker, real
 * mqtt.js clients, a real Prosody behind the bridge.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import mqtt, { MqttClient, type IClientOptions } from 'mqtt';
import { CredentialStore } from '../../src/store/credentials.js';
import { openDatabase, type Db } from '../../src/store/db.js';
import { closeMqtt, mqttClient, nextMqttMessage, removeDir, startBridge, startTestServer, type RunningBridge, type TestServer } from './harness.js';

const BRIDGE = 'mqtt-xmpp-bridge/bridge';

/** The CONNACK return code of a CONNECT (0 = accepted), from a given local source address if `from` is set. */
async function connackCode(url: string, opts: IClientOptions, from?: string): Promise<number> {
  const options = { reconnectPeriod: 0, connectTimeout: 20_000, ...opts };
  const u = new URL(url);
  const c = from === undefined ? mqtt.connect(url, options) : new MqttClient(() => connect({ host: u.hostname, port: Number(u.port), localAddress: from }), options);
  const result = await new Promise<number>((resolve) => {
    c.once('connect', () => resolve(0));
    c.once('error', (err: Error & { code?: number }) => resolve(err.code ?? -1));
  });
  await c.endAsync(true).catch(() => undefined);
  return result;
}

/** SUBSCRIBE and the SUBACK return codes, one per filter (0x80 = refused). */
async function subackCodes(c: MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await c.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet;
    if (!packet?.granted) throw err;
    return packet.granted;
  }
}

/** Publishes, and resolves once the server closes the connection instead of acknowledging (within 10 s). */
async function publishRefused(c: MqttClient, topic: string, payload: string, retain = false): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<void>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`the publish on ${topic} was not refused within 10 s`)), 10_000);
    c.once('close', () => resolve());
  });
  c.publish(topic, payload, { qos: 1, retain });
  try {
    await closed;
  } finally {
    clearTimeout(timer);
  }
}

describe('broker rights: the bridge\'s own topics, ACL rules, anonymous clients', function () {
  this.timeout(60_000);
  let server: TestServer;
  let run: RunningBridge;
  let db: Db;
  const passwords: Record<string, string> = {};
  const clients: MqttClient[] = [];

  before(async function () {
    server = await startTestServer();
    run = await startBridge({
      server,
      config: {
        mqtt: {
          embedded: {
            allowAnonymous: true,
            auth: { failureBurst: 2, failuresPerMinute: 1, maxDelayMs: 500 },
            acl: [
              { action: 'deny', topic: 'test/nosubscribe', access: 'subscribe' },
              { action: 'deny', topic: 'plugs/#', access: 'publish', who: ['anonymous'] },
              { action: 'allow', topic: 'home/%u/#', access: 'subscribe', who: ['device:*'] },
            ],
          },
        },
      },
    });
    db = openDatabase(join(run.dir, 'data'));
    const creds = new CredentialStore(db);
    passwords['plug-kettle'] = await creds.add('plug-kettle', 'device');
    passwords['ops'] = await creds.add('ops', 'service', { publish: ['#'], subscribe: ['#'] });
  });

  after(async function () {
    await closeMqtt(...clients);
    db?.close();
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  async function client(opts: IClientOptions): Promise<MqttClient> {
    const c = await mqttClient(run.mqttUrl, opts);
    clients.push(c);
    return c;
  }

  it('lets nobody but the bridge write <base>/bridge/ (requests aside): anonymous and "#" accounts are closed', async function () {
    const vandal = await client({ clientId: 'vandal' });
    await publishRefused(vandal, `${BRIDGE}/state`, '', true);
    const ops = await client({ clientId: 'ops', username: 'ops', password: passwords['ops']! });
    await publishRefused(ops, `${BRIDGE}/info`, '', true);
    const ops2 = await client({ clientId: 'ops-2', username: 'ops', password: passwords['ops']! });
    await publishRefused(ops2, `${BRIDGE}/event`, '{"type":"forged"}');
    // Requests are the part of it clients write, for accounts whose filters cover them.
    const ops3 = await client({ clientId: 'ops-3', username: 'ops', password: passwords['ops']! });
    await ops3.publishAsync(`${BRIDGE}/request/ping`, '{}', { qos: 1 });
    // The retained state and info are intact.
    const reader = await client({ clientId: 'reader' });
    const state = nextMqttMessage(reader, `${BRIDGE}/state`);
    const info = nextMqttMessage(reader, `${BRIDGE}/info`);
    await reader.subscribeAsync(`${BRIDGE}/+`, { qos: 1 });
    assert.equal((await state).toString(), 'online');
    assert.ok((await info).length > 0, 'info still retained');
  });

  it('does not refuse an anonymous client because its address is throttled for failed logins', async function () {
    const from = '127.0.5.1';
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push(await connackCode(run.mqttUrl, { clientId: `guess-${i}`, username: 'nobody', password: `guess-${i}` }, from));
    assert.deepEqual(codes, [4, 4, 5]);
    assert.equal(await connackCode(run.mqttUrl, { clientId: 'anon-after-guesses' }, from), 0);
  });

  it('refuses a SUBSCRIBE a deny rule covers (0x80), and forwards nothing on that topic to a wider one: live, queued or retained', async function () {
    const sub = await client({ clientId: 'sub' });
    assert.deepEqual(await subackCodes(sub, ['test/nosubscribe', 'test/#']), [128, 1]);
    const publisher = await client({ clientId: 'publisher' });
    // Live: in publish order, test/ok arrives; test/nosubscribe before it never does.
    const live: string[] = [];
    sub.on('message', (topic) => live.push(topic));
    const ok = nextMqttMessage(sub, 'test/ok');
    await publisher.publishAsync('test/nosubscribe', 'secret', { qos: 1 });
    await publisher.publishAsync('test/ok', 'fine', { qos: 1 });
    await ok;
    assert.deepEqual(live, ['test/ok']);

    // Queued for a persistent session while it was away: checked again when delivered.
    const first = await client({ clientId: 'watcher', clean: false });
    assert.deepEqual(await subackCodes(first, ['test/#']), [1]);
    await first.endAsync();
    await publisher.publishAsync('test/nosubscribe', 'queued secret', { qos: 1 });
    await publisher.publishAsync('test/ok', 'queued fine', { qos: 1 });
    const queued: string[] = [];
    const back = mqtt.connect(run.mqttUrl, { clientId: 'watcher', clean: false, reconnectPeriod: 0 });
    clients.push(back);
    back.on('message', (topic, payload) => queued.push(`${topic} ${payload.toString()}`));
    await nextMqttMessage(back, 'test/ok');
    assert.deepEqual(queued, ['test/ok queued fine']);

    // Retained: a new subscriber to test/# gets test/ok's retained message, never test/nosubscribe's.
    await publisher.publishAsync('test/nosubscribe', 'retained secret', { qos: 1, retain: true });
    await publisher.publishAsync('test/ok', 'retained fine', { qos: 1, retain: true });
    const late = await client({ clientId: 'late' });
    const retained: string[] = [];
    late.on('message', (topic, payload) => retained.push(`${topic} ${payload.toString()}`));
    const got = nextMqttMessage(late, 'test/ok');
    assert.deepEqual(await subackCodes(late, ['test/#']), [1]);
    await got;
    assert.deepEqual(retained, ['test/ok retained fine']);
  });

  it('applies rules for anonymous clients and patterns with %u', async function () {
    // Anonymous clients may not publish under plugs/ here.
    const anon = await client({ clientId: 'anon-plug' });
    await publishRefused(anon, 'plugs/kettle/state', '{"state":"ON","power":1}');
    // Every device may subscribe below home/<its name>/, and nowhere else there.
    const kettle = await client({ clientId: 'plug-kettle', username: 'plug-kettle', password: passwords['plug-kettle']! });
    assert.deepEqual(await subackCodes(kettle, ['home/plug-kettle/#', 'home/plug-lamp/#', 'plugs/kettle/set']), [1, 128, 1]);
    // The device publishes its own state as before: the anonymous rule is not its.
    await kettle.publishAsync('plugs/kettle/state', '{"state":"ON","power":2}', { qos: 1 });
  });
});
