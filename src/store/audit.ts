/** The command audit log: who asked which device to do what, and what came of it. Append-only; queried by the CLI. */
import type { Db } from './db.js';

export interface AuditEntry {
  readonly at: number;
  readonly sender: string;
  readonly device: string;
  readonly command: string;
  readonly origin: string;
  /** `OK` or an error code. */
  readonly outcome: string;
  readonly detail?: string;
  /** The command payload (JSON text), cut to a few KB. */
  readonly payload?: string;
}

const MAX_PAYLOAD = 4096;

/**
 * Entries are written in one transaction per event-loop turn (group commit), like the outbox: at thousands of
 * commands per second a transaction per entry was the largest item in the bridge's downlink profile (30 %).
 * An entry can be lost only with the process itself, after its command was answered.
 */
export class AuditLog {
  private readonly insertAll;
  private readonly db: Db;
  private pending: AuditEntry[] = [];
  private scheduled = false;

  /** `onError`: a failed write (the entries are dropped, the bridge goes on). */
  constructor(
    db: Db,
    private readonly onError: (err: Error, lost: number) => void = (err) => {
      throw err;
    },
  ) {
    this.db = db;
    const insert = db.prepare('INSERT INTO audit (at, sender, device, command, origin, outcome, detail, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.insertAll = db.transaction((entries: readonly AuditEntry[]) => {
      for (const e of entries) {
        insert.run(e.at, e.sender, e.device, e.command, e.origin, e.outcome, e.detail ?? null, e.payload === undefined ? null : e.payload.slice(0, MAX_PAYLOAD));
      }
    });
  }

  record(e: AuditEntry): void {
    this.pending.push(e);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Write what is pending now (also before a query and at shutdown). */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const entries = this.pending;
    this.pending = [];
    try {
      this.insertAll(entries);
    } catch (err) {
      this.onError(err as Error, entries.length);
    }
  }

  /** Newest first. */
  query(filter: { device?: string; sender?: string; limit: number }): AuditEntry[] {
    this.flush();
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.device) {
      where.push('device = ?');
      args.push(filter.device);
    }
    if (filter.sender) {
      where.push('sender = ?');
      args.push(filter.sender);
    }
    const sql = `SELECT at, sender, device, command, origin, outcome, detail, payload FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    type Row = { at: number; sender: string; device: string; command: string; origin: string; outcome: string; detail: string | null; payload: string | null };
    return (this.db.prepare(sql).all(...args, filter.limit) as Row[]).map((r) => ({
      at: r.at,
      sender: r.sender,
      device: r.device,
      command: r.command,
      origin: r.origin,
      outcome: r.outcome,
      ...(r.detail !== null ? { detail: r.detail } : {}),
      ...(r.payload !== null ? { payload: r.payload } : {}),
    }));
  }
}
