/**
 * Bridge events for things that can happen thousands of times a second (a client over its publish rate, a
 * connection storm beyond the limit): at most one event per key and window, yet every occurrence is counted.
 *
 * The first occurrence of a key is reported at once with `count: 1`. Later ones within the window are only counted;
 * when the window ends, one event reports them (`count` = occurrences since the previous event) and opens a new
 * window. So the sum of `count` over a key's events is exact once its last window has closed, and every event also
 * carries `total`, the exact number of occurrences of its type since the broker started.
 */

export type EmitEvent = (type: string, data: Record<string, unknown>) => void;

interface Window {
  readonly type: string;
  data: Record<string, unknown>;
  unreported: number;
  readonly timer: NodeJS.Timeout;
}

export class EventReporter {
  private readonly windows = new Map<string, Window>();
  private readonly totals = new Map<string, number>();

  constructor(
    private readonly emit: EmitEvent,
    private readonly windowMs = 10_000,
    /** Distinct keys with an open window; beyond it, new keys share one window per type (still counted). */
    private readonly maxKeys = 10_000,
  ) {}

  /** Counts one occurrence and reports it unless `key` was reported less than `windowMs` ago. */
  record(type: string, key: string, data: Record<string, unknown>): void {
    this.totals.set(type, this.total(type) + 1);
    let k = `${type}\u0000${key}`;
    if (!this.windows.has(k) && this.windows.size >= this.maxKeys) k = `${type}\u0000*`;
    const w = this.windows.get(k);
    if (w) {
      w.unreported += 1;
      w.data = data;
      return;
    }
    this.report(k, type, data, 1);
  }

  /** Exact number of occurrences of `type` so far. */
  total(type: string): number {
    return this.totals.get(type) ?? 0;
  }

  /** Reports what every open window has counted but not reported yet, and closes them (broker stopping). */
  flushAll(): void {
    for (const [k, w] of [...this.windows]) {
      clearTimeout(w.timer);
      this.windows.delete(k);
      if (w.unreported > 0) this.send(w.type, w.data, w.unreported);
    }
  }

  private report(k: string, type: string, data: Record<string, unknown>, count: number): void {
    this.send(type, data, count);
    const timer = setTimeout(() => this.windowEnd(k), this.windowMs);
    timer.unref(); // a pending report never keeps the process alive; stop() flushes it
    this.windows.set(k, { type, data, unreported: 0, timer });
  }

  private windowEnd(k: string): void {
    const w = this.windows.get(k);
    if (!w) return;
    this.windows.delete(k);
    // Nothing new in this window: the key is forgotten, and its next occurrence is reported at once.
    if (w.unreported > 0) this.report(k, w.type, w.data, w.unreported);
  }

  private send(type: string, data: Record<string, unknown>, count: number): void {
    this.emit(type, { ...data, count, total: this.total(type) });
  }
}
