/**
 * Visibility from outside: eve, a real user on a real Prosody, asks about three devices — one she may view, one she
 * may not (hidden), one that does not exist — through every kind of stanza a client can send (IQs, chat, subscription
 * requests). The hidden device answers exactly like the missing one (ids and the JID itself blanked out).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Element } from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { IQ_ROWS, STANZA_ROWS, visibilityMappings, type Probe } from '../support/visibility-rows.js';
import { closeMqtt, fromBare, mqttClient, removeDir, SHIPPED_SCHEMAS, startBridge, startTestServer, type RunningBridge, type TestServer, type XmppUser } from './harness.js';

const HIDDEN = 'secret-vault@iot.localhost';
const MISSING = 'secret-nothing@iot.localhost';
const VISIBLE = 'open-lamp@iot.localhost';

describe('visibility through a real server: a hidden device answers like a non-existent one', function () {
  let server: TestServer;
  let run: RunningBridge | undefined;
  let eve: XmppUser;
  let mappings: string;
  let device: MqttClient;

  before(async function () {
    server = await startTestServer();
    mappings = mkdtempSync(join(tmpdir(), 'mxb-visibility-'));
    writeFileSync(join(mappings, 'devices.yaml'), stringify({ mappings: visibilityMappings('localhost') }));
    run = await startBridge({ server, mappings: [mappings], schemas: [SHIPPED_SCHEMAS] });
    eve = await server.user('eve');
    device = await mqttClient(run.mqttUrl, { clientId: 'devices' });
    await device.publishAsync('open/lamp/state', '{"state":"OFF"}', { qos: 1 });
    await device.publishAsync('secret/vault/state', '{"state":"OFF"}', { qos: 1 });
    assert.ok(run.bridge.registry.byJid(HIDDEN));
  });

  after(async function () {
    await closeMqtt(device);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
    removeDir(mappings);
  });

  const normalize = (el: Element, jid: string): string =>
    el
      .toString()
      .replace(/ id=(['"])[^'"]*\1/g, '')
      .replace(/ from=(['"])[^'"]*\1/g, '')
      .replace(/ to=(['"])[^'"]*\1/g, '')
      .split(jid)
      .join('<JID>');

  async function answer(probe: Probe, jid: string, kind: 'iq' | 'message' | 'presence'): Promise<string> {
    const el = probe(jid, eve.jid);
    delete el.attrs['from']; // the server stamps it
    if (kind === 'iq') return normalize(await eve.iq(el), jid);
    const pred = (s: Element): boolean => s.name === kind && fromBare(s) === jid;
    const reply = eve.waitFor(pred, `an answer from ${jid}`);
    await eve.send(el);
    return normalize(await reply, jid);
  }

  const rows: [string, Probe, 'iq' | 'message' | 'presence'][] = [
    ...IQ_ROWS.map(([w, p]) => [w, p, 'iq'] as [string, Probe, 'iq']),
    ...STANZA_ROWS.filter(([w]) => w.startsWith('chat')).map(([w, p]) => [w, p, 'message'] as [string, Probe, 'message']),
    ...STANZA_ROWS.filter(([w]) => w === 'presence subscribe').map(([w, p]) => [w, p, 'presence'] as [string, Probe, 'presence']),
  ];
  for (const [what, probe, kind] of rows) {
    it(what, async function () {
      const missing = await answer(probe, MISSING, kind);
      const hidden = await answer(probe, HIDDEN, kind);
      assert.equal(hidden, missing);
      if (what === 'version') return;
      const visible = await answer(probe, VISIBLE, kind);
      assert.notEqual(visible, missing, 'the visible device answers differently');
    });
  }
});
