/**
 * The contracts of the store interfaces (src/kernel/stores.ts) that cluster mode shares, run against both
 * implementations: SQLite (one instance; the import store also through a second connection, as the CLI writes it) and
 * Redis (src/store/redis/, a real redis-server: what one instance writes, another reads, and a third that opens later
 * loads it).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterConfig } from '../../src/config/schema.js';
import type { ImportRow, ImportStore, LatestReadingStore, PresenceRequestStore, PubsubSubscriptionStore } from '../../src/kernel/stores.js';
import { createLogger } from '../../src/log.js';
import { startRedis, type RedisInstance } from '../../src/servers/redis.js';
import { openDatabase, type Db } from '../../src/store/db.js';
import { SqliteImportStore } from '../../src/store/imports.js';
import { SqliteLatestReadings } from '../../src/store/latest.js';
import { SqlitePresenceRequests } from '../../src/store/presence-requests.js';
import { SqlitePubsubSubscriptions } from '../../src/store/pubsub.js';
import { openSharedImports } from '../../src/store/redis/imports.js';
import { SharedState } from '../../src/store/redis/state.js';
import { eventually, requireRedis } from './cluster-harness.js';

const log = createLogger({ level: 'silent' });

interface Stores {
  readonly imports: ImportStore;
  readonly latest: LatestReadingStore;
  readonly pubsub: PubsubSubscriptionStore;
  readonly presenceRequests: PresenceRequestStore;
}

/** One implementation: `a` writes, `b` is another instance (or connection) that must see it, `reopen` starts afresh. */
interface Subject {
  readonly a: Stores;
  readonly b: Stores;
  /** Stores opened after everything so far was written (and flushed): what a restart, or a new instance, loads. */
  reopen(): Promise<Stores>;
  close(): Promise<void>;
}

