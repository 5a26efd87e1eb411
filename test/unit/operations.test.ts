/**
 * The operator's operations through the MQTT request API, with the core on in-memory edges: `<base>/bridge/request/<op>`
 * is answered on `<base>/bridge/response/<op>` with `{status, data, error, code, transaction}` — health, device
 * list/rename/remove, the operator's command, import approve/block (no importer yet), unknown requests — and what each
 * does is checked where it shows: the registry, the store, the stanzas, the command topic.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import Database from 'better-sqlite3';
import { startTestBridge, type TestBridge } from '../support/test-bridge.js';

const BASE = 'mqtt-xmpp-bridge';
const KITCHEN = 'home-kitchen@iot.example.org';
const KETTLE = 'plug-kettle@iot.example.org';
const USER = 'alice@example.org';

interface Response {
  status: 'ok' | 'error';
  data: Record<string, unknown>;
  error?: string;
  code?: string;
  transaction?: unknown;
}

/** Publish a request as a client would and wait for the bridge's response. */
async function request(t: TestBridge, op: string, body: unknown = {}): Promise<Response> {
  const answered = t.side.next((p) => p.topic === `${BASE}/bridge/response/${op}`, `the response to ${op}`);
  t.side.route(`${BASE}/bridge/request/${op}`, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
  return JSON.parse((await answered).payload.toString()) as Response;
}

/** The kitchen sensor connects (its availability follows its MQTT client id) and sends a reading. */
async function kitchen(t: TestBridge, temperature = 20): Promise<void> {
  t.side.connect('climate-home-kitchen');
  await t.side.device('sensors/home/kitchen/telemetry', JSON.stringify({ temperature }), { clientId: 'climate-home-kitchen' });
}

describe('request API (operations)', () => {
  let t: TestBridge;
  afterEach(() => t?.stop());

  it('answers health with the readiness checks and counts, echoing the transaction', async () => {
    t = await startTestBridge();
    await kitchen(t);
    const r = await request(t, 'health', { transaction: 'tx-1' });
    assert.equal(r.status, 'ok');
    assert.equal(r.transaction, 'tx-1');
    assert.equal(r.data['status'], 'ok');
    assert.equal(r.data['xmpp'], true);
    assert.equal(r.data['broker'], true);
    assert.equal(r.data['database'], true);
    assert.deepEqual(r.data['devices'], { known: 1, online: 1 });
  });

  it('lists devices with their mapping, state and subscribers', async () => {
    t = await startTestBridge();
    await kitchen(t);
    await t.link.inject(xml('presence', { to: KITCHEN, from: `${USER}/phone`, type: 'subscribe' }));
    // Online: her client's presence reaches the device (a probe alone does not tell when she leaves).
    await t.link.inject(xml('presence', { to: KITCHEN, from: `${USER}/phone` }));
    const r = await request(t, 'device/list');
    assert.equal(r.status, 'ok');
    const devices = r.data['devices'] as { jid: string; mapping: string; online: boolean; subscribers: { total: number; online: number } }[];
    assert.deepEqual(
      devices.map((d) => [d.jid, d.mapping, d.online, d.subscribers]),
      [[KITCHEN, 'climate', true, { total: 1, online: 1 }]],
    );
  });

  it('renames a device: disco shows the new name, the store keeps it, and null gives the mapping\'s name back', async () => {
    t = await startTestBridge();
    await kitchen(t);
    const events: unknown[] = [];
    t.bridge.kernel.bus.on('device_renamed', (e) => events.push([e.device.jid, e.device.name, e.before]));
    const republished = t.side.next((p) => p.topic === `${BASE}/bridge/devices` && p.payload.toString().includes('"Kitchen thermometer"'), 'bridge/devices with the new name', 3000);
    const r = await request(t, 'device/rename', { device: 'home-kitchen', name: 'Kitchen thermometer' });
    await republished;
    assert.deepEqual([r.status, r.data['name'], r.data['before']], ['ok', 'Kitchen thermometer', 'kitchen climate (home)']);
    assert.deepEqual(events, [[KITCHEN, 'Kitchen thermometer', 'kitchen climate (home)']]);
    const info = await t.link.inject(xml('iq', { type: 'get', to: KITCHEN, from: `${USER}/phone`, id: 'd1' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
    assert.equal(info!.getChild('query')!.getChild('identity')!.attrs['name'], 'Kitchen thermometer');
    const db = new Database(join(t.dir, 'data', 'bridge.db'), { readonly: true });
    assert.deepEqual(db.prepare('SELECT name FROM devices WHERE jid = ?').get(KITCHEN), { name: 'Kitchen thermometer' });
    db.close();
    const back = await request(t, 'device/rename', { device: KITCHEN, name: null });
    assert.equal(back.data['name'], 'kitchen climate (home)');
  });

  it('refuses a name with characters a stanza cannot carry, and an unknown device', async () => {
    t = await startTestBridge();
    await kitchen(t);
    const bad = await request(t, 'device/rename', { device: KITCHEN, name: 'bell\u0007' });
    assert.deepEqual([bad.status, bad.code], ['error', 'REQUEST_INVALID']);
    assert.equal(t.bridge.registry.byJid(KITCHEN)!.name, 'kitchen climate (home)');
    const unknown = await request(t, 'device/rename', { device: 'nobody', name: 'x' });
    assert.deepEqual([unknown.status, unknown.code, unknown.error], ['error', 'DEVICE_UNKNOWN', 'no device nobody']);
  });

  it('removes a device: its subscribers see it go, the store forgets it, its next reading brings it back', async () => {
    t = await startTestBridge();
    await kitchen(t);
    await t.link.inject(xml('presence', { to: KITCHEN, from: `${USER}/phone`, type: 'subscribe' }));
    t.link.take();
    const gone = t.link.next((el: Element) => el.name === 'presence' && el.attrs['type'] === 'unavailable' && el.attrs['to'] === USER, 'unavailable presence');
    const r = await request(t, 'device/remove', { device: KITCHEN });
    assert.deepEqual([r.status, r.data['device']], ['ok', KITCHEN]);
    assert.equal((await gone).getChildText('status'), 'removed from the bridge');
    assert.equal(t.bridge.registry.byJid(KITCHEN), undefined);
    const db = new Database(join(t.dir, 'data', 'bridge.db'), { readonly: true });
    assert.deepEqual(db.prepare('SELECT count(*) AS n FROM devices WHERE jid = ?').get(KITCHEN), { n: 0 });
    db.close();
    await kitchen(t, 21);
    assert.ok(t.bridge.registry.byJid(KITCHEN), 'back with its next reading');
  });

  it('sends a command as the configured operator, through the downlink (validated, published, audited as mqtt)', async () => {
    t = await startTestBridge({ config: { operator: { jid: 'ops@example.org' } } });
    await t.side.device('plugs/kettle/availability', 'online');
    await t.side.device('plugs/kettle/state', '{"state":"OFF","power":0}');
    const published = t.side.next((p) => p.topic === 'plugs/kettle/set', 'the command publish');
    const answer = request(t, 'device/command', { device: 'plug-kettle', command: 'set', payload: { state: 'ON' } });
    assert.equal((await published).payload.toString(), '{"state":"ON"}');
    // The plug confirms by reporting its new state.
    await t.side.device('plugs/kettle/state', '{"state":"ON","power":1800}');
    const r = await answer;
    assert.equal(r.status, 'ok', JSON.stringify(r));
    assert.deepEqual([r.data['device'], r.data['topic'], r.data['confirmed'], r.data['as']], [KETTLE, 'plugs/kettle/set', true, 'ops@example.org']);
    const invalid = await request(t, 'device/command', { device: KETTLE, command: 'set', payload: { state: 'MAYBE' } });
    assert.deepEqual([invalid.status, invalid.code], ['error', 'COMMAND_INVALID']);
    assert.ok(Array.isArray(invalid.data['errors']), 'the schema errors come along');
  });

  it('refuses the operator\'s command without an operator identity, or one the mapping does not list', async () => {
    t = await startTestBridge();
    await t.side.device('plugs/kettle/state', '{"state":"OFF","power":0}');
    const none = await request(t, 'device/command', { device: KETTLE, command: 'set', payload: { state: 'ON' } });
    assert.deepEqual([none.status, none.code, none.error], ['error', 'FORBIDDEN', 'no operator identity is configured (operator.jid)']);
    await t.stop();
    t = await startTestBridge({ config: { operator: { jid: 'ops@elsewhere.org' } } });
    await t.side.device('plugs/kettle/state', '{"state":"OFF","power":0}');
    const stranger = await request(t, 'device/command', { device: KETTLE, command: 'set', payload: { state: 'ON' } });
    // Not a viewer either: the device does not exist for that identity (access-policy.ts).
    assert.deepEqual([stranger.status, stranger.code], ['error', 'DEVICE_UNKNOWN']);
    assert.equal(t.side.published.filter((p) => p.topic === 'plugs/kettle/set').length, 0, 'nothing published');
  });

  it('answers import approve/block with "no importer enabled" and unknown requests with REQUEST_UNKNOWN', async () => {
    t = await startTestBridge();
    const approve = await request(t, 'import/approve', { id: 'x' });
    assert.deepEqual([approve.status, approve.code, approve.error], ['error', 'NOT_IMPLEMENTED', 'no importer enabled']);
    const block = await request(t, 'import/block', { id: 'x' });
    assert.deepEqual([block.status, block.code], ['error', 'NOT_IMPLEMENTED']);
    const unknown = await request(t, 'device/fly', 'not json');
    assert.deepEqual([unknown.status, unknown.code, unknown.error], ['error', 'REQUEST_UNKNOWN', 'unknown request "device/fly"']);
  });

  it('still reloads on <base>/bridge/request/reload, answered once', async () => {
    t = await startTestBridge();
    let answers = 0;
    const counted = t.side.next((p) => p.topic === `${BASE}/bridge/response/reload` && ++answers > 1, 'a second answer', 300).catch(() => 'none');
    const r = await request(t, 'reload', { transaction: 7 });
    assert.deepEqual([r.status, r.transaction], ['ok', 7]);
    assert.equal(await counted, 'none', 'one request, one answer');
  });
});
