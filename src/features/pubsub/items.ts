/**
 * The items of the device nodes: the last N readings of each device (N per mapping), newest last. Bounded as a whole —
 * an LRU over devices, measured in JSON bytes — so a large fleet cannot grow memory without limit: a device whose
 * history was evicted (or that has not reported since the bridge started) still has one item, its latest reading
 * (LatestReadingStore).
 *
 * Every reading of a device with PubSub adds an item, whether or not anyone subscribed (XEP-0060 §6.5: items are
 * retrieved at any time), so adding one is on the uplink's hot path: each device keeps a ring of its last N items,
 * written in place, and an item's id (an ISO 8601 time) is formatted only when someone reads it. Copying the device's
 * item array and formatting a time for every reading cost 7–10 % of the bridge's CPU in the scenario S profile.
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
/** Bytes counted per item for its id: an ISO 8601 time in ms (`2026-12-01T07:15:00.000Z`). */
const ID_BYTES = 24;

/** One kept reading: its receive time and, for readings of one device in the same millisecond, a sequence number. */
class KeptItem implements Item {
  constructor(
    readonly at: number,
    /** 0 for the first item of its millisecond; n > 0 gives the id `<time>-n`. */
    readonly n: number,
    readonly json: string,
  ) {}

  get id(): string {
    const base = isoTime(this.at);
    return this.n === 0 ? base : `${base}-${this.n}`;
  }
}

/** A device's last `capacity` items, oldest first from `head`. */
class Ring {
  readonly items: (KeptItem | undefined)[];
  head = 0;
  count = 0;
  /** JSON and id bytes of the items held (the LRU's measure). */
  bytes = 0;
  /** The latest receive time pushed (an item of it may have been dropped since). */
  latest = -Infinity;

  constructor(readonly capacity: number) {
    this.items = new Array<KeptItem | undefined>(capacity);
  }

  /** Oldest first. */
  *[Symbol.iterator](): Generator<KeptItem> {
    for (let i = 0; i < this.count; i++) yield this.items[(this.head + i) % this.capacity]!;
  }

  push(item: KeptItem): void {
    const size = item.json.length + ID_BYTES;
    if (this.count < this.capacity) {
      this.items[(this.head + this.count) % this.capacity] = item;
      this.count++;
    } else {
      const dropped = this.items[this.head]!;
      this.bytes -= dropped.json.length + ID_BYTES;
      this.items[this.head] = item;
      this.head = (this.head + 1) % this.capacity;
    }
    this.bytes += size;
    if (item.at > this.latest) this.latest = item.at;
  }
}

export class ItemHistory {
  private readonly byDevice = new LRUCache<string, Ring>({ maxSize: MAX_BYTES, sizeCalculation: (ring) => Math.max(1, ring.bytes) });

  /** Add a reading; returns its item (the id made unique among the device's items). */
  add(deviceJid: string, receivedAt: number, json: string, keep: number): Item {
    const found = this.byDevice.get(deviceJid);
    const capacity = Math.max(1, keep);
    // A ring of another capacity: the mapping's `items` changed.
    const ring = found === undefined ? new Ring(capacity) : found.capacity === capacity ? found : resized(found, capacity);
    const item = new KeptItem(receivedAt, sequence(ring, receivedAt), json);
    const before = ring.bytes;
    ring.push(item);
    if (ring !== found) this.byDevice.set(deviceJid, ring);
    else if (ring.bytes !== before) {
      // The LRU measures an entry when a new value is set: the same ring, grown or shrunk, is set again.
      this.byDevice.delete(deviceJid);
      this.byDevice.set(deviceJid, ring);
    }
    return item;
  }

  /** The last `n` items, newest last. */
  last(deviceJid: string, n: number): readonly Item[] {
    const ring = this.byDevice.get(deviceJid);
    if (!ring) return [];
    const all = [...ring];
    return all.slice(Math.max(0, all.length - n));
  }

  /** Items with these ids (those that exist). */
  byIds(deviceJid: string, ids: readonly string[]): Item[] {
    const ring = this.byDevice.get(deviceJid);
    if (!ring) return [];
    const items = [...ring];
    return ids.flatMap((id) => items.filter((i) => i.id === id));
  }

  forget(deviceJid: string): void {
    this.byDevice.delete(deviceJid);
  }
}

/**
 * The sequence number of a new item received at `at`: 0 unless the device already has an item of that millisecond.
 * Receive times only grow, except when the clock is set back: then the kept items are searched.
 */
function sequence(ring: Ring, at: number): number {
  if (at > ring.latest) return 0;
  let n = 0;
  const taken = new Set<number>();
  for (const i of ring) if (i.at === at) taken.add(i.n);
  while (taken.has(n)) n++;
  return n;
}

/** The newest `capacity` items of `ring` in a ring of that capacity. */
function resized(ring: Ring, capacity: number): Ring {
  const next = new Ring(capacity);
  const items = [...ring];
  for (const i of items.slice(Math.max(0, items.length - capacity))) next.push(i);
  return next;
}

/**
 * ISO 8601 of a time in ms, the last one remembered: the items read together (a retrieval, a notification to several
 * subscribers) often share their millisecond, and `toISOString` costs about a microsecond.
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
