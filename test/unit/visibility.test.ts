/**
 * A device a user may not view does not exist for that user: for every kind of stanza that can name a device — disco
 * info and items (with and without a node), ping, version, command IQs (well-formed or not), XEP-0050 execute,
 * complete and cancel, chat lines, presence subscription and probe — the answer about a hidden device is exactly the
 * answer about a JID that names no device, byte for byte once the JID itself is blanked out; and a visible device gets
 * a different answer (so each row really reaches the device).
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { DOMAIN, startTestBridge, type TestBridge } from '../support/test-bridge.js';

const NS_ADHOC = 'http://jabber.org/protocol/commands';
const NS_COMMAND = 'urn:mqtt-xmpp-bridge:command:0';
const EVE = 'eve@example.org/phone';

const HIDDEN = `secret-vault@${DOMAIN}`;
const MISSING = `secret-nothing@${DOMAIN}`;
const VISIBLE = `open-lamp@${DOMAIN}`;

type Probe = (to: string) => Element;

const iq = (type: 'get' | 'set', to: string, child: Element): Element => xml('iq', { type, to, from: EVE, id: 'q1' }, child);
const setForm = (): Element => xml('x', { xmlns: 'jabber:x:data', type: 'submit' }, xml('field', { var: 'state' }, xml('value', {}, 'ON')));

const IQ_ROWS: [string, Probe][] = [
  ['disco#info', (to) => iq('get', to, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }))],
  ['disco#info on the command node', (to) => iq('get', to, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info', node: 'set' }))],
  ['disco#info on an unknown node', (to) => iq('get', to, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info', node: 'nope' }))],
  ['disco#items', (to) => iq('get', to, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' }))],
  ['disco#items on the commands node', (to) => iq('get', to, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items', node: NS_ADHOC }))],
  ['ping', (to) => iq('get', to, xml('ping', { xmlns: 'urn:xmpp:ping' }))],
  ['version', (to) => iq('get', to, xml('query', { xmlns: 'jabber:iq:version' }))],
  ['command IQ', (to) => iq('set', to, xml('command', { xmlns: NS_COMMAND, name: 'set' }, xml('json', { xmlns: 'urn:xmpp:json:0' }, '{"state":"ON"}')))],
  ['command IQ without a name', (to) => iq('set', to, xml('command', { xmlns: NS_COMMAND }))],
  ['command IQ naming an unknown command', (to) => iq('set', to, xml('command', { xmlns: NS_COMMAND, name: 'explode' }))],
  ['command IQ with invalid JSON', (to) => iq('set', to, xml('command', { xmlns: NS_COMMAND, name: 'set' }, xml('json', { xmlns: 'urn:xmpp:json:0' }, '{')))],
  ['ad-hoc execute', (to) => iq('set', to, xml('command', { xmlns: NS_ADHOC, node: 'set', action: 'execute' }))],
  ['ad-hoc complete with a form', (to) => iq('set', to, xml('command', { xmlns: NS_ADHOC, node: 'set', action: 'complete' }, setForm()))],
  ['ad-hoc cancel', (to) => iq('set', to, xml('command', { xmlns: NS_ADHOC, node: 'set', action: 'cancel', sessionid: 'abc' }))],
  ['ad-hoc on an unknown node', (to) => iq('set', to, xml('command', { xmlns: NS_ADHOC, node: 'explode', action: 'execute' }))],
];

const STANZA_ROWS: [string, Probe][] = [
  ['chat "help"', (to) => xml('message', { to, from: EVE, type: 'chat', id: 'm1' }, xml('body', {}, 'help'))],
  ['chat command line', (to) => xml('message', { to, from: EVE, type: 'chat', id: 'm2' }, xml('body', {}, 'set state=ON'))],
  ['chat garbage', (to) => xml('message', { to, from: EVE, type: 'chat', id: 'm3' }, xml('body', {}, 'xyzzy'))],
  ['presence subscribe', (to) => xml('presence', { to, from: 'eve@example.org', type: 'subscribe' })],
  ['presence probe', (to) => xml('presence', { to, from: EVE, type: 'probe' })],
  ['presence unsubscribe', (to) => xml('presence', { to, from: 'eve@example.org', type: 'unsubscribe' })],
];

describe('visibility: a hidden device answers exactly like a non-existent one', () => {
  let t: TestBridge;

  before(async () => {
    const device = (id: string, viewers: string[]): Record<string, unknown> => ({
      id,
      topic: `${id}/{device}/state`,
      jid: `${id}-{device}`,
      name: `{device} (${id})`,
      schema: 'urn:mqtt-xmpp-bridge:example:plug',
      commands: [{ name: 'set', topic: `${id}/{device}/set`, schema: 'urn:mqtt-xmpp-bridge:example:plug-set', ttl: 0 }],
      access: { viewers, operators: viewers },
    });
    t = await startTestBridge({ mappings: [device('open', ['*@example.org']), device('secret', ['boss@example.org'])] });
    await t.side.device('open/lamp/state', '{"state":"OFF"}');
    await t.side.device('secret/vault/state', '{"state":"OFF"}');
    assert.ok(t.bridge.registry.byJid(HIDDEN), 'the hidden device exists');
  });

  after(() => t.stop());

  /** Everything the bridge answers to one stanza, as text, with `jid` blanked. */
  async function answer(probe: Probe, jid: string): Promise<string> {
    t.link.take();
    const el = probe(jid);
    const reply = await t.link.inject(el);
    if (!reply) await new Promise((r) => setImmediate(r)); // message and presence handlers may answer a turn later
    const sent = reply ? [reply] : t.link.take((s) => (s.attrs['to'] ?? '').startsWith('eve@'));
    return sent.map((s) => s.toString().split(jid).join('<JID>').split(jid.split('@')[0]!).join('<LOCAL>')).join('\n');
  }

  for (const [what, probe] of [...IQ_ROWS, ...STANZA_ROWS]) {
    it(what, async () => {
      const missing = await answer(probe, MISSING);
      const hidden = await answer(probe, HIDDEN);
      assert.equal(hidden, missing, `${what}: the hidden device answered differently from a non-existent one`);
      if (what === 'version' || what === 'presence unsubscribe') return; // answered the same for every device by design
      const visible = await answer(probe, VISIBLE);
      assert.notEqual(visible, missing, `${what}: the visible device answered like a non-existent one (the row does not reach the device)`);
    });
  }

  it('lists only visible devices in disco#items of the component', async () => {
    const reply = await t.link.inject(iq('get', DOMAIN, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' })));
    const jids = reply!.getChild('query')!.getChildren('item').map((i) => i.attrs['jid']);
    assert.deepEqual(jids, [VISIBLE]);
  });
});
