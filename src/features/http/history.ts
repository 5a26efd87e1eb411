/**
 * What the status page remembers per device, in memory: its recent readings (for the chart and the "last reading"
 * column), its recent rejections with their schema errors, its recent commands with their outcomes, and its reading
 * rate. Fixed-size ring buffers, allocated on a device's first event: recording is O(1) and allocation-light (it runs
 * for every reading), memory is bounded by (devices × ring sizes × entry size). A reading's JSON is kept only when it
 * is short (MAX_KEPT_JSON): the chart and the table need small payloads, and a device sending 256 KiB payloads must
 * not make the page hold gigabytes. docs/OPERATIONS.md gives the measured memory at 10,000 devices.
 *
 * Rejections of a device id the registry does not know yet (a first payload that fails validation) are kept in a
 * separate, LRU-bounded table: whoever can publish on many mapped topics cannot grow it without bound.
 */
import { LRUCache } from 'lru-cache';

/** Longest reading JSON kept (characters); longer ones are remembered by size only. */
export const MAX_KEPT_JSON = 256;
/** Schema errors kept per rejection, and characters per message. */
const MAX_ERRORS = 5;
const MAX_TEXT = 300;
/** Unknown device ids whose rejections are kept. */
const MAX_UNKNOWN_DEVICES = 1000;

export class Ring<T> {
  private readonly items: (T | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }

  push(item: T): void {
    if (this.capacity === 0) return;
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count += 1;
  }

  /** Oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.items[(this.next - this.count + i + this.capacity) % this.capacity]!);
    return out;
  }

  last(): T | undefined {
    return this.count === 0 ? undefined : this.items[(this.next - 1 + this.capacity) % this.capacity];
  }

  get size(): number {
    return this.count;
  }
}

/** Events per minute, from two one-minute buckets (the previous one weighted by how much of it the window covers). */
export class MinuteRate {
  private minute = 0;
  private current = 0;
  private previous = 0;

  add(now: number): void {
    this.roll(now);
    this.current += 1;
  }

  perMinute(now: number): number {
    this.roll(now);
    const into = (now % 60_000) / 60_000;
    return Math.round(this.current + this.previous * (1 - into));
  }

  private roll(now: number): void {
    const minute = Math.floor(now / 60_000);
    if (minute === this.minute) return;
    this.previous = minute === this.minute + 1 ? this.current : 0;
    this.current = 0;
    this.minute = minute;
  }
}

/** Events per second over the last WINDOW seconds (one bucket per second). */
export class SecondRate {
  private static readonly WINDOW = 10;
  private readonly buckets = new Float64Array(SecondRate.WINDOW);
  private second = 0;

  add(now: number, n = 1): void {
    this.roll(now);
    this.buckets[this.second % SecondRate.WINDOW]! += n;
  }

  /** Average over the complete seconds of the window. */
  perSecond(now: number): number {
    this.roll(now);
    let sum = 0;
    for (let i = 1; i < SecondRate.WINDOW; i++) sum += this.buckets[(this.second - i + SecondRate.WINDOW * 2) % SecondRate.WINDOW]!;
    return sum / (SecondRate.WINDOW - 1);
  }

  private roll(now: number): void {
    const s = Math.floor(now / 1000);
    if (s === this.second) return;
    const gap = Math.min(s - this.second, SecondRate.WINDOW);
    for (let i = 1; i <= gap; i++) this.buckets[(this.second + i) % SecondRate.WINDOW] = 0;
    this.second = s;
  }
}

/**
 * The readings ring, column-wise: times and sizes in typed arrays, the JSON texts in one array — a third of the
 * memory of one object per reading, and no allocation per reading.
 */
export class ReadingRing {
  private readonly at: Float64Array;
  private readonly size: Uint32Array;
  private readonly json: (string | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.at = new Float64Array(capacity);
    this.size = new Uint32Array(capacity);
    this.json = new Array<string | undefined>(capacity);
  }

  push(at: number, json: string): void {
    if (this.capacity === 0) return;
    this.at[this.next] = at;
    this.size[this.next] = json.length;
    this.json[this.next] = json.length <= MAX_KEPT_JSON ? json : undefined;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count += 1;
  }

