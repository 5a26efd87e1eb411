/**
 * The downlink with in-memory edges: the order of checks (rate, visibility, command, operator, payload), the publish
 * and its state-echo confirmation, commands held for an offline or sleeping device until it is back (or awake) and
 * subscribed (and their TTL), and every outcome reported once as an event.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { CommandEvent } from '../../src/kernel/events.js';
import { startTestBridge, type TestBridge } from '../support/test-bridge.js';

const NS_COMMAND = 'urn:mqtt-xmpp-bridge:command:0';
const KETTLE = 'plug-kettle@iot.example.org';
const ALICE = 'alice@example.org/laptop';

const command = (to: string, json: string, from = ALICE, name = 'set'): Element =>
  xml('iq', { type: 'set', to, from, id: 'c1' }, xml('command', { xmlns: NS_COMMAND, name }, xml('json', { xmlns: 'urn:xmpp:json:0' }, json)));
const condition = (reply: Element | undefined): string | undefined => reply?.getChild('error')?.getChildElements()[0]?.name;

describe('commands (downlink)', () => {
  let t: TestBridge;
  let events: CommandEvent[];
  afterEach(() => t?.stop());

  async function start(config: Record<string, unknown> = {}): Promise<void> {
    t = await startTestBridge({ config });
    events = [];
    t.bridge.kernel.bus.on('command_delivered', (e) => void events.push(e));
    t.bridge.kernel.bus.on('command_failed', (e) => void events.push(e));
    await t.side.device('plugs/kettle/availability', 'online');
    t.side.route('plugs/kettle/availability', Buffer.from('online'));
    t.side.subscribeClient('plug-kettle', 'plugs/kettle/set');
  }

  it('publishes a valid command on the device topic and answers "confirmed" once the state echo arrives', async () => {
    await start();
    const published = t.side.next((p) => p.topic === 'plugs/kettle/set', 'the command');
    const reply = t.link.inject(command(KETTLE, '{"state":"ON"}'));
    const p = await published;
    assert.equal(p.payload.toString(), '{"state":"ON"}', 'the JSON the sender wrote, byte for byte');
    assert.deepEqual(p.opts, { qos: 1, retain: false });
    await t.side.device('plugs/kettle/state', '{"state":"ON","power":1850}');
    const r = await reply;
    assert.equal(r?.attrs['type'], 'result');
    assert.equal(r?.getChild('command', NS_COMMAND)?.attrs['status'], 'confirmed');
    assert.deepEqual(events.map((e) => [e.code, e.confirmed]), [['OK', true]]);
  });

  it('checks the sender before the payload: a viewer who is not an operator gets forbidden, even for an invalid payload', async () => {
    t = await startTestBridge({
      mappings: [
        {
          id: 'plug',
          topic: 'plugs/{device}/state',
          jid: 'plug-{device}',
          schema: 'urn:mqtt-xmpp-bridge:example:plug',
          commands: [{ name: 'set', topic: 'plugs/{device}/set', schema: 'urn:mqtt-xmpp-bridge:example:plug-set' }],
          access: { viewers: ['*@example.org'], operators: ['boss@example.org'] },
        },
      ],
    });
    await t.side.device('plugs/kettle/state', '{"state":"OFF"}');
    assert.equal(condition(await t.link.inject(command(KETTLE, 'not json'))), 'forbidden');
    assert.equal(condition(await t.link.inject(command(KETTLE, '{"state":"ON"}', 'boss@example.org/x', 'nope'))), 'item-not-found');
    assert.equal(condition(await t.link.inject(command(KETTLE, '{"state":"MAYBE"}', 'boss@example.org/x'))), 'bad-request');
    assert.deepEqual(t.side.published.filter((p) => p.topic.endsWith('/set')), [], 'nothing published');
  });

  it('limits commands per sender, and only that sender', async () => {
    await start({ xmpp: { domain: 'iot.example.org', secret: 's', serverDomain: 'example.org', commandRate: { perMinute: 1, burst: 2 } } });
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      const before = t.side.published.length;
      const r = t.link.inject(command(KETTLE, '{"state":"OFF"}'));
      await new Promise((resolve) => setImmediate(resolve));
      // Published (within the rate): the plug echoes its state, which confirms the command.
      if (t.side.published.length > before) await t.side.device('plugs/kettle/state', '{"state":"OFF"}');
      codes.push(condition(await r) ?? 'ok');
    }
    assert.deepEqual(codes, ['ok', 'ok', 'resource-constraint']);
    const published = t.side.next((p) => p.topic === 'plugs/kettle/set', 'publish');
    const other = t.link.inject(command(KETTLE, '{"state":"OFF"}', 'bob@example.org/x'));
    await published;
    await t.side.device('plugs/kettle/state', '{"state":"OFF"}');
    assert.equal((await other)?.attrs['type'], 'result');
  });

  it('holds a command for an offline device and publishes it once the device is back and its session subscribed', async () => {
    await start();
    t.side.route('plugs/kettle/availability', Buffer.from('offline'));
    t.side.clientSubscriptions.clear();
    const reply = t.link.inject(command(KETTLE, '{"state":"ON"}'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(t.side.published.filter((p) => p.topic === 'plugs/kettle/set'), [], 'held while offline');
    // Back online, but not yet subscribed again: still held (it would be lost).
    t.side.route('plugs/kettle/availability', Buffer.from('online'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(t.side.published.filter((p) => p.topic === 'plugs/kettle/set'), []);
    const published = t.side.next((p) => p.topic === 'plugs/kettle/set', 'the held command');
    t.side.subscribeClient('plug-kettle', 'plugs/kettle/set');
    await published;
    await t.side.device('plugs/kettle/state', '{"state":"ON"}');
    const r = await reply;
    assert.equal(r?.attrs['type'], 'result');
    assert.deepEqual(events.map((e) => [e.code, e.queued]), [['OK', true]]);
  });

  it('holds a command for a sleeping device and publishes it once, when the device wakes', async () => {
    t = await startTestBridge({
      mappings: [
        {
          id: 'plug',
          topic: 'plugs/{device}/state',
          jid: 'plug-{device}',
          schema: 'urn:mqtt-xmpp-bridge:example:plug',
          availability: { topic: 'plugs/{device}/availability', sleeping: 'sleeping' },
          commands: [{ name: 'set', topic: 'plugs/{device}/set', schema: 'urn:mqtt-xmpp-bridge:example:plug-set', ttl: 60 }],
          access: { viewers: ['*@example.org'], operators: ['alice@example.org'] },
        },
      ],
    });
    events = [];
    t.bridge.kernel.bus.on('command_delivered', (e) => void events.push(e));
    await t.side.device('plugs/kettle/availability', 'online');
    t.side.route('plugs/kettle/availability', Buffer.from('online'));
    t.side.subscribeClient('plug-kettle', 'plugs/kettle/set');
    t.side.route('plugs/kettle/availability', Buffer.from('sleeping'));
    const reply = t.link.inject(command(KETTLE, '{"state":"ON"}'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(t.side.published.filter((p) => p.topic === 'plugs/kettle/set'), [], 'held while asleep (it does not listen)');
    const published = t.side.next((p) => p.topic === 'plugs/kettle/set', 'the held command');
    t.side.route('plugs/kettle/availability', Buffer.from('online'));
    assert.equal((await published).payload.toString(), '{"state":"ON"}');
    assert.equal((await reply)?.attrs['type'], 'result');
    assert.equal(t.side.published.filter((p) => p.topic === 'plugs/kettle/set').length, 1, 'once');
    assert.deepEqual(events.map((e) => [e.code, e.queued]), [['OK', true]]);
  });

  it('answers remote-server-timeout when the TTL passes before the device returns', async () => {
    await start({ delivery: { commandTtlSeconds: 1 } });
    t.side.route('plugs/kettle/availability', Buffer.from('offline'));
    const r = await t.link.inject(command(KETTLE, '{"state":"ON"}'));
    assert.equal(condition(r), 'remote-server-timeout');
    assert.deepEqual(events.map((e) => e.code), ['TIMEOUT']);
  });

  it('reports a broker that refuses the publish as MQTT_PUBLISH_FAILED, published nothing', async () => {
    await start();
    t.side.failPublishes = 1;
    const r = await t.link.inject(command(KETTLE, '{"state":"ON"}'));
    assert.equal(condition(r), 'remote-server-timeout');
    assert.deepEqual(events.map((e) => e.code), ['MQTT_PUBLISH_FAILED']);
  });

  it('runs a command typed in a chat and answers in the chat, with a receipt when asked', async () => {
    await start();
    const published = t.side.next((p) => p.topic === 'plugs/kettle/set', 'the command');
    await t.link.inject(
      xml('message', { to: KETTLE, from: ALICE, type: 'chat', id: 'm1' }, xml('body', {}, 'on'), xml('request', { xmlns: 'urn:xmpp:receipts' })),
    );
    assert.equal((await published).payload.toString(), '{"state":"ON"}');
    const answer = t.link.next((el) => el.name === 'message' && el.getChildText('body') !== null, 'the chat answer');
    await t.side.device('plugs/kettle/state', '{"state":"ON","power":1849.9999999999998}');
    // The state report reads like the plug's readings (its body template), not raw JSON with 16-digit floats.
    assert.equal((await answer).getChildText('body')!, '✓ set: confirmed — ON, 1850.0 W');
    assert.equal(t.link.take((el) => el.getChild('received', 'urn:xmpp:receipts') !== undefined).length, 1);
  });
});
