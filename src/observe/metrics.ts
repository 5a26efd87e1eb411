/**
 * What the bridge measures about itself, exposed in the Prometheus text format by prom-client.
 *
 * The API stays small: `inc(name, label?, by?)` for counters, `observe(name, seconds, label?)` for histograms,
 * `gauge(name, collect)` for values read when scraped, `get(name, label?)` and `read(name)` (tests) and `text()` (the /metrics body).
 * Counting is a plain number addition on the hot path (a reading costs no label hashing): the counters hand their
 * values to prom-client when scraped, through its `collect` hook. Every metric is declared in METRIC_CATALOGUE with its
 * help text and its label; docs/OPERATIONS.md lists them.
 *
 * Cardinality is bounded: a metric's label (an error code, an outcome, a mapping) never names a device, and each
 * metric keeps at most MAX_LABEL_VALUES distinct values — later ones are counted under `other`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Mapping } from '../mapping/mapping.js';

/** Every exposed name starts with this. */
export const METRIC_PREFIX = 'mqtt_xmpp_bridge_';
/** Distinct label values per metric; beyond it, `other`. */
export const MAX_LABEL_VALUES = 100;
export const OTHER_LABEL = 'other';

export type MetricKind = 'counter' | 'gauge' | 'histogram';

export interface MetricSpec {
  readonly kind: MetricKind;
  readonly help: string;
  /** The one label, if the metric has one. */
  readonly label?: string;
  /** Histograms: bucket upper bounds, in seconds. */
  readonly buckets?: readonly number[];
}

/** Latencies from a millisecond to a minute (an outage delays readings by as long as it lasts). */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export const METRIC_CATALOGUE = {
  // Uplink
  readings_total: { kind: 'counter', label: 'mapping', help: 'Validated readings (retained replays excluded), by mapping (imported devices: by source).' },
  readings_replayed_total: { kind: 'counter', help: 'Retained messages replayed to the bridge on subscription (state, not new readings).' },
  readings_without_recipients_total: { kind: 'counter', help: 'Readings nobody was to be told of now (no follower, or every follower offline: they get the current value when back).' },
  readings_held_total: { kind: 'counter', label: 'reason', help: 'Readings the change policy held back, by reason (deadband, min_interval); the newest is still the current value.' },
  readings_coalesced_total: { kind: 'counter', help: 'Held readings sent when their minInterval ended (the newest of those that came meanwhile).' },
  readings_latest_sent_total: { kind: 'counter', help: 'Current values sent once to a follower who came back or subscribed (offline: latest).' },
  readings_delivered_total: { kind: 'counter', help: 'Readings written to the XMPP stream (replays after an outage included).' },
  readings_confirmed_total: { kind: 'counter', help: 'Outbox readings whose receipt the XMPP server confirmed (delivery barrier answered).' },
  readings_dropped_total: { kind: 'counter', label: 'code', help: 'Readings accepted but never delivered, by reason (EXPIRED, QOS0_OVERFLOW, …).' },
  stanzas_sent_total: { kind: 'counter', help: 'Reading stanzas written (one per recipient).' },
  uplink_rejected_total: { kind: 'counter', label: 'code', help: 'Device publishes refused by the uplink, by error code (PAYLOAD_INVALID, …).' },
  uplink_backpressure_total: { kind: 'counter', help: 'QoS 1/2 publishes held unacknowledged because the outbox was full.' },
  xmpp_congestion_total: { kind: 'counter', help: 'Times the XMPP stream was too full to write to (writing paused until it drained).' },
  barrier_timeouts_total: { kind: 'counter', help: 'Delivery barriers the XMPP server did not answer in time (the link was restarted).' },
  uplink_latency_seconds: { kind: 'histogram', buckets: LATENCY_BUCKETS, help: 'From a device publish received to its reading stanza written to the XMPP stream.' },
  // Downlink
  commands_total: { kind: 'counter', label: 'outcome', help: 'Commands, by outcome (OK or the error code).' },
  command_round_trip_seconds: { kind: 'histogram', label: 'outcome', buckets: LATENCY_BUCKETS, help: 'From a command received to its outcome (published, confirmed by the device, or refused).' },
  // PubSub (XEP-0060)
  pubsub_notifications_total: { kind: 'counter', help: 'PubSub event notifications sent to subscribers of device nodes.' },
  // Presence
  subscriptions_refused_total: { kind: 'counter', help: 'Presence subscription requests refused (device unknown or not visible to the user).' },
  // Broker and link
  broker_events_total: { kind: 'counter', label: 'event', help: 'MQTT broker events (login_failed, publish_denied, rate_limited, …).' },
  xmpp_connects_total: { kind: 'counter', help: 'Times the XMPP component stream came up.' },
  xmpp_reconnects_total: { kind: 'counter', help: 'Times the XMPP component stream came up again after it was lost.' },
  foreign_instances_total: { kind: 'counter', help: 'Times another bridge was noticed on the same component domain.' },
  http_logins_failed_total: { kind: 'counter', help: 'Status page logins refused (wrong token).' },
  // Import (features/import)
  imports_refused_total: { kind: 'counter', label: 'code', help: 'Discovery messages or devices not imported, by code (IMPORT_TOPIC_FORBIDDEN, …).' },
  imported_devices: { kind: 'gauge', label: 'status', help: 'Devices of the enabled import sources, by status (pending, approved, blocked).' },
  // Read when scraped
  devices_known: { kind: 'gauge', help: 'Devices the bridge knows (mapped and seen).' },
  devices_online: { kind: 'gauge', help: 'Devices online.' },
  mappings: { kind: 'gauge', label: 'origin', help: 'Mappings in force, by origin (file, import, api).' },
  outbox_depth: { kind: 'gauge', help: 'QoS 1/2 readings in the outbox, not yet confirmed by the XMPP server.' },
  outbox_oldest_age_seconds: { kind: 'gauge', help: 'Age of the oldest reading in the outbox (0 when empty).' },
  held_publishes: { kind: 'gauge', help: 'QoS 1/2 publishes waiting unacknowledged for room in the outbox.' },
  qos0_buffered: { kind: 'gauge', help: 'QoS 0 readings held in memory while XMPP is away.' },
  readings_waiting: { kind: 'gauge', help: "Devices whose newest reading is held by the change policy until their minInterval ends (then sent)." },
  mqtt_clients_connected: { kind: 'gauge', label: 'broker', help: 'MQTT clients connected, by broker (embedded, external).' },
  subscriptions: { kind: 'gauge', help: 'Presence subscriptions of users to devices.' },
  subscribers_online: { kind: 'gauge', help: 'Subscriptions whose user the bridge sees online (users who share their presence with a device).' },
  xmpp_link_up: { kind: 'gauge', help: '1 while the XMPP component stream is up.' },
} as const satisfies Record<string, MetricSpec>;

