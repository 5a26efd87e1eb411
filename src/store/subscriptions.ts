/**
 * Presence subscriptions of users to devices (RFC 6121 §3), durable across restarts. Held in memory for the hot path
 * (every reading fans out to its device's subscribers) and written through to SQLite.
 */
import type { SubscriptionStore } from '../kernel/stores.js';
import type { Db } from './db.js';

export class SqliteSubscriptions implements SubscriptionStore {
  private readonly byDevice = new Map<string, Set<string>>();
  private readonly insert;
  private readonly remove;

  constructor(db: Db) {
    for (const row of db.prepare('SELECT device_jid, subscriber FROM subscriptions').all() as { device_jid: string; subscriber: string }[]) {
      this.cache(row.device_jid).add(row.subscriber);
    }
    this.insert = db.prepare('INSERT OR IGNORE INTO subscriptions (device_jid, subscriber, created) VALUES (?, ?, ?)');
    this.remove = db.prepare('DELETE FROM subscriptions WHERE device_jid = ? AND subscriber = ?');
  }

  add(deviceJid: string, subscriber: string): boolean {
    const set = this.cache(deviceJid);
    if (set.has(subscriber)) return false;
    this.insert.run(deviceJid, subscriber, Date.now());
    set.add(subscriber);
    return true;
  }

  delete(deviceJid: string, subscriber: string): boolean {
    const set = this.byDevice.get(deviceJid);
    if (!set?.has(subscriber)) return false;
    this.remove.run(deviceJid, subscriber);
    set.delete(subscriber);
    return true;
  }

  has(deviceJid: string, subscriber: string): boolean {
    return this.byDevice.get(deviceJid)?.has(subscriber) ?? false;
  }

  /** Subscribers of a device (live view; do not mutate). */
  of(deviceJid: string): ReadonlySet<string> {
    return this.byDevice.get(deviceJid) ?? EMPTY;
  }


  private cache(deviceJid: string): Set<string> {
    let set = this.byDevice.get(deviceJid);
    if (!set) {
      set = new Set();
      this.byDevice.set(deviceJid, set);
    }
    return set;
  }
}

const EMPTY: ReadonlySet<string> = new Set();
