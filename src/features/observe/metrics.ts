/**
 * Measuring what happens, from the events: rejections by code, commands by outcome and round trip, broker events,
 * subscriptions refused, XMPP (re)connects, other instances noticed; and the gauges read when /metrics is scraped
 * (devices, mappings, outbox, MQTT clients, subscriptions, the link). Broker events count every occurrence, also
 * those a throttled report stands for. Hot-path counters (readings, stanzas) are
 * counted where they happen, without an event.
 */
import { EVENT_CATALOGUE, type EventName } from '../../kernel/events.js';
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';

function occurrences(data: unknown): number {
  const count = (data as { count?: unknown }).count;
  return typeof count === 'number' && Number.isInteger(count) && count > 0 ? count : 1;
}

export class MetricsFeature implements Feature {
  readonly name = 'metrics';
  private readonly release: (() => void)[] = [];
  /** Connected MQTT clients per broker: client id → connections (a takeover connects the new before the old leaves). */
  private readonly clients = new Map<string, Map<string, number>>();
  private connects = 0;

  constructor(private readonly k: Kernel) {}

  start(): void {
    const { metrics: m, bus } = this.k;
    this.release.push(
      bus.onAny((name: EventName, data) => {
        // The broker reports a storm as few events, each with the `count` of occurrences it stands for: count those.
        if (EVENT_CATALOGUE[name].broker) return m.inc('broker_events_total', name, occurrences(data));
        switch (name) {
          case 'reading_rejected':
            return m.inc('uplink_rejected_total', (data as { code: string }).code);
          case 'command_delivered':
          case 'command_failed': {
            const { code, elapsedMs } = data as { code: string; elapsedMs?: number };
            m.inc('commands_total', code);
            if (elapsedMs !== undefined) m.observe('command_round_trip_seconds', elapsedMs / 1000, code);
            return;
          }
          case 'subscription_refused':
            return m.inc('subscriptions_refused_total');
          case 'another_instance':
            return m.inc('foreign_instances_total');
          case 'xmpp_online':
            m.inc('xmpp_connects_total');
            if (++this.connects > 1) m.inc('xmpp_reconnects_total');
            return;
          case 'client_connected':
            return this.client(data as { clientId: string; side: string }, 1);
          case 'client_disconnected':
            return this.client(data as { clientId: string; side: string }, -1);
          default:
            return;
        }
      }),
      ...this.gauges(),
    );
  }

  stop(): void {
    for (const r of this.release.splice(0)) r();
  }

  private client({ clientId, side }: { clientId: string; side: string }, delta: 1 | -1): void {
    let ids = this.clients.get(side);
    if (!ids) this.clients.set(side, (ids = new Map<string, number>()));
    const n = (ids.get(clientId) ?? 0) + delta;
    if (n > 0) ids.set(clientId, n);
    else ids.delete(clientId);
  }

  /** Values read when scraped: nothing is kept up to date on the hot path for them. */
  private gauges(): (() => void)[] {
    const { metrics: m, registry, mappings, stores, xmpp, users } = this.k;
    return [
      m.gauge('devices_known', () => registry.size),
      m.gauge('devices_online', () => {
        let n = 0;
        for (const d of registry.all()) if (d.online) n += 1;
        return n;
      }),
      m.gauge('mappings', () => {
        const byOrigin = new Map<string, number>();
        for (const mapping of mappings.all()) byOrigin.set(mapping.origin.kind, (byOrigin.get(mapping.origin.kind) ?? 0) + 1);
        return byOrigin;
      }),
      m.gauge('outbox_depth', () => stores.outbox.size),
      m.gauge('outbox_oldest_age_seconds', () => {
        const oldest = stores.outbox.page(0, 1)[0];
        return oldest ? Math.max(0, (Date.now() - oldest.receivedAt) / 1000) : 0;
      }),
      m.gauge('mqtt_clients_connected', () => new Map([...this.clients].map(([side, ids]) => [side, ids.size]))),
      m.gauge('subscriptions', () => {
        let n = 0;
        for (const d of registry.all()) n += stores.subscriptions.of(d.jid).size;
        return n;
      }),
      m.gauge('subscribers_online', () => {
        let n = 0;
        for (const d of registry.all()) n += users.countOnline(stores.subscriptions.of(d.jid));
        return n;
      }),
      m.gauge('xmpp_link_up', () => (xmpp.online ? 1 : 0)),
    ];
  }
}
