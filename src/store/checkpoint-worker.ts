/**
 * The worker thread of wal-checkpoints.ts: its own connection to the database, a PASSIVE WAL checkpoint every
 * `intervalMs` — it never waits for the bridge's readers or writers (https://sqlite.org/c3ref/wal_checkpoint_v2.html),
 * so the page copying and the database's fsync happen here, off the bridge's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { path, intervalMs } = workerData as { path: string; intervalMs: number };
const db = new Database(path, { fileMustExist: true });
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort?.postMessage({ error: (err as Error).message });
  }
}, intervalMs);
parentPort?.on('message', (m: unknown) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
