/**
 * The bridge's durable state: one SQLite database (better-sqlite3) in the data directory.
 *
 * WAL mode lets readers proceed during writes and makes a commit one sequential append. Schema changes are numbered
 * migrations recorded in `PRAGMA user_version`, applied in order at open; a database newer than the code is refused.
 */
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
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
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  -- Readings acknowledged to their device (QoS 1/2) and not yet confirmed received by the XMPP server.
  CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,   -- delivery order; part of the stable stanza id
    device_jid  TEXT NOT NULL,
    topic       TEXT NOT NULL,
    json        TEXT NOT NULL,                       -- the payload as the device sent it
    received_at INTEGER NOT NULL                     -- ms since epoch; the XEP-0203 stamp when delivered late
  );
  -- Commands for devices that are offline, held until they come back or the TTL passes.
  CREATE TABLE command_queue (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_jid  TEXT NOT NULL,
    command     TEXT NOT NULL,
    json        TEXT NOT NULL,
    sender      TEXT NOT NULL,                       -- full JID of whoever asked, for the late answer
    origin      TEXT NOT NULL,                       -- chat | iq | adhoc
    reply_id    TEXT,                                -- the IQ or message id to answer
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
  );
  CREATE INDEX command_queue_device ON command_queue (device_jid, id);
  `,
  `
  -- MQTT credentials. A device's name is its identity: the JID local part its topics map to.
  CREATE TABLE credentials (
    name       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('device', 'service')),
    hash       TEXT NOT NULL,                 -- scrypt$N$r$p$salt$key (base64)
    publish    TEXT NOT NULL DEFAULT '[]',    -- service accounts: JSON list of topic filters
    subscribe  TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  -- Every command: who asked what of which device, and what came of it.
  CREATE TABLE audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    sender   TEXT NOT NULL,
    device   TEXT NOT NULL,
    command  TEXT NOT NULL,
    origin   TEXT NOT NULL,
    outcome  TEXT NOT NULL,                   -- OK or an error code
    detail   TEXT,
    payload  TEXT
  );
  CREATE INDEX audit_device ON audit (device, id);
  CREATE INDEX audit_sender ON audit (sender, id);
  `,
  `
  -- A mapping added while the bridge runs brings back the devices it had before.
  CREATE INDEX devices_mapping ON devices (mapping_id);
  `,
  `
  -- Bounded audit log: repeats of one refused command are counted in one row; payloads are cut (their original size
  -- is kept); retention deletes by age through audit_at.
  ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE audit ADD COLUMN last_at INTEGER;          -- ms since epoch of the last counted repeat
  ALTER TABLE audit ADD COLUMN payload_bytes INTEGER;    -- size of the payload as received, when it was cut
  CREATE INDEX audit_at ON audit (at);
  `,
  `
  -- Where each credential last logged in with its password: that address is let through when someone else's failed
  -- guesses have used up the username's login budget (docs/SECURITY.md, "Password guessing").
  ALTER TABLE credentials ADD COLUMN login_address TEXT;
  ALTER TABLE credentials ADD COLUMN login_at INTEGER;
  `,
  `
  -- The name an operator gave a device (status page, request API); NULL: the mapping's name template.
  ALTER TABLE devices ADD COLUMN name TEXT;
  `,
  `
  -- Devices that described themselves on the broker (docs/IMPORT.md): the description last seen, and the operator's
  -- decision. Kept so imported devices (their JIDs, hence their subscriptions) survive a broker that lost its retained
  -- messages, and so a blocked device stays blocked when it announces itself again.
  CREATE TABLE imports (
    source      TEXT NOT NULL,                -- zigbee2mqtt | homeassistant | tasmota | homie
    key         TEXT NOT NULL,                -- the hardware id, lower-cased (IEEE addresses and MACs come in either case)
    hardware_id TEXT NOT NULL,                -- as the source writes it
    status      TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'blocked')),
    name        TEXT NOT NULL,
    jid         TEXT,                         -- the JID it has (or will have once approved)
    description TEXT,                         -- JSON DeviceDescription; NULL for a device blocked before it was seen
    publisher   TEXT,                         -- who published the description (anonymous, device:NAME, service:NAME)
    first_seen  INTEGER NOT NULL,             -- ms since epoch
    updated_at  INTEGER NOT NULL,
    decided_by  TEXT,                         -- auto, cli, request, xmpp:<jid>
    PRIMARY KEY (source, key)
  ) WITHOUT ROWID;
  CREATE INDEX imports_status ON imports (status);
  `,
  `
  -- Subscription requests a device sent to a user (mutual presence, invitations) and the answer: asked|granted|declined.
  CREATE TABLE presence_requests (
    device_jid TEXT NOT NULL,
    user       TEXT NOT NULL,               -- bare JID
    state      TEXT NOT NULL,
    updated    INTEGER NOT NULL,
    PRIMARY KEY (device_jid, user)
  ) WITHOUT ROWID;
  -- XEP-0060 subscriptions to the nodes of device JIDs.
  CREATE TABLE pubsub_subscriptions (
    device_jid TEXT NOT NULL,
    node       TEXT NOT NULL,
    subscriber TEXT NOT NULL,               -- the JID that subscribed, bare or full
    created    INTEGER NOT NULL,
    PRIMARY KEY (device_jid, node, subscriber)
  ) WITHOUT ROWID;
  -- The newest reading of each device (what a returning user gets), written behind the hot path.
  CREATE TABLE latest_readings (
    device_jid  TEXT PRIMARY KEY,
    topic       TEXT NOT NULL,
    json        TEXT NOT NULL,
    received_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  -- The audit log is written on every command and read only by the audit CLI. Its indexes by device and by sender
  -- took most of a command's own cost (each commit dirtied a page of each per device and sender in the group): the
  -- CLI's filtered queries scan the bounded log by id instead (docs/PERFORMANCE.md).
  DROP INDEX audit_device;
  DROP INDEX audit_sender;
  `,
];

/** A random id for this database, created once: it makes reading stanza ids unique across bridges and stable across restarts. */
export function instanceId(db: Db): string {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'instance'").get() as { value: string } | undefined;
  if (row) return row.value;
  const id = randomBytes(4).toString('hex');
  db.prepare("INSERT INTO meta (key, value) VALUES ('instance', ?)").run(id);
  return id;
}

/** Owner-only: the database holds credential hashes, the outbox's readings and the audit log. */
export const DB_FILE_MODE = 0o600;

/** Whether the database takes a write now (disk full, read-only file system, lost file): one small committed write. */
export function probeWritable(db: Db): boolean {
  try {
    db.prepare("INSERT INTO meta (key, value) VALUES ('probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(Date.now()));
    return true;
  } catch {
    return false;
  }
}

export function openDatabase(dataDir: string, file = 'bridge.db'): Db {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, file);
  restrictFiles(path);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a commit survives a process crash (the WAL is in the OS page cache); FULL would add an fsync
  // per commit for power loss. One setting for the whole database: a power cut can lose the last commits
  // (docs/RELIABILITY.md, "Loss windows"); the outbox's group commit keeps their number small.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

/**
 * SQLite creates a database 0644 (less the umask), and its -wal and -shm files with the mode of the database file.
 * So the database is created 0600 before SQLite opens it, and files left wider by an earlier version are narrowed.
 */
function restrictFiles(path: string): void {
  closeSync(openSync(path, 'a', DB_FILE_MODE)); // creates it owner-only; an existing file is left as it is
  for (const f of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    let mode: number;
    try {
      mode = statSync(f).mode;
    } catch {
      continue; // not there
    }
    if ((mode & 0o077) !== 0) chmodSync(f, mode & 0o700);
  }
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
