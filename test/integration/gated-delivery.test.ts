/**
 * Presence-gated delivery and the delivery modes on a real Prosody with mod_offline (which keeps `chat` messages for
 * users who are away, without limit), with real users (@xmpp/client) who follow the devices the way a client does:
 * subscribe, and approve the device's request for their presence.
 *
 * alice stays online; bob goes away and comes back. What the bridge writes for bob while he is away, what Prosody
 * stores for him (its offline store, read from its data directory) and what he finds at login are counted exactly.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { closeMqtt, fromBare, isMessageFrom, mqttClient, removeDir, SHIPPED_SCHEMAS, startBridge, startTestServer, XmppUser, type ProsodyTestServer, type RunningBridge } from './harness.js';

const NS_CORRECT = 'urn:xmpp:message-correct:0';
const MODES = {
  latest: { mode: 'chat', offline: 'latest' },
  store: { mode: 'chat', offline: 'store' },
  drop: { mode: 'chat', offline: 'drop' },
  headline: { mode: 'headline', offline: 'latest' },
  live: { mode: 'live', offline: 'latest' },
} as const;
type Kind = keyof typeof MODES;
const jidOf = (kind: Kind): string => `${kind}-lab@iot.localhost`;

/** Chat messages Prosody's mod_offline holds for a user (its internal storage: one `item` per message). */
export function storedOffline(server: ProsodyTestServer, user: string): number {
  const dir = join(server.prosody.dir, 'data', 'localhost', 'offline');
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return 0;
  }
  const file = files.find((f) => f.startsWith(`${user}.`));
  return file ? (readFileSync(join(dir, file), 'utf8').match(/^item\(/gm) ?? []).length : 0;
}

