/**
 * Downlink end to end: commands from XMPP users (chat syntax, IQ namespace, XEP-0050 forms) are authorized,
 * validated, published on the device's command topic, and answered with the outcome.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { closeMqtt, isMessageFrom, mqttClient, removeDir, startBridge, startTestServer, type RunningBridge, type TestServer, type XmppUser } from './harness.js';

const KETTLE = 'plug-kettle@iot.localhost';
const LOBBY = 'display-lobby@iot.localhost';
const NS_COMMAND = 'urn:mqtt-xmpp-bridge:command:0';
const NS_ADHOC = 'http://jabber.org/protocol/commands';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

function condition(reply: Element): string | undefined {
  return reply.getChild('error')?.getChildElements().find((c) => c.attrs['xmlns'] === NS_STANZAS)?.name;
}
function errorText(reply: Element): string {
  return reply.getChild('error')?.getChildText('text', NS_STANZAS) ?? '';
}

/** An MQTT client that records every message, with a wait for the next one on a topic. */
class Recorder {
  readonly messages: { topic: string; payload: Buffer }[] = [];
  private waiters: { topic: string; resolve: (p: Buffer) => void }[] = [];
  constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      this.messages.push({ topic, payload });
      this.waiters = this.waiters.filter((w) => (w.topic === topic ? (w.resolve(payload), false) : true));
    });
  }
  next(topic: string, timeoutMs = 10_000): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no message on ${topic}`)), timeoutMs);
      this.waiters.push({ topic, resolve: (p) => (clearTimeout(timer), resolve(p)) });
    });
  }
}

describe('commands: from XMPP users to devices over MQTT', function () {
  let server: TestServer;
  let run: RunningBridge;
  let alice: XmppUser;
  let bob: XmppUser;
  let kettle: MqttClient;
  let lobby: Recorder;
  let probe: Recorder;
  /** When false, the simulated plug does not report its state after a command (no confirmation). */
  let echo = true;

  before(async function () {
    server = await startTestServer();
    run = await startBridge({ server });
    alice = await server.user('alice');
    bob = await server.user('bob');
    probe = new Recorder(await mqttClient(run.mqttUrl, { clientId: 'probe' }));
    await probe.client.subscribeAsync(['plugs/+/set', 'displays/+/show'], { qos: 1 });
    // A plug that obeys `set` and reports its new state, as real ones do.
    kettle = await mqttClient(run.mqttUrl, { clientId: 'kettle', will: { topic: 'plugs/kettle/availability', payload: Buffer.from('offline'), qos: 1, retain: true } });
    await kettle.subscribeAsync('plugs/kettle/set', { qos: 1 });
    kettle.on('message', (_t, payload) => {
      const cmd = JSON.parse(payload.toString()) as { state: string };
      if (echo) void kettle.publishAsync('plugs/kettle/state', JSON.stringify({ state: cmd.state, power: cmd.state === 'ON' ? 1850 : 0 }), { qos: 1 });
    });
    await kettle.publishAsync('plugs/kettle/availability', 'online', { qos: 1, retain: true });
    lobby = new Recorder(await mqttClient(run.mqttUrl, { clientId: 'display-lobby' }));
    await lobby.client.subscribeAsync('displays/lobby/show', { qos: 1 });
    // Both devices are known and online once their availability arrived.
    await alice.iq(xml('iq', { type: 'get', to: KETTLE }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
  });

  after(async function () {
    await closeMqtt(kettle, lobby?.client, probe?.client);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  async function chat(user: XmppUser, to: string, body: string, extra: Element[] = []): Promise<Element> {
    const id = `m${Math.random().toString(36).slice(2)}`;
    const reply = user.waitFor(isMessageFrom(to, (m) => m.getChildText('body') !== null), `the reply to "${body}"`);
    await user.send(xml('message', { to, type: 'chat', id }, xml('body', {}, body), ...extra));
    return reply;
  }

  function iqCommand(to: string, name: string, json: string): Element {
    return xml('iq', { type: 'set', to }, xml('command', { xmlns: NS_COMMAND, name }, xml('json', { xmlns: 'urn:xmpp:json:0' }, json)));
  }

  it('answers "help" with the commands, their fields and the shortcuts', async function () {
    const reply = await chat(alice, KETTLE, 'help');
    assert.equal(
      reply.getChildText('body'),
      [
        'plug-kettle accepts:',
        '  set state=ON|OFF — Switch the plug on or off',
        'Shortcuts: on = set state=ON, off = set state=OFF',
        'Write a command as "set key=value …" or "set {JSON}". Fields in [brackets] are optional.',
      ].join('\n'),
    );
  });

  it('relays a chat command, typed by the schema, and confirms it when the plug reports its state', async function () {
    const published = probe.next('plugs/kettle/set');
    const receipt = alice.waitFor((s) => s.name === 'message' && s.getChild('received', 'urn:xmpp:receipts') !== undefined, 'the receipt');
    const reply = await chat(alice, KETTLE, 'set state=on', [xml('request', { xmlns: 'urn:xmpp:receipts' })]);
    assert.equal((await published).toString(), '{"state":"ON"}', 'enum members match case-insensitively');
    assert.equal(reply.getChildText('body'), '✓ set: confirmed — ON, 1850.0 W');
    assert.ok((await receipt).getChild('received', 'urn:xmpp:receipts')!.attrs['id']);
  });

  it('understands the mapping\'s shortcuts', async function () {
    const published = probe.next('plugs/kettle/set');
    const reply = await chat(alice, KETTLE, 'off');
    assert.equal((await published).toString(), '{"state":"OFF"}');
    assert.match(reply.getChildText('body') ?? '', /^✓ set: confirmed/);
  });

  it('relays an IQ command byte for byte and returns the confirming state report', async function () {
    const json = '{ "state" : "ON" }';
    const published = probe.next('plugs/kettle/set');
    const reply = await alice.iq(iqCommand(KETTLE, 'set', json));
    assert.equal((await published).toString(), json);
    assert.equal(reply.attrs['type'], 'result');
    const cmd = reply.getChild('command', NS_COMMAND)!;
    assert.deepEqual({ ...cmd.attrs }, { xmlns: NS_COMMAND, name: 'set', status: 'confirmed', topic: 'plugs/kettle/set' });
    assert.equal(cmd.getChildText('json', 'urn:xmpp:json:0'), '{"state":"ON","power":1850}');
  });

  it('answers "published" for a command without a declared state echo', async function () {
    const got = lobby.next('displays/lobby/show');
    const reply = await alice.iq(iqCommand(LOBBY, 'show', '{"text":"hello","lines":1}'));
    assert.equal((await got).toString(), '{"text":"hello","lines":1}');
    assert.equal(reply.getChild('command', NS_COMMAND)!.attrs['status'], 'published');
  });

  it('refuses forbidden, invalid, unknown and offline commands with the right errors, and publishes nothing', async function () {
    const before = probe.messages.length;
    const forbidden = await bob.iq(iqCommand(KETTLE, 'set', '{"state":"ON"}'));
    assert.equal(condition(forbidden), 'forbidden');
    const invalid = await alice.iq(iqCommand(KETTLE, 'set', '{"state":"MAYBE"}'));
    assert.equal(condition(invalid), 'bad-request');
    assert.equal(errorText(invalid), 'set: /state must be one of "ON", "OFF"');
    const extra = await alice.iq(iqCommand(KETTLE, 'set', '{"state":"ON","colour":"red"}'));
    assert.equal(errorText(extra), 'set: /colour is not a known property');
    const notJson = await alice.iq(iqCommand(KETTLE, 'set', 'state=ON'));
    assert.equal(condition(notJson), 'bad-request');
    const noDevice = await alice.iq(iqCommand('plug-nothing@iot.localhost', 'set', '{"state":"ON"}'));
    assert.equal(condition(noDevice), 'item-not-found');
    const noCommand = await alice.iq(iqCommand(KETTLE, 'explode', '{}'));
    assert.equal(condition(noCommand), 'item-not-found');
    const chatForbidden = await chat(bob, KETTLE, 'set state=ON');
    assert.equal(chatForbidden.getChildText('body'), '✗ forbidden: bob@localhost may not command plug-kettle@iot.localhost');
    const chatInvalid = await chat(alice, KETTLE, 'set state=MAYBE');
    assert.equal(chatInvalid.getChildText('body'), '✗ command invalid: set: /state must be one of "ON", "OFF"');
    const chatUnknown = await chat(alice, KETTLE, 'dance now');
    assert.equal(chatUnknown.getChildText('body'), '✗ unknown command "dance"; send "help" for the list');

    // Offline: the plug's Will says so.
    const offline = await mqttClient(run.mqttUrl, { clientId: 'kettle-lwt' });
    await offline.publishAsync('plugs/kettle/availability', 'offline', { qos: 1, retain: true });
    await alice.iq(xml('iq', { type: 'get', to: KETTLE }, xml('ping', { xmlns: 'urn:xmpp:ping' }))); // orders the availability before the next IQ
    const unavailable = await alice.iq(iqCommand(KETTLE, 'set', '{"state":"ON"}'));
    assert.equal(condition(unavailable), 'recipient-unavailable');
    await offline.publishAsync('plugs/kettle/availability', 'online', { qos: 1, retain: true });
    await closeMqtt(offline);

    // A valid command after all of them: the first thing the probe sees since, so nothing was published before it.
    const next = probe.next('plugs/kettle/set');
    await alice.iq(iqCommand(KETTLE, 'set', '{"state":"OFF"}'));
    assert.equal((await next).toString(), '{"state":"OFF"}');
    assert.deepEqual(
      probe.messages
        .slice(before)
        .filter((m) => m.topic === 'plugs/kettle/set')
        .map((m) => m.payload.toString()),
      ['{"state":"OFF"}'],
    );
  });

  it('answers remote-server-timeout when the device does not confirm', async function () {
    echo = false;
    try {
      const published = probe.next('plugs/kettle/set');
      const reply = await alice.iq(iqCommand(KETTLE, 'set', '{"state":"ON"}'));
      await published;
      assert.equal(condition(reply), 'remote-server-timeout');
      assert.equal(errorText(reply), 'no confirmation on plugs/kettle/state within 1.5 s');
    } finally {
      echo = true;
    }
  });

  it('offers XEP-0050 ad-hoc commands with forms generated from the command schema', async function () {
    const items = await alice.iq(xml('iq', { type: 'get', to: LOBBY }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items', node: NS_ADHOC })));
    assert.deepEqual(
      items.getChild('query')!.getChildren('item').map((i) => [i.attrs['jid'], i.attrs['node'], i.attrs['name']]),
      [[LOBBY, 'show', 'Show text']],
    );
    const start = await alice.iq(xml('iq', { type: 'set', to: LOBBY }, xml('command', { xmlns: NS_ADHOC, node: 'show', action: 'execute' })));
    const cmd = start.getChild('command', NS_ADHOC)!;
    assert.equal(cmd.attrs['status'], 'executing');
    const form = cmd.getChild('x', 'jabber:x:data')!;
    const fields = form.getChildren('field').map((f) => ({
      var: f.attrs['var'],
      type: f.attrs['type'],
      required: f.getChild('required') !== undefined,
      options: f.getChildren('option').map((o) => o.getChildText('value')),
      values: f.getChildren('value').map((v) => v.getText()),
      range: f.getChild('validate', 'http://jabber.org/protocol/xdata-validate')?.getChild('range')?.attrs,
    }));
    assert.deepEqual(fields, [
      { var: 'text', type: 'text-single', required: true, options: [], values: [], range: undefined },
      { var: 'lines', type: 'text-single', required: false, options: [], values: ['2'], range: { min: '1', max: '8' } },
      { var: 'color', type: 'list-single', required: false, options: ['red', 'green', 'amber'], values: [], range: undefined },
      { var: 'blink', type: 'boolean', required: false, options: [], values: [], range: undefined },
      { var: 'tags', type: 'list-multi', required: false, options: ['urgent', 'info'], values: [], range: undefined },
    ]);
    const got = lobby.next('displays/lobby/show');
    const submit = xml(
      'x',
      { xmlns: 'jabber:x:data', type: 'submit' },
      xml('field', { var: 'text' }, xml('value', {}, 'Fire drill at 3')),
      xml('field', { var: 'lines' }, xml('value', {}, '3')),
      xml('field', { var: 'color' }, xml('value', {}, 'amber')),
      xml('field', { var: 'blink' }, xml('value', {}, '1')),
      xml('field', { var: 'tags' }, xml('value', {}, 'urgent'), xml('value', {}, 'info')),
    );
    const done = await alice.iq(xml('iq', { type: 'set', to: LOBBY }, xml('command', { xmlns: NS_ADHOC, node: 'show', sessionid: cmd.attrs['sessionid'], action: 'complete' }, submit)));
    assert.equal(done.getChild('command', NS_ADHOC)!.attrs['status'], 'completed');
    assert.deepEqual(JSON.parse((await got).toString()), { text: 'Fire drill at 3', lines: 3, color: 'amber', blink: true, tags: ['urgent', 'info'] });

    const bad = await alice.iq(
      xml('iq', { type: 'set', to: LOBBY }, xml('command', { xmlns: NS_ADHOC, node: 'show', action: 'execute' }, xml('x', { xmlns: 'jabber:x:data', type: 'submit' }, xml('field', { var: 'lines' }, xml('value', {}, '9'))))),
    );
    assert.equal(condition(bad), 'bad-request');
    assert.match(errorText(bad), /text is required/);
    const forbidden = await bob.iq(xml('iq', { type: 'set', to: KETTLE }, xml('command', { xmlns: NS_ADHOC, node: 'set', action: 'execute' })));
    assert.equal(condition(forbidden), 'forbidden');
  });

  it('carries a large non-ASCII command (> 200 KB) to the device byte for byte', async function () {
    const text = 'Zażółć gęślą jaźń — 東京 — 🚀🌍 — '.repeat(4000);
    const json = JSON.stringify({ text });
    assert.ok(Buffer.byteLength(json) > 200_000, `${Buffer.byteLength(json)} bytes`);
    const got = lobby.next('displays/lobby/show', 20_000);
    const reply = await alice.iq(iqCommand(LOBBY, 'show', json), 20_000);
    assert.equal(reply.attrs['type'], 'result', errorText(reply));
    const payload = await got;
    assert.equal(payload.length, Buffer.byteLength(json));
    assert.ok(payload.equals(Buffer.from(json, 'utf8')), 'the published bytes equal the sent JSON');
  });
});
