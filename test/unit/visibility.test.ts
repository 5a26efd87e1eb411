/**
 * A device a user may not view does not exist for that user: for every kind of stanza that can name a device — disco
 * info and items (with and without a node), ping, version, command IQs (well-formed or not), XEP-0050 execute,
 * complete and cancel, chat lines, presence subscription and probe — the answer about a hidden device is exactly the
 * answer about a JID that names no device, byte for byte once the JID itself is blanked out; and a visible device gets
 * a different answer (so each row really reaches the device).
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import { DOMAIN, startTestBridge, type TestBridge } from '../support/test-bridge.js';
import { IQ_ROWS, STANZA_ROWS, visibilityMappings, type Probe } from '../support/visibility-rows.js';

const EVE = 'eve@example.org/phone';

const HIDDEN = `secret-vault@${DOMAIN}`;
const MISSING = `secret-nothing@${DOMAIN}`;
const VISIBLE = `open-lamp@${DOMAIN}`;

describe('visibility: a hidden device answers exactly like a non-existent one', () => {
  let t: TestBridge;

  before(async () => {
    t = await startTestBridge({ mappings: visibilityMappings('example.org') });
    await t.side.device('open/lamp/state', '{"state":"OFF"}');
    await t.side.device('secret/vault/state', '{"state":"OFF"}');
    assert.ok(t.bridge.registry.byJid(HIDDEN), 'the hidden device exists');
  });

  after(() => t.stop());

  /** Everything the bridge answers to one stanza, as text, with `jid` blanked. */
  async function answer(probe: Probe, jid: string): Promise<string> {
    t.link.take();
    const el = probe(jid, EVE);
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
    const reply = await t.link.inject(xml('iq', { type: 'get', to: DOMAIN, from: EVE, id: 'i1' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' })));
    const jids = reply!.getChild('query')!.getChildren('item').map((i) => i.attrs['jid']);
    assert.deepEqual(jids, [VISIBLE]);
  });
});
