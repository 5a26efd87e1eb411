/**
 * The items of the device nodes: the last N readings of each device (N per mapping), newest last. Bounded as a whole —
 * an LRU over devices, measured in JSON bytes — so a large fleet cannot grow memory without limit: a device whose
 * history was evicted (or that has not reported since the bridge started) still has one item, its latest reading
 * (LatestReadingStore).
 */
import { LRUCache } from 'lru-cache';

export interface Item {
  /** The time the bridge received the reading (ISO 8601), unique per device. */
  readonly id: string;
  /** The reading's JSON text, as the device sent it. */
  readonly json: string;
}

/** Item histories use at most this many bytes of JSON in all. */
const MAX_BYTES = 32 * 1024 * 1024;

export class ItemHistory {
  private readonly byDevice = new LRUCache<string, readonly Item[]>({
    maxSize: MAX_BYTES,
    sizeCalculation: (items) => Math.max(1, items.reduce((n, i) => n + i.json.length + i.id.length, 0)),
  });

  /** Add a reading; returns its item (the id made unique among the device's items). */
  add(deviceJid: string, receivedAt: number, json: string, keep: number): Item {
    const before = this.byDevice.get(deviceJid) ?? [];
    const id = uniqueId(before, isoTime(receivedAt));
    const item = { id, json };
    // A new array each time, so the cache measures the new size.
    this.byDevice.set(deviceJid, [...before.slice(Math.max(0, before.length + 1 - keep)), item]);
    return item;
  }

  /** The last `n` items, newest last. */
  last(deviceJid: string, n: number): readonly Item[] {
    const items = this.byDevice.get(deviceJid) ?? [];
    return items.slice(Math.max(0, items.length - n));
  }

  /** Items with these ids (those that exist). */
  byIds(deviceJid: string, ids: readonly string[]): Item[] {
    const items = this.byDevice.get(deviceJid) ?? [];
    return ids.flatMap((id) => items.filter((i) => i.id === id));
  }

  forget(deviceJid: string): void {
    this.byDevice.delete(deviceJid);
  }
}

/**
 * ISO 8601 of a time in ms, the last one remembered: readings of many devices arrive within the same millisecond, and
 * `toISOString` costs about a microsecond, a tenth of what recording an item costs.
 */
let lastMs = NaN;
let lastIso = '';
function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}

function uniqueId(items: readonly Item[], base: string): string {
  if (!items.some((i) => i.id === base)) return base;
  for (let n = 1; ; n++) {
    const id = `${base}-${n}`;
    if (!items.some((i) => i.id === id)) return id;
  }
}
