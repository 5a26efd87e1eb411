/**
 * Presence-gated fan-out, with in-memory edges: readings go to the followers who are online; what an offline follower
 * gets is the mapping's `offline` rule (latest: the current value once when back, XEP-0203 stamped; store: every
 * reading; drop: nothing); `notify.jids` follow the same rule; a follower who shares no presence gets the current value
 * when their server probes the device at login; after a reconnect the bridge knows nobody until they answer its probes;
 * the change policy holds readings back (counted) without losing the latest value.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { DOMAIN, settled, startTestBridge, type TestBridge } from '../support/test-bridge.js';

const NS_JSON = 'urn:xmpp:json:0';
const DEVICE = `home-kitchen@${DOMAIN}`;
const ALICE = 'alice@example.org';
const BOB = 'bob@example.org';
const CAROL = 'carol@example.org';
const WATCHER = 'watcher@example.org';

const climate = (delivery: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'climate',
  topic: 'sensors/{site}/{device}/telemetry',
  jid: '{site}-{device}',
  name: '{device} climate',
  schema: 'urn:mqtt-xmpp-bridge:example:climate',
  body: '{temperature|.1} °C',
  delivery,
  access: { viewers: ['*@example.org'] },
  ...extra,
});

const readingsTo = (user: string) => (el: Element): boolean => el.name === 'message' && el.attrs['to'] === user && el.getChild('json', NS_JSON) !== undefined;
const temperature = (el: Element): number => (JSON.parse(el.getChildText('json', NS_JSON)!) as { temperature: number }).temperature;

describe('presence-gated delivery', () => {
  let t: TestBridge;
  afterEach(() => t?.stop());

  const publish = (temp: number): Promise<void> => t.side.device('sensors/home/kitchen/telemetry', JSON.stringify({ temperature: temp }), { qos: 1 });
  const inject = (el: Element): Promise<unknown> => t.link.inject(el);
  /** Subscribes and shares presence with the device (approves its request). */
  const follow = async (user: string): Promise<void> => {
    await inject(xml('presence', { from: user, to: DEVICE, type: 'subscribe' }));
    await inject(xml('presence', { from: user, to: DEVICE, type: 'subscribed' }));
  };
  const online = (user: string, resource = 'phone'): Promise<unknown> => inject(xml('presence', { from: `${user}/${resource}`, to: DEVICE }));
  const offline = (user: string, resource = 'phone'): Promise<unknown> => inject(xml('presence', { from: `${user}/${resource}`, to: DEVICE, type: 'unavailable' }));
  /** Let the bridge finish what the last action started (writes happen in the next turns). */
  const settle = (): Promise<void> => settled(t);

  async function start(delivery: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<void> {
    t = await startTestBridge({ mappings: [climate(delivery, extra)], config: { delivery: { barrierIntervalMs: 5 } } });
    await publish(20); // the device exists
    await follow(ALICE);
    await follow(BOB);
    await online(ALICE);
    await settle();
    t.link.take();
  }

  it('sends a reading only to the subscriber who is online', async () => {
    await start();
    await publish(21);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(ALICE)).map(temperature), [21]);
    assert.deepEqual(t.link.take(readingsTo(BOB)), [], 'bob is away: no stanza for him');
  });

  it('offline: latest — a follower who comes back gets the current value once, XEP-0203 stamped', async () => {
    await start();
    await publish(21);
    await publish(22);
    await settle();
    t.link.take();
    await online(BOB);
    await settle();
    const back = t.link.take(readingsTo(BOB));
    assert.deepEqual(back.map(temperature), [22], 'the current value, not the backlog');
    assert.ok(back[0]!.getChild('delay', 'urn:xmpp:delay')?.attrs['stamp'], 'stamped with when it was received');
    await online(BOB, 'laptop');
    await offline(BOB);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(BOB)), [], 'a second resource, a resource leaving: nothing more');
    await offline(BOB, 'laptop');
    await online(BOB);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(BOB)), [], 'nothing new since: nothing sent');
  });

  it('offline: latest — nothing when the current value reads as the one they have', async () => {
    await start();
    await publish(21);
    await offline(ALICE);
    await publish(21); // newer, reads the same
    await online(ALICE);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(ALICE)).map(temperature), [21], 'only the one sent while she was there');
  });

  it('offline: store — every reading goes to every follower, online or not', async () => {
    await start({ offline: 'store' });
    await publish(21);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(ALICE)).map(temperature), [21]);
    assert.deepEqual(t.link.take(readingsTo(BOB)).map(temperature), [21]);
  });

  it('offline: drop — a follower who comes back gets nothing', async () => {
    await start({ offline: 'drop' });
    await publish(21);
    await online(BOB);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(BOB)), []);
  });

  it('notify.jids follow the same rule', async () => {
    await start({}, { notify: { subscribers: true, jids: [WATCHER] } });
    await publish(21);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(WATCHER)), [], 'the listed JID is not online');
    // Directed presence: the watcher's server will also tell the device when they leave (RFC 6121 §4.6.3).
    await online(WATCHER);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(WATCHER)).map(temperature), [21], 'back: the current value');
    await publish(22);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(WATCHER)).map(temperature), [22]);
  });

  it('a subscriber who declined to share presence gets the current value when their server probes at login', async () => {
    await start();
    await inject(xml('presence', { from: CAROL, to: DEVICE, type: 'subscribe' }));
    await inject(xml('presence', { from: CAROL, to: DEVICE, type: 'unsubscribed' })); // declined the device's request
    await publish(23);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(CAROL)).map(temperature), [20], 'on subscribing: the value of then, once');
    await publish(24);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(CAROL)), [], 'not known to be online: readings are not sent');
    await inject(xml('presence', { from: `${CAROL}/desktop`, to: DEVICE, type: 'probe' }));
    await settle();
    assert.deepEqual(t.link.take(readingsTo(CAROL)).map(temperature), [24], 'her login: the current value');
    await inject(xml('presence', { from: `${CAROL}/phone`, to: DEVICE, type: 'probe' }));
    await settle();
    assert.deepEqual(t.link.take(readingsTo(CAROL)), [], 'nothing she has not seen');
  });

  it('a new subscriber gets the current value once', async () => {
    await start();
    await publish(25);
    await settle();
    t.link.take();
    await inject(xml('presence', { from: CAROL, to: DEVICE, type: 'subscribe' }));
    await settle();
    const got = t.link.take(readingsTo(CAROL));
    assert.deepEqual(got.map(temperature), [25]);
    assert.ok(got[0]!.getChild('delay', 'urn:xmpp:delay'));
  });

  it('after a reconnect nobody is known online until their server answers the probes; then the current value once', async () => {
    await start();
    const probes = t.link.next((el) => el.name === 'presence' && el.attrs['type'] === 'probe' && el.attrs['to'] === ALICE, 'a probe to alice');
    t.link.down();
    await publish(26);
    t.link.up();
    await probes;
    await settle();
    assert.deepEqual(t.link.take(readingsTo(ALICE)), [], 'the backlog is not replayed to followers nobody knows to be online');
    await online(ALICE);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(ALICE)).map(temperature), [26]);
  });

  it('a follower back while the backlog is replayed gets the current value right after it', async () => {
    const alarm = { id: 'alarm', topic: 'alarms/{device}', jid: 'alarm-{device}', schema: 'urn:mqtt-xmpp-bridge:example:door', delivery: { offline: 'store' }, access: { viewers: ['*@example.org'] } };
    t = await startTestBridge({ mappings: [climate(), alarm], config: { delivery: { barrierIntervalMs: 5 } } });
    const ALARM = `alarm-hall@${DOMAIN}`;
    await publish(20);
    await t.side.device('alarms/hall', '{"contact":true}');
    for (const d of [DEVICE, ALARM]) {
      await inject(xml('presence', { from: ALICE, to: d, type: 'subscribe' }));
      await inject(xml('presence', { from: ALICE, to: d, type: 'subscribed' }));
    }
    await online(ALICE);
    await settle();
    t.link.take();
    t.link.down();
    for (const c of [false, true, false]) await t.side.device('alarms/hall', JSON.stringify({ contact: c }), { qos: 1 }); // kept for everyone
    await publish(28); // nobody known online: kept as the latest value
    t.link.holdRequests = true;
    t.link.up();
    await new Promise<void>((resolve) => {
      const check = (): void => (t.link.held.length > 0 ? resolve() : void setTimeout(check, 5));
      check();
    });
    await online(ALICE); // her presence comes back while the replay waits for its barrier
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(t.link.take(readingsTo(ALICE)).filter((m) => m.attrs['from'] === DEVICE), [], 'not before the backlog');
    t.link.holdRequests = false;
    for (const h of t.link.held.splice(0)) h.resolve();
    await t.link.next((el) => readingsTo(ALICE)(el) && el.attrs['from'] === DEVICE, 'the current value after the replay');
    assert.equal(t.bridge.metrics.get('readings_dropped_total', 'XMPP_OFFLINE'), 0);
  });

  it('a follower who stops sharing presence is no longer taken as online', async () => {
    await start();
    await inject(xml('presence', { from: ALICE, to: DEVICE, type: 'unsubscribed' }));
    await publish(27);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(ALICE)), []);
    assert.equal(t.bridge.kernel.users.isOnline(ALICE), false);
  });

  it('the change policy holds readings back (counted) and a returning follower still gets the newest', async () => {
    await start({}, { changes: { deadband: 1 } });
    await publish(20.3);
    await publish(20.6);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(ALICE)), [], 'within the deadband of 20');
    assert.equal(t.bridge.metrics.get('readings_held_total', 'deadband'), 2);
    await online(BOB);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(BOB)).map(temperature), [20.6], 'the newest value, held or not');
    await publish(21.1);
    await settle();
    assert.deepEqual(t.link.take(readingsTo(ALICE)).map(temperature), [21.1]);
  });
});
