/**
 * The delivery engine, with the real SQLite outbox and in-memory edges: QoS 1 readings are acknowledged only after
 * their outbox commit, written at once while the stream is up, confirmed by barriers, replayed in order with their
 * original ids and XEP-0203 stamps after an outage, held unacknowledged when the outbox is full, and QoS 0 readings
 * wait in a bounded buffer while the stream is down.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { startTestBridge, type TestBridge } from '../support/test-bridge.js';

const NS_JSON = 'urn:xmpp:json:0';
const USER = 'alice@example.org';
const KITCHEN = 'home-kitchen@iot.example.org';

/**
 * The engine's promise is tested with `offline: store` — every reading goes to every follower, online or not — so
 * what reaches the link is decided by the engine alone (presence gating is tested in gating.test.ts).
 */
const CLIMATE_STORE = {
  id: 'climate',
  topic: 'sensors/{site}/{device}/telemetry',
  jid: '{site}-{device}',
  schema: 'urn:mqtt-xmpp-bridge:example:climate',
  delivery: { offline: 'store' },
  access: { viewers: ['*@example.org'] },
};
const bridge = (config: Record<string, unknown>): Promise<TestBridge> => startTestBridge({ mappings: [CLIMATE_STORE], config });

const readingTo = (user: string) => (el: Element): boolean => el.name === 'message' && el.attrs['to'] === user && el.getChild('json', NS_JSON) !== undefined;
const temperature = (el: Element): number => (JSON.parse(el.getChildText('json', NS_JSON)!) as { temperature: number }).temperature;

async function subscribed(t: TestBridge): Promise<void> {
  await t.side.device('sensors/home/kitchen/telemetry', '{"temperature":1}');
  await t.link.inject(xml('presence', { to: KITCHEN, from: USER, type: 'subscribe' }));
  t.link.take();
}

