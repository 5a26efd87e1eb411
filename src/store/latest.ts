/**
 * The newest reading of each device (kernel/stores.ts: LatestReadingStore). The hot path reads and writes memory only;
 * changed rows are written in one transaction by `flush()` (periodically and at stop), so a crash loses at most the
 * values of the last flush interval — a device's next reading brings them back.
 */
import type { LatestReadingRow, LatestReadingStore } from '../kernel/stores.js';
import type { Db } from './db.js';
import { WriteBehindTable } from './write-behind.js';

export class SqliteLatestReadings implements LatestReadingStore {
  private readonly table = new WriteBehindTable<LatestReadingRow>();
  private readonly write: (changed: readonly LatestReadingRow[], removed: readonly string[]) => void;

  constructor(db: Db) {
    for (const r of db.prepare('SELECT device_jid, topic, json, received_at FROM latest_readings').all() as { device_jid: string; topic: string; json: string; received_at: number }[]) {
      this.table.load(r.device_jid, { deviceJid: r.device_jid, topic: r.topic, json: r.json, receivedAt: r.received_at });
    }
    const upsert = db.prepare(
      'INSERT INTO latest_readings (device_jid, topic, json, received_at) VALUES (?, ?, ?, ?) ON CONFLICT (device_jid) DO UPDATE SET topic = excluded.topic, json = excluded.json, received_at = excluded.received_at',
    );
    const remove = db.prepare('DELETE FROM latest_readings WHERE device_jid = ?');
    this.write = db.transaction((changed: readonly LatestReadingRow[], removed: readonly string[]) => {
      for (const jid of removed) remove.run(jid);
      for (const r of changed) upsert.run(r.deviceJid, r.topic, r.json, r.receivedAt);
    });
  }

  get(deviceJid: string): LatestReadingRow | undefined {
    return this.table.get(deviceJid);
  }

  set(row: LatestReadingRow): void {
    this.table.set(row.deviceJid, row);
  }

  delete(deviceJid: string): void {
    this.table.delete(deviceJid);
  }

  flush(): void {
    if (!this.table.pending) return;
    const { changed, removed } = this.table.changes();
    this.write(changed, removed);
    this.table.written();
  }
}
