/**
 * What the bridge needs from MQTT, whether the broker is embedded (aedes) or an existing one reached as a client.
 * Both implementations deliver device publishes *before* acknowledging them, so the bridge decides when a QoS 1/2
 * publish may be acknowledged.
 */

export type QoS = 0 | 1 | 2;

export interface InboundPublish {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  /** The publishing client's id, when known (embedded broker). */
  readonly clientId: string | undefined;
  /**
   * A retained message replayed because the bridge subscribed ([MQTT-3.3.1-8]), or, on the embedded broker, because a
   * mapping that reads its topic was added: old state, not news.
   */
  readonly replay: boolean;
}

/**
 * Who published a message, as the broker knows it (the embedded broker: the identity the client authenticated as),
 * and what that identity may do there — the rights a self-description (discovery message) is checked against.
 */
export interface Publisher {
  /** `anonymous`, `device:NAME` or `service:NAME`. */
  readonly identity: string;
  readonly clientId: string;
  mayPublish(topic: string): boolean;
  maySubscribe(filter: string): boolean;
}

export interface MqttSideHandlers {
  /**
   * A device publish that the broker has not acknowledged yet. Call `done()` once it may be acknowledged; call
   * `done(error)` to refuse it (the embedded broker then closes the client's connection, as MQTT 3.1.1 has no other
   * way to refuse a PUBLISH).
   */
  onPublish(msg: InboundPublish, done: (err?: Error) => void): void;
  /**
   * A message on a watched filter, including Will messages the broker publishes for lost clients. `filter` is the
   * subscription it came through when the broker says (embedded), undefined otherwise (the edge matches it).
   * `publisher`: who sent it, when the broker knows (embedded: a client's publish or Will; not the bridge's own
   * publishes, nor a retained message replayed on subscription). `scope` says which watches it is for when a broker
   * of a cluster tells them apart (`once`: this instance is the one of the cluster to see it; `all`: every instance
   * sees it); undefined: both.
   */
  onWatched(filter: string | undefined, topic: string, payload: Buffer, publisher?: Publisher, scope?: WatchScope): void;
  onClientConnected(clientId: string): void;
  onClientDisconnected(clientId: string): void;
  /** Something the operator should know about (oversized packet, refused connection…), as a bridge event. */
  onBrokerEvent(type: string, data: Record<string, unknown>): void;
  /** A client subscribed to something (commands held for a device may now reach it). */
  onSubscribed?(clientId: string): void;
}

export interface PublishOptions {
  readonly qos: QoS;
  readonly retain: boolean;
}

export interface Addresses {
  readonly mqtt?: string;
  readonly mqtts?: string;
  readonly websocket?: string;
  readonly wss?: string;
  readonly external?: string;
}

/**
 * What a subscription is for. `readings`: device publishes to take before their acknowledgement (the embedded broker
 * sees every publish anyway and needs no subscription; a broker reached as a client must be subscribed). `watched`:
 * every message must be seen, Wills and retained ones included — confirmations, discovery. `watched-once`: the same
 * for a single instance, but in a cluster each message is for one instance only — the one it entered through
 * (embedded brokers), or the one the broker's shared subscription hands it to (availability: acted on once).
 */
export type SubscriptionKind = 'readings' | 'watched' | 'watched-once';

/** Which watches a message is for (see MqttSideHandlers.onWatched). */
export type WatchScope = 'all' | 'once';

export interface MqttSide {
  /** `embedded` or `external`: which broker a device was last heard on, so commands go back the same way. */
  readonly name: 'embedded' | 'external';
  /**
   * Whether the broker knows who publishes (the embedded one: every client authenticated with it). A broker reached
   * as a client does not say: its own ACL decided who could publish what.
   */
  readonly knowsPublishers: boolean;
  start(handlers: MqttSideHandlers): Promise<void>;
  /**
   * Start receiving a filter (idempotent per filter and kind; the edge counts its users). Retained messages the
   * filter matches come first, as a subscription gets them: `watched` ones to `onWatched`, `readings` ones to
   * `onPublish` as replays.
   */
  subscribe(filter: string, kind: SubscriptionKind): Promise<void>;
  unsubscribe(filter: string, kind: SubscriptionKind): Promise<void>;
  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void>;
  /**
   * Whether a publish on `topic` would reach the device `identity` (its id: the JID local part, which is also its
   * credential name): a session that speaks for that device holds a granted subscription matching the topic. Only a
   * broker we run can tell (undefined otherwise, and the broker's own session handling is trusted).
   */
  isSubscribed?(identity: string, topic: string): boolean | undefined;
  /** Addresses clients can connect to, for logs and the demo: the embedded listeners, or the broker attached to. */
  addresses(): Addresses;
  /**
   * Cluster mode: take over what a lost instance's broker session still holds (readings queued or in flight for it),
   * as readings of this instance, and end its share; resolves with how many were taken. Only a broker reached as a
   * client has such sessions (the embedded brokers' clients reconnect to another instance). `stillGone` is asked
   * before the session is ended: an instance that came back meanwhile keeps it.
   */
  takeOver?(instance: string, stillGone: () => Promise<boolean>): Promise<number>;
  stop(): Promise<void>;
}

/** A packet payload as bytes: aedes and mqtt.js hand out a string when a publisher used one. */
export function payloadBytes(payload: string | Buffer): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload;
}
