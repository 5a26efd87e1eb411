/**
 * WAL checkpoints in a worker thread (store/wal-checkpoints.ts), on a real SQLite file: what the bridge commits
 * reaches the database file without a checkpoint on the committing connection, a stop ends the worker, and a
 * worker that cannot open the database reports it and still stops.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/store/db.js';
import { WalCheckpoints } from '../../src/store/wal-checkpoints.js';
import { eventually } from '../support/eventually.js';

describe('WAL checkpoints in a worker thread', () => {
  let dir: string;
  let db: Db;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wal-ckpt-'));
    db = openDatabase(dir);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("copies the WAL into the database file while the writing connection checkpoints nothing itself", async () => {
    // Without the worker the database file stays as it is: the 2 MB written below stay in the WAL.
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE blob (id INTEGER PRIMARY KEY, data BLOB)');
    const insert = db.prepare('INSERT INTO blob (data) VALUES (?)');
    db.transaction(() => {
      for (let i = 0; i < 512; i++) insert.run(Buffer.alloc(4096, i));
    })();
    const file = join(dir, 'bridge.db');
    const before = statSync(file).size;
    assert.ok(statSync(`${file}-wal`).size > 2 * 1024 * 1024, 'the rows are in the WAL');
    assert.ok(before < 1024 * 1024, `database file before: ${before} bytes`);

    const errors: string[] = [];
    const checkpoints = new WalCheckpoints(file, (m) => errors.push(m), 10);
    checkpoints.start();
    await eventually(() => statSync(file).size > 2 * 1024 * 1024, 'the worker to copy the WAL into the database file', 10_000);
    await checkpoints.stop();
    assert.deepEqual(errors, []);
    // The data is whole through the bridge's own connection.
    assert.equal((db.prepare('SELECT count(*) AS n FROM blob').get() as { n: number }).n, 512);
  });

  it('stops the worker (twice is once; without a start, nothing)', async () => {
    await new WalCheckpoints(join(dir, 'bridge.db'), () => undefined).stop();
    const checkpoints = new WalCheckpoints(join(dir, 'bridge.db'), () => undefined, 10);
    checkpoints.start();
    await checkpoints.stop();
    await checkpoints.stop();
  });

  it('reports a database it cannot open, and still stops', async () => {
    const errors: string[] = [];
    const checkpoints = new WalCheckpoints(join(dir, 'missing', 'bridge.db'), (m) => errors.push(m), 10);
    checkpoints.start();
    await eventually(() => errors.length > 0, 'the error', 10_000);
    assert.match(errors[0]!, /unable to open|does not exist/i);
    await checkpoints.stop();
  });

  it('starts no worker for an in-memory database', async () => {
    const checkpoints = new WalCheckpoints(':memory:', () => assert.fail('no worker expected'), 10);
    checkpoints.start();
    await checkpoints.stop();
  });
});
