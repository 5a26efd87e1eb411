/**
 * The bridge's durable state: one SQLite database (better-sqlite3) in the data directory.
 *
 * WAL mode lets readers proceed during writes and makes a commit one sequential append. Schema changes are numbered
 * migrations recorded in `PRAGMA user_version`, applied in order at open; a database newer than the code is refused.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;

/** Each entry moves the schema from version i to i + 1. Never edit a shipped migration; append a new one. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE devices (
    jid        TEXT PRIMARY KEY,            -- bare device JID (local part folded and escaped)
    mapping_id TEXT NOT NULL,
    segments   TEXT NOT NULL,               -- JSON object of the topic segments that formed the JID
    first_seen INTEGER NOT NULL,            -- ms since epoch
    last_seen  INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE subscriptions (
    device_jid TEXT NOT NULL,
    subscriber TEXT NOT NULL,               -- bare JID of the user who subscribed to the device's presence
    created    INTEGER NOT NULL,
    PRIMARY KEY (device_jid, subscriber)
  ) WITHOUT ROWID;
  `,
];

export function openDatabase(dataDir: string, file = 'bridge.db'): Db {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new Database(join(dataDir, file));
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a commit survives a process crash (the WAL is in the OS page cache); FULL adds an fsync per
  // commit for power loss. The outbox batches commits, so the choice is made there per write where it matters.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

function migrate(db: Db): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new Error(`the database schema (version ${version}) is newer than this bridge understands (${MIGRATIONS.length}); upgrade the bridge`);
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