export type MetricName = keyof typeof METRIC_CATALOGUE;

/** The label of an uplink metric for a mapping: its id, or its source for imported ones (one per device otherwise). */
export function mappingLabel(m: Pick<Mapping, 'id' | 'origin'>): string {
  return m.origin.kind === 'import' ? `import:${m.origin.source}` : m.id;
}

interface CounterCells {
  readonly spec: MetricSpec;
  /** label value ('' without a label) → count. */
  readonly cells: Map<string, number>;
}

type GaugeRead = () => number | ReadonlyMap<string, number>;

/** Every reader of one gauge, added up: plain numbers into `total`, labelled values per label. */
function readGauge(readers: readonly GaugeRead[]): { total: number; byLabel: Map<string, number> } {
  let total = 0;
  const byLabel = new Map<string, number>();
  for (const read of readers) {
    const v = read();
    if (typeof v === 'number') total += v;
    else for (const [l, n] of v) byLabel.set(l, (byLabel.get(l) ?? 0) + n);
  }
  return { total, byLabel };
}

export class Metrics {
  readonly registry = new Registry();
  private readonly counters = new Map<string, CounterCells>();
  private readonly histograms = new Map<string, Histogram>();
  private readonly gauges = new Map<string, GaugeRead[]>();

  constructor() {
    for (const [name, spec] of Object.entries(METRIC_CATALOGUE) as [string, MetricSpec][]) this.declare(name, spec);
  }

