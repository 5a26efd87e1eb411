/**
 * Per-key throttling for reports about misbehaving devices: a device sending 1,000 bad payloads a second must not
 * turn the log and the event topic into a flood. The first report per key and window goes out; the rest are counted
 * and the count rides on the next report. Counters (metrics) are never throttled.
 */

export class Throttle {
  private readonly windows = new Map<string, { until: number; suppressed: number }>();

  constructor(
    private readonly windowMs: number,
    private readonly maxKeys = 10_000,
  ) {}

  /** Returns the number of reports suppressed since the last one if this one may go out, or undefined. */
  admit(key: string, now = Date.now()): number | undefined {
    const w = this.windows.get(key);
    if (w && now < w.until) {
      w.suppressed += 1;
      return undefined;
    }
    if (this.windows.size >= this.maxKeys) this.windows.clear();
    const suppressed = w?.suppressed ?? 0;
    this.windows.set(key, { until: now + this.windowMs, suppressed: 0 });
    return suppressed;
  }
}
