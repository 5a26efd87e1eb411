/**
 * The embedded MQTT broker: aedes behind the listeners of listeners.ts (TCP, WebSocket, TLS, WSS), with the hooks of
 * hooks.ts (identity and rights, access.ts) and the session table of sessions.ts. Identity and transport only —
 * payload work happens in the uplink pipeline, reached through `authorizePublish`, the one aedes hook that runs
 * before a QoS 1 PUBACK / QoS 2 PUBREC is written, so a publish is acknowledged only once the bridge has taken it.
 *
 * Hardening, all from `mqtt.embedded` in the config: a guard on the byte stream ahead of aedes (frame-guard.ts,
 * guard-core.ts: packet sizes, a memory budget for connections not yet accepted, the MQTT 3.1.1 packet rules), a
 * connection limit across listeners, aedes' own connect timeout, topic-level limit and drain timeout (a subscriber
 * that stops reading is disconnected instead of stalling delivery to everyone), the CONNECT rules aedes misses
 * (connect-rules.ts) and a per-client publish rate limit (publish-limiter.ts).
 *
 * Revocation: once a second the broker asks the credential store whether another process (the `device` CLI) wrote
 * the database — one `PRAGMA data_version`, nothing on the hot path — and if so re-checks the credential of every
 * session: a removed or rotated credential ends the session's connections and discards its stored state.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import type { BridgeConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { filterMatches } from '../mapping/topic-pattern.js';
import { identityKey, type AccessControl } from './access.js';
import { EventReporter } from './event-reporter.js';
import { guardConnection, guardOf, type FrameGuard, type GuardOwner } from './frame-guard.js';
import { describeReport, GuardCore, type GuardLimits, type GuardReport } from './guard-core.js';
import { brokerHooks } from './hooks.js';
import { BrokerListeners } from './listeners.js';
import { payloadBytes, type Addresses, type MqttSide, type MqttSideHandlers, type Publisher, type PublishOptions, type SubscriptionKind } from './mqtt-side.js';
import { PreAuthBudget } from './pre-auth-budget.js';
import { PublishRateLimiter } from './publish-limiter.js';
import { SessionTable, type Session } from './sessions.js';

type EmbeddedConfig = BridgeConfig['mqtt']['embedded'];

/** Room for the fixed parts of a PUBLISH around its payload: topic (≤ 65535 + 2 bytes) and packet id. */
const PUBLISH_OVERHEAD = 65535 + 2 + 2;

/** Events that may repeat thousands of times a second go out at most once per key in this window (counted exactly). */
const EVENT_WINDOW_MS = 10_000;

/** How often the credential store is asked whether the CLI changed it. */
const REVOCATION_POLL_MS = 1000;

/** The stored-session calls of aedes' persistence (aedes-persistence, promise API) that revocation needs. */
interface Batch {
  readonly filters: Record<'readings' | 'watched', Set<string>>;
  readonly done: Promise<void>;
}

/** Retained messages in aedes' persistence (aedes-persistence, promise API). */
interface RetainedStore {
  createRetainedStream(pattern: string): AsyncIterable<PublishPacket>;
}

interface StoredSessions {
  cleanSubscriptions(client: { id: string }): Promise<unknown>;
  removeSubscriptions(client: { id: string }, topics: string[]): Promise<unknown>;
  cleanIncoming?(client: { id: string }): Promise<unknown>;
  delWill(client: { id: string }): Promise<unknown>;
  outgoingStream(client: { id: string }): AsyncIterable<{ messageId?: number }>;
  outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<unknown>;
}

/**
 * Cluster mode: the embedded brokers of the instances form one broker — aedes' message emitter and persistence on a
 * shared Redis (mqemitter-redis, aedes-persistence-redis), made by the composition root.
 */
export interface BrokerBackend {
  readonly mq: unknown;
  readonly persistence: unknown;
  /** How often each broker says it is alive; one silent for three of these is gone, and its clients' Wills fire. */
  readonly heartbeatIntervalMs: number;
  /** After aedes closed (which closes the emitter): release the persistence. */
  close(): Promise<void>;
}

