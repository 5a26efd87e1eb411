/**
 * The `live` delivery mode and the other message modes: one message per device, recipient and period, corrected in
 * place by later readings (XEP-0308, always naming the original, with XEP-0334 hints); no correction when the text
 * would not change; a new original for a recipient who has not had one this period, and when the period changes;
 * `headline` readings; `archive: false` hints.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { LiveDelivery, periodKey } from '../../src/features/uplink/live-delivery.js';
import { Recipients } from '../../src/features/uplink/recipients.js';
import { UserPresence } from '../../src/kernel/user-presence.js';
import type { Device } from '../../src/devices/device.js';
import { DOMAIN, settled, startTestBridge, type TestBridge } from '../support/test-bridge.js';

const NS_CORRECT = 'urn:xmpp:message-correct:0';
const NS_HINTS = 'urn:xmpp:hints';
const DEVICE = `home-kitchen@${DOMAIN}`;
const ALICE = 'alice@example.org';
const BOB = 'bob@example.org';

const climate = (delivery: Record<string, unknown>): Record<string, unknown> => ({
  id: 'climate',
  topic: 'sensors/{site}/{device}/telemetry',
  jid: '{site}-{device}',
  schema: 'urn:mqtt-xmpp-bridge:example:climate',
  body: '{temperature|.1} °C',
  delivery,
  access: { viewers: ['*@example.org'] },
});

const messagesTo = (user: string) => (el: Element): boolean => el.name === 'message' && el.attrs['to'] === user;

describe('delivery modes', () => {
  let t: TestBridge;
  afterEach(() => t?.stop());

  const publish = (temp: number): Promise<void> => t.side.device('sensors/home/kitchen/telemetry', JSON.stringify({ temperature: temp }), { qos: 1 });
  const settle = (): Promise<void> => settled(t);
  const join = async (user: string): Promise<void> => {
    await t.link.inject(xml('presence', { from: user, to: DEVICE, type: 'subscribe' }));
    await t.link.inject(xml('presence', { from: user, to: DEVICE, type: 'subscribed' }));
    await t.link.inject(xml('presence', { from: `${user}/phone`, to: DEVICE }));
    await settle();
  };

  /** Starts with alice following; returns the messages she got on subscribing (the current value). */
  async function start(delivery: Record<string, unknown>): Promise<Element[]> {
    t = await startTestBridge({ mappings: [climate(delivery)], config: { delivery: { barrierIntervalMs: 5 } } });
    await publish(20);
    await join(ALICE);
    const first = t.link.take(messagesTo(ALICE));
    t.link.take();
    return first;
  }

  it('live: the first reading is a message, the next ones correct it in place and name the original', async () => {
    const [first] = await start({ mode: 'live' });
    assert.equal(first!.attrs['type'], 'chat');
    assert.equal(first!.getChildText('body'), '20.0 °C', 'on subscribing: the current value, as the original');
    assert.equal(first!.getChild('replace', NS_CORRECT), undefined);
    await publish(21);
    await publish(22);
    await publish(23);
    await settle();
    const corrections = t.link.take(messagesTo(ALICE));
    assert.equal(corrections.length, 3);
    for (const c of corrections) {
      assert.equal(c.getChild('replace', NS_CORRECT)?.attrs['id'], first!.attrs['id'], 'XEP-0308: every correction names the original');
      assert.notEqual(c.attrs['id'], first!.attrs['id']);
      assert.ok(c.getChild('no-store', NS_HINTS) && c.getChild('no-permanent-store', NS_HINTS), 'XEP-0334: corrections are not stored');
    }
    assert.deepEqual(corrections.map((c) => c.getChildText('body')), ['21.0 °C', '22.0 °C', '23.0 °C']);
  });

  it('live: no correction when the text would not change', async () => {
    await start({ mode: 'live' });
    await publish(20.01);
    await publish(20.02); // renders as 20.0 °C again
    await settle();
    assert.equal(t.link.take(messagesTo(ALICE)).length, 0);
    await publish(20.06);
    await settle();
    assert.equal(t.link.take(messagesTo(ALICE)).length, 1, '20.1 °C');
  });

  it('live: a recipient who has not had the original gets one; a returning one gets a stamped correction', async () => {
    const [original] = await start({ mode: 'live' });
    await t.link.inject(xml('presence', { from: `${ALICE}/phone`, to: DEVICE, type: 'unavailable' }));
    await join(BOB);
    const bobs = t.link.take(messagesTo(BOB));
    assert.equal(bobs.length, 1);
    assert.equal(bobs[0]!.getChild('replace', NS_CORRECT), undefined, 'bob starts with an original of his own');
    await publish(22);
    await t.link.inject(xml('presence', { from: `${ALICE}/phone`, to: DEVICE }));
    await settle();
    const back = t.link.take(messagesTo(ALICE));
    assert.equal(back.length, 1);
    assert.equal(back[0]!.getChild('replace', NS_CORRECT)?.attrs['id'], original!.attrs['id']);
    assert.ok(back[0]!.getChild('delay', 'urn:xmpp:delay'));
    assert.equal(back[0]!.getChildText('body'), '22.0 °C');
  });

  it('live: a new period starts a new message', () => {
    const sent: Element[] = [];
    let now = new Date(2026, 0, 5, 23, 59);
    const users = new UserPresence();
    users.available(ALICE, 'phone');
    const subs = { has: () => true, of: () => new Set([ALICE]), add: () => true, delete: () => true };
    const live = new LiveDelivery({ domain: DOMAIN, send: (el) => (sent.push(xml(el.name, { ...el.attrs }, ...el.children)), true) }, new Recipients(subs, users), { maxBodyChars: 100, maxStanzaBytes: 100_000 }, () => now);
    const device = { jid: DEVICE, segments: {}, mapping: { notify: { subscribers: true, jids: [] }, delivery: { mode: 'live', offline: 'latest', period: 'day', archive: true, status: true } } } as unknown as Device;
    const write = (temp: number, id: string): void => {
      const out = live.prepare(device, { json: `{"temperature":${temp}}`, value: { temperature: temp }, receivedAt: now.getTime() });
      assert.ok(out.ok);
      out.value.write(id);
    };
    write(1, 'a');
    write(2, 'b');
    now = new Date(2026, 0, 6, 0, 1);
    write(3, 'c');
    write(4, 'd');
    const replaces = sent.map((m) => m.getChildren('replace').map((r) => r.attrs['id'])[0] ?? null);
    assert.deepEqual(replaces, [null, 'a', null, 'c']);
  });

  it('periods are local hours, days and weeks (from Monday)', () => {
    const at = new Date(2026, 0, 7, 15, 30); // a Wednesday
    assert.equal(periodKey('hour', at), '2026-1-7T15');
    assert.equal(periodKey('day', at), '2026-1-7');
    assert.equal(periodKey('week', at), 'w2026-1-5');
    assert.equal(periodKey('week', new Date(2026, 0, 11, 23)), 'w2026-1-5', 'Sunday closes the week');
  });

  it('headline: one headline message per reading', async () => {
    await start({ mode: 'headline' });
    await publish(21);
    await settle();
    const sent = t.link.take(messagesTo(ALICE));
    assert.deepEqual(sent.map((m) => m.attrs['type']), ['headline']);
  });

  it('archive: false adds XEP-0334 hints; with offline: store only no-permanent-store', async () => {
    await start({ archive: false });
    await publish(21);
    await settle();
    const m = t.link.take(messagesTo(ALICE))[0]!;
    assert.ok(m.getChild('no-store', NS_HINTS) && m.getChild('no-permanent-store', NS_HINTS));
    await t.stop();
    await start({ archive: false, offline: 'store' });
    await publish(21);
    await settle();
    const s = t.link.take(messagesTo(ALICE))[0]!;
    assert.equal(s.getChild('no-store', NS_HINTS), undefined, 'the server must keep it for an offline recipient');
    assert.ok(s.getChild('no-permanent-store', NS_HINTS));
  });
});
