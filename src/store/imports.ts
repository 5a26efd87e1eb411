/**
 * SQLite implementation of the import store (kernel/stores.ts): one row per device a source described, keyed by
 * source and lower-cased hardware id. Written by the bridge as devices come and go; the CLI (another process)
 * approves and blocks, and the bridge notices through `changedElsewhere` (PRAGMA data_version).
 */
import type { ImportRow, ImportStatus, ImportStore } from '../kernel/stores.js';
import type { Db } from './db.js';

interface Raw {
  source: string;
  hardware_id: string;
  status: ImportStatus;
  name: string;
  jid: string | null;
  description: string | null;
  publisher: string | null;
  first_seen: number;
  updated_at: number;
  decided_by: string | null;
}

const COLUMNS = 'source, hardware_id, status, name, jid, description, publisher, first_seen, updated_at, decided_by';

function row(r: Raw): ImportRow {
  return {
    source: r.source,
    hardwareId: r.hardware_id,
    status: r.status,
    name: r.name,
    jid: r.jid ?? undefined,
    description: r.description ?? undefined,
    publisher: r.publisher ?? undefined,
    firstSeen: r.first_seen,
    updatedAt: r.updated_at,
    decidedBy: r.decided_by ?? undefined,
  };
}

export class SqliteImportStore implements ImportStore {
  private readonly selectOne;
  private readonly upsert;
  private readonly setStatus;
  private readonly insertDecided;
  private readonly remove;
  private dataVersion: number;

  constructor(private readonly db: Db) {
    this.selectOne = db.prepare(`SELECT ${COLUMNS} FROM imports WHERE source = ? AND key = ?`);
    this.upsert = db.prepare(
      `INSERT INTO imports (source, key, ${COLUMNS.slice('source, '.length)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ` +
        'ON CONFLICT (source, key) DO UPDATE SET hardware_id = excluded.hardware_id, name = excluded.name, jid = excluded.jid, ' +
        'description = excluded.description, publisher = excluded.publisher, updated_at = excluded.updated_at, ' +
        // A description never changes a decision: the bridge may save the status it knew before the CLI decided.
        'status = CASE WHEN imports.decided_by IS NULL THEN excluded.status ELSE imports.status END, decided_by = COALESCE(imports.decided_by, excluded.decided_by)',
    );
    this.setStatus = db.prepare('UPDATE imports SET status = ?, decided_by = ?, updated_at = ? WHERE source = ? AND key = ? AND status <> ?');
    this.insertDecided = db.prepare(
      'INSERT INTO imports (source, key, hardware_id, status, name, first_seen, updated_at, decided_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, key) DO NOTHING',
    );
    this.remove = db.prepare('DELETE FROM imports WHERE source = ? AND key = ?');
    this.dataVersion = this.readDataVersion();
  }

  get(source: string, hardwareId: string): ImportRow | undefined {
    const r = this.selectOne.get(source, hardwareId.toLowerCase()) as Raw | undefined;
    return r ? row(r) : undefined;
  }

  list(filter: { readonly source?: string; readonly status?: ImportStatus } = {}): ImportRow[] {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.source !== undefined) {
      where.push('source = ?');
      args.push(filter.source);
    }
    if (filter.status !== undefined) {
      where.push('status = ?');
      args.push(filter.status);
    }
    const sql = `SELECT ${COLUMNS} FROM imports${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY source, key`;
    return (this.db.prepare(sql).all(...args) as Raw[]).map(row);
  }

  /** Descriptions seen: a decision already made (by the CLI meanwhile, too) is kept, whatever status the rows carry. */
  saveMany(rows: readonly ImportRow[]): void {
    if (rows.length === 0) return;
    this.db.transaction(() => {
      for (const r of rows) {
        this.upsert.run(
          r.source,
          r.hardwareId.toLowerCase(),
          r.hardwareId,
          r.status,
          r.name,
          r.jid ?? null,
          r.description ?? null,
          r.publisher ?? null,
          r.firstSeen,
          r.updatedAt,
          r.decidedBy ?? null,
        );
      }
    })();
  }

  decide(source: string, hardwareId: string, status: ImportStatus, by: string, now: number): boolean {
    const key = hardwareId.toLowerCase();
    return this.db.transaction(() => {
      if (this.setStatus.run(status, by, now, source, key, status).changes > 0) return true;
      // Not seen yet (blocking ahead of time), or already so.
      return this.insertDecided.run(source, key, hardwareId, status, hardwareId, now, now, by).changes > 0;
    })();
  }

  delete(source: string, hardwareId: string): void {
    this.remove.run(source, hardwareId.toLowerCase());
  }

  changedElsewhere(): boolean {
    const v = this.readDataVersion();
    if (v === this.dataVersion) return false;
    this.dataVersion = v;
    return true;
  }

  private readDataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }
}