export class EmbeddedBroker implements MqttSide {
  readonly name = 'embedded';
  /** Every client authenticated here: a watched message names its publisher (`publisherOf`). */
  readonly knowsPublishers = true;
  private aedes: Aedes | undefined;
  private listeners: BrokerListeners | undefined;
  private handlers: MqttSideHandlers | undefined;
  private events: EventReporter | undefined;
  private limiter: PublishRateLimiter<Client> | undefined;
  private revocationTimer: NodeJS.Timeout | undefined;
  private readonly sessions = new SessionTable<Client>();
  /** Guarded connections open now (the connection limit counts them). */
  private readonly sockets = new Set<Duplex>();
  /** The TLS socket of each connection of a TLS listener (where the client certificate is). */
  private readonly tlsSockets = new WeakMap<object, TLSSocket>();
  /** Sizes the guard enforces, the same for every connection. */
  private readonly guardLimits: GuardLimits;
  /** What every guarded connection reports to: one object, so that a connection holds no closures of its own. */
  private readonly guardOwner: GuardOwner = {
    guardEnded: (guard, report) => this.guardEnded(guard, report),
    connectionClosed: (guard) => this.connectionClosed(guard),
  };
  /** One budget for the bytes held by all connections not accepted yet (pre-auth-budget.ts). */
  private readonly budget = new PreAuthBudget();
  /** Internal subscriptions of watched filters, by kind and filter: aedes calls each with the messages it matches. */
  private readonly watched = new Map<string, (packet: PublishPacket, cb: () => void) => void>();
  /** Filters subscribed in this turn whose retained messages are still to be replayed. */
  private replayBatch: Batch | undefined;

  constructor(
    private readonly cfg: EmbeddedConfig,
    private readonly log: Logger,
    private readonly access: AccessControl,
    /**
     * `listen: false`: no listener is opened; connections come only through `accept` (in-memory streams in tests).
     * `backend`: the shared emitter and persistence of a cluster (cluster mode).
     */
    private readonly opts: { readonly listen: boolean; readonly backend?: BrokerBackend } = { listen: true },
  ) {
    this.guardLimits = { maxRemainingLength: cfg.maxPayloadBytes + PUBLISH_OVERHEAD };
  }

