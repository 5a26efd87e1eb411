/**
 * The command audit log: who asked which device to do what, and what came of it. Queried by the CLI.
 *
 * Bounded, because anyone allowed to send a stanza can make the bridge write here:
 * - a refused command (never published: rate-limited, forbidden, unknown, invalid, device offline) keeps no payload,
 *   and repeats of one refusal (same sender, device, command, origin and code) within a minute add to the first
 *   entry's `count` instead of adding rows: a flood of 1,000 refusals is one row;
 * - text fields and payloads are cut (payloads to `maxPayloadBytes` of UTF-8);
 * - retention: entries older than `maxAgeDays`, and the oldest beyond `maxRows`, are deleted on a timer, at most
 *   `pruneBatch` rows per pass (one short transaction), so deleting a large backlog never stalls the bridge.
 */
import { StringDecoder } from 'node:string_decoder';
import type { AuditConfig } from '../config/schema.js';
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
  /** The command payload (JSON text); kept up to `maxPayloadBytes`, not kept for a refused command. */
  readonly payload?: string;
}

/** An entry as stored: a refusal may stand for several identical ones. */
export interface StoredAuditEntry extends AuditEntry {
  /** Identical refusals counted in this entry (present when more than one). */
  readonly count?: number;
  /** Time of the last of them (present when more than one). */
  readonly lastAt?: number;
  /** Size in bytes of the payload as received, when it was cut. */
  readonly payloadBytes?: number;
}

export interface AuditLogOptions extends Partial<AuditConfig> {
  /** Pause between two retention passes once caught up; default 60 s. */
  readonly pruneIntervalMs?: number;
  /** Rows deleted per pass at most; default 1,000. A pass that deletes that many is followed by another within 1 s. */
  readonly pruneBatch?: number;
  /** Run retention passes on a timer (the bridge does; the `audit` CLI only reads). Default false. */
  readonly retention?: boolean;
  /** A failed write (the entries are dropped, the bridge goes on). Default: throw. */
  readonly onError?: (err: Error, lost: number) => void;
  /** After each retention pass that deleted rows. */
  readonly onPruned?: (deleted: number) => void;
  /**
   * Entries are committed together at most this long after the first of them (or once `MAX_GROUP` wait); 0: at the
   * end of the event-loop turn that recorded them. Default 50 ms.
   */
  readonly groupMs?: number;
  readonly now?: () => number;
}

export const AUDIT_DEFAULTS: AuditConfig = { maxAgeDays: 90, maxRows: 100_000, maxPayloadBytes: 1024 };

/** Outcomes of commands the bridge refused before publishing anything: kept as counts, without payload. */
const REFUSED = new Set(['RATE_LIMITED', 'FORBIDDEN', 'DEVICE_UNKNOWN', 'COMMAND_UNKNOWN', 'COMMAND_INVALID', 'DEVICE_OFFLINE', 'XMPP_OFFLINE']);
/** Repeats of one refusal within this window are counted in one entry. */
const REFUSAL_WINDOW_MS = 60_000;
/** Open refusal entries remembered for counting; beyond it counting restarts with new rows (still bounded). */
const MAX_OPEN_REFUSALS = 1_000;
/** A bare JID is at most 3 × 1023 bytes (RFC 7622 §3.1); senders and devices are cut there, names and details sooner. */
const MAX_JID = 3071;
const MAX_COMMAND = 128;
const MAX_DETAIL = 512;
const DAY_MS = 86_400_000;
const BUSY_PRUNE_INTERVAL_MS = 1_000;
const GROUP_MS = 50;
/** Entries pending at most: at this many the group is committed at the end of the turn. */
const MAX_GROUP = 512;

/**
 * Entries are written in one transaction per group (group commit): at thousands of commands per second a transaction
 * per entry was the largest item in the bridge's downlink profile (30 %). A group is what `groupMs` (50 ms) collects:
 * a commit per event-loop turn still cost 10–15 % of the bridge's CPU per command at 1,000 commands/s, when each turn
 * carries one command. Nothing waits for the commit — the command was answered before — and an entry can be lost only
 * with the process itself (a stop writes what is pending; so does a query).
 */
