/**
 * The newest reading of each device, shared (cluster mode): a returning follower, a presence status and the first
 * PubSub item show the same value whichever instance received the reading. The hot path (`set`, every reading; `get`)
 * works on memory only; changed rows are written behind, a short moment after the first change (`SHARE_MS`) or at
 * `flush()`, in batches, and announced so the other instances update their copies. One row per device: memory and
 * Redis stay bounded by the fleet.
 *
 * Instances receive one device's readings in turns (shared subscriptions), and their batches may reach Redis out of
 * order: a row replaces the stored one only if it is not older (`receivedAt`), in Redis (one script per batch) and in
 * every local copy.
 */
import type { LatestReadingRow, LatestReadingStore } from '../../kernel/stores.js';
import { WriteBehindTable } from '../write-behind.js';
import type { Writer } from './writer.js';

/** How long a changed row waits before it is written and announced: coalesces a busy device's readings. */
export const SHARE_MS = 100;
/** Rows per script call: a long script would hold Redis up for every other client. */
const BATCH = 1000;

/**
 * KEYS: the hash, the events channel. ARGV[1]: the announcement ('' for none), then (JID, stored value, receivedAt)
 * triples. A stored value starts with `{"receivedAt":<ms>` (storedValue), which is all the script reads of it.
 */
const WRITE_NEWER = `
for i = 2, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  local at = cur and tonumber(string.match(cur, '^{"receivedAt":(%d+)'))
  if not at or at <= tonumber(ARGV[i + 2]) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
if ARGV[1] ~= '' then redis.call('PUBLISH', KEYS[2], ARGV[1]) end
return 0
`;

export class RedisLatestReadings implements LatestReadingStore {
  private readonly table = new WriteBehindTable<LatestReadingRow>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly w: Writer) {}

  get(deviceJid: string): LatestReadingRow | undefined {
    return this.table.get(deviceJid);
  }

  set(row: LatestReadingRow): void {
    this.table.set(row.deviceJid, row);
    this.schedule();
  }

  delete(deviceJid: string): void {
    if (this.table.delete(deviceJid)) this.schedule();
  }

  /** Write and announce what changed since the last batch. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.table.pending) return;
    const { changed, removed } = this.table.take();
    if (removed.length > 0) this.w.write('latest reading removal', (m) => m.hdel(this.w.keys.latest, ...removed), { k: 'lt', rows: [], gone: removed });
    for (let i = 0; i < changed.length; i += BATCH) this.writeNewer(changed.slice(i, i + BATCH));
  }

  /** No more writes behind (the caller flushed first). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  get size(): number {
    return this.table.size;
  }

  /** Another instance's row, or the snapshot's: taken unless the local one is newer. */
  put(row: LatestReadingRow): void {
    const known = this.table.get(row.deviceJid);
    if (known && known.receivedAt > row.receivedAt) return;
    this.table.load(row.deviceJid, row);
  }

  drop(deviceJid: string): void {
    this.table.forget(deviceJid);
  }

  /** The snapshot merged into the local copy (newer rows win; rows changed here and not yet written stay). */
  load(entries: Readonly<Record<string, string>>): void {
    for (const text of Object.values(entries)) {
      const row = parseLatestRow(text);
      if (row) this.put(row);
    }
  }

  /** The whole local copy written back (Redis lost its data). */
  reseed(hset: (field: string, value: string) => void): void {
    for (const row of this.table.values()) hset(row.deviceJid, storedValue(row));
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), SHARE_MS);
    this.timer.unref();
  }

  private writeNewer(rows: readonly LatestReadingRow[]): void {
    const note = JSON.stringify({ i: this.w.instance, k: 'lt', rows, gone: [] });
    const args: (string | number)[] = [note];
    for (const r of rows) args.push(r.deviceJid, storedValue(r), r.receivedAt);
    this.w.redis.eval(WRITE_NEWER, 2, this.w.keys.latest, this.w.keys.events, ...args).catch((err: unknown) => {
      this.w.log.error({ err: (err as Error).message, what: 'latest readings' }, 'shared state write failed');
    });
  }
}

/** The stored form: `receivedAt` first, where the newer-only script finds it. */
export function storedValue(r: LatestReadingRow): string {
  return JSON.stringify({ receivedAt: Math.trunc(r.receivedAt), deviceJid: r.deviceJid, topic: r.topic, json: r.json });
}

/** A stored row, or undefined when the value is not one. */
export function parseLatestRow(text: string): LatestReadingRow | undefined {
  try {
    const v = JSON.parse(text) as Partial<LatestReadingRow>;
    if (typeof v.deviceJid !== 'string' || typeof v.topic !== 'string' || typeof v.json !== 'string' || typeof v.receivedAt !== 'number') return undefined;
    return { deviceJid: v.deviceJid, topic: v.topic, json: v.json, receivedAt: v.receivedAt };
  } catch {
    return undefined;
  }
}
