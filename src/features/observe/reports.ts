/**
 * Reports: what the operator should know, as it happens — each reported event of the catalogue (kernel/events.ts)
 * becomes one log line and one message on `<base>/bridge/event` (`{"type", "data"}`, not retained).
 *
 * Events a device or user can cause at will (bad payloads, refused commands…) are throttled per key: one report per
 * key and window carrying `count`, the occurrences since the previous report (observe/report-throttle.ts). Counters
 * are never throttled (metrics.ts counts every occurrence).
 */
import { EVENT_CATALOGUE, type Data, type EventName, type EventPayloads, type EventSpec } from '../../kernel/events.js';
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import { ReportThrottle } from '../../observe/report-throttle.js';

const WINDOW_MS = 10_000;

export class ReportsFeature implements Feature {
  readonly name = 'reports';
  private readonly throttle = new ReportThrottle(WINDOW_MS);
  private readonly topic: string;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly k: Kernel) {
    this.topic = `${k.config.baseTopic}/bridge/event`;
  }

  start(): void {
    const { bus } = this.k;
    this.unsubscribe.push(
      bus.onAny((name, data) => this.event(name, data)),
      // Counted but not yet reported occurrences go out while the brokers can still carry them.
      bus.on('bridge_stopping', () => this.throttle.flushAll()),
    );
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    this.throttle.flushAll();
  }

  private event<K extends EventName>(name: K, data: EventPayloads[K]): void {
    const spec = EVENT_CATALOGUE[name] as EventSpec<EventPayloads[K]>;
    if (!spec.report) return;
    const report = spec.report;
    if (spec.throttleKey) {
      this.throttle.record(`${name}\u0000${spec.throttleKey(data)}`, data, (d, count) => this.send(name, spec, { ...report(d), count }));
    } else {
      this.send(name, spec, report(data));
    }
  }

  private send(name: EventName, spec: EventSpec<never>, data: Data): void {
    // The line's object is built only when its level is logged: commands report at `info`, thousands per second.
    if (spec.level && this.k.log.isLevelEnabled(spec.level)) this.k.log[spec.level]({ event: name, ...data }, spec.message);
    void this.k.mqtt.publishEverywhere(this.topic, JSON.stringify({ type: name, data }), { qos: 0, retain: false });
  }
}
