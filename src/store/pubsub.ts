/**
 * XEP-0060 subscriptions to device nodes (kernel/stores.ts: PubsubSubscriptionStore): held in memory for the hot path
 * (every reading notifies its node's subscribers) and written through to SQLite.
 */
import type { PubsubSubscriptionStore } from '../kernel/stores.js';
import type { Db } from './db.js';

export class SqlitePubsubSubscriptions implements PubsubSubscriptionStore {
  private readonly byNode = new Map<string, Set<string>>();
  private readonly insert;
  private readonly remove;

  constructor(db: Db) {
    for (const row of db.prepare('SELECT device_jid, node, subscriber FROM pubsub_subscriptions').all() as { device_jid: string; node: string; subscriber: string }[]) {
      this.cache(row.device_jid, row.node).add(row.subscriber);
    }
    this.insert = db.prepare('INSERT OR IGNORE INTO pubsub_subscriptions (device_jid, node, subscriber, created) VALUES (?, ?, ?, ?)');
    this.remove = db.prepare('DELETE FROM pubsub_subscriptions WHERE device_jid = ? AND node = ? AND subscriber = ?');
  }

  add(deviceJid: string, node: string, subscriber: string): boolean {
    const set = this.cache(deviceJid, node);
    if (set.has(subscriber)) return false;
    this.insert.run(deviceJid, node, subscriber, Date.now());
    set.add(subscriber);
    return true;
  }

  delete(deviceJid: string, node: string, subscriber: string): boolean {
    const set = this.byNode.get(key(deviceJid, node));
    if (!set?.has(subscriber)) return false;
    this.remove.run(deviceJid, node, subscriber);
    set.delete(subscriber);
    return true;
  }

  of(deviceJid: string, node: string): ReadonlySet<string> {
    return this.byNode.get(key(deviceJid, node)) ?? EMPTY;
  }

  private cache(deviceJid: string, node: string): Set<string> {
    const k = key(deviceJid, node);
    let set = this.byNode.get(k);
    if (!set) this.byNode.set(k, (set = new Set()));
    return set;
  }
}

function key(deviceJid: string, node: string): string {
  return `${deviceJid}\u0000${node}`;
}

const EMPTY: ReadonlySet<string> = new Set();
