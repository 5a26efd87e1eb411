/**
 * The dry run of one publish (features/preview/preview.ts) over the live core: the mapping and device it hits, the
 * validation errors, the exact stanza — and nothing registered, sent, counted or announced.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import { ChatDelivery } from '../../src/features/uplink/chat-delivery.js';
import { Recipients } from '../../src/features/uplink/recipients.js';
import { preview, type PreviewResult } from '../../src/features/preview/preview.js';
import { startTestBridge, type TestBridge } from '../support/test-bridge.js';

const KITCHEN = 'home-kitchen@iot.example.org';

function run(t: TestBridge, topic: string, payload: string): PreviewResult {
  const k = t.bridge.kernel;
  const chat = new ChatDelivery(k.xmpp, new Recipients(k.stores.subscriptions, k.users), k.config.xmpp);
  return preview({ routes: k.mappings, registry: k.registry, build: (d, json, value) => chat.build(d, json, value) }, topic, Buffer.from(payload));
}

describe('preview', () => {
  let t: TestBridge;
  afterEach(() => t?.stop());

  it('shows the mapping, the new device and the exact stanza, and registers, sends and counts nothing', async () => {
    t = await startTestBridge();
    const events: string[] = [];
    t.bridge.kernel.bus.onAny((name) => events.push(name));
    const r = run(t, 'sensors/home/kitchen/telemetry', '{"temperature":21.5,"humidity":40}');
    assert.equal(r.outcome, 'delivered');
    if (r.outcome !== 'delivered') return;
    assert.equal(r.mapping, 'climate');
    assert.deepEqual(r.device, { id: 'home-kitchen', jid: KITCHEN, name: 'kitchen climate (home)', known: false });
    assert.deepEqual(r.recipients, []);
    assert.equal(
      r.stanza,
      `<message from="${KITCHEN}" type="chat" id="preview"><body>21.5 °C, 40 % RH</body><json xmlns="urn:xmpp:json:0">{"temperature":21.5,"humidity":40}</json></message>`,
    );
    assert.equal(t.bridge.registry.size, 0, 'nothing registered');
    assert.deepEqual(events, [], 'nothing announced');
    assert.deepEqual(t.link.sent, [], 'nothing sent');
    assert.equal(t.bridge.metrics.get('readings_total'), 0, 'nothing counted');
  });

  it('addresses the stanza to the device\'s subscribers of the running bridge, and leaves the known device as it is', async () => {
    t = await startTestBridge();
    await t.side.device('sensors/home/kitchen/telemetry', '{"temperature":20}');
    await t.link.inject(xml('presence', { to: KITCHEN, from: 'alice@example.org/phone', type: 'subscribe' }));
    const before = t.bridge.registry.byJid(KITCHEN)!.lastSeen;
    const r = run(t, 'sensors/home/kitchen/telemetry', '{"temperature":22}');
    assert.equal(r.outcome, 'delivered');
    if (r.outcome !== 'delivered') return;
    assert.equal(r.device.known, true);
    assert.deepEqual(r.recipients, ['alice@example.org']);
    assert.match(r.stanza, /^<message from="home-kitchen@iot\.example\.org" to="alice@example\.org" type="chat" id="preview">/);
    assert.equal(t.bridge.registry.byJid(KITCHEN)!.lastSeen, before, 'the device is untouched');
  });

  it('lists the schema errors of an invalid payload, with the device it names', async () => {
    t = await startTestBridge();
    const r = run(t, 'sensors/home/kitchen/telemetry', '{"temperature":"warm"}');
    assert.equal(r.outcome, 'rejected');
    if (r.outcome !== 'rejected') return;
    assert.equal(r.code, 'PAYLOAD_INVALID');
    assert.equal(r.mapping, 'climate');
    assert.equal(r.device?.jid, KITCHEN);
    assert.deepEqual(r.errors, [{ path: '/temperature', message: 'must be number' }]);
  });

  it('tells a payload that is not JSON and a topic no mapping takes', async () => {
    t = await startTestBridge();
    const notJson = run(t, 'sensors/home/kitchen/telemetry', 'hot');
    assert.deepEqual([notJson.outcome, notJson.outcome === 'rejected' ? notJson.code : ''], ['rejected', 'PAYLOAD_NOT_JSON']);
    assert.deepEqual(run(t, 'somewhere/else', '{}'), { outcome: 'unmapped', topic: 'somewhere/else' });
  });
});
