/**
 * What a roster shows of a device, with in-memory edges: its latest reading as presence status (sent only to
 * subscribers who may be online, only when the text changes), `xa` with an XEP-0319 idle time when it stops reporting,
 * XEP-0012 last activity, its name in vCard-temp (XEP-0054) and in its subscription requests (XEP-0172), the mapping's
 * invitations (sent once, not repeated after an answer), and what users answer to its requests.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { DOMAIN, settled, startTestBridge, type TestBridge } from '../support/test-bridge.js';

const DEVICE = `home-kitchen@${DOMAIN}`;
const ALICE = 'alice@example.org';
const BOB = 'bob@example.org';
const INVITED = 'ops@example.org';

const climate = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'climate',
  topic: 'sensors/{site}/{device}/telemetry',
  jid: '{site}-{device}',
  name: '{device} climate ({site})',
  description: 'Temperature and humidity sensors',
  schema: 'urn:mqtt-xmpp-bridge:example:climate',
  body: '{temperature|.1} °C, {humidity|.0} % RH',
  access: { viewers: ['*@example.org'] },
  ...extra,
});

const presenceTo = (user: string) => (el: Element): boolean => el.name === 'presence' && el.attrs['to'] === user && el.attrs['from'] === DEVICE && el.attrs['type'] === undefined;

describe('what a roster shows', () => {
  let t: TestBridge;
  afterEach(() => t?.stop());

  const publish = (temperature: number, humidity = 40): Promise<void> => t.side.device('sensors/home/kitchen/telemetry', JSON.stringify({ temperature, humidity }), { qos: 1 });
  const settle = (): Promise<void> => settled(t);
  const iq = (to: string, child: Element, from = `${ALICE}/phone`): Promise<Element | undefined> => t.link.inject(xml('iq', { type: 'get', to, from, id: 'q1' }, child));

  async function start(extra: Record<string, unknown> = {}): Promise<void> {
    t = await startTestBridge({ mappings: [climate(extra)], config: { delivery: { barrierIntervalMs: 5 } } });
    await publish(21.5);
  }

  it('the status text carries the latest reading; sent when it changes, to subscribers who may be online', async () => {
    await start();
    await t.link.inject(xml('presence', { from: ALICE, to: DEVICE, type: 'subscribe' }));
    await t.link.inject(xml('presence', { from: ALICE, to: DEVICE, type: 'subscribed' }));
    await t.link.inject(xml('presence', { from: `${ALICE}/phone`, to: DEVICE }));
    await t.link.inject(xml('presence', { from: BOB, to: DEVICE, type: 'subscribe' }));
    await t.link.inject(xml('presence', { from: BOB, to: DEVICE, type: 'subscribed' })); // shares presence, and is offline
    await settle();
    const first = t.link.take(presenceTo(ALICE));
    assert.equal(first[0]!.getChildText('status'), '21.5 °C, 40 % RH', 'with the subscription approval');
    t.link.take();
    await publish(22.04);
    await settle();
    assert.deepEqual(t.link.take(presenceTo(ALICE)).map((p) => p.getChildText('status')), ['22.0 °C, 40 % RH']);
    assert.deepEqual(t.link.take(presenceTo(BOB)), [], 'bob is offline: his server would drop it');
    await publish(22.01);
    await settle();
    assert.deepEqual(t.link.take(presenceTo(ALICE)), [], 'same text: no presence');
    // A probe (bob logs in) gets the current status.
    await t.link.inject(xml('presence', { from: `${BOB}/laptop`, to: DEVICE, type: 'probe' }));
    assert.equal(t.link.take(presenceTo(BOB))[0]?.getChildText('status'), '22.0 °C, 40 % RH');
  });

  it('a device that stops reporting shows xa with an XEP-0319 idle time, and available again when it reports', async () => {
    await start({ availability: { idleAfter: 0.3 } });
    await t.link.inject(xml('presence', { from: ALICE, to: DEVICE, type: 'subscribe' }));
    await settle();
    t.link.take();
    const idle = await t.link.next((el) => presenceTo(ALICE)(el) && el.getChildText('show') === 'xa', 'an xa presence', 5000);
    const since = idle.getChild('idle', 'urn:xmpp:idle:1')?.attrs['since'];
    assert.ok(since && Date.parse(since) > 0, 'XEP-0319 idle since');
    assert.equal(idle.getChildText('status'), '21.5 °C, 40 % RH');
    const back = t.link.next((el) => presenceTo(ALICE)(el) && el.getChild('show') === undefined, 'available again');
    await publish(23);
    assert.equal((await back).getChild('idle', 'urn:xmpp:idle:1'), undefined);
  });

  it('XEP-0012 last activity: seconds since the last reading and its text; the component tells its uptime', async () => {
    await start();
    const reply = await iq(DEVICE, xml('query', { xmlns: 'jabber:iq:last' }));
    assert.equal(reply!.attrs['type'], 'result');
    const q = reply!.getChild('query', 'jabber:iq:last')!;
    assert.ok(Number(q.attrs['seconds']) >= 0 && Number(q.attrs['seconds']) < 5);
    assert.equal(q.getText(), '21.5 °C, 40 % RH');
    const up = await iq(DOMAIN, xml('query', { xmlns: 'jabber:iq:last' }));
    assert.ok(Number(up!.getChild('query')!.attrs['seconds']) >= 0);
  });

  it('vCard-temp (XEP-0054) of a device and of the component; disco lists vcard-temp and last activity', async () => {
    await start();
    const reply = await iq(DEVICE, xml('vCard', { xmlns: 'vcard-temp' }));
    const card = reply!.getChild('vCard', 'vcard-temp')!;
    assert.equal(card.getChildText('FN'), 'kitchen climate (home)');
    assert.equal(card.getChildText('NICKNAME'), 'kitchen climate (home)');
    assert.equal(card.getChildText('DESC'), 'Temperature and humidity sensors');
    const bridge = await iq(DOMAIN, xml('vCard', { xmlns: 'vcard-temp' }));
    assert.equal(bridge!.getChild('vCard')!.getChildText('FN'), 'MQTT bridge');
    const info = await iq(DEVICE, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }));
    const features = info!.getChild('query')!.getChildren('feature').map((f) => f.attrs['var']);
    assert.ok(features.includes('vcard-temp') && features.includes('jabber:iq:last'), features.join(' '));
  });

  it('invitations: each listed JID gets one subscription request with the name; an answer is kept, never asked again', async () => {
    await start({ invite: [INVITED] });
    const invites = t.link.take((el) => el.name === 'presence' && el.attrs['type'] === 'subscribe' && el.attrs['to'] === INVITED);
    assert.equal(invites.length, 1);
    assert.equal(invites[0]!.attrs['from'], DEVICE);
    assert.equal(invites[0]!.getChildText('nick', 'http://jabber.org/protocol/nick'), 'kitchen climate (home)');
    await t.link.inject(xml('presence', { from: INVITED, to: DEVICE, type: 'unsubscribed' })); // declined
    t.link.down();
    t.link.up();
    await settle();
    assert.deepEqual(t.link.take((el) => el.attrs['type'] === 'subscribe' && el.attrs['to'] === INVITED), [], 'not repeated after a reconnect');
    assert.equal(t.bridge.kernel.stores.presenceRequests.get(DEVICE, INVITED), 'declined');
  });

  it('a user who approves the request is probed after a reconnect; one who removes the device is unsubscribed', async () => {
    await start();
    await t.link.inject(xml('presence', { from: ALICE, to: DEVICE, type: 'subscribe' }));
    await t.link.inject(xml('presence', { from: ALICE, to: DEVICE, type: 'subscribed' }));
    assert.equal(t.bridge.kernel.stores.presenceRequests.get(DEVICE, ALICE), 'granted');
    assert.equal(t.bridge.kernel.users.tracked(ALICE), true);
    const probe = t.link.next((el) => el.name === 'presence' && el.attrs['type'] === 'probe' && el.attrs['to'] === ALICE, 'a probe');
    t.link.down();
    t.link.up();
    assert.equal((await probe).attrs['from'], DEVICE);
    t.link.take();
    await t.link.inject(xml('presence', { from: ALICE, to: DEVICE, type: 'unsubscribe' }));
    const out = t.link.take((el) => el.attrs['to'] === ALICE).map((el) => el.attrs['type']);
    assert.deepEqual(out, ['unsubscribed', 'unavailable', 'unsubscribe']);
    assert.equal(t.bridge.kernel.users.tracked(ALICE), false);
    assert.equal(t.bridge.kernel.stores.presenceRequests.get(DEVICE, ALICE), undefined);
  });

  it('an invitation is not valid for a JID that may not view the device (checked at load)', async () => {
    await assert.rejects(startTestBridge({ mappings: [climate({ invite: ['mallory@evil.example'] })] }), /is invited but is not a viewer/);
  });
});
