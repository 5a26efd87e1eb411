/**
 * XEP-0060 on the device JIDs, with in-memory edges: discovery of the node and its features; subscribe (with the last
 * item at once), notifications as headlines with the XEP-0335 item, the last N items (and by id), the subscriptions of
 * the requester, unsubscribe; the errors of XEP-0060 for someone else's JID, a missing node id, not being subscribed
 * and publishing; access follows the mapping's viewers on every notification.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { DOMAIN, startTestBridge, type TestBridge } from '../support/test-bridge.js';

const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_EVENT = 'http://jabber.org/protocol/pubsub#event';
const DEVICE = `home-kitchen@${DOMAIN}`;
const ROBOT = 'robot@example.org/dashboard';

const climate = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'climate',
  topic: 'sensors/{site}/{device}/telemetry',
  jid: '{site}-{device}',
  schema: 'urn:mqtt-xmpp-bridge:example:climate',
  pubsub: { items: 3 },
  access: { viewers: ['*@example.org'] },
  ...extra,
});

describe('PubSub on device JIDs (XEP-0060)', () => {
  let t: TestBridge;
  afterEach(() => t?.stop());

  const publish = (temperature: number): Promise<void> => t.side.device('sensors/home/kitchen/telemetry', JSON.stringify({ temperature }), { qos: 0 });
  const iq = (type: 'get' | 'set', child: Element, from = ROBOT, to = DEVICE): Promise<Element | undefined> => t.link.inject(xml('iq', { type, to, from, id: 'p1' }, child));
  const pubsub = (...children: Element[]): Element => xml('pubsub', { xmlns: NS_PUBSUB }, ...children);
  const itemsOf = (el: Element): number[] =>
    (el.getChild('pubsub', NS_PUBSUB) ?? el.getChild('event', NS_EVENT))!
      .getChild('items')!
      .getChildren('item')
      .map((i) => (JSON.parse(i.getChildText('json', 'urn:xmpp:json:0')!) as { temperature: number }).temperature);
  const notificationsTo = (to: string) => (el: Element): boolean => el.name === 'message' && el.attrs['to'] === to && el.getChild('event', NS_EVENT) !== undefined;

  beforeEach(async () => {
    t = await startTestBridge({ mappings: [climate()] });
    for (const temp of [1, 2, 3, 4]) await publish(temp);
  });

  it('lists the node and its features in service discovery', async () => {
    const items = await iq('get', xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' }));
    assert.deepEqual(items!.getChild('query')!.getChildren('item').map((i) => [i.attrs['jid'], i.attrs['node']]), [[DEVICE, 'readings']]);
    const info = await iq('get', xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }));
    const features = info!.getChild('query')!.getChildren('feature').map((f) => f.attrs['var']);
    for (const f of ['', '#subscribe', '#retrieve-items', '#last-published']) assert.ok(features.includes(`${NS_PUBSUB}${f}`), f);
    const node = await iq('get', xml('query', { xmlns: 'http://jabber.org/protocol/disco#info', node: 'readings' }));
    assert.equal(node!.getChild('query')!.getChild('identity')!.attrs['type'], 'leaf');
    const nodeItems = await iq('get', xml('query', { xmlns: 'http://jabber.org/protocol/disco#items', node: 'readings' }));
    assert.equal(nodeItems!.getChild('query')!.getChildren('item').length, 3, 'the items kept');
  });

  it('returns the last N items (newest last), and items by id', async () => {
    assert.deepEqual(itemsOf((await iq('get', pubsub(xml('items', { node: 'readings' }))))!), [2, 3, 4], 'the 3 kept');
    const two = await iq('get', pubsub(xml('items', { node: 'readings', max_items: '2' })));
    assert.deepEqual(itemsOf(two!), [3, 4]);
    const id = two!.getChild('pubsub')!.getChild('items')!.getChildren('item')[0]!.attrs['id']!;
    assert.match(id, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z(-\d+)?$/, 'the item id is the time the reading was received');
    assert.deepEqual(itemsOf((await iq('get', pubsub(xml('items', { node: 'readings' }, xml('item', { id })))))!), [3]);
  });

  it('subscribes, sends the last item at once, then notifies every reading as a headline; unsubscribes', async () => {
    const last = t.link.next(notificationsTo(ROBOT), 'the last item');
    const reply = await iq('set', pubsub(xml('subscribe', { node: 'readings', jid: ROBOT })));
    assert.equal(reply!.attrs['type'], 'result');
    assert.deepEqual(reply!.getChild('pubsub')!.getChild('subscription')!.attrs, { node: 'readings', jid: ROBOT, subscription: 'subscribed' });
    assert.deepEqual(itemsOf(await last), [4]);
    const next = t.link.next(notificationsTo(ROBOT), 'a notification');
    await publish(5);
    const n = await next;
    assert.equal(n.attrs['type'], 'headline');
    assert.equal(n.attrs['from'], DEVICE);
    assert.deepEqual(itemsOf(n), [5]);
    const subs = await iq('get', pubsub(xml('subscriptions', {})));
    assert.deepEqual(subs!.getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription').map((s) => s.attrs['jid']), [ROBOT]);
    assert.equal((await iq('set', pubsub(xml('unsubscribe', { node: 'readings', jid: ROBOT }))))!.attrs['type'], 'result');
    t.link.take();
    await publish(6);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(t.link.take(notificationsTo(ROBOT)), []);
  });

  it('answers with the XEP-0060 errors', async () => {
    const condition = (el: Element | undefined): string[] => el!.getChild('error')!.getChildElements().map((c) => c.name);
    assert.deepEqual(condition(await iq('set', pubsub(xml('subscribe', { node: 'readings', jid: 'other@example.org' })))), ['bad-request', 'invalid-jid']);
    assert.deepEqual(condition(await iq('set', pubsub(xml('subscribe', { jid: ROBOT })))), ['bad-request', 'nodeid-required']);
    assert.deepEqual(condition(await iq('set', pubsub(xml('subscribe', { node: 'other', jid: ROBOT })))), ['item-not-found', 'text']);
    assert.deepEqual(condition(await iq('set', pubsub(xml('unsubscribe', { node: 'readings', jid: ROBOT })))), ['unexpected-request', 'not-subscribed']);
    assert.deepEqual(condition(await iq('set', pubsub(xml('publish', { node: 'readings' })))), ['forbidden']);
    const stranger = 'eve@elsewhere.example/x';
    assert.deepEqual(condition(await iq('set', pubsub(xml('subscribe', { node: 'readings', jid: stranger })), stranger)), ['item-not-found'], 'not a viewer: no such device');
  });

  it('bounds the subscriptions an account may hold on a device (its clients)', async () => {
    const codes: string[] = [];
    for (let i = 0; i < 11; i++) {
      const me = `robot@example.org/r${i}`;
      const reply = await iq('set', pubsub(xml('subscribe', { node: 'readings', jid: me })), me);
      codes.push(reply!.attrs['type'] === 'result' ? 'ok' : reply!.getChild('error')!.getChildElements().map((c) => c.name).join('+'));
    }
    assert.deepEqual(codes, [...Array<string>(10).fill('ok'), 'not-allowed+too-many-subscriptions']);
    assert.equal(t.bridge.kernel.stores.pubsub.of(DEVICE, 'readings').size, 10);
  });

  it('stops notifying a subscriber the mapping no longer lets view the device', async () => {
    await iq('set', pubsub(xml('subscribe', { node: 'readings', jid: ROBOT })));
    await new Promise((r) => setImmediate(r));
    t.link.take();
    // Viewers change (live reload): robot@example.org may no longer view the device.
    const { parseJidPattern } = await import('../../src/mapping/jid-pattern.js');
    const device = t.bridge.registry.byJid(DEVICE)!;
    device.mapping = { ...device.mapping, access: { viewers: [parseJidPattern('someone@example.org', {}).pattern!], operators: [] } };
    await publish(7);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(t.link.take(notificationsTo(ROBOT)), []);
  });
});