  async start(handlers: MqttSideHandlers): Promise<void> {
    const cfg = this.cfg;
    this.handlers = handlers;
    const events = new EventReporter((type, data) => handlers.onBrokerEvent(type, data), EVENT_WINDOW_MS);
    this.events = events;
    const limiter = PublishRateLimiter.enabled(cfg.rateLimit) ? new PublishRateLimiter<Client>(cfg.rateLimit) : undefined;
    this.limiter = limiter;
    const sessions = this.sessions;

    const aedes = await Aedes.createBroker({
      // A connection that sends no complete CONNECT in time is closed (aedes' timer starts when it takes the socket).
      connectTimeout: cfg.connectTimeoutMs,
      // Deeper topics are refused before they reach the router: the PUBLISH/SUBSCRIBE closes the connection.
      maxTopicLevels: cfg.maxTopicLevels,
      // A subscriber whose socket stays full this long is disconnected: its deliveries, and the publishers waiting on
      // them, are held no longer than that.
      drainTimeout: cfg.drainTimeoutMs,
      // No cap on messages in delivery at once (aedes' default, 100, queues the rest in its emitter). When the queue
      // was released — a full subscriber drained or was dropped — mqemitter 7.1 emitted the queued messages one inside
      // the other's completion, synchronously for each one with no subscriber (an event report, a command to nobody):
      // thousands queued under load overflowed the stack and ended the process (RangeError, mqemitter/mqemitter.js
      // `released` → `_do`; github.com/mcollina/mqemitter/pull/204 is open). Without the cap nothing is queued there;
      // what is held is bounded as before: each publisher waits for its own messages' deliveries (a batch at a time),
      // and drainTimeout bounds the wait. The cluster's emitter on Redis has no cap either (mqemitter-redis).
      concurrency: 0,
      ...(this.opts.backend ? { mq: this.opts.backend.mq, persistence: this.opts.backend.persistence, heartbeatInterval: this.opts.backend.heartbeatIntervalMs } : {}),
      ...brokerHooks({
        cfg,
        access: this.access,
        sessions,
        events,
        limiter,
        handlers,
        log: this.log,
        remoteOf: (conn) => (typeof conn === 'object' && conn !== null ? guardOf(conn)?.remote : undefined) ?? '',
        certificateNameOf: (conn) => this.certificateNameOf(conn),
        forgetSubscription: (client, filter) => void this.stored()?.removeSubscriptions({ id: client.id }, [filter]).catch(() => undefined),
      }),
    });
    this.aedes = aedes;

    aedes.on('clientReady', (client) => {
      // After CONNACK: the subscriptions aedes restored for a persistent session, each granted again just now.
      sessions.ready(client, client.clean, Object.keys((client as Client & { subscriptions: Record<string, unknown> }).subscriptions));
      // aedes emits clientReady after the session queue is emptied: a client that sent DISCONNECT right after its
      // CONNACK may already be closed (and its clientDisconnect already emitted). It is not connected any more.
      if (!client.closed) handlers.onClientConnected(client.id);
    });
    aedes.on('clientDisconnect', (client) => handlers.onClientDisconnected(client.id));
    aedes.on('subscribe', (subs, client) => {
      // aedes reports refused filters too, with the failure code 0x80 as their QoS [MQTT-3.9.3-2]: only granted ones count.
      const granted = subs.filter((s) => (s.qos as number) !== 0x80).map((s) => s.topic);
      sessions.subscribed(client, granted);
      if (granted.length > 0) handlers.onSubscribed?.(client.id);
    });
    aedes.on('unsubscribe', (topics, client) => sessions.unsubscribed(client, topics));
    aedes.on('clientError', (client, err) => this.log.debug({ clientId: client.id, err: err.message }, 'MQTT client error'));
    aedes.on('connectionError', (client, err) => this.log.debug({ clientId: client.id, err: err.message }, 'MQTT connection error'));

    if (this.opts.listen) {
      this.listeners = new BrokerListeners({
        cfg,
        log: this.log,
        events,
        onEvent: (type, data) => handlers.onBrokerEvent(type, data),
        maxFrameBytes: cfg.maxPayloadBytes + PUBLISH_OVERHEAD,
        connections: () => this.sockets.size,
        accept: (conn, remote, req, secure) => this.handle(aedes, conn, remote, req, secure),
      });
      await this.listeners.start();
    }

    this.revocationTimer = setInterval(() => {
      if (this.access.credentialsChangedElsewhere()) this.recheckSessions();
    }, REVOCATION_POLL_MS);
    this.revocationTimer.unref();
    this.log.info(this.addresses(), 'embedded MQTT broker listening');
  }

  /**
   * A connection that did not come through a listener — an in-memory stream in tests — guarded and handled like any
   * other.
   */
  accept(conn: Duplex, remote: string): void {
    if (!this.aedes) throw new Error('the embedded broker is not started');
    this.handle(this.aedes, conn, remote);
  }

  /** One accepted connection: the guard on it (sizes, pre-authentication budget, packet rules), then aedes. */
  private handle(aedes: Aedes, conn: Duplex, remote: string, req?: IncomingMessage, secure?: TLSSocket): void {
    const guard = guardConnection(conn, new GuardCore(this.guardLimits, this.budget), remote, this.guardOwner);
    this.sockets.add(conn);
    if (secure) this.tlsSockets.set(conn, secure);
    guard.client = aedes.handle(conn, req);
  }

  private guardEnded(guard: FrameGuard, report: GuardReport): void {
    const { event, ...data } = report;
    const remote = guard.remote;
    this.log.warn({ remote, ...data }, `MQTT connection closed: ${describeReport(report)}`);
    const limit = event === 'packet_too_large' ? (data.limit ?? this.guardLimits.maxRemainingLength) : data.limit;
    // Counted per reason and source address; one event per window (an attacker's thousands count, not flood).
    this.events?.record(event, `${data.reason}|${remote.slice(0, remote.lastIndexOf(':'))}`, { remote, ...data, limit });
  }

  private connectionClosed(guard: FrameGuard): void {
    this.sockets.delete(guard.conn);
    const client = guard.client as Client | undefined;
    if (!client) return;
    this.sessions.closed(client);
    // Publishes held for this client are dropped with it: nothing keeps a closed client alive.
    this.limiter?.release(client);
  }

