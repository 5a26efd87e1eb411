/**
 * The broker's reports of things that can happen thousands of times a second (a client over its publish rate, a
 * connection storm beyond the limit, malformed packets): one event per key and window, every occurrence counted —
 * the report throttle of observe/report-throttle.ts, with the broker's own key (client id, source address…).
 *
 * Each event carries `count` (occurrences since the previous event of its key) and `total` (occurrences of its type
 * since the broker started), so the sum of `count` over a key's events is exact once its last window has closed.
 */
import { ReportThrottle } from '../observe/report-throttle.js';

export type EmitEvent = (type: string, data: Record<string, unknown>) => void;

export class EventReporter {
  private readonly throttle: ReportThrottle;
  private readonly totals = new Map<string, number>();

  constructor(
    private readonly emit: EmitEvent,
    windowMs = 10_000,
    /** Distinct keys with an open window (least recently used first out, reporting what it counted). */
    maxKeys = 10_000,
  ) {
    this.throttle = new ReportThrottle(windowMs, maxKeys);
  }

  /** Counts one occurrence and reports it unless `key` was reported less than a window ago. */
  record(type: string, key: string, data: Record<string, unknown>): void {
    this.totals.set(type, this.total(type) + 1);
    this.throttle.record(`${type}\u0000${key}`, data, (d, count) => this.emit(type, { ...d, count, total: this.total(type) }));
  }

  /** Exact number of occurrences of `type` so far. */
  total(type: string): number {
    return this.totals.get(type) ?? 0;
  }

  /** Reports what every open window has counted but not reported yet, and closes them (broker stopping). */
  flushAll(): void {
    this.throttle.flushAll();
  }
}
