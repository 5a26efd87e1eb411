/**
 * Imported devices and the operators' decisions about them, shared (cluster mode): a device approved or blocked
 * through one instance (request topic, XEP-0050 command, status page) or by the CLI (which writes to Redis in cluster
 * mode) is imported or removed by every instance. Local copy for the synchronous reads; every change is written
 * through to one Redis hash and announced; an instance that applies another's change in which a status differs
 * from its copy reports it through `changedElsewhere()`, and the import feature re-reads the rows.
 */
import { randomBytes } from 'node:crypto';
import type { ClusterConfig } from '../../config/schema.js';
import type { ImportRow, ImportStatus, ImportStore } from '../../kernel/stores.js';
import type { Logger } from '../../log.js';
import { connectRedis, Keys } from './connection.js';
import { Writer } from './writer.js';

/** Rows per script call and announcement: thousands of rows (one bridge/devices message) go as one pipeline of a few calls. */
const BATCH = 500;

/**
 * saveMany's write: a description never changes a decision. An instance saves what it last knew of a device's status,
 * which may predate a decision another instance (or the CLI) just made: the stored status and `decidedBy` of a
 * decided row are kept. The rows as stored are announced. KEYS: the hash, the events channel; ARGV[1]: the sender,
 * then (field, JSON row) pairs.
 */
const SAVE_KEEPING_DECISIONS = `
local rows = {}
for i = 2, #ARGV, 2 do
  local row = cjson.decode(ARGV[i + 1])
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if cur then
    local ok, old = pcall(cjson.decode, cur)
    if ok and type(old) == 'table' and type(old.decidedBy) == 'string' then
      row.status = old.status
      row.decidedBy = old.decidedBy
    end
  end
  local text = cjson.encode(row)
  redis.call('HSET', KEYS[1], ARGV[i], text)
  rows[#rows + 1] = text
end
redis.call('PUBLISH', KEYS[2], '{"i":' .. cjson.encode(ARGV[1]) .. ',"k":"imp","rows":[' .. table.concat(rows, ',') .. '],"gone":[]}')
return #rows
`;

export class RedisImportStore implements ImportStore {
  private readonly rows = new Map<string, ImportRow>();
  private changed = false;

  constructor(private readonly w: Writer) {}

  get(source: string, hardwareId: string): ImportRow | undefined {
    return this.rows.get(field(source, hardwareId));
  }

  list(filter: { readonly source?: string; readonly status?: ImportStatus } = {}): ImportRow[] {
    const out: { f: string; row: ImportRow }[] = [];
    for (const [f, row] of this.rows) {
      if (filter.source !== undefined && row.source !== filter.source) continue;
      if (filter.status !== undefined && row.status !== filter.status) continue;
      out.push({ f, row });
    }
    // As the SQLite store orders them: by source, then by the lower-cased hardware id.
    return out.sort((a, b) => (a.f < b.f ? -1 : a.f > b.f ? 1 : 0)).map((e) => e.row);
  }

  /** Descriptions seen: a decision already made (here or elsewhere) is kept, whatever status the rows carry. */
  saveMany(rows: readonly ImportRow[]): void {
    if (rows.length === 0) return;
    for (const r of rows) {
      const f = field(r.source, r.hardwareId);
      const known = this.rows.get(f);
      if (known?.decidedBy !== undefined) {
        // The caller saved a status older than the decision: it re-reads the rows.
        if (known.status !== r.status) this.changed = true;
        this.rows.set(f, { ...r, status: known.status, decidedBy: known.decidedBy });
      } else {
        this.rows.set(f, r);
      }
    }
    const p = this.w.redis.pipeline();
    for (let i = 0; i < rows.length; i += BATCH) {
      const args = rows.slice(i, i + BATCH).flatMap((r) => [field(r.source, r.hardwareId), JSON.stringify(r)]);
      p.eval(SAVE_KEEPING_DECISIONS, 2, this.w.keys.imports, this.w.keys.events, this.w.instance, ...args);
    }
    p.exec()
      .then((replies) => {
        const failed = replies?.find(([err]) => err)?.[0];
        if (failed) throw failed;
      })
      .catch((err: unknown) => this.w.log.error({ err: (err as Error).message, what: 'imported devices' }, 'shared state write failed'));
  }

  decide(source: string, hardwareId: string, status: ImportStatus, by: string, now: number): boolean {
    const known = this.get(source, hardwareId);
    if (known?.status === status) return false;
    // Not seen yet (blocking ahead of time): a row with the decision alone, as the SQLite store writes it.
    const row: ImportRow = known
      ? { ...known, status, decidedBy: by, updatedAt: now }
      : { source, hardwareId, status, name: hardwareId, jid: undefined, description: undefined, publisher: undefined, firstSeen: now, updatedAt: now, decidedBy: by };
    const f = field(source, hardwareId);
    this.rows.set(f, row);
    this.w.write('import decision', (m) => m.hset(this.w.keys.imports, f, JSON.stringify(row)), { k: 'imp', rows: [row], gone: [] });
    return true;
  }

