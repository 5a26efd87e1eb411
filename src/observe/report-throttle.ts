/**
 * One report per key and window, every occurrence counted — for things a device or user can cause thousands of times
 * a second (bad payloads, refused commands, a connection storm), so the log and the event topic stay readable.
 *
 * The first occurrence of a key is reported at once with `count: 1`. Later ones within the window are only counted;
 * when the window ends, one report carries them (`count` = occurrences since the previous report) and opens a new
 * window; a window that saw nothing new closes silently, and the key's next occurrence is reported at once. So the sum
 * of `count` over a key's reports is exact once its last window has closed.
 *
 * Open windows are bounded (LRU): cycling keys cannot grow memory, and a window pushed out early reports what it
 * counted on the way out, so nothing is lost from the sums either.
 */
import { LRUCache } from 'lru-cache';

export type Report<T> = (data: T, count: number) => void;

interface Window<T> {
  data: T;
  unreported: number;
  readonly report: Report<T>;
  readonly timer: Timer;
}

export interface Timer {
  cancel(): void;
}

/** When a window ends (tests pass a manual clock). */
export type Schedule = (fn: () => void, ms: number) => Timer;

const realSchedule: Schedule = (fn, ms) => {
  const t = setTimeout(fn, ms);
  t.unref(); // a pending report never keeps the process alive; flushAll() sends it at shutdown
  return { cancel: () => clearTimeout(t) };
};

export class ReportThrottle {
  private readonly windows: LRUCache<string, Window<never>>;

  constructor(
    private readonly windowMs = 10_000,
    maxKeys = 10_000,
    private readonly schedule: Schedule = realSchedule,
  ) {
    this.windows = new LRUCache<string, Window<never>>({
      max: maxKeys,
      dispose: (w, _key, reason) => {
        w.timer.cancel();
        // Pushed out by newer keys (not closed by its own timer): report what it counted.
        if (reason === 'evict' && w.unreported > 0) w.report(w.data, w.unreported);
      },
    });
  }

  /** Counts one occurrence under `key`; `report` runs now, or later with the count, per the window rule. */
  record<T>(key: string, data: T, report: Report<T>): void {
    const w = this.windows.get(key) as Window<T> | undefined;
    if (w) {
      w.unreported += 1;
      w.data = data;
      return;
    }
    this.open(key, data, report, 1);
  }

  /** Report every open window's unreported count and close them all (shutting down). */
  flushAll(): void {
    const open = [...this.windows.entries()];
    this.windows.clear();
    for (const [, w] of open) if (w.unreported > 0) (w as unknown as Window<unknown>).report(w.data, w.unreported);
  }

  get size(): number {
    return this.windows.size;
  }

  private open<T>(key: string, data: T, report: Report<T>, count: number): void {
    report(data, count);
    const timer = this.schedule(() => this.windowEnd(key), this.windowMs);
    this.windows.set(key, { data, unreported: 0, report, timer } as unknown as Window<never>);
  }

  private windowEnd(key: string): void {
    const w = this.windows.get(key) as unknown as Window<unknown> | undefined;
    if (!w) return;
    this.windows.delete(key); // reason 'delete': the dispose above does not report
    if (w.unreported > 0) this.open(key, w.data, w.report, w.unreported);
  }
}
