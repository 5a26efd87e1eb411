/**
 * The MQTT edge as the rest of the bridge sees it, over one or two brokers (the embedded one, an existing one reached
 * as a client, or both).
 *
 * - Device publishes go to one handler (the uplink) before they are acknowledged.
 * - Features `watch` topic filters (availability topics, confirmation topics, discovery…); the edge counts the users
 *   of each filter and subscribes or unsubscribes the brokers as filters come and go, so the set follows the live
 *   mappings. Literal filters are found by one map lookup, so thousands of imported devices cost nothing per message.
 *   A watched message carries its publisher when the broker knows it (the embedded broker), so a feature can check a
 *   message against the rights of whoever sent it (discovery messages: features/import).
 * - Reading filters (what a broker reached as a client must be subscribed to) are set as a whole and diffed.
 * - Client and broker events become bus events.
 */
import type { Logger } from '../log.js';
import { filterMatches } from '../mapping/topic-pattern.js';
import type { Addresses, InboundPublish, MqttSide, MqttSideHandlers, Publisher, PublishOptions, SubscriptionKind, WatchScope } from '../broker/mqtt-side.js';
import { isBrokerEvent, type EventBus } from './events.js';

/** A message on a watched filter; `publisher` when the broker knows who sent it (mqtt-side.ts). */
export type WatchListener = (topic: string, payload: Buffer, side: MqttSide, publisher: Publisher | undefined) => void;
export type PublishHandler = (side: MqttSide, msg: InboundPublish, done: (err?: Error) => void) => void;

interface WatchTable {
  readonly literal: Map<string, Set<WatchListener>>;
  readonly wildcard: Map<string, Set<WatchListener>>;
}

export interface WatchOptions {
  /**
   * In a cluster, one instance is to see each message (availability: acted on once): the one a device's message
   * entered through, or the one the broker's shared subscription hands it to. Alone, the same as any watch.
   */
  readonly once?: boolean;
}

export class MqttEdge {
  private readonly tables: Readonly<Record<WatchScope, WatchTable>> = {
    all: { literal: new Map(), wildcard: new Map() },
    once: { literal: new Map(), wildcard: new Map() },
  };
  private readings = new Set<string>();
  private publishHandler: PublishHandler = (_side, _msg, done) => done();
  private started = false;

