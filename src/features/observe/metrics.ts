/**
 * Counting what happens, from the events: rejections by code, commands by outcome, broker events (every occurrence,
 * also those a throttled report stands for), subscriptions refused, XMPP (re)connects, other instances noticed. Hot-path counters (readings, stanzas) are counted where they
 * happen, without an event.
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
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly k: Kernel) {}

  start(): void {
    const m = this.k.metrics;
    this.unsubscribe = this.k.bus.onAny((name: EventName, data) => {
      // The broker reports a storm as few events, each with the `count` of occurrences it stands for: count those.
      if (EVENT_CATALOGUE[name].broker) return m.inc('broker_events_total', name, occurrences(data));
      switch (name) {
        case 'reading_rejected':
          return m.inc('uplink_rejected_total', (data as { code: string }).code);
        case 'command_delivered':
        case 'command_failed':
          return m.inc('commands_total', (data as { code: string }).code);
        case 'subscription_refused':
          return m.inc('subscriptions_refused_total');
        case 'another_instance':
          return m.inc('foreign_instances_total');
        case 'xmpp_online':
          return m.inc('xmpp_connects_total');
        default:
          return;
      }
    });
  }

  stop(): void {
    this.unsubscribe?.();
  }
}
