/** Known devices, durable: after a restart disco#items still lists them and their JIDs still resolve. */
import type { DeviceRow, DeviceStore } from '../kernel/stores.js';
import type { Db } from './db.js';

export type { DeviceRow };

type Raw = { jid: string; mapping_id: string; segments: string; first_seen: number; last_seen: number; name: string | null };

function row(r: Raw): DeviceRow {
  return {
    jid: r.jid,
    mappingId: r.mapping_id,
    segments: JSON.parse(r.segments) as Record<string, string>,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    ...(r.name !== null ? { name: r.name } : {}),
  };
}

export class SqliteDeviceStore implements DeviceStore {
  private readonly upsert;
  private readonly touch;
  private readonly selectAll;
  private readonly selectByMapping;
  private readonly remove;
  private readonly rename;

  constructor(db: Db) {
    this.upsert = db.prepare(
      'INSERT INTO devices (jid, mapping_id, segments, first_seen, last_seen) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT (jid) DO UPDATE SET mapping_id = excluded.mapping_id, segments = excluded.segments, last_seen = excluded.last_seen',
    );
    this.touch = db.prepare('UPDATE devices SET last_seen = ? WHERE jid = ?');
    this.selectAll = db.prepare('SELECT jid, mapping_id, segments, first_seen, last_seen, name FROM devices');
    this.selectByMapping = db.prepare('SELECT jid, mapping_id, segments, first_seen, last_seen, name FROM devices WHERE mapping_id = ?');
    this.remove = db.prepare('DELETE FROM devices WHERE jid = ?');
    this.rename = db.prepare('UPDATE devices SET name = ? WHERE jid = ?');
  }

  save(row: DeviceRow): void {
    this.upsert.run(row.jid, row.mappingId, JSON.stringify(row.segments), row.firstSeen, row.lastSeen);
  }

  setLastSeen(jid: string, at: number): void {
    this.touch.run(at, jid);
  }

  all(): DeviceRow[] {
    return (this.selectAll.all() as Raw[]).map(row);
  }

  byMapping(mappingId: string): DeviceRow[] {
    return (this.selectByMapping.all(mappingId) as Raw[]).map(row);
  }

  delete(jid: string): void {
    this.remove.run(jid);
  }

  setName(jid: string, name: string | undefined): void {
    this.rename.run(name ?? null, jid);
  }
}
