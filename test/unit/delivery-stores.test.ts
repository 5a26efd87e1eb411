/**
 * The SQLite stores of delivery: what devices asked users and their answers, PubSub subscriptions, and the latest
 * readings (written behind, on flush) survive reopening the database; a database without them is migrated.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/db.js';
import { SqliteLatestReadings } from '../../src/store/latest.js';
import { SqlitePresenceRequests } from '../../src/store/presence-requests.js';
import { SqlitePubsubSubscriptions } from '../../src/store/pubsub.js';

describe('delivery stores (SQLite)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bridge-stores-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keep presence requests, PubSub subscriptions and flushed latest readings across a reopen', () => {
    let db = openDatabase(dir);
    const requests = new SqlitePresenceRequests(db);
    requests.set('d@iot', 'alice@x', 'asked');
    requests.set('d@iot', 'alice@x', 'granted');
    requests.set('d@iot', 'bob@x', 'declined');
    requests.set('e@iot', 'carol@x', 'asked');
    requests.delete('e@iot', 'carol@x');
    const pubsub = new SqlitePubsubSubscriptions(db);
    assert.equal(pubsub.add('d@iot', 'readings', 'robot@x/a'), true);
    assert.equal(pubsub.add('d@iot', 'readings', 'robot@x/a'), false);
    pubsub.add('d@iot', 'readings', 'robot@x/b');
    assert.equal(pubsub.delete('d@iot', 'readings', 'robot@x/b'), true);
    const latest = new SqliteLatestReadings(db);
    latest.set({ deviceJid: 'd@iot', topic: 't/d', json: '{"v":1}', receivedAt: 1 });
    latest.set({ deviceJid: 'd@iot', topic: 't/d', json: '{"v":2}', receivedAt: 2 });
    latest.set({ deviceJid: 'e@iot', topic: 't/e', json: '{"v":3}', receivedAt: 3 });
    latest.flush();
    latest.set({ deviceJid: 'f@iot', topic: 't/f', json: '{"v":4}', receivedAt: 4 }); // not flushed: not on disk
    db.close();

    db = openDatabase(dir);
    const r = new SqlitePresenceRequests(db);
    assert.deepEqual([...r.of('d@iot')], [['alice@x', 'granted'], ['bob@x', 'declined']]);
    assert.equal(r.get('e@iot', 'carol@x'), undefined);
    assert.deepEqual([...new SqlitePubsubSubscriptions(db).of('d@iot', 'readings')], ['robot@x/a']);
    const l = new SqliteLatestReadings(db);
    assert.deepEqual(l.get('d@iot'), { deviceJid: 'd@iot', topic: 't/d', json: '{"v":2}', receivedAt: 2 });
    assert.equal(l.get('f@iot'), undefined);
    l.delete('e@iot');
    l.flush();
    db.close();
    db = openDatabase(dir);
    assert.equal(new SqliteLatestReadings(db).get('e@iot'), undefined);
    db.close();
  });
});
