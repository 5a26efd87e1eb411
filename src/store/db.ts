/**
 * The bridge's durable state: one SQLite database (better-sqlite3) in the data directory.
 *
 * WAL mode lets readers proceed during writes and makes a commit one sequential append. Schema changes are numbered
 * migrations recorded in `PRAGMA user_version`, applied in order at open; a database newer than the code is refused.
 */
import { mkdirSync } from 'node:fs';
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
];

/** A random id for this database, created once: it makes reading stanza ids unique across bridges and stable across restarts. */
export function instanceId(db: Db): string {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'instance'").get() as { value: string } | undefined;
  if (row) return row.value;
  const id = randomBytes(4).toString('hex');
  db.prepare("INSERT INTO meta (key, value) VALUES ('instance', ?)").run(id);
  return id;
}

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