  /**
   * Subject CN of the verified client certificate on this connection (TLS listeners), if any. A certificate the
   * handshake did not verify against caFile (possible with `clientCertificates: optional`) names nobody: the client
   * must then log in with a password, or is anonymous (when allowed).
   */
  private certificateNameOf(conn: unknown): string | undefined {
    const socket = typeof conn === 'object' && conn !== null ? this.tlsSockets.get(conn) : undefined;
    if (!socket?.authorized) return undefined;
    const cn: unknown = socket.getPeerCertificate().subject?.CN;
    // Several CNs (Node gives an array) do not name one identity.
    return typeof cn === 'string' && cn !== '' ? cn : undefined;
  }

  /**
   * Whether a publish on `topic` would reach device `identity` (its id: the JID local part, the credential name): a
   * session that speaks for it holds a GRANTED subscription matching the topic (sessions.ts#reaches). Joined to other
   * instances' brokers (cluster mode), a device not reached here may be connected there: this broker cannot tell.
   */
  isSubscribed(identity: string, topic: string): boolean | undefined {
    const here = this.sessions.reaches(identity, topic, (s) => this.access.isGatewayFor(s.identity, s.clientId, topic));
    return here || (this.opts.backend ? undefined : false);
  }

  /**
   * Watched filters see every routed message, Will messages included (those never pass through authorizePublish),
   * each with its publisher; then the retained messages the filter matches, as a client's subscription would get
   * them. Readings need no subscription here — every device publish passes through authorizePublish — but a new
   * reading filter gets the retained messages it matches, as replays: a mapping added while the bridge runs (an
   * imported device) starts from its device's retained state, as it does on a broker reached as a client.
   */
  async subscribe(filter: string, kind: SubscriptionKind): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return;
    if (kind === 'readings') return this.replayRetained(filter, 'readings');
    const key = `${kind} ${filter}`;
    if (this.watched.has(key)) return;
    const once = kind === 'watched-once';
    const deliver = (packet: PublishPacket, cb: () => void): void => {
      // In a cluster every broker sees every message: a `once` watch takes only those that entered through this one.
      if (!once || this.enteredHere(aedes, packet)) this.handlers?.onWatched(filter, packet.topic, payloadBytes(packet.payload), this.publisherOf(packet), once ? 'once' : 'all');
      cb();
    };
    this.watched.set(key, deliver);
    await new Promise<void>((resolve, reject) =>
      aedes.subscribe(filter, deliver, (err?: Error) => {
        if (!err) return resolve();
        this.watched.delete(key);
        reject(err);
      }),
    );
    // Who published a retained message is not kept with it: these come without a publisher.
    await this.replayRetained(filter, 'watched');
  }

  /**
   * Retained messages for filters subscribed in the same turn, found in ONE pass over the retained store (aedes'
   * pattern stream is a pass per filter: importing thousands of devices would be thousands of passes).
   */
  private replayRetained(filter: string, kind: 'readings' | 'watched'): Promise<void> {
    let batch = this.replayBatch;
    if (!batch) {
      const filters: Batch['filters'] = { readings: new Set(), watched: new Set() };
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      batch = this.replayBatch = { filters, done };
      setImmediate(() => {
        this.replayBatch = undefined;
        void this.replayNow(filters).finally(resolve);
      });
    }
    batch.filters[kind].add(filter);
    return batch.done;
  }

  private async replayNow(filters: Batch['filters']): Promise<void> {
    const store = (this.aedes as unknown as { persistence?: RetainedStore } | undefined)?.persistence;
    const h = this.handlers;
    if (!store || !h) return;
    const match = (set: ReadonlySet<string>): ((topic: string) => string | undefined) => {
      const wildcards = [...set].filter((f) => /[+#]/.test(f));
      return (topic) => (set.has(topic) ? topic : wildcards.find((f) => filterMatches(f, topic)));
    };
    const readings = match(filters.readings);
    const watched = match(filters.watched);
    try {
      for await (const packet of store.createRetainedStream('#')) {
        const payload = payloadBytes(packet.payload);
        if (filters.readings.size > 0 && readings(packet.topic) !== undefined) {
          h.onPublish({ topic: packet.topic, payload, qos: packet.qos, retain: true, clientId: undefined, replay: true }, () => undefined);
        }
        const w = filters.watched.size > 0 ? watched(packet.topic) : undefined;
        if (w !== undefined) h.onWatched(w, packet.topic, payload);
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'retained messages could not be read');
    }
  }

  /**
   * The publisher of a routed message: aedes stamps a client's publish (and its Will) with its client id; the session
   * holding that id knows the identity. The bridge's own publishes carry none.
   */
  private publisherOf(packet: PublishPacket): Publisher | undefined {
    const clientId = (packet as PublishPacket & { clientId?: string }).clientId;
    const session = clientId !== undefined ? this.sessions.get(clientId) : undefined;
    if (clientId === undefined || !session) return undefined;
    const { identity } = session;
    const access = this.access;
    return {
      identity: identityKey(identity),
      clientId,
      mayPublish: (topic) => access.mayPublish(identity, clientId, topic),
      maySubscribe: (filter) => access.maySubscribe(identity, clientId, filter),
    };
  }

  async unsubscribe(filter: string, kind: SubscriptionKind): Promise<void> {
    const key = `${kind} ${filter}`;
    const deliver = this.watched.get(key);
    const aedes = this.aedes;
    if (!deliver || !aedes) return;
    this.watched.delete(key);
    await new Promise<void>((resolve) => aedes.unsubscribe(filter, deliver, () => resolve()));
  }

  /**
   * Whether a message entered the cluster through this broker: published by one of its clients (or as their Will),
   * or by a broker that is gone — aedes' survivors publish a lost broker's Wills with that broker's id.
   */
  private enteredHere(aedes: Aedes, packet: PublishPacket): boolean {
    if (!this.opts.backend) return true;
    const from = (packet as PublishPacket & { brokerId?: string }).brokerId;
    const brokers = (aedes as unknown as { brokers: Record<string, number> }).brokers;
    return from === undefined || from === aedes.id || brokers[from] === undefined;
  }

  /** The credential store changed: sessions whose credential is gone or rotated end now. */
  private recheckSessions(): void {
    for (const s of [...this.sessions.all()]) {
      if (!this.access.stillValid(s.identity)) void this.revoke(s);
    }
  }

  private async revoke(s: Session<Client>): Promise<void> {
    const data = { clientId: s.clientId, identity: identityKey(s.identity), connected: s.clients.size > 0, persistent: s.persistent };
    this.log.info(data, 'MQTT session revoked: its credential was removed or rotated');
    this.handlers?.onBrokerEvent('session_revoked', data);
    this.sessions.discard(s.clientId);
    await Promise.all([...s.clients].map((c) => new Promise<void>((resolve) => c.close(() => resolve()))));
    // Nothing the session held survives it: stored subscriptions, the commands queued for it, its Will.
    const stored = this.stored();
    if (!stored) return;
    const id = { id: s.clientId };
    try {
      await stored.cleanSubscriptions(id);
      await stored.cleanIncoming?.(id);
      await stored.delWill(id);
      for await (const packet of stored.outgoingStream(id)) await stored.outgoingClearMessageId(id, packet);
    } catch (err) {
      this.log.warn({ clientId: s.clientId, err: (err as Error).message }, 'could not discard a revoked session completely');
    }
  }

  /** aedes' persistence (not part of its typed interface). */
  private stored(): StoredSessions | undefined {
    return (this.aedes as unknown as { persistence?: StoredSessions } | undefined)?.persistence;
  }

  addresses(): Addresses {
    return this.listeners?.addresses() ?? {};
  }

  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
    const aedes = this.aedes;
    if (!aedes || aedes.closed) return Promise.reject(new Error('broker is stopped'));
    return new Promise((resolve, reject) => {
      aedes.publish(
        { cmd: 'publish', topic, payload: payloadBytes(payload), qos: opts.qos, retain: opts.retain, dup: false },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.revocationTimer);
    // Counted but not yet reported events go out while the broker can still publish them.
    this.events?.flushAll();
    this.limiter?.releaseAll();
    const closing = this.listeners?.close() ?? Promise.resolve();
    if (this.aedes) {
      const aedes = this.aedes;
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await this.opts.backend?.close();
    }
    for (const s of this.sockets) s.destroy();
    this.listeners?.endHandshakes();
    await closing;
  }
}