  /** Count. A name not in the catalogue is declared on first use (help text: its name). */
  inc(name: string, label?: string, by = 1): void {
    let c = this.counters.get(name);
    c ??= this.counter(name, { kind: 'counter', help: name.replace(/_/g, ' '), ...(label !== undefined ? { label: 'code' } : {}) });
    const key = label === undefined ? '' : this.bounded(c.cells, label);
    c.cells.set(key, (c.cells.get(key) ?? 0) + by);
  }

  /** A counter's value; without a label, the sum over all labels. */
  get(name: string, label?: string): number {
    const c = this.counters.get(name);
    if (!c) return 0;
    if (label !== undefined) return c.cells.get(label) ?? 0;
    let sum = 0;
    for (const v of c.cells.values()) sum += v;
    return sum;
  }

  /** A gauge's value as a scrape would read it; for a labelled gauge, the sum over its labels. */
  read(name: MetricName): number {
    const { total, byLabel } = readGauge(this.gauges.get(name) ?? []);
    let sum = total;
    for (const n of byLabel.values()) sum += n;
    return sum;
  }

  /** Record a duration (histograms). */
  observe(name: MetricName, seconds: number, label?: string): void {
    const h = this.histograms.get(name);
    if (!h || !(seconds >= 0)) return;
    if (label === undefined) h.observe(seconds);
    else h.observe({ [(METRIC_CATALOGUE[name] as MetricSpec).label ?? 'code']: label }, seconds);
  }

  /**
   * A value read when scraped: a number, or a value per label. Several readers of one gauge add up (each broker
   * reports its own clients). Returns the function that removes the reader.
   */
  gauge(name: MetricName, read: GaugeRead): () => void {
    const list = this.gauges.get(name);
    if (!list) throw new Error(`${name} is not a gauge`);
    list.push(read);
    return () => {
      const i = list.indexOf(read);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /** Every counter by name (`name{label}` for labelled ones), sorted: for benchmarks and logs. */
  snapshot(): Record<string, number> {
    const out: [string, number][] = [];
    for (const [name, c] of this.counters) for (const [label, v] of c.cells) out.push([label === '' ? name : `${name}{${c.spec.label ?? 'code'}="${label}"}`, v]);
    return Object.fromEntries(out.sort(([a], [b]) => a.localeCompare(b)));
  }

  /** The Prometheus text exposition: the bridge's metrics and the Node process's. */
  async text(): Promise<{ contentType: string; body: string }> {
    const merged = Registry.merge([this.registry, processRegistry()]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }

  /** Each metric keeps at most MAX_LABEL_VALUES label values: a stream of new codes cannot grow it without bound. */
  private bounded(cells: Map<string, number>, label: string): string {
    return cells.has(label) || cells.size < MAX_LABEL_VALUES ? label : OTHER_LABEL;
  }

  private counter(name: string, spec: MetricSpec): CounterCells {
    const c: CounterCells = { spec, cells: new Map() };
    this.counters.set(name, c);
    new Counter({
      ...this.common(name, spec),
      collect(this: Counter) {
        // Counted as plain numbers; handed over when scraped (monotonic: cells only grow).
        this.reset();
        for (const [label, v] of c.cells) {
          if (spec.label) this.inc({ [spec.label]: label }, v);
          else this.inc(v);
        }
      },
    });
    return c;
  }

  private common(name: string, spec: MetricSpec): { name: string; help: string; labelNames: string[]; registers: Registry[] } {
    return { name: METRIC_PREFIX + name, help: spec.help, labelNames: spec.label ? [spec.label] : [], registers: [this.registry] };
  }

  private declare(name: string, spec: MetricSpec): void {
    const common = this.common(name, spec);
    switch (spec.kind) {
      case 'counter':
        this.counter(name, spec);
        return;
      case 'histogram':
        this.histograms.set(name, new Histogram({ ...common, buckets: [...(spec.buckets ?? LATENCY_BUCKETS)] }));
        return;
      case 'gauge': {
        const readers: GaugeRead[] = [];
        this.gauges.set(name, readers);
        new Gauge({
          ...common,
          collect(this: Gauge) {
            this.reset();
            const { total, byLabel } = readGauge(readers);
            if (!spec.label) this.set(total);
            else for (const [l, n] of byLabel) this.set({ [spec.label]: l }, n);
          },
        });
        return;
      }
    }
  }
}

let processMetrics: Registry | undefined;

/** Node process metrics (CPU, memory, event loop lag, GC, handles), collected once per process. */
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}