describe('presence-gated delivery and the delivery modes, on a real server', function () {
  this.timeout(60_000);
  let server: ProsodyTestServer;
  let run: RunningBridge;
  let mappings: string;
  let device: MqttClient;
  let alice: XmppUser;
  let bob: XmppUser;
  /** Stanzas the bridge writes, by bare recipient. */
  let written: Map<string, Element[]>;

  before(async function () {
    server = await startTestServer({ modules: ['offline'] });
    mappings = mkdtempSync(join(tmpdir(), 'mxb-gated-'));
    writeFileSync(
      join(mappings, 'modes.yaml'),
      stringify({
        mappings: (Object.keys(MODES) as Kind[]).map((kind) => ({
          id: kind,
          topic: `${kind}/{device}`,
          jid: `${kind}-{device}`,
          name: `{device} (${kind})`,
          schema: 'urn:mqtt-xmpp-bridge:example:climate',
          body: '{temperature|.1} °C',
          delivery: MODES[kind],
          access: { viewers: ['*@{serverDomain}'] },
        })),
      }),
    );
    run = await startBridge({ server, mappings: [mappings], schemas: [SHIPPED_SCHEMAS] });
    written = new Map();
    const link = run.bridge.link;
    const send = link.send.bind(link);
    link.send = (el: Element): boolean => {
      const to = (el.attrs['to'] ?? '').split('/')[0]!;
      written.set(to, [...(written.get(to) ?? []), el]);
      return send(el);
    };
    device = await mqttClient(run.mqttUrl, { clientId: 'lab-sensors' });
    for (const kind of Object.keys(MODES) as Kind[]) await device.publishAsync(`${kind}/lab`, '{"temperature":10}', { qos: 1 });
    alice = await server.user('alice');
    bob = await server.user('bob');
    for (const kind of Object.keys(MODES) as Kind[]) {
      await alice.follow(jidOf(kind));
      await bob.follow(jidOf(kind));
    }
  });

  after(async function () {
    await closeMqtt(device);
    await alice?.stop();
    await bob?.stop();
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
    removeDir(mappings);
  });

  const publish = (kind: Kind, temperature: number): Promise<unknown> => device.publishAsync(`${kind}/lab`, JSON.stringify({ temperature }), { qos: 1 });
  const body = (t: number): string => `${t.toFixed(1)} °C`;
  const toBob = (pred: (el: Element) => boolean = () => true): Element[] => (written.get('bob@localhost') ?? []).filter(pred);

  /** bob logs out; resolves once the bridge knows. */
  async function away(): Promise<void> {
    const gone = new Promise<void>((resolve) => {
      const off = run.bridge.kernel.bus.on('user_unavailable', ({ user }) => {
        if (user !== 'bob@localhost') return;
        off();
        resolve();
      });
    });
    await bob.stop();
    await gone;
    written.set('bob@localhost', []);
  }

  /** bob logs in again; resolves with the session once the bridge has seen him (a ping to the device comes back). */
  async function back(kind: Kind): Promise<XmppUser> {
    bob = await XmppUser.connect(server.prosody, 'bob', 'pw-bob');
    await bob.iq(xml('iq', { type: 'get', to: jidOf(kind) }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    return bob;
  }

  it('two subscribers, one offline: only the online one gets stanzas; back, he gets the current value once', async function () {
    await away();
    const last = alice.waitFor(isMessageFrom(jidOf('latest'), (m) => m.getChildText('body') === body(13)), 'the third reading');
    for (const t of [11, 12, 13]) await publish('latest', t);
    await last;
    assert.equal(alice.received(isMessageFrom(jidOf('latest'), (m) => [body(11), body(12), body(13)].includes(m.getChildText('body') ?? ''))).length, 3);
    assert.deepEqual(toBob(), [], 'not one stanza for bob while he is away');
    assert.equal(storedOffline(server, 'bob'), 0, 'nothing for Prosody to keep');
    const b = await back('latest');
    const got = await b.waitForAny(isMessageFrom(jidOf('latest')), 'the current value');
    assert.equal(got.getChildText('body'), body(13));
    assert.equal(got.getChild('delay', 'urn:xmpp:delay')?.attrs['from'], 'iot.localhost', 'XEP-0203: stamped by the bridge');
    assert.equal(b.received(isMessageFrom(jidOf('latest'))).length, 1, 'once');
  });

  it('offline: store — the server keeps every reading for the one away', async function () {
    await away();
    const last = alice.waitFor(isMessageFrom(jidOf('store'), (m) => m.getChildText('body') === body(23)), 'the third reading');
    for (const t of [21, 22, 23]) await publish('store', t);
    await last;
    assert.equal(toBob(isMessage).length, 3);
    assert.equal(storedOffline(server, 'bob'), 3, 'Prosody kept all three');
    const b = await back('store');
    await b.waitForAny(isMessageFrom(jidOf('store'), (m) => m.getChildText('body') === body(23)), 'the stored readings');
    assert.deepEqual(b.received(isMessageFrom(jidOf('store'))).map((m) => m.getChildText('body')), [body(21), body(22), body(23)]);
  });

  it('offline: drop — nothing while away, nothing on return', async function () {
    await away();
    const last = alice.waitFor(isMessageFrom(jidOf('drop'), (m) => m.getChildText('body') === body(32)), 'the second reading');
    for (const t of [31, 32]) await publish('drop', t);
    await last;
    assert.deepEqual(toBob(), []);
    const b = await back('drop');
    assert.deepEqual(b.received(isMessageFrom(jidOf('drop'))), []);
    assert.equal(storedOffline(server, 'bob'), 0);
  });

  it('headline: each reading is a headline message', async function () {
    const got = alice.waitFor(isMessageFrom(jidOf('headline'), (m) => m.getChildText('body') === body(41)), 'the headline');
    await publish('headline', 41);
    assert.equal((await got).attrs['type'], 'headline');
  });

  it('live: one message, corrected in place by later readings (XEP-0308)', async function () {
    const original = alice.received(isMessageFrom(jidOf('live')))[0];
    assert.ok(original, 'alice got the original when she followed the device');
    const last = alice.waitFor(isMessageFrom(jidOf('live'), (m) => m.getChildText('body') === body(53)), 'the last correction');
    for (const t of [51, 52, 53]) await publish('live', t);
    await last;
    const corrections = alice.received(isMessageFrom(jidOf('live'))).slice(1);
    assert.deepEqual(corrections.map((c) => c.getChildText('body')), [body(51), body(52), body(53)]);
    for (const c of corrections) assert.equal(c.getChild('replace', NS_CORRECT)?.attrs['id'], original.attrs['id'], 'each names the original');
  });

  it('names: vCard-temp of a device through the server', async function () {
    const reply = await alice.iq(xml('iq', { type: 'get', to: jidOf('live') }, xml('vCard', { xmlns: 'vcard-temp' })));
    assert.equal(reply.attrs['type'], 'result');
    assert.equal(reply.getChild('vCard', 'vcard-temp')?.getChildText('FN'), 'lab (live)');
    assert.equal(fromBare(reply), jidOf('live'));
  });
});

function isMessage(el: Element): boolean {
  return el.name === 'message';
}
