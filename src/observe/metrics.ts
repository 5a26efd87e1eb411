/**
 * Counters the bridge keeps about itself. Names follow Prometheus conventions (`_total` for counters); a label value
 * (an error code, say) is part of the key, so `uplink_rejected_total{code="PAYLOAD_INVALID"}` is one counter.
 */

export class Metrics {
  private readonly counters = new Map<string, number>();

  inc(name: string, label?: string, by = 1): void {
    const key = label === undefined ? name : `${name}{code="${label}"}`;
    this.counters.set(key, (this.counters.get(key) ?? 0) + by);
  }

  get(name: string, label?: string): number {
    return this.counters.get(label === undefined ? name : `${name}{code="${label}"}`) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counters].sort(([a], [b]) => a.localeCompare(b)));
  }
}