function sqliteSubject(): Promise<Subject> {
  const dir = mkdtempSync(join(tmpdir(), 'mxb-contract-'));
  const open: Db[] = [];
  const stores = (db: Db): Stores => ({ imports: new SqliteImportStore(db), latest: new SqliteLatestReadings(db), pubsub: new SqlitePubsubSubscriptions(db), presenceRequests: new SqlitePresenceRequests(db) });
  const db = openDatabase(dir);
  const cli = openDatabase(dir);
  open.push(db, cli);
  const a = stores(db);
  // One process keeps presence, PubSub and latest readings in memory: only the import store has a second writer (the CLI).
  const b: Stores = { ...a, imports: new SqliteImportStore(cli) };
  return Promise.resolve({
    a,
    b,
    reopen() {
      const again = openDatabase(dir);
      open.push(again);
      return Promise.resolve(stores(again));
    },
    close() {
      for (const d of open) d.close();
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
}

async function redisSubject(redis: RedisInstance): Promise<Subject> {
  const cfg: ClusterConfig = { enabled: true, redis: { url: redis.url, keyPrefix: `contract-${randomBytes(3).toString('hex')}:` }, group: 'g', heartbeatSeconds: 1 };
  const opened: SharedState[] = [];
  const open = async (id: string): Promise<SharedState> => {
    const s = await SharedState.open(cfg, id, log);
    opened.push(s);
    return s;
  };
  const a = await open('aaaaaaaa');
  const b = await open('bbbbbbbb');
  let n = 0;
  return {
    a,
    b,
    async reopen() {
      // What was written is in Redis once a round trip after it has been answered.
      await a.isAlive(a.instance);
      return open(`cccccc${String(n++).padStart(2, '0')}`);
    },
    async close() {
      for (const s of opened) await s.close();
    },
  };
}

function importRow(hardwareId: string, over: Partial<ImportRow> = {}): ImportRow {
  return {
    source: 'zigbee2mqtt',
    hardwareId,
    status: 'pending',
    name: `Device ${hardwareId}`,
    jid: `${hardwareId.toLowerCase()}@iot.localhost`,
    description: JSON.stringify({ hardwareId }),
    publisher: 'z2m',
    firstSeen: 1000,
    updatedAt: 1000,
    decidedBy: undefined,
    ...over,
  };
}

const D = 'kitchen@iot.localhost';
const NODE = 'urn:xmpp:iot:readings';

function contracts(name: string, make: () => Promise<Subject>): void {
  describe(`store contracts: ${name}`, function () {
    this.timeout(30_000);
    let s: Subject;

    before(async function () {
      s = await make();
    });

    after(async function () {
      await s?.close();
    });

    describe('PubsubSubscriptionStore', function () {
      it('adds a subscription once, lists it wherever it is read, and removes it once', async function () {
        assert.equal(s.a.pubsub.add(D, NODE, 'alice@localhost/phone'), true);
        assert.equal(s.a.pubsub.add(D, NODE, 'alice@localhost/phone'), false, 'already there');
        assert.equal(s.a.pubsub.add(D, NODE, 'bob@localhost'), true);
        await eventually(() => s.b.pubsub.of(D, NODE).size === 2, 'both subscriptions seen by the other');
        assert.deepEqual([...s.b.pubsub.of(D, NODE)].sort(), ['alice@localhost/phone', 'bob@localhost']);
        assert.equal(s.b.pubsub.of(D, 'another node').size, 0);
        assert.equal(s.b.pubsub.delete(D, NODE, 'bob@localhost'), true);
        assert.equal(s.b.pubsub.delete(D, NODE, 'bob@localhost'), false, 'already gone');
        await eventually(() => !s.a.pubsub.of(D, NODE).has('bob@localhost'), 'the removal seen by the first');
      });

      it('keeps subscriptions for stores opened later', async function () {
        const later = await s.reopen();
        assert.deepEqual([...later.pubsub.of(D, NODE)], ['alice@localhost/phone']);
      });
    });

    describe('PresenceRequestStore', function () {
      it('records a request and its answer wherever it is read, and forgets it', async function () {
        s.a.presenceRequests.set(D, 'alice@localhost', 'asked');
        s.a.presenceRequests.set(D, 'bob@localhost', 'asked');
        s.a.presenceRequests.set(D, 'alice@localhost', 'declined');
        await eventually(() => s.b.presenceRequests.get(D, 'alice@localhost') === 'declined' && s.b.presenceRequests.get(D, 'bob@localhost') === 'asked', 'the answers seen by the other');
        assert.deepEqual([...s.b.presenceRequests.of(D)].sort(), [['alice@localhost', 'declined'], ['bob@localhost', 'asked']]);
        s.b.presenceRequests.set(D, 'bob@localhost', 'granted');
        s.b.presenceRequests.delete(D, 'alice@localhost');
        await eventually(() => s.a.presenceRequests.get(D, 'alice@localhost') === undefined && s.a.presenceRequests.get(D, 'bob@localhost') === 'granted', 'the changes seen by the first');
        assert.equal(s.a.presenceRequests.of('other@iot.localhost').size, 0);
      });

      it('keeps requests for stores opened later', async function () {
        const later = await s.reopen();
        assert.deepEqual([...later.presenceRequests.of(D)], [['bob@localhost', 'granted']]);
      });
    });

    describe('LatestReadingStore', function () {
      it('returns the newest reading of each device at once, and wherever it is read once flushed', async function () {
        const row = { deviceJid: D, topic: 'home/kitchen', json: '{"t":21}', receivedAt: 2000 };
        s.a.latest.set(row);
        assert.deepEqual(s.a.latest.get(D), row, 'synchronous in memory');
        s.a.latest.set({ ...row, json: '{"t":22}', receivedAt: 3000 });
        s.a.latest.set({ deviceJid: 'hall@iot.localhost', topic: 'home/hall', json: '{"t":19}', receivedAt: 3000 });
        s.a.latest.flush();
        await eventually(() => s.b.latest.get(D)?.json === '{"t":22}' && s.b.latest.get('hall@iot.localhost') !== undefined, 'the newest values seen by the other');
        s.a.latest.delete('hall@iot.localhost');
        assert.equal(s.a.latest.get('hall@iot.localhost'), undefined);
        s.a.latest.flush();
        await eventually(() => s.b.latest.get('hall@iot.localhost') === undefined, 'the removal seen by the other');
      });

      it('keeps flushed values for stores opened later', async function () {
        const later = await s.reopen();
        assert.deepEqual(later.latest.get(D), { deviceJid: D, topic: 'home/kitchen', json: '{"t":22}', receivedAt: 3000 });
        assert.equal(later.latest.get('hall@iot.localhost'), undefined);
      });
    });

    describe('ImportStore', function () {
      const MANY = 3000;

      it('saves thousands of rows at once, lists them ordered and filtered, and finds one by any case of its id', async function () {
        const rows = Array.from({ length: MANY }, (_x, i) => importRow(`0x${(MANY - i).toString(16).padStart(6, '0').toUpperCase()}`));
        rows.push(importRow('AA01', { source: 'homeassistant', status: 'approved', decidedBy: 'cli' }));
        s.a.imports.saveMany(rows);
        assert.equal(s.a.imports.list().length, MANY + 1);
        const z = s.a.imports.list({ source: 'zigbee2mqtt' });
        assert.equal(z.length, MANY);
        assert.equal(z[0]!.hardwareId, '0x000001', 'ordered by hardware id');
        assert.deepEqual(s.a.imports.list({ status: 'approved' }).map((r) => r.hardwareId), ['AA01']);
        assert.equal(s.a.imports.list()[0]!.source, 'homeassistant', 'ordered by source first');
        assert.deepEqual(s.a.imports.get('zigbee2mqtt', '0x000002'), rows[MANY - 2]);
        assert.equal(s.a.imports.get('homeassistant', 'aa01')?.status, 'approved');
        await eventually(() => s.b.imports.list().length === MANY + 1, () => `all rows seen by the other (${s.b.imports.list().length})`);
      });

      it('tells the other side that a decision was made elsewhere, and returns whether it changed anything', async function () {
        s.b.imports.changedElsewhere(); // what the saves above may have signalled
        s.a.imports.changedElsewhere();
        assert.equal(s.a.imports.decide('zigbee2mqtt', '0x000003', 'approved', 'request', 5000), true);
        assert.equal(s.a.imports.decide('zigbee2mqtt', '0x000003', 'approved', 'request', 5001), false, 'already approved');
        assert.equal(s.a.imports.changedElsewhere(), false, 'its own decision is not news to the writer');
        await eventually(() => s.b.imports.changedElsewhere(), 'the other side told');
        assert.equal(s.b.imports.changedElsewhere(), false, 'told once');
        const row = s.b.imports.get('zigbee2mqtt', '0X000003');
        assert.equal(row?.status, 'approved');
        assert.equal(row?.decidedBy, 'request');
        assert.equal(row?.name, 'Device 0x000003', 'the rest of the row kept');
      });

      it('keeps a decision when a description is saved with the status known before it', async function () {
        // The other side saw the device again, still believing it pending (the decision above had not reached it).
        s.b.imports.saveMany([importRow('0x000003', { name: 'Renamed', updatedAt: 5500 })]);
        for (const side of [s.b, s.a]) {
          await eventually(() => side.imports.get('zigbee2mqtt', '0x000003')?.name === 'Renamed', 'the new description everywhere');
          const row = side.imports.get('zigbee2mqtt', '0x000003');
          assert.deepEqual([row?.status, row?.decidedBy], ['approved', 'request'], 'the decision kept');
        }
        const later = await s.reopen();
        assert.deepEqual([later.imports.get('zigbee2mqtt', '0x000003')?.status, later.imports.get('zigbee2mqtt', '0x000003')?.name], ['approved', 'Renamed'], 'as stored');
      });

      it('decides about a device not seen yet (blocking ahead of time), and deletes rows', async function () {
        assert.equal(s.b.imports.decide('tasmota', 'NEW1', 'blocked', 'cli', 6000), true);
        await eventually(() => s.a.imports.get('tasmota', 'new1')?.status === 'blocked', 'the new row seen by the first');
        assert.equal(s.a.imports.get('tasmota', 'new1')?.description, undefined);
        s.a.imports.delete('zigbee2mqtt', '0x000004');
        assert.equal(s.a.imports.get('zigbee2mqtt', '0x000004'), undefined);
        await eventually(() => s.b.imports.get('zigbee2mqtt', '0x000004') === undefined, 'the removal seen by the other');
      });

      it('keeps rows and decisions for stores opened later', async function () {
        const later = await s.reopen();
        assert.equal(later.imports.list().length, MANY + 1);
        assert.equal(later.imports.get('zigbee2mqtt', '0x000003')?.status, 'approved');
        assert.equal(later.imports.get('tasmota', 'NEW1')?.status, 'blocked');
      });
    });
  });
}

contracts('SQLite', sqliteSubject);

describe('store contracts: Redis', function () {
  let redis: RedisInstance | undefined;
  before(async function () {
    this.timeout(30_000);
    requireRedis();
    redis = await startRedis({ persistence: 'none' });
  });
  after(async function () {
    await redis?.removeDir();
  });

  contracts('Redis (two instances)', () => redisSubject(redis!));

  describe('latest readings from two instances', function () {
    it('keeps the newer reading of a device whichever instance writes last, in Redis and in every copy', async function () {
      const s = await redisSubject(redis!);
      try {
        const a = s.a as SharedState;
        const b = s.b as SharedState;
        // B holds the newer reading; A's older one reaches Redis after it.
        b.latest.set({ deviceJid: D, topic: 't', json: '{"seq":2}', receivedAt: 2000 });
        b.latest.flush();
        await eventually(() => a.latest.get(D)?.json === '{"seq":2}', 'the newer value at A');
        a.latest.set({ deviceJid: D, topic: 't', json: '{"seq":1}', receivedAt: 1000 });
        a.latest.flush();
        const later = (await s.reopen()) as SharedState;
        assert.equal(later.latest.get(D)?.json, '{"seq":2}', 'Redis kept the newer');
        assert.equal(b.latest.get(D)?.json, '{"seq":2}', 'B kept the newer');
      } finally {
        await s.close();
      }
    });
  });

  describe('import decisions from two instances', function () {
    it('does not let a description saved elsewhere before a decision, and announced after it, undo the decision', async function () {
      const s = await redisSubject(redis!);
      try {
        const a = s.a as SharedState;
        const b = s.b as SharedState;
        b.imports.saveMany([importRow('BEEF01', { updatedAt: 1000 })]);
        await eventually(() => a.imports.get('zigbee2mqtt', 'beef01') !== undefined, 'the row at A');
        assert.equal(a.imports.decide('zigbee2mqtt', 'BEEF01', 'approved', 'request', 2000), true);
        // B saved the device again just before the decision reached Redis: its announcement (pending) reaches A
        // after A decided locally.
        a.imports.apply([importRow('BEEF01', { updatedAt: 1500, name: 'Again' })], []);
        assert.equal(a.imports.get('zigbee2mqtt', 'beef01')?.name, 'Again', 'the description taken');
        assert.deepEqual([a.imports.get('zigbee2mqtt', 'beef01')?.status, a.imports.get('zigbee2mqtt', 'beef01')?.decidedBy], ['approved', 'request']);
        await eventually(() => b.imports.get('zigbee2mqtt', 'beef01')?.status === 'approved', 'the decision at B');
        const later = (await s.reopen()) as SharedState;
        assert.equal(later.imports.get('zigbee2mqtt', 'beef01')?.status, 'approved', 'in Redis');
      } finally {
        await s.close();
      }
    });
  });

  describe('the CLI in cluster mode', function () {
    it('decides in Redis, and a running instance is told', async function () {
      const cfg: ClusterConfig = { enabled: true, redis: { url: redis!.url, keyPrefix: `cli-${randomBytes(3).toString('hex')}:` }, group: 'g', heartbeatSeconds: 1 };
      const a = await SharedState.open(cfg, 'aaaaaaaa', log);
      try {
        a.imports.saveMany([importRow('CAFE01')]);
        const cli = await openSharedImports(cfg, log);
        assert.equal(cli.store.get('zigbee2mqtt', 'cafe01')?.status, 'pending', 'the CLI reads what the instance wrote');
        a.imports.changedElsewhere();
        assert.equal(cli.store.decide('zigbee2mqtt', 'CAFE01', 'approved', 'cli', 7000), true);
        await cli.close();
        await eventually(() => a.imports.changedElsewhere(), 'the instance told');
        assert.equal(a.imports.get('zigbee2mqtt', 'cafe01')?.status, 'approved');
      } finally {
        await a.close();
      }
    });
  });
});