  private entry(slot: number): ReadingEntry {
    return { at: this.at[slot]!, json: this.json[slot], size: this.size[slot]! };
  }

  /** Oldest first. */
  toArray(): ReadingEntry[] {
    const out: ReadingEntry[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.entry((this.next - this.count + i + this.capacity) % this.capacity));
    return out;
  }

  last(): ReadingEntry | undefined {
    return this.count === 0 ? undefined : this.entry((this.next - 1 + this.capacity) % this.capacity);
  }

  get length(): number {
    return this.count;
  }
}

export interface ReadingEntry {
  readonly at: number;
  /** The payload as sent, when at most MAX_KEPT_JSON characters. */
  readonly json: string | undefined;
  /** Its length in characters. */
  readonly size: number;
}

export interface RejectionEntry {
  readonly at: number;
  readonly code: string;
  readonly message: string;
  readonly topic: string;
  readonly errors: readonly { readonly path: string; readonly message: string }[];
}

export interface CommandEntry {
  readonly at: number;
  readonly from: string;
  readonly command: string;
  readonly origin: string;
  readonly code: string;
  readonly message?: string;
  readonly confirmed?: boolean;
  readonly queued?: boolean;
}

export interface HistorySizes {
  readonly readings: number;
  readonly rejections: number;
  readonly commands: number;
}

export class DeviceHistory {
  readonly readings: ReadingRing;
  readonly rejections: Ring<RejectionEntry>;
  readonly commands: Ring<CommandEntry>;
  readonly rate = new MinuteRate();

  constructor(sizes: HistorySizes) {
    this.readings = new ReadingRing(sizes.readings);
    this.rejections = new Ring(sizes.rejections);
    this.commands = new Ring(sizes.commands);
  }
}

export class History {
  private readonly devices = new Map<string, DeviceHistory>();
  private readonly unknown: LRUCache<string, DeviceHistory>;

  constructor(private readonly sizes: HistorySizes) {
    this.unknown = new LRUCache({ max: MAX_UNKNOWN_DEVICES });
  }

  /** Hot path: one ring slot and one counter. */
  reading(jid: string, at: number, json: string): void {
    const h = this.of(jid);
    h.readings.push(at, json);
    h.rate.add(at);
  }

  /** A rejection of a registered device (`known`), or of a device id seen only in rejections. */
  rejection(jid: string, known: boolean, e: RejectionEntry): void {
    const entry: RejectionEntry = {
      at: e.at,
      code: e.code,
      message: cut(e.message),
      topic: cut(e.topic),
      errors: e.errors.slice(0, MAX_ERRORS).map((x) => ({ path: cut(x.path), message: cut(x.message) })),
    };
    if (known) return this.of(jid).rejections.push(entry);
    let h = this.unknown.get(jid);
    if (!h) this.unknown.set(jid, (h = new DeviceHistory({ readings: 0, rejections: this.sizes.rejections, commands: 0 })));
    h.rejections.push(entry);
  }

  command(jid: string, e: CommandEntry): void {
    this.of(jid).commands.push({ ...e, ...(e.message !== undefined ? { message: cut(e.message) } : {}) });
  }

  get(jid: string): DeviceHistory | undefined {
    return this.devices.get(jid) ?? this.unknown.get(jid);
  }

  /** A registered device's history; rejections from before it registered come along. */
  private of(jid: string): DeviceHistory {
    let h = this.devices.get(jid);
    if (h) return h;
    h = new DeviceHistory(this.sizes);
    const early = this.unknown.get(jid);
    if (early) {
      for (const r of early.rejections.toArray()) h.rejections.push(r);
      this.unknown.delete(jid);
    }
    this.devices.set(jid, h);
    return h;
  }

  /** The device left the bridge. */
  forget(jid: string): void {
    this.devices.delete(jid);
  }

  get size(): number {
    return this.devices.size;
  }
}

function cut(s: string): string {
  return s.length <= MAX_TEXT ? s : `${s.slice(0, MAX_TEXT - 1)}…`;
}
