/**
 * Subscription requests devices sent to users and the users' answers (kernel/stores.ts: PresenceRequestStore), held in
 * memory and written through to SQLite (they change only when a person answers a request).
 */
import type { PresenceRequestState, PresenceRequestStore } from '../kernel/stores.js';
import type { Db } from './db.js';

export class SqlitePresenceRequests implements PresenceRequestStore {
  private readonly byDevice = new Map<string, Map<string, PresenceRequestState>>();
  private readonly upsert;
  private readonly remove;

  constructor(db: Db) {
    for (const row of db.prepare('SELECT device_jid, user, state FROM presence_requests').all() as { device_jid: string; user: string; state: PresenceRequestState }[]) {
      this.cache(row.device_jid).set(row.user, row.state);
    }
    this.upsert = db.prepare('INSERT INTO presence_requests (device_jid, user, state, updated) VALUES (?, ?, ?, ?) ON CONFLICT (device_jid, user) DO UPDATE SET state = excluded.state, updated = excluded.updated');
    this.remove = db.prepare('DELETE FROM presence_requests WHERE device_jid = ? AND user = ?');
  }

  get(deviceJid: string, user: string): PresenceRequestState | undefined {
    return this.byDevice.get(deviceJid)?.get(user);
  }

  set(deviceJid: string, user: string, state: PresenceRequestState): void {
    const map = this.cache(deviceJid);
    if (map.get(user) === state) return;
    this.upsert.run(deviceJid, user, state, Date.now());
    map.set(user, state);
  }

  delete(deviceJid: string, user: string): void {
    const map = this.byDevice.get(deviceJid);
    if (!map?.delete(user)) return;
    this.remove.run(deviceJid, user);
    if (map.size === 0) this.byDevice.delete(deviceJid);
  }

  of(deviceJid: string): ReadonlyMap<string, PresenceRequestState> {
    return this.byDevice.get(deviceJid) ?? EMPTY;
  }

  private cache(deviceJid: string): Map<string, PresenceRequestState> {
    let map = this.byDevice.get(deviceJid);
    if (!map) this.byDevice.set(deviceJid, (map = new Map<string, PresenceRequestState>()));
    return map;
  }
}

const EMPTY: ReadonlyMap<string, PresenceRequestState> = new Map();
