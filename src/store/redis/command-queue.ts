/**
 * Commands held for offline devices, shared (cluster mode): any instance may see the device come back and deliver
 * them. Reads come from the local copy; every row is written through to a Redis hash; `claim` is one HDEL, so exactly
 * one instance takes a row. Each row names the instance holding the sender's request (`holder`), which answers it.
 *
 * Row ids are numbers unique across instances: each instance takes blocks of ids from a Redis counter (INCRBY), so
 * `add` stays synchronous.
 */
import type { Redis } from 'ioredis';
import type { CommandQueueStore, QueuedCommandRow } from '../../kernel/stores.js';
import type { Logger } from '../../log.js';
import type { Writer } from './writer.js';

/** Ids taken at once; the next block is fetched when half of one is used. */
export const ID_BLOCK = 10_000;

export class RedisCommandQueue implements CommandQueueStore {
  private readonly rows = new Map<number, QueuedCommandRow>();
  private next = 0;
  private last = -1;
  private spare: { next: number; last: number } | undefined;
  private fetching = false;

  constructor(
    private readonly w: Writer,
    private readonly log: Logger,
  ) {}

  /** Takes the first block of ids (before the bridge starts). */
  async start(): Promise<void> {
    const block = await this.takeBlock(this.w.redis);
    this.next = block.next;
    this.last = block.last;
  }

  add(r: Omit<QueuedCommandRow, 'id'>): number {
    const id = this.nextId();
    const row: QueuedCommandRow = { ...r, id, holder: this.w.instance };
    this.rows.set(id, row);
    this.w.write('held command', (m) => m.hset(this.w.keys.commands, String(id), JSON.stringify(row)), { k: 'cmd', row });
    return id;
  }

  forDevice(deviceJid: string): QueuedCommandRow[] {
    return [...this.rows.values()].filter((r) => r.deviceJid === deviceJid).sort(byAge);
  }

  delete(id: number): void {
    this.rows.delete(id);
    this.w.write('held command removal', (m) => m.hdel(this.w.keys.commands, String(id)), { k: 'cmd-', id });
  }

  async claim(id: number): Promise<boolean> {
    this.rows.delete(id);
    const replies = await this.w.redis
      .multi()
      .hdel(this.w.keys.commands, String(id))
      .publish(this.w.keys.events, JSON.stringify({ i: this.w.instance, k: 'cmd-', id }))
      .exec();
    const [err, removed] = replies?.[0] ?? [null, 0];
    if (err) throw err;
    return removed === 1;
  }

  expired(now: number): QueuedCommandRow[] {
    return [...this.rows.values()].filter((r) => r.expiresAt <= now).sort(byAge);
  }

  deviceJids(): string[] {
    return [...new Set([...this.rows.values()].map((r) => r.deviceJid))];
  }

  get size(): number {
    return this.rows.size;
  }

  /** Another instance's row, or the snapshot's. */
  put(row: QueuedCommandRow): void {
    this.rows.set(row.id, row);
  }

  drop(id: number): void {
    this.rows.delete(id);
  }

  replace(rows: Iterable<QueuedCommandRow>): void {
    this.rows.clear();
    for (const r of rows) this.rows.set(r.id, r);
  }

  reseed(hset: (field: string, value: string) => void): void {
    for (const r of this.rows.values()) hset(String(r.id), JSON.stringify(r));
  }

  private nextId(): number {
    if (this.next > this.last && this.spare) {
      ({ next: this.next, last: this.last } = this.spare);
      this.spare = undefined;
    }
    if (this.next > this.last) throw new Error('no command ids left: Redis has not answered for a whole block of held commands');
    const id = this.next++;
    if (!this.spare && !this.fetching && this.last - this.next < ID_BLOCK / 2) {
      this.fetching = true;
      this.takeBlock(this.w.redis)
        .then((b) => (this.spare = b))
        .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'could not take command ids'))
        .finally(() => (this.fetching = false));
    }
    return id;
  }

  private async takeBlock(redis: Redis): Promise<{ next: number; last: number }> {
    const last = await redis.incrby(this.w.keys.commandIds, ID_BLOCK);
    return { next: last - ID_BLOCK + 1, last };
  }
}

function byAge(a: QueuedCommandRow, b: QueuedCommandRow): number {
  return a.createdAt - b.createdAt || a.id - b.id;
}

export function parseCommandRow(text: string): QueuedCommandRow | undefined {
  try {
    const v = JSON.parse(text) as Partial<QueuedCommandRow>;
    if (typeof v.id !== 'number' || typeof v.deviceJid !== 'string' || typeof v.command !== 'string' || typeof v.json !== 'string') return undefined;
    if (typeof v.sender !== 'string' || typeof v.origin !== 'string' || typeof v.expiresAt !== 'number' || typeof v.createdAt !== 'number') return undefined;
    return {
      id: v.id,
      deviceJid: v.deviceJid,
      command: v.command,
      json: v.json,
      sender: v.sender,
      origin: v.origin,
      replyId: typeof v.replyId === 'string' ? v.replyId : undefined,
      createdAt: v.createdAt,
      expiresAt: v.expiresAt,
      ...(typeof v.holder === 'string' ? { holder: v.holder } : {}),
    };
  } catch {
    return undefined;
  }
}
