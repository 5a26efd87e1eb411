/**
 * Connections to the Redis of cluster mode (ioredis), and the names of everything the bridge keeps there.
 *
 * A connection never gives up: while Redis is away, commands wait in ioredis' offline queue (no per-command retry
 * limit) and are sent, in order, once it answers again — so a write-through made during an outage is late, not lost
 * (the shared state then checks what it missed: state.ts). Reconnects back off exponentially with equal jitter, like
 * the XMPP link.
 */
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import type { ClusterConfig } from '../../config/schema.js';
import type { Logger } from '../../log.js';

const RECONNECT_FIRST_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/** One connection; `role` names it in CLIENT LIST and in the log; `extra`: more ioredis options (a key prefix). */
export function connectRedis(cfg: ClusterConfig['redis'], role: string, log: Logger, extra: RedisOptions = {}): Redis {
  const tls = cfg.url.startsWith('rediss://') ? { ...(cfg.caFile ? { ca: readFileSync(cfg.caFile) } : {}) } : undefined;
  const options: RedisOptions = {
    connectionName: `mqtt-xmpp-bridge:${role}`,
    // Wait out an outage instead of failing the writes queued meanwhile.
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (attempt: number) => {
      const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** Math.min(attempt, 10));
      return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    },
    lazyConnect: true,
    ...(cfg.password !== undefined ? { password: cfg.password } : {}),
    ...(tls ? { tls } : {}),
    ...extra,
  };
  const redis = new Redis(cfg.url, options);
  // ioredis reports every failed reconnect attempt: one line per outage, and one when it is over.
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log.warn({ role, err: err.message }, 'Redis connection lost; retrying');
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.info({ role }, 'Redis connection back');
  });
  return redis;
}

/** Keys and channels, all under the configured prefix (several clusters may share one Redis). */
export class Keys {
  constructor(readonly prefix: string) {}

  /** Hash: device JID → JSON DeviceRow. */
  get devices(): string {
    return `${this.prefix}devices`;
  }

  /** Set of `<device JID> <subscriber JID>` (a space cannot occur in a JID). */
  get subscriptions(): string {
    return `${this.prefix}subscriptions`;
  }

  /** Hash: queued command id → JSON row. */
  get commands(): string {
    return `${this.prefix}commands`;
  }

  /** Counter from which instances take blocks of command ids. */
  get commandIds(): string {
    return `${this.prefix}commands:ids`;
  }

  /** Hash: `<source> <lower-cased hardware id>` → JSON ImportRow (sources are words: the first space ends one). */
  get imports(): string {
    return `${this.prefix}imports`;
  }

  /** Hash: device JID → JSON LatestReadingRow, `receivedAt` first (the newer-only write reads it: latest.ts). */
  get latest(): string {
    return `${this.prefix}latest`;
  }

  /** Set of JSON `[device JID, node, subscriber]` (a node name may contain anything). */
  get pubsub(): string {
    return `${this.prefix}pubsub`;
  }

  /** Hash: `<device JID> <user JID>` → asked | granted | declined. */
  get presenceRequests(): string {
    return `${this.prefix}presence-requests`;
  }

  /** Set of JSON `[user bare JID, resource]`: the available resources of the users the bridge sees online. */
  get usersOnline(): string {
    return `${this.prefix}users-online`;
  }

  /** Hash: device JID → JSON {o: online, h: holder instance, t: change token, at, r: reason}. */
  get availability(): string {
    return `${this.prefix}availability`;
  }

  /** Present while the instance is alive (expires three heartbeats after its last). */
  member(instance: string): string {
    return `${this.prefix}member:${instance}`;
  }

  /** Pattern of the member keys. */
  get members(): string {
    return `${this.prefix}member:*`;
  }

  /** Taken by the one survivor that takes over a lost instance's devices and broker session. */
  takeover(instance: string): string {
    return `${this.prefix}takeover:${instance}`;
  }

  /** Written once with the state: its absence after a reconnect means Redis lost what it held. */
  get epoch(): string {
    return `${this.prefix}epoch`;
  }

  /** Channel of state changes, heard by every instance. */
  get events(): string {
    return `${this.prefix}events`;
  }

  /** Channel of one instance: stanzas and answers forwarded to it. */
  inbox(instance: string): string {
    return `${this.prefix}inbox:${instance}`;
  }
}