export class AuditLog {
  private readonly write;
  private readonly db: Db;
  private readonly limits: AuditConfig;
  private readonly opts: AuditLogOptions;
  private readonly now: () => number;
  private pending: AuditEntry[] = [];
  /** The commit of the pending group: after `groupMs`, or at the end of this turn once the group is full. */
  private groupTimer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private readonly groupMs: number;
  /** Refusal key → the row counting it and when that row was opened. */
  private readonly open = new Map<string, { id: number; at: number }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly deleteOlder;
  private readonly deleteUpTo;
  private readonly maxId;

  constructor(db: Db, options: AuditLogOptions = {}) {
    this.db = db;
    this.opts = options;
    this.limits = {
      maxAgeDays: options.maxAgeDays ?? AUDIT_DEFAULTS.maxAgeDays,
      maxRows: options.maxRows ?? AUDIT_DEFAULTS.maxRows,
      maxPayloadBytes: options.maxPayloadBytes ?? AUDIT_DEFAULTS.maxPayloadBytes,
    };
    this.now = options.now ?? Date.now;
    this.groupMs = options.groupMs ?? GROUP_MS;
    const insert = db.prepare(
      'INSERT INTO audit (at, sender, device, command, origin, outcome, detail, payload, payload_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const count = db.prepare('UPDATE audit SET count = count + 1, last_at = ? WHERE id = ?');
    this.write = db.transaction((entries: readonly AuditEntry[]) => {
      for (const e of entries) {
        const sender = cut(e.sender, MAX_JID);
        const device = cut(e.device, MAX_JID);
        const command = cut(e.command, MAX_COMMAND);
        const detail = e.detail === undefined ? null : cut(e.detail, MAX_DETAIL);
        if (REFUSED.has(e.outcome)) {
          const key = `${sender}\u0000${device}\u0000${command}\u0000${e.origin}\u0000${e.outcome}`;
          const row = this.open.get(key);
          // The row may have been deleted by retention meanwhile: then a new one is opened.
          if (row && e.at - row.at < REFUSAL_WINDOW_MS && e.at >= row.at && count.run(e.at, row.id).changes === 1) continue;
          const id = Number(insert.run(e.at, sender, device, command, e.origin, e.outcome, detail, null, null).lastInsertRowid);
          if (this.open.size >= MAX_OPEN_REFUSALS) this.open.clear();
          this.open.set(key, { id, at: e.at });
          continue;
        }
        const payload = e.payload === undefined ? undefined : cutBytes(e.payload, this.limits.maxPayloadBytes);
        insert.run(e.at, sender, device, command, e.origin, e.outcome, detail, payload?.text ?? null, payload?.cutFrom ?? null);
      }
    });
    // Age: via the index on `at`. Rows: ids only grow, so the newest maxRows rows are those above max(id) - maxRows.
    this.deleteOlder = db.prepare('DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? ORDER BY at LIMIT ?)');
    this.deleteUpTo = db.prepare('DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE id <= ? ORDER BY id LIMIT ?)');
    this.maxId = db.prepare('SELECT max(id) AS id FROM audit');
    if (options.retention) this.schedulePrune(this.busyDelay());
  }

  record(e: AuditEntry): void {
    this.pending.push(e);
    if (this.immediate) return;
    if (this.groupMs > 0 && this.pending.length < MAX_GROUP) {
      if (this.groupTimer) return;
      this.groupTimer = setTimeout(() => this.flush(), this.groupMs);
      this.groupTimer.unref(); // a stop (close) writes what is pending: the timer never keeps the process alive
      return;
    }
    this.unschedule();
    this.immediate = setImmediate(() => this.flush());
  }

  /** Write what is pending now (also before a query and at shutdown). */
  flush(): void {
    this.unschedule();
    if (this.pending.length === 0) return;
    const entries = this.pending;
    this.pending = [];
    try {
      this.write(entries);
    } catch (err) {
      this.open.clear(); // the transaction was rolled back: rows opened in it are gone
      if (this.opts.onError) this.opts.onError(err as Error, entries.length);
      else throw err;
    }
  }

  /**
   * One retention pass: deletes entries older than maxAgeDays, then the oldest beyond maxRows, at most pruneBatch
   * rows in all. Returns how many were deleted.
   */
  prune(): number {
    const batch = this.opts.pruneBatch ?? 1_000;
    return this.db.transaction(() => {
      const cutoff = this.now() - this.limits.maxAgeDays * DAY_MS;
      let deleted = this.deleteOlder.run(cutoff, batch).changes;
      if (deleted < batch) {
        const { id } = this.maxId.get() as { id: number | null };
        if (id !== null && id > this.limits.maxRows) deleted += this.deleteUpTo.run(id - this.limits.maxRows, batch - deleted).changes;
      }
      return deleted;
    })();
  }

  private unschedule(): void {
    clearTimeout(this.groupTimer);
    clearImmediate(this.immediate);
    this.groupTimer = undefined;
    this.immediate = undefined;
  }

  /** Stop the retention timer and write what is pending. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flush();
  }

  /**
   * Newest first. A filter by device or sender reads the log newest first without an index (the log is written on
   * every command and read only here, by the `audit` CLI): 5 ms for 100,000 entries, 0.1 s for 1,000,000.
   */
  query(filter: { device?: string; sender?: string; limit: number }): StoredAuditEntry[] {
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
    const sql = `SELECT at, sender, device, command, origin, outcome, detail, payload, count, last_at, payload_bytes FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    type Row = {
      at: number;
      sender: string;
      device: string;
      command: string;
      origin: string;
      outcome: string;
      detail: string | null;
      payload: string | null;
      count: number;
      last_at: number | null;
      payload_bytes: number | null;
    };
    return (this.db.prepare(sql).all(...args, filter.limit) as Row[]).map((r) => ({
      at: r.at,
      sender: r.sender,
      device: r.device,
      command: r.command,
      origin: r.origin,
      outcome: r.outcome,
      ...(r.detail !== null ? { detail: r.detail } : {}),
      ...(r.payload !== null ? { payload: r.payload } : {}),
      ...(r.payload_bytes !== null ? { payloadBytes: r.payload_bytes } : {}),
      ...(r.count > 1 ? { count: r.count } : {}),
      ...(r.count > 1 && r.last_at !== null ? { lastAt: r.last_at } : {}),
    }));
  }

  private schedulePrune(delayMs: number): void {
    this.timer = setTimeout(() => {
      let deleted = 0;
      try {
        this.flush();
        deleted = this.prune();
      } catch (err) {
        this.opts.onError?.(err as Error, 0);
      }
      if (deleted > 0) this.opts.onPruned?.(deleted);
      if (this.timer === undefined) return; // closed meanwhile (onPruned may close)
      const full = deleted >= (this.opts.pruneBatch ?? 1_000);
      this.schedulePrune(full ? this.busyDelay() : (this.opts.pruneIntervalMs ?? 60_000));
    }, delayMs);
    this.timer.unref(); // retention never keeps the process alive
  }

  /** Delay of the first pass, and of the next one while a backlog is being deleted. */
  private busyDelay(): number {
    return Math.min(this.opts.pruneIntervalMs ?? 60_000, BUSY_PRUNE_INTERVAL_MS);
  }
}

/** `text` cut to `max` characters (UTF-16 units; no lone surrogate left at the end). */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text.charAt(max - 1)) ? max - 1 : max;
  return text.slice(0, end);
}

/** `text` cut to `maxBytes` of UTF-8 without splitting a character; `cutFrom` is the original size when cut. */
function cutBytes(text: string, maxBytes: number): { text: string; cutFrom?: number } | undefined {
  if (maxBytes === 0) return undefined;
  // A UTF-16 unit is at most 3 bytes of UTF-8: most payloads are known to fit without encoding them (every command).
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text, 'utf8') <= maxBytes) return { text };
  const bytes = Buffer.from(text, 'utf8');
  // A StringDecoder returns whole characters only and keeps a split one back.
  return { text: new StringDecoder('utf8').write(bytes.subarray(0, maxBytes)), cutFrom: bytes.length };
}
