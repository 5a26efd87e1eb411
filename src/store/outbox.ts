/**
 * The uplink outbox: QoS 1/2 readings are written here before their device gets its PUBACK, and deleted only once
 * the XMPP server has confirmed it received them (a barrier IQ, see xmpp/delivery.ts). Rows are kept in arrival
 * order; the row id is part of the reading's stanza id, so a resent reading carries the same id as the first try.
 */
import type { Statement } from 'better-sqlite3';
import type { NewOutboxRow, OutboxRow, OutboxStore } from '../kernel/stores.js';
import type { Db } from './db.js';

export type { NewOutboxRow, OutboxRow };

/** Rows per INSERT statement: one statement per chunk costs far less than one per row. */
const CHUNK = 64;

export class Outbox implements OutboxStore {
  private readonly inserts = new Map<number, Statement>();
  private readonly insertMany: (rows: readonly NewOutboxRow[]) => number[];
  private readonly pageAfter;
  private readonly deleteUpTo;
  private readonly deleteOlder;
  private readonly countAll;
  private rows: number;

  constructor(db: Db) {
    const insert = (n: number): Statement => {
      let st = this.inserts.get(n);
      if (!st) {
        st = db.prepare(`INSERT INTO outbox (device_jid, topic, json, received_at) VALUES ${Array(n).fill('(?, ?, ?, ?)').join(', ')}`);
        this.inserts.set(n, st);
      }
      return st;
    };
    // One transaction per batch: one WAL append for many readings (group commit). Rows of one INSERT get
    // consecutive ids (AUTOINCREMENT, single writer), so the last id gives all of them.
    this.insertMany = db.transaction((rows: readonly NewOutboxRow[]) => {
      const ids: number[] = [];
      for (let i = 0; i < rows.length; i += CHUNK) {
        const chunk = rows.slice(i, i + CHUNK);
        const args: (string | number)[] = [];
        for (const r of chunk) args.push(r.deviceJid, r.topic, r.json, r.receivedAt);
        const last = Number(insert(chunk.length).run(...args).lastInsertRowid);
        for (let k = chunk.length - 1; k >= 0; k--) ids.push(last - k);
      }
      return ids;
    });
    this.pageAfter = db.prepare('SELECT id, device_jid, topic, json, received_at FROM outbox WHERE id > ? ORDER BY id LIMIT ?');
    this.deleteUpTo = db.prepare('DELETE FROM outbox WHERE id <= ?');
    this.deleteOlder = db.prepare('DELETE FROM outbox WHERE received_at < ?');
    this.countAll = db.prepare('SELECT count(*) AS n FROM outbox');
    this.rows = (this.countAll.get() as { n: number }).n;
  }

  /** Durably append readings (one transaction); returns their ids in order. */
  append(rows: readonly NewOutboxRow[]): number[] {
    const ids = this.insertMany(rows);
    this.rows += ids.length;
    return ids;
  }

  page(afterId: number, limit: number): OutboxRow[] {
    return (this.pageAfter.all(afterId, limit) as { id: number; device_jid: string; topic: string; json: string; received_at: number }[]).map((r) => ({
      id: r.id,
      deviceJid: r.device_jid,
      topic: r.topic,
      json: r.json,
      receivedAt: r.received_at,
    }));
  }

  /** The server confirmed everything up to this id. */
  confirmUpTo(id: number): number {
    const n = this.deleteUpTo.run(id).changes;
    this.rows -= n;
    return n;
  }

  /** Drop readings older than the limit; returns how many. */
  expire(olderThan: number): number {
    const n = this.deleteOlder.run(olderThan).changes;
    this.rows -= n;
    return n;
  }

  get size(): number {
    return this.rows;
  }
}