  delete(source: string, hardwareId: string): void {
    const f = field(source, hardwareId);
    if (!this.rows.delete(f)) return;
    this.w.write('imported device removal', (m) => m.hdel(this.w.keys.imports, f), { k: 'imp', rows: [], gone: [f] });
  }

  /** Whether another instance (or the CLI) changed a status since the last call. */
  changedElsewhere(): boolean {
    const c = this.changed;
    this.changed = false;
    return c;
  }

  get size(): number {
    return this.rows.size;
  }

  /** Another instance's change. */
  apply(rows: readonly unknown[], gone: readonly unknown[]): void {
    for (const text of rows) {
      // Rows written by the script come re-encoded by Redis' cjson: checked as any stored row.
      const parsed = parseImportRow(JSON.stringify(text));
      if (!parsed) continue;
      const f = field(parsed.source, parsed.hardwareId);
      const known = this.rows.get(f);
      // A description another instance saved before a decision made here reached Redis is announced after that
      // decision was taken locally: it does not undo it (Redis kept the decision too: SAVE_KEEPING_DECISIONS).
      const r = known?.decidedBy !== undefined && (parsed.decidedBy === undefined || parsed.updatedAt < known.updatedAt) ? { ...parsed, status: known.status, decidedBy: known.decidedBy } : parsed;
      if (known?.status !== r.status) this.changed = true;
      this.rows.set(f, r);
    }
    for (const f of gone) if (typeof f === 'string' && this.rows.delete(f)) this.changed = true;
  }

  /** The snapshot replaces the local copy (a status that differs counts as a change made elsewhere). */
  replace(entries: Readonly<Record<string, string>>): void {
    const before = new Map(this.rows);
    this.rows.clear();
    for (const [f, text] of Object.entries(entries)) {
      const row = parseImportRow(text);
      if (!row) continue;
      this.rows.set(f, row);
      if (before.get(f)?.status !== row.status) this.changed = true;
    }
    if (before.size > 0 && [...before.keys()].some((f) => !this.rows.has(f))) this.changed = true;
  }

  /** The whole local copy written back (Redis lost its data). */
  reseed(hset: (field: string, value: string) => void): void {
    for (const [f, row] of this.rows) hset(f, JSON.stringify(row));
  }
}

/** Sources are single words (zigbee2mqtt, homeassistant…): the first space ends one. */
function field(source: string, hardwareId: string): string {
  return `${source} ${hardwareId.toLowerCase()}`;
}

const STATUSES: readonly string[] = ['pending', 'approved', 'blocked'];

/** A stored row, or undefined when the value is not one (written by another program or version). */
export function parseImportRow(text: string): ImportRow | undefined {
  try {
    const v = JSON.parse(text) as Partial<Record<keyof ImportRow, unknown>>;
    if (typeof v.source !== 'string' || typeof v.hardwareId !== 'string' || typeof v.status !== 'string' || !STATUSES.includes(v.status) || typeof v.name !== 'string') return undefined;
    const opt = (x: unknown): string | undefined => (typeof x === 'string' ? x : undefined);
    return {
      source: v.source,
      hardwareId: v.hardwareId,
      status: v.status as ImportStatus,
      name: v.name,
      jid: opt(v.jid),
      description: opt(v.description),
      publisher: opt(v.publisher),
      firstSeen: Number(v.firstSeen) || 0,
      updatedAt: Number(v.updatedAt) || 0,
      decidedBy: opt(v.decidedBy),
    };
  } catch {
    return undefined;
  }
}

/**
 * The shared import store for a process outside the cluster (the CLI): loads the rows, and `close` waits until the
 * writes made meanwhile reached Redis (and were announced to the running instances) before it disconnects.
 */
export async function openSharedImports(cfg: ClusterConfig, log: Logger): Promise<{ store: RedisImportStore; close(): Promise<void> }> {
  const redis = connectRedis(cfg.redis, 'cli', log, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => null });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new Error(`cluster mode: Redis at ${cfg.redis.url} did not answer (${(err as Error).message}); the decisions are kept there`);
  }
  const keys = new Keys(cfg.redis.keyPrefix);
  // Its own sender id: every instance applies what the CLI announces (an instance skips only its own).
  const store = new RedisImportStore(new Writer(redis, keys, `cli-${randomBytes(4).toString('hex')}`, log));
  store.replace(await redis.hgetall(keys.imports));
  return {
    store,
    async close() {
      // Replies come in order: once PING is answered, the MULTIs sent before it were executed.
      await redis.ping();
      await redis.quit();
    },
  };
}
