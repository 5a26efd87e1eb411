/**
 * The audit log's bounds, on a real SQLite database in a temp dir: refusals kept as counts without payload, payloads
 * cut, retention by age and by rows in batches, and the retention timer.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, type AuditEntry } from '../../src/store/audit.js';
import { openDatabase, type Db } from '../../src/store/db.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 30, 12);

function entry(over: Partial<AuditEntry> = {}): AuditEntry {
  return { at: NOW, sender: 'alice@example.org', device: 'plug-kettle@iot.example.org', command: 'set', origin: 'iq', outcome: 'OK', payload: '{"state":"ON"}', ...over };
}

function rows(db: Db): number {
  return (db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n;
}

describe('audit log', () => {
  let dir: string;
  let db: Db;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mxb-audit-'));
    db = openDatabase(dir);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps 1,000 identical refusals as one counted entry without payload: the database grows by a few pages', () => {
    const audit = new AuditLog(db);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const before = statSync(join(dir, 'bridge.db')).size;
    const big = JSON.stringify({ state: 'ON', note: 'x'.repeat(4000) });
    for (let i = 0; i < 1000; i++) {
      audit.record(entry({ at: NOW + i, sender: 'mallory@evil.example', outcome: 'FORBIDDEN', detail: 'mallory@evil.example may not command plug-kettle@iot.example.org', payload: big }));
      if (i % 37 === 0) audit.flush(); // several group commits, as under real traffic
    }
    const [stored, ...rest] = audit.query({ limit: 10 });
    assert.equal(rest.length, 0);
    assert.deepEqual(stored, {
      at: NOW,
      lastAt: NOW + 999,
      count: 1000,
      sender: 'mallory@evil.example',
      device: 'plug-kettle@iot.example.org',
      command: 'set',
      origin: 'iq',
      outcome: 'FORBIDDEN',
      detail: 'mallory@evil.example may not command plug-kettle@iot.example.org',
    });
    db.pragma('wal_checkpoint(TRUNCATE)');
    const grown = statSync(join(dir, 'bridge.db')).size - before;
    assert.ok(grown <= 4 * 4096, `the database grew by ${grown} bytes`);
  });

  it('counts a refusal per sender, device, command, origin and code, and opens a new entry after a minute', () => {
    const audit = new AuditLog(db);
    audit.record(entry({ outcome: 'RATE_LIMITED' }));
    audit.record(entry({ outcome: 'RATE_LIMITED', at: NOW + 1000 }));
    audit.record(entry({ outcome: 'RATE_LIMITED', sender: 'bob@example.org' }));
    audit.record(entry({ outcome: 'COMMAND_INVALID' }));
    audit.record(entry({ outcome: 'RATE_LIMITED', origin: 'chat' }));
    audit.record(entry({ outcome: 'RATE_LIMITED', at: NOW + 60_000 })); // the window is over
    audit.record(entry({ outcome: 'TIMEOUT' })); // published, not confirmed: every one is kept, with its payload
    audit.record(entry({ outcome: 'TIMEOUT' }));
    const got = audit.query({ limit: 20 }).map((e) => [e.sender, e.origin, e.outcome, e.count ?? 1, e.payload ?? null]);
    assert.deepEqual(got, [
      ['alice@example.org', 'iq', 'TIMEOUT', 1, '{"state":"ON"}'],
      ['alice@example.org', 'iq', 'TIMEOUT', 1, '{"state":"ON"}'],
      ['alice@example.org', 'iq', 'RATE_LIMITED', 1, null],
      ['alice@example.org', 'chat', 'RATE_LIMITED', 1, null],
      ['alice@example.org', 'iq', 'COMMAND_INVALID', 1, null],
      ['bob@example.org', 'iq', 'RATE_LIMITED', 1, null],
      ['alice@example.org', 'iq', 'RATE_LIMITED', 2, null],
    ]);
  });

  it('cuts payloads to maxPayloadBytes of UTF-8 without splitting a character, and keeps the original size', () => {
    const audit = new AuditLog(db, { maxPayloadBytes: 11 });
    audit.record(entry({ payload: '{"t":"ééééé"}' })); // 18 bytes; the 11th is the first of the third é
    audit.record(entry({ payload: '{"s":1}' }));
    audit.record(entry({ payload: '{"t":"éé"}' })); // 12 bytes: over by one, though under 11 characters
    audit.record(entry({ payload: '["éééé"]' })); // 8 characters, 12 bytes
    audit.record(entry({ payload: '"éééé"' })); // 6 characters, 10 bytes: kept whole
    const [whole, four, two, short, cut] = audit.query({ limit: 5 });
    assert.deepEqual([whole!.payload, whole!.payloadBytes], ['"éééé"', undefined]);
    assert.deepEqual([four!.payload, four!.payloadBytes], ['["éééé"', 12]);
    assert.deepEqual([two!.payload, two!.payloadBytes], ['{"t":"éé"', 12]);
    assert.deepEqual([short!.payload, short!.payloadBytes], ['{"s":1}', undefined]);
    assert.deepEqual([cut!.payload, cut!.payloadBytes], ['{"t":"éé', 18]);
    const none = new AuditLog(db, { maxPayloadBytes: 0 });
    none.record(entry({ payload: '{"s":2}' }));
    assert.equal(none.query({ limit: 1 })[0]!.payload, undefined);
  });

  it('finds the newest entries of a device, of a sender, and of both, without an index on either', () => {
    const audit = new AuditLog(db, { groupMs: 0 });
    for (let i = 0; i < 30; i++) {
      audit.record(entry({ sender: i % 2 ? 'alice@example.org' : 'bob@example.org', device: i % 3 ? 'lamp@iot.example.org' : 'plug@iot.example.org', payload: `{"i":${i}}` }));
    }
    const payloads = (f: { device?: string; sender?: string }): (string | undefined)[] => audit.query({ limit: 3, ...f }).map((e) => e.payload);
    assert.deepEqual(payloads({ device: 'plug@iot.example.org' }), ['{"i":27}', '{"i":24}', '{"i":21}']);
    assert.deepEqual(payloads({ sender: 'alice@example.org' }), ['{"i":29}', '{"i":27}', '{"i":25}']);
    assert.deepEqual(payloads({ device: 'plug@iot.example.org', sender: 'bob@example.org' }), ['{"i":24}', '{"i":18}', '{"i":12}']);
    assert.deepEqual(payloads({ device: 'nobody@iot.example.org' }), []);
    const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit'").all() as { name: string }[];
    assert.deepEqual(indexes.map((r) => r.name), ['audit_at']);
  });

  it('cuts long names and details', () => {
    const audit = new AuditLog(db);
    audit.record(entry({ command: 'c'.repeat(5000), detail: 'd'.repeat(5000), sender: 's'.repeat(10_000) }));
    const [e] = audit.query({ limit: 1 });
    assert.deepEqual([e!.command.length, e!.detail!.length, e!.sender.length], [128, 512, 3071]);
  });

  it('deletes entries older than maxAgeDays', () => {
    const audit = new AuditLog(db, { maxAgeDays: 30, now: () => NOW });
    for (let i = 0; i < 5; i++) audit.record(entry({ at: NOW - 31 * DAY + i }));
    for (let i = 0; i < 3; i++) audit.record(entry({ at: NOW - 29 * DAY + i }));
    audit.flush();
    assert.equal(audit.prune(), 5);
    assert.deepEqual(
      audit.query({ limit: 10 }).map((e) => e.at),
      [NOW - 29 * DAY + 2, NOW - 29 * DAY + 1, NOW - 29 * DAY],
    );
    assert.equal(audit.prune(), 0);
  });

  it('keeps the newest maxRows entries', () => {
    const audit = new AuditLog(db, { maxRows: 100, now: () => NOW });
    for (let i = 0; i < 250; i++) audit.record(entry({ at: NOW - 1000 + i, command: `c${i}` }));
    audit.flush();
    assert.equal(audit.prune(), 150);
    assert.equal(rows(db), 100);
    const kept = audit.query({ limit: 1000 });
    assert.equal(kept[0]!.command, 'c249');
    assert.equal(kept.at(-1)!.command, 'c150');
  });

  it('deletes at most pruneBatch rows per pass', () => {
    const audit = new AuditLog(db, { maxRows: 10, maxAgeDays: 1, pruneBatch: 40, now: () => NOW });
    for (let i = 0; i < 60; i++) audit.record(entry({ at: NOW - 2 * DAY + i }));
    for (let i = 0; i < 60; i++) audit.record(entry({ at: NOW - 1000 + i }));
    audit.flush();
    assert.deepEqual([audit.prune(), audit.prune(), audit.prune(), audit.prune(), audit.prune()], [40, 40, 30, 0, 0]);
    assert.equal(rows(db), 10);
  });

  it('runs retention on a timer once started by the bridge, and stops with close()', async () => {
    const pruned: number[] = [];
    let audit: AuditLog | undefined;
    const done = new Promise<void>((resolve) => {
      audit = new AuditLog(db, {
        maxRows: 5,
        pruneBatch: 10,
        pruneIntervalMs: 5,
        retention: true,
        now: () => NOW,
        onPruned: (n) => {
          pruned.push(n);
          if (rows(db) === 5) resolve();
        },
      });
    });
    for (let i = 0; i < 25; i++) audit!.record(entry({ at: NOW - 100 + i }));
    await done;
    audit!.close();
    assert.deepEqual(pruned, [10, 10]);
  });

  describe('group commit', () => {
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    /** Bounded wait (turn by turn) until the table holds `n` rows. */
    async function rowsReach(n: number, timeoutMs = 5000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (rows(db) < n) {
        if (Date.now() > deadline) assert.fail(`${rows(db)} rows after ${timeoutMs} ms, expected ${n}`);
        await turn();
      }
    }

    it('commits the entries of several event-loop turns together, once the group time has passed', async () => {
      const audit = new AuditLog(db, { groupMs: 30 });
      const commits: number[] = [];
      for (let i = 0; i < 3; i++) {
        audit.record(entry({ at: NOW + i }));
        await turn();
        await turn();
        commits.push(rows(db));
      }
      // Nothing was written at the end of the turns that recorded them: the three are one group.
      assert.deepEqual(commits, [0, 0, 0]);
      await rowsReach(3);
      assert.deepEqual(
        audit.query({ limit: 10 }).map((e) => e.at),
        [NOW + 2, NOW + 1, NOW],
      );
      audit.close();
    });

    it('commits a full group at the end of its turn, and what is pending on close() or before a query', async () => {
      const audit = new AuditLog(db, { groupMs: 60_000 });
      for (let i = 0; i < 512; i++) audit.record(entry({ at: NOW + i }));
      assert.equal(rows(db), 0);
      await turn();
      assert.equal(rows(db), 512);
      audit.record(entry({ at: NOW + 1000 }));
      assert.equal(audit.query({ limit: 1 })[0]?.at, NOW + 1000);
      audit.record(entry({ at: NOW + 2000 }));
      audit.close();
      assert.equal(rows(db), 514);
    });

    it('with groupMs 0, commits at the end of the turn that recorded the entries', async () => {
      const audit = new AuditLog(db, { groupMs: 0 });
      audit.record(entry());
      audit.record(entry({ at: NOW + 1 }));
      assert.equal(rows(db), 0);
      await turn();
      assert.equal(rows(db), 2);
      audit.close();
    });
  });
});
