/**
 * The newest reading of each device (kernel/stores.ts: LatestReadingStore). The hot path reads and writes memory only;
 * changed rows are written in one transaction by `flush()` (periodically and at stop), so a crash loses at most the
 * values of the last flush interval — a device's next reading brings them back.
 */
import type { LatestReadingRow, LatestReadingStore } from '../kernel/stores.js';
import type { Db } from './db.js';

export class SqliteLatestReadings implements LatestReadingStore {
  private readonly rows = new Map<string, LatestReadingRow>();
  private readonly dirty = new Set<string>();
  private readonly removed = new Set<string>();
  private readonly write: () => void;

  constructor(db: Db) {
    for (const r of db.prepare('SELECT device_jid, topic, json, received_at FROM latest_readings').all() as { device_jid: string; topic: string; json: string; received_at: number }[]) {
      this.rows.set(r.device_jid, { deviceJid: r.device_jid, topic: r.topic, json: r.json, receivedAt: r.received_at });
    }
    const upsert = db.prepare(
      'INSERT INTO latest_readings (device_jid, topic, json, received_at) VALUES (?, ?, ?, ?) ON CONFLICT (device_jid) DO UPDATE SET topic = excluded.topic, json = excluded.json, received_at = excluded.received_at',
    );
    const remove = db.prepare('DELETE FROM latest_readings WHERE device_jid = ?');
    this.write = db.transaction(() => {
      for (const jid of this.removed) remove.run(jid);
      for (const jid of this.dirty) {
        const r = this.rows.get(jid);
        if (r) upsert.run(r.deviceJid, r.topic, r.json, r.receivedAt);
      }
    });
  }

  get(deviceJid: string): LatestReadingRow | undefined {
    return this.rows.get(deviceJid);
  }

  set(row: LatestReadingRow): void {
    this.rows.set(row.deviceJid, row);
    this.removed.delete(row.deviceJid);
    this.dirty.add(row.deviceJid);
  }

  delete(deviceJid: string): void {
    if (!this.rows.delete(deviceJid)) return;
    this.dirty.delete(deviceJid);
    this.removed.add(deviceJid);
  }

  flush(): void {
    if (this.dirty.size === 0 && this.removed.size === 0) return;
    this.write();
    this.dirty.clear();
    this.removed.clear();
  }
}
