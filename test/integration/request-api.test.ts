/**
 * The request API end to end, over the real embedded broker with authentication on: a service account whose publish
 * filters cover `<base>/bridge/request/#` is answered on `<base>/bridge/response/…`; a device, or a service account
 * without that right, cannot publish a request at all (the broker closes its connection) and nothing happens. The
 * operator's command reaches the real device client, and the outcome returns once the plug confirms it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { CredentialStore } from '../../src/store/credentials.js';
import { openDatabase, type Db } from '../../src/store/db.js';
import { closeMqtt, mqttClient, nextMqttMessage, removeDir, startBridge, startTestServer, type RunningBridge, type TestServer } from './harness.js';

const BASE = 'mqtt-xmpp-bridge';
const KETTLE = 'plug-kettle@iot.localhost';

interface Response {
  status: string;
  data: Record<string, unknown>;
  error?: string;
  code?: string;
  transaction?: unknown;
}

describe('request API over the broker', function () {
  let server: TestServer;
  let run: RunningBridge;
  let db: Db;
  const passwords: Record<string, string> = {};
  const clients: MqttClient[] = [];

  before(async function () {
    server = await startTestServer();
    run = await startBridge({ server, config: { mqtt: { embedded: { allowAnonymous: false } }, operator: { jid: 'alice@localhost' } } });
    db = openDatabase(join(run.dir, 'data'));
    const creds = new CredentialStore(db);
    passwords['ops'] = await creds.add('ops', 'service', { publish: [`${BASE}/bridge/request/#`], subscribe: [`${BASE}/bridge/response/#`] });
    passwords['z2m'] = await creds.add('z2m', 'service', { publish: ['zigbee2mqtt/#'], subscribe: [`${BASE}/bridge/response/#`] });
    passwords['plug-kettle'] = await creds.add('plug-kettle', 'device');
  });

  after(async function () {
    await closeMqtt(...clients);
    db?.close();
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  async function login(name: string, clientId = name): Promise<MqttClient> {
    const c = await mqttClient(run.mqttUrl, { clientId, username: name, password: passwords[name]! });
    clients.push(c);
    return c;
  }

  async function ask(c: MqttClient, op: string, body: Record<string, unknown>): Promise<Response> {
    const answer = nextMqttMessage(c, `${BASE}/bridge/response/${op}`, (p) => (JSON.parse(p.toString()) as Response).transaction === body['transaction']);
    await c.publishAsync(`${BASE}/bridge/request/${op}`, JSON.stringify(body), { qos: 1 });
    return JSON.parse((await answer).toString()) as Response;
  }

  it('answers a service account allowed to publish requests', async function () {
    const ops = await login('ops');
    await ops.subscribeAsync(`${BASE}/bridge/response/#`);
    const r = await ask(ops, 'health', { transaction: 1 });
    assert.deepEqual([r.status, r.data['status'], r.data['xmpp'], r.data['database']], ['ok', 'ok', true, true]);
  });

  it('sends the operator\'s command to the real device and answers when the plug confirms it', async function () {
    const plug = await login('plug-kettle');
    await plug.publishAsync('plugs/kettle/availability', 'online', { qos: 1, retain: true });
    await plug.subscribeAsync('plugs/kettle/set', { qos: 1 });
    await plug.publishAsync('plugs/kettle/state', '{"state":"OFF","power":0}', { qos: 1 });
    // The plug does what it is told and reports its new state.
    plug.on('message', (topic, payload) => {
      if (topic === 'plugs/kettle/set') void plug.publishAsync('plugs/kettle/state', JSON.stringify({ ...(JSON.parse(payload.toString()) as object), power: 1850 }), { qos: 1 });
    });
    const ops = await login('ops', 'ops-2');
    await ops.subscribeAsync(`${BASE}/bridge/response/#`);
    const r = await ask(ops, 'device/command', { transaction: 'c1', device: KETTLE, command: 'set', payload: { state: 'ON' } });
    assert.equal(r.status, 'ok', JSON.stringify(r));
    assert.deepEqual([r.data['topic'], r.data['confirmed'], r.data['as']], ['plugs/kettle/set', true, 'alice@localhost']);
  });

  it('closes a device, or a service account without the right, that publishes a request; nothing is done', async function () {
    const denied = run.bridge.metrics.get('broker_events_total', 'publish_denied');
    const watcher = await login('ops', 'ops-watcher');
    await watcher.subscribeAsync(`${BASE}/bridge/response/#`);
    let responses = 0;
    watcher.on('message', () => (responses += 1));
    for (const [name, clientId] of [
      ['z2m', 'z2m'],
      ['plug-kettle', 'plug-kettle-2'],
    ] as const) {
      const c = await login(name, clientId);
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
      c.publish(`${BASE}/bridge/request/device/remove`, JSON.stringify({ device: KETTLE }), { qos: 1 });
      await closed;
    }
    assert.equal(run.bridge.metrics.get('broker_events_total', 'publish_denied'), denied + 2);
    assert.ok(run.bridge.registry.byJid(KETTLE), 'the device was not removed');
    // A request the watcher may make is answered: had the refused ones been taken, their answers would have come first.
    const r = await ask(watcher, 'device/list', { transaction: 'after' });
    assert.equal(r.status, 'ok');
    assert.equal(responses, 1, 'only the allowed request was answered');
  });
});
