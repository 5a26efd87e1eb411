/**
 * The audit log under a flood of refused commands, through the real path: a user on the XMPP server sends 1,000
 * commands he may not give, each with a 4 KB payload; the database grows by a bounded amount.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { AuditLog } from '../../src/store/audit.js';
import { openDatabase, type Db } from '../../src/store/db.js';
import { closeMqtt, mqttClient, removeDir, startBridge, startTestServer, type RunningBridge, type TestServer, type XmppUser } from './harness.js';

const PLUG = 'plug-kettle@iot.localhost';
const N = 1000;

describe('audit log: a flood of refused commands', function () {
  this.timeout(120_000);
  let server: TestServer;
  let run: RunningBridge;
  let plug: MqttClient;
  let bob: XmppUser;
  let db: Db;

  before(async function () {
    server = await startTestServer();
    run = await startBridge({ server, config: { xmpp: { commandRate: { perMinute: 0 } } } }); // no rate limit: every command reaches the audit log
    plug = await mqttClient(run.mqttUrl, { clientId: 'plug-kettle' });
    await plug.publishAsync('plugs/kettle/state', '{"state":"OFF","power":0}', { qos: 1 });
    bob = await server.user('bob'); // may view the plug, not operate it
    db = openDatabase(join(run.dir, 'data'));
  });

  after(async function () {
    db?.close();
    await closeMqtt(plug);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  function size(): number {
    db.pragma('wal_checkpoint(TRUNCATE)'); // everything committed is in the main file
    return statSync(join(run.dir, 'data', 'bridge.db')).size;
  }

  it(`${N} refused commands with 4 KB payloads grow the database by a few pages, kept as one counted entry`, async function () {
    const before = size();
    const payload = JSON.stringify({ state: 'ON', note: 'x'.repeat(4096) });
    const replies = await Promise.all(
      Array.from({ length: N }, () =>
        bob.iq(xml('iq', { type: 'set', to: PLUG }, xml('command', { xmlns: 'urn:mqtt-xmpp-bridge:command:0', name: 'set' }, xml('json', { xmlns: 'urn:xmpp:json:0' }, payload))), 30_000),
      ),
    );
    assert.deepEqual([...new Set(replies.map((r) => r.getChild('error')?.getChildElements()[0]?.name))], ['forbidden']);
    // The entries are committed in groups (at most 50 ms after the first): wait, bounded, for the last of them.
    const reader = new AuditLog(db);
    const counted = (): number => reader.query({ sender: 'bob@localhost', limit: 10 }).reduce((n, e) => n + (e.count ?? 1), 0);
    const deadline = Date.now() + 10_000;
    while (counted() < N && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const grown = size() - before;
    console.log(`      ${N} refused commands (4 KB payloads): the database grew by ${grown} bytes`);
    const entries = reader.query({ sender: 'bob@localhost', limit: 10 });
    assert.deepEqual(
      entries.map((e) => [e.outcome, e.count ?? 1, e.payload]),
      [['FORBIDDEN', N, undefined]],
    );
    assert.ok(grown <= 16 * 1024, `the database grew by ${grown} bytes`);
  });
});
