/**
 * The kernel: what every feature may use, and nothing a feature does.
 *
 *   config     the validated configuration
 *   bus        typed events (events.ts): how features hear of each other
 *   mappings   the live mapping set (mapping-set.ts) and everything derived from it
 *   registry   the known devices (devices/registry.ts), following the mapping set
 *   access     who may view / operate a device (access-policy.ts), for every path
 *   stores     durable state behind interfaces (stores.ts)
 *   mqtt       the MQTT edge (mqtt-edge.ts) over the embedded and/or external broker
 *   xmpp       the XMPP edge (xmpp-link.ts) and `router`, the one stanza router
 *   disco      what features add to service discovery (disco-registry.ts)
 *   metrics    counters, gauges and histograms (Prometheus, observe/metrics.ts)
 *   operations what an operator can ask (operations.ts), provided by features, reached by the request API and HTTP
 *   users      which users the bridge sees online, and whose presence it sees at all (user-presence.ts)
 *
 * Built by the composition root (app.ts), which also picks the edges: the real ones, or in-memory ones in tests.
 */
import type { BridgeConfig } from '../config/schema.js';
import type { DeviceRegistry } from '../devices/registry.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../observe/metrics.js';
import type { AccessPolicy } from './access-policy.js';
import type { DiscoRegistry } from './disco-registry.js';
import type { EventBus } from './events.js';
import type { MappingSet } from './mapping-set.js';
import type { MqttEdge } from './mqtt-edge.js';
import type { Operations } from './operations.js';
import type { StanzaRouter } from './stanza-router.js';
import type {
  CommandQueueStore,
  DeviceStore,
  ImportStore,
  LatestReadingStore,
  OutboxStore,
  PresenceRequestStore,
  PubsubSubscriptionStore,
  SubscriptionStore,
} from './stores.js';
import type { UserPresence } from './user-presence.js';
import type { XmppLink } from './xmpp-link.js';

export interface Stores {
  readonly devices: DeviceStore;
  readonly subscriptions: SubscriptionStore;
  readonly outbox: OutboxStore;
  readonly commandQueue: CommandQueueStore;
  readonly presenceRequests: PresenceRequestStore;
  readonly pubsub: PubsubSubscriptionStore;
  readonly latest: LatestReadingStore;
  /** Devices that described themselves, and the operator's decisions (features/import). */
  readonly imports: ImportStore;
  /** A random id of this bridge's state, created once: it makes stanza ids unique across bridges and stable across restarts. */
  readonly instanceId: string;
  /** Whether the durable state takes a write now (readiness). */
  writable(): boolean;
}

export interface Kernel {
  readonly config: BridgeConfig;
  readonly log: Logger;
  readonly bus: EventBus;
  readonly metrics: Metrics;
  readonly mappings: MappingSet;
  readonly registry: DeviceRegistry;
  readonly access: AccessPolicy;
  readonly stores: Stores;
  readonly mqtt: MqttEdge;
  readonly xmpp: XmppLink;
  readonly router: StanzaRouter;
  readonly disco: DiscoRegistry;
  readonly operations: Operations;
  readonly users: UserPresence;
}
