/**
 * Devices as presence entities, with in-memory edges: subscriptions approved for viewers (durably), probes answered
 * for subscribers, presence broadcast as devices come and go — availability changes, a mapping that removes a device,
 * a new stream, and the bridge stopping.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { startTestBridge, type TestBridge } from '../support/test-bridge.js';

const LAMP = 'plug-lamp@iot.example.org';
const ALICE = 'alice@example.org';
const presenceTo = (user: string, type?: string) => (el: Element): boolean =>
  el.name === 'presence' && el.attrs['to'] === user && el.attrs['from'] === LAMP && el.attrs['type'] === type;

describe('presence', () => {
  let t: TestBridge;
  beforeEach(async () => {
    t = await startTestBridge();
    t.side.route('plugs/lamp/availability', Buffer.from('online'));
  });
  afterEach(() => t.stop());

  const subscribe = async (user: string): Promise<Element[]> => {
    await t.link.inject(xml('presence', { to: LAMP, from: user, type: 'subscribe' }));
    return t.link.take((el) => el.attrs['to'] === user);
  };

  it('approves a viewer, sends the device presence and asks for hers in return (with its name); refuses anyone else with "unsubscribed"', async () => {
    const approved = await subscribe(ALICE);
    assert.deepEqual(approved.map((p) => p.attrs['type'] ?? 'available'), ['subscribed', 'available', 'subscribe']);
    assert.equal(approved[2]!.getChildText('nick', 'http://jabber.org/protocol/nick'), 'lamp plug', 'XEP-0172: the name rides on the request');
    assert.ok(t.bridge.kernel.stores.subscriptions.has(LAMP, ALICE));
    const refused = await subscribe('mallory@evil.example');
    assert.deepEqual(refused.map((p) => p.attrs['type']), ['unsubscribed']);
    assert.equal(t.bridge.metrics.get('subscriptions_refused_total'), 1);
  });

  it('answers probes of subscribers only', async () => {
    await subscribe(ALICE);
    await t.link.inject(xml('presence', { to: LAMP, from: `${ALICE}/phone`, type: 'probe' }));
    assert.equal(t.link.take(presenceTo(ALICE, undefined)).length, 1);
    await t.link.inject(xml('presence', { to: LAMP, from: 'bob@example.org/x', type: 'probe' }));
    assert.equal(t.link.take(presenceTo('bob@example.org', 'unsubscribed')).length, 1);
  });

  it('broadcasts availability changes to subscribers, with the reason', async () => {
    await subscribe(ALICE);
    const gone = t.link.next(presenceTo(ALICE, 'unavailable'), 'unavailable presence');
    t.side.route('plugs/lamp/availability', Buffer.from('offline'));
    assert.equal((await gone).getChildText('status'), 'reported offline');
    const back = t.link.next(presenceTo(ALICE, undefined), 'available presence');
    t.side.route('plugs/lamp/availability', Buffer.from('online'));
    await back;
  });

  it('announces every online device again on a new stream (the server forgot our presence)', async () => {
    await subscribe(ALICE);
    t.link.down();
    const again = t.link.next(presenceTo(ALICE, undefined), 'presence after reconnecting');
    t.link.up();
    await again;
  });

  it('tells subscribers when the bridge stops', async () => {
    await subscribe(ALICE);
    const stopped = t.link.next(presenceTo(ALICE, 'unavailable'), 'unavailable presence');
    await t.bridge.stop();
    assert.equal((await stopped).getChildText('status'), 'bridge stopped');
  });
});