describe('delivery', () => {
  let t: TestBridge;
  afterEach(() => t?.stop());

  it('acknowledges a QoS 1 reading after it is stored, writes it at once, and a barrier empties the outbox', async () => {
    t = await bridge({ delivery: { barrierIntervalMs: 5 } });
    await subscribed(t);
    const got = t.link.next(readingTo(USER), 'the reading');
    await t.side.device('sensors/home/kitchen/telemetry', '{"temperature":21.5}', { qos: 1 });
    const msg = await got;
    assert.equal(temperature(msg), 21.5);
    assert.match(msg.attrs['id']!, /^[0-9a-f]{8}-[0-9a-z]+$/, 'the id is <instance>-<outbox row>');
    await waitFor(() => t.bridge.delivery.backlog.outbox === 0, 'the barrier confirms the row');
    assert.ok(t.bridge.metrics.get('readings_confirmed_total') >= 1);
  });

  it('keeps QoS 1 readings through an outage and replays them in order, with their ids and delay stamps', async () => {
    t = await bridge({ delivery: { barrierIntervalMs: 5 } });
    await subscribed(t);
    t.link.down();
    for (let i = 0; i < 20; i++) await t.side.device('sensors/home/kitchen/telemetry', JSON.stringify({ temperature: i }), { qos: 1 });
    assert.equal(t.bridge.delivery.backlog.outbox, 20, 'acknowledged and kept');
    assert.deepEqual(t.link.take(readingTo(USER)), [], 'nothing written while down');
    t.link.up();
    await waitFor(() => t.link.sent.filter(readingTo(USER)).length === 20, 'the replay');
    const replayed = t.link.take(readingTo(USER));
    assert.deepEqual(replayed.map(temperature), [...Array(20).keys()], 'in arrival order');
    assert.equal(new Set(replayed.map((m) => m.attrs['id'])).size, 20);
    await waitFor(() => t.bridge.delivery.backlog.outbox === 0, 'the replay is confirmed');
  });

  it('stamps a reading replayed more than a second late with XEP-0203', async () => {
    t = await bridge({ delivery: { barrierIntervalMs: 5 } });
    await subscribed(t);
    t.link.down();
    await t.side.device('sensors/home/kitchen/telemetry', '{"temperature":7}', { qos: 1 });
    await new Promise((r) => setTimeout(r, 1100)); // the reading must be more than a second old (the rule under test)
    const late = t.link.next(readingTo(USER), 'the late reading');
    t.link.up();
    const msg = await late;
    const delay = msg.getChild('delay', 'urn:xmpp:delay');
    assert.ok(delay, 'a delay stamp');
    assert.equal(delay.attrs['from'], 'iot.example.org');
  });

  it('sends the same reading again after a barrier is lost with its stream (duplicates, never losses)', async () => {
    t = await bridge({ delivery: { barrierIntervalMs: 5 } });
    await subscribed(t);
    t.link.holdRequests = true;
    const written = t.link.next(readingTo(USER), 'the reading');
    await t.side.device('sensors/home/kitchen/telemetry', '{"temperature":3}', { qos: 1 });
    const first = (await written).attrs['id'];
    await waitFor(() => t.link.held.length === 1, 'a barrier');
    // The stream dies before the server answers: the row stays, and the next stream gets it again.
    t.link.down();
    t.link.holdRequests = false;
    t.link.held.splice(0).forEach((h) => h.reject(new Error('stream closed')));
    const again = t.link.next(readingTo(USER), 'the resent reading');
    t.link.up();
    assert.equal((await again).attrs['id'], first, 'the same id');
    await waitFor(() => t.bridge.delivery.backlog.outbox === 0, 'confirmed on the new stream');
  });

  it('holds QoS 1 publishes unacknowledged when the outbox is full, and takes them when it drains', async () => {
    t = await bridge({ delivery: { maxOutbox: 5, barrierIntervalMs: 5 } });
    await subscribed(t);
    const full = waitForEvent(t, 'outbox_full');
    t.link.down();
    const acks: Promise<void>[] = [];
    const acked: number[] = [];
    for (let i = 0; i < 8; i++) {
      const p = t.side.device('sensors/home/kitchen/telemetry', JSON.stringify({ temperature: i }), { qos: 1 });
      acks.push(p.then(() => void acked.push(i)));
    }
    assert.deepEqual(await full, { size: 5, limit: 5 });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(acked.sort((a, b) => a - b), [0, 1, 2, 3, 4], 'only what fits is acknowledged');
    t.link.up();
    await Promise.all(acks);
    await waitFor(() => t.link.sent.filter(readingTo(USER)).length === 8, 'all eight delivered');
    assert.deepEqual(t.link.take(readingTo(USER)).map(temperature), [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('buffers QoS 0 readings while the stream is down, dropping the oldest beyond the limit (counted)', async () => {
    t = await bridge({ delivery: { qos0Buffer: 3, barrierIntervalMs: 5 } });
    await subscribed(t);
    t.link.down();
    for (let i = 0; i < 5; i++) await t.side.device('sensors/home/kitchen/telemetry', JSON.stringify({ temperature: i }), { qos: 0 });
    assert.equal(t.bridge.delivery.backlog.qos0, 3);
    assert.equal(t.bridge.metrics.get('readings_dropped_total', 'QOS0_OVERFLOW'), 2);
    t.link.up();
    await waitFor(() => t.link.sent.filter(readingTo(USER)).length === 3, 'the buffer');
    assert.deepEqual(t.link.take(readingTo(USER)).map(temperature), [2, 3, 4]);
  });

  it('drops the stream when a barrier is not answered in time (the link times the request out)', async () => {
    t = await bridge({ delivery: { barrierIntervalMs: 5 } });
    await subscribed(t);
    t.link.holdRequests = true;
    const offline = new Promise<void>((resolve) => t.link.once('offline', () => resolve()));
    await t.side.device('sensors/home/kitchen/telemetry', '{"temperature":3}', { qos: 1 });
    await waitFor(() => t.link.held.length === 1, 'a barrier');
    t.link.held[0]!.reject(Object.assign(new Error('no answer within 10000 ms'), { name: 'TimeoutError' }));
    await offline;
    assert.equal(t.bridge.metrics.get('barrier_timeouts_total'), 1);
  });
});

async function waitFor(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function waitForEvent(t: TestBridge, name: 'outbox_full'): Promise<unknown> {
  return new Promise((resolve) => {
    const off = t.bridge.kernel.bus.on(name, (data) => {
      off();
      resolve(data);
    });
  });
}