  constructor(
    readonly sides: readonly MqttSide[],
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {}

  /** Whether the brokers are started (listening, or attached). */
  get listening(): boolean {
    return this.started;
  }

  /** The one handler of device publishes (the uplink). */
  onPublish(handler: PublishHandler): void {
    this.publishHandler = handler;
  }

  async start(): Promise<void> {
    for (const side of this.sides) await side.start(this.handlersFor(side));
    this.started = true;
    const subscriptions: Promise<void>[] = [];
    for (const side of this.sides) {
      for (const f of this.readings) subscriptions.push(this.subscribe(side, f, 'readings'));
      for (const scope of SCOPES) {
        const { literal, wildcard } = this.tables[scope];
        for (const f of [...literal.keys(), ...wildcard.keys()]) subscriptions.push(this.subscribe(side, f, kindOf(scope)));
      }
    }
    await Promise.all(subscriptions);
  }

  async stop(): Promise<void> {
    this.started = false;
    for (const side of this.sides) await side.stop();
  }

  /** Every message on `filter`, Wills and retained ones included, until the returned function is called. */
  watch(filter: string, listener: WatchListener, opts: WatchOptions = {}): () => void {
    const scope: WatchScope = opts.once ? 'once' : 'all';
    const kind = kindOf(scope);
    const table = /[+#]/.test(filter) ? this.tables[scope].wildcard : this.tables[scope].literal;
    let set = table.get(filter);
    if (!set) {
      table.set(filter, (set = new Set()));
      if (this.started) for (const side of this.sides) void this.subscribe(side, filter, kind);
    }
    set.add(listener);
    return () => {
      const s = table.get(filter);
      if (!s?.delete(listener) || s.size > 0) return;
      table.delete(filter);
      if (this.started) for (const side of this.sides) void this.unsubscribe(side, filter, kind);
    };
  }

  /** The reading filters in force (the mapping set's); brokers are subscribed and unsubscribed to match. */
  setReadingFilters(filters: Iterable<string>): Promise<void> {
    const next = new Set(filters);
    const changes: Promise<void>[] = [];
    if (this.started) {
      for (const side of this.sides) {
        for (const f of next) if (!this.readings.has(f)) changes.push(this.subscribe(side, f, 'readings'));
        for (const f of this.readings) if (!next.has(f)) changes.push(this.unsubscribe(side, f, 'readings'));
      }
    }
    this.readings = next;
    return Promise.all(changes).then(() => undefined);
  }

  /** Publish through one broker (`via`: the one a device was heard on), or the first. */
  publish(topic: string, payload: string | Buffer, opts: PublishOptions, via?: string): Promise<void> {
    const side = this.side(via);
    if (!side) return Promise.reject(new Error('no MQTT broker'));
    return side.publish(topic, payload, opts);
  }

  /** Publish on every broker the bridge serves (its own topics: whoever watches either sees the bridge). */
  publishEverywhere(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
    const publishOn = (side: MqttSide): Promise<void> =>
      side.publish(topic, payload, opts).catch((err: unknown) => {
        this.log.debug({ err: (err as Error).message, topic, broker: side.name }, 'not published');
      });
    // One broker (the usual case): its own promise, without a Promise.all per event report.
    if (this.sides.length === 1) return publishOn(this.sides[0]!);
    return Promise.all(this.sides.map(publishOn)).then(() => undefined);
  }

  /**
   * Whether a publish on `topic` would reach the session of `identity` (a device's credential name); undefined when
   * the broker cannot tell (a broker reached as a client keeps its own sessions).
   */
  isSubscribed(identity: string, topic: string, via?: string): boolean | undefined {
    return this.side(via)?.isSubscribed?.(identity, topic);
  }

  addresses(): Addresses {
    return Object.assign({}, ...this.sides.map((s) => s.addresses())) as Addresses;
  }

  private side(via: string | undefined): MqttSide | undefined {
    return this.sides.find((s) => s.name === via) ?? this.sides[0];
  }

  private subscribe(side: MqttSide, filter: string, kind: SubscriptionKind): Promise<void> {
    return side.subscribe(filter, kind).catch((err: unknown) => {
      // A filter deeper than the broker's topic-level limit cannot be watched: say so rather than miss it silently.
      this.log.warn({ filter, kind, broker: side.name, err: (err as Error).message }, 'subscription refused by the broker');
    });
  }

  private unsubscribe(side: MqttSide, filter: string, kind: SubscriptionKind): Promise<void> {
    return side.unsubscribe(filter, kind).catch((err: unknown) => {
      this.log.debug({ filter, kind, broker: side.name, err: (err as Error).message }, 'unsubscribe failed');
    });
  }

  /** Cluster mode: what a lost instance's broker session still holds becomes this instance's (MqttSide#takeOver). */
  async takeOver(instance: string, stillGone: () => Promise<boolean>): Promise<number> {
    let taken = 0;
    for (const side of this.sides) if (side.takeOver) taken += await side.takeOver(instance, stillGone);
    return taken;
  }

  private dispatch(side: MqttSide, filter: string | undefined, topic: string, payload: Buffer, publisher: Publisher | undefined, scope: WatchScope | undefined): void {
    for (const s of scope ? [scope] : SCOPES) this.dispatchIn(this.tables[s], side, filter, topic, payload, publisher);
  }

  private dispatchIn(table: WatchTable, side: MqttSide, filter: string | undefined, topic: string, payload: Buffer, publisher: Publisher | undefined): void {
    const call = (set: ReadonlySet<WatchListener> | undefined): void => {
      if (!set) return;
      for (const fn of [...set]) {
        try {
          fn(topic, payload, side, publisher);
        } catch (err) {
          this.log.error({ err: (err as Error).stack, topic }, 'watch listener failed');
        }
      }
    };
    if (filter !== undefined) {
      call(table.literal.get(filter) ?? table.wildcard.get(filter));
      return;
    }
    call(table.literal.get(topic));
    for (const [f, set] of table.wildcard) if (filterMatches(f, topic)) call(set);
  }

  private handlersFor(side: MqttSide): MqttSideHandlers {
    const via = side.name;
    return {
      onPublish: (msg, done) => this.publishHandler(side, msg, done),
      onWatched: (filter, topic, payload, publisher, scope) => this.dispatch(side, filter, topic, payload, publisher, scope),
      onClientConnected: (clientId) => this.bus.emit('client_connected', { clientId, side: via }),
      onClientDisconnected: (clientId) => this.bus.emit('client_disconnected', { clientId, side: via }),
      onSubscribed: (clientId) => this.bus.emit('client_subscribed', { clientId, side: via }),
      onBrokerEvent: (type, data) => {
        // Every broker event has its entry in the catalogue (name, how it is reported); one without is a bug to see.
        if (isBrokerEvent(type)) this.bus.emit(type, data);
        else this.log.error({ type, data }, 'broker event missing from EVENT_CATALOGUE');
      },
    };
  }
}

const SCOPES: readonly WatchScope[] = ['all', 'once'];

function kindOf(scope: WatchScope): SubscriptionKind {
  return scope === 'once' ? 'watched-once' : 'watched';
}
