/**
 * The embedded MQTT broker: aedes on TCP and on WebSocket (`/mqtt`). Identity and transport only — payload work
 * happens in the uplink pipeline, reached through `authorizePublish`, the one aedes hook that runs before a QoS 1
 * PUBACK / QoS 2 PUBREC is written, so a publish is acknowledged only once the bridge has taken it.
 *
 * Hardening, all from `mqtt.embedded` in the config: a packet-size guard on the byte stream (frame-guard.ts), a
 * connection limit across TCP and WebSocket, aedes' own connect timeout, topic-level limit and drain timeout (a
 * subscriber that stops reading is disconnected instead of stalling delivery to everyone), the CONNECT rules aedes
 * misses (connect-rules.ts) and a per-client publish rate limit (publish-limiter.ts).
 *
 * TLS (`mqtt.embedded.tls`): MQTT over TLS and, with `websocketPort`, WebSocket over TLS, through the same guard,
 * limit and hooks. The certificate, key and CA are reloaded when they change on disk (tls.ts). With client
 * certificates, a certificate verified against caFile names the identity (its subject CN).
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { BridgeConfig } from '../config/schema.js';
import type { BrokerEventName } from '../kernel/events.js';
import type { Logger } from '../log.js';
import { filterMatches } from '../mapping/topic-pattern.js';
import type { AccessControl, Identity } from './access.js';
import { connectRules, type NextAuthenticate } from './connect-rules.js';
import { EventReporter } from './event-reporter.js';
import { GuardedConnection, MqttFrameScanner, type FrameViolation } from './frame-guard.js';
import { payloadBytes, type MqttSide, type MqttSideHandlers, type PublishOptions, type SubscriptionKind } from './mqtt-side.js';
import { PublishRateLimiter } from './publish-limiter.js';
import { contextOptions, describeMaterial, FileChangeWatcher, loadTlsMaterial, tlsServerOptions, type TlsMaterial } from './tls.js';

type EmbeddedConfig = BridgeConfig['mqtt']['embedded'];

/** Room for the fixed parts of a PUBLISH around its payload: topic (≤ 65535 + 2 bytes) and packet id. */
const PUBLISH_OVERHEAD = 65535 + 2 + 2;

/** Events that may repeat thousands of times a second go out at most once per key in this window (counted exactly). */
const EVENT_WINDOW_MS = 10_000;

export class EmbeddedBroker implements MqttSide {
  readonly name = 'embedded';
  private aedes: Aedes | undefined;
  private tcp: Server | undefined;
  private http: HttpServer | undefined;
  private wss: WebSocketServer | undefined;
  /** MQTT over TLS, and WebSocket over TLS on an https server (both only with `tls.enabled`). */
  private tlsServer: TlsServer | undefined;
  private https: HttpsServer | undefined;
  private wssSecure: WebSocketServer | undefined;
  private tlsWatcher: FileChangeWatcher | undefined;
  /** The material the TLS listeners use now. */
  private tlsMaterial: TlsMaterial | undefined;
  /** Raw sockets of the TLS listeners, handshakes in progress included, so stop() can end them all. */
  private readonly tlsRaw = new Set<Socket>();
  /** The TLS socket under each guarded connection of a TLS listener (where the client certificate is). */
  private readonly tlsSockets = new WeakMap<object, TLSSocket>();
  private readonly sockets = new Set<Duplex>();
  private events: EventReporter | undefined;
  private limiter: PublishRateLimiter<Client> | undefined;
  /** Topic filters per client id, from SUBSCRIBE/UNSUBSCRIBE: whether a command would reach anyone. */
  private readonly subscriptions = new Map<string, Set<string>>();

  /** The identity each client authenticated as (set in `authenticate`, read by the authorization hooks). */
  private readonly identities = new WeakMap<Client, Identity>();

  constructor(
    private readonly cfg: EmbeddedConfig,
    private readonly log: Logger,
    private readonly access: AccessControl,
  ) {}

  /** Internal subscriptions of watched filters, by filter: aedes calls each with the messages it matches. */
  private readonly watched = new Map<string, (packet: PublishPacket, cb: () => void) => void>();
  private handlers: MqttSideHandlers | undefined;

  async start(handlers: MqttSideHandlers): Promise<void> {
    this.handlers = handlers;
    const cfg = this.cfg;
    const maxPayload = cfg.maxPayloadBytes;
    const events = new EventReporter((type, data) => handlers.onBrokerEvent(type as BrokerEventName, data), EVENT_WINDOW_MS);
    this.events = events;
    const limiter = PublishRateLimiter.enabled(cfg.rateLimit) ? new PublishRateLimiter<Client>(cfg.rateLimit) : undefined;
    this.limiter = limiter;
    /** `address:port` of each connection aedes handles, for logs (aedes only sees the guard around the socket). */
    const remotes = new WeakMap<object, string>();
    const authenticate: NextAuthenticate = (client, username, password, done) => {
      const remote = remotes.get(client.conn) ?? '';
      this.access
        .authenticate({
          clientId: client.id,
          username: username ?? undefined,
          password: password ?? undefined,
          certificateName: this.certificateNameOf(client.conn),
          address: remote.slice(0, remote.lastIndexOf(':')),
        })
        .then((verdict) => {
          if (verdict.ok) {
            this.identities.set(client, verdict.identity);
            return done(null, true);
          }
          // aedes answers with a CONNACK carrying this return code, then closes [MQTT-3.2.2-5].
          const err = new Error(verdict.reason) as AuthenticateError;
          err.returnCode = verdict.returnCode;
          done(err, false);
        })
        .catch((err: unknown) => {
          this.log.error({ err: (err as Error).message }, 'authentication failed unexpectedly');
          const e = new Error('server unavailable') as AuthenticateError;
          e.returnCode = 3;
          done(e, false);
        });
    };
    const rules = connectRules((client, reason) => {
      const remote = remotes.get(client.conn);
      this.log.info({ remote, reason }, 'MQTT CONNECT refused');
      events.record('connection_refused', reason, { reason, remote });
    }, authenticate);

    const aedes = await Aedes.createBroker({
      // A connection that sends no complete CONNECT in time is closed (aedes' timer starts when it takes the socket).
      connectTimeout: cfg.connectTimeoutMs,
      // Deeper topics are refused before they reach the router: the PUBLISH/SUBSCRIBE closes the connection.
      maxTopicLevels: cfg.maxTopicLevels,
      // A subscriber whose socket stays full this long is disconnected, so it cannot exhaust aedes' delivery slots.
      drainTimeout: cfg.drainTimeoutMs,
      preConnect: rules.preConnect,
      authenticate: rules.authenticate,
      authorizeSubscribe: (client: Client, sub: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void) => {
        const identity = this.identities.get(client);
        if (identity && this.access.maySubscribe(identity, sub.topic)) return callback(null, sub);
        events.record('subscribe_denied', client.id, { clientId: client.id, identity: identityName(identity), filter: sub.topic });
        // A null subscription is answered with the SUBACK failure code 0x80 [MQTT-3.9.3-2].
        callback(null, null);
      },
      authorizePublish: (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) => {
        // [MQTT-3.3.2-2] no wildcards in a topic name; aedes refuses them before this hook.
        if (packet.topic.startsWith('$SYS')) return callback(new Error('$SYS topics are reserved'));
        // A client publishes only what its identity may; a Will is checked the same way when it fires.
        const identity = client ? this.identities.get(client) : undefined;
        if (client && (!identity || !this.access.mayPublish(identity, packet.topic))) {
          events.record('publish_denied', client.id, { clientId: client.id, identity: identityName(identity), topic: packet.topic });
          // [MQTT-3.3.5-2] a refused PUBLISH cannot be answered: the connection is closed.
          return callback(new Error(`not authorized to publish on ${packet.topic}`));
        }
        const payload = payloadBytes(packet.payload);
        if (payload.length > maxPayload) {
          // MQTT 3.1.1 cannot refuse a PUBLISH except by closing the connection (the error does that).
          handlers.onBrokerEvent('payload_too_large', { clientId: client?.id, topic: packet.topic, bytes: payload.length, limit: maxPayload });
          return callback(new Error('payload too large'));
        }
        const forward = (): void =>
          handlers.onPublish(
            { topic: packet.topic, payload, qos: packet.qos, retain: packet.retain, clientId: client?.id ?? undefined, replay: false },
            (err) => callback(err ?? null),
          );
        // Will messages come through here after their client has closed: they are not the client's rate to limit.
        if (!limiter || !client || client.closed) return forward();
        const verdict = limiter.admit(client, (err) => (err ? callback(err) : forward()));
        if (verdict !== 'passed') {
          const { messagesPerSecond, burst, policy } = cfg.rateLimit;
          events.record('rate_limited', client.id, { clientId: client.id, policy, messagesPerSecond, burst });
        }
      },
    });
    this.aedes = aedes;

    // aedes emits clientReady after the session queue is emptied: a client that sent DISCONNECT right after its
    // CONNACK may already be closed (and its clientDisconnect already emitted). It is not connected any more.
    aedes.on('clientReady', (client) => {
      if (!client.closed) handlers.onClientConnected(client.id);
    });
    aedes.on('clientDisconnect', (client) => {
      // A persistent session keeps its subscriptions (aedes queues QoS 1 messages for it); a clean one does not.
      if (client.clean) this.subscriptions.delete(client.id);
      handlers.onClientDisconnected(client.id);
    });
    aedes.on('subscribe', (subs, client) => {
      let set = this.subscriptions.get(client.id);
      if (!set) this.subscriptions.set(client.id, (set = new Set()));
      for (const sub of subs) set.add(sub.topic);
      handlers.onSubscribed?.(client.id);
    });
    aedes.on('unsubscribe', (topics, client) => {
      const set = this.subscriptions.get(client.id);
      for (const t of topics) set?.delete(t);
    });
    aedes.on('clientError', (client, err) => this.log.debug({ clientId: client.id, err: err.message }, 'MQTT client error'));
    aedes.on('connectionError', (client, err) => this.log.debug({ clientId: client.id, err: err.message }, 'MQTT connection error'));

    const guard = (conn: Duplex, remote: string): Duplex => {
      const guarded = new GuardedConnection(conn, new MqttFrameScanner(maxPayload + PUBLISH_OVERHEAD), (v: FrameViolation) => {
        this.log.warn({ remote, ...v }, 'MQTT packet over the size limit; connection closed');
        handlers.onBrokerEvent('packet_too_large', { remote, ...v, limit: maxPayload + PUBLISH_OVERHEAD });
      });
      this.sockets.add(guarded);
      remotes.set(guarded, remote);
      return guarded;
    };
    const handle = (conn: Duplex, remote: string, req?: IncomingMessage, secure?: TLSSocket): void => {
      const guarded = guard(conn, remote);
      if (secure) this.tlsSockets.set(guarded, secure);
      const client = aedes.handle(guarded, req);
      guarded.on('close', () => {
        this.sockets.delete(guarded);
        // Publishes held for this client are dropped with it: nothing keeps a closed client alive.
        limiter?.release(client);
      });
    };
    /** Beyond `maxConnections` (TCP and WebSocket together) a new connection is closed at once, before aedes sees it. */
    const overLimit = (remote: string): boolean => {
      if (this.sockets.size < cfg.maxConnections) return false;
      this.log.debug({ remote, limit: cfg.maxConnections }, 'MQTT connection refused: connection limit');
      events.record('connection_refused', 'limit', { reason: 'limit', remote, limit: cfg.maxConnections });
      return true;
    };

    this.tcp = createServer((socket: Socket) => {
      const remote = `${socket.remoteAddress}:${socket.remotePort}`;
      if (overLimit(remote)) return void socket.destroy();
      // A PUBACK must not wait for Nagle's algorithm: with a client that waits for each acknowledgement (mqtt.js
      // re-sending its store after a reconnect) every packet would otherwise wait a delayed-ACK timeout (~40 ms).
      socket.setNoDelay(true);
      handle(socket, remote);
    });
    this.tcp.listen(this.cfg.port, this.cfg.host);
    await once(this.tcp, 'listening');

    if (this.cfg.websocket.enabled) {
      const ws = this.cfg.websocket;
      this.http = createHttpServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to ' + ws.path + '\n');
      });
      // ws enforces the frame limit itself; the scanner covers MQTT packets split over frames.
      this.wss = new WebSocketServer({ server: this.http, path: ws.path, maxPayload: maxPayload + PUBLISH_OVERHEAD, handleProtocols: pickMqttProtocol });
      this.wss.on('connection', (socket, req) => {
        const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
        if (overLimit(remote)) return void socket.terminate();
        const stream = createWebSocketStream(socket);
        stream.on('error', () => socket.terminate());
        handle(stream, remote, req);
      });
      this.http.listen(ws.port, ws.host);
      await once(this.http, 'listening');
    }

    if (cfg.tls.enabled) {
      const tls = cfg.tls;
      // A certificate that cannot be used stops the start: better refused at once than a listener without TLS.
      const material = loadTlsMaterial(tls);
      this.tlsMaterial = material;
      // A handshake gets the same time as a CONNECT: slow handshakes cannot hold sockets for Node's default 120 s.
      const options = tlsServerOptions(tls, material, cfg.connectTimeoutMs);
      /** `address:port` of each raw connection, taken at accept: a failed TLS socket may no longer know it. */
      const rawRemotes = new WeakMap<object, { address: string; remote: string }>();
      const track = (raw: Socket): void => {
        rawRemotes.set(raw, { address: raw.remoteAddress ?? '', remote: `${raw.remoteAddress}:${raw.remotePort}` });
        this.tlsRaw.add(raw);
        raw.once('close', () => this.tlsRaw.delete(raw));
      };
      const handshakeFailed = (err: Error & { code?: unknown }, socket: TLSSocket): void => {
        // Node keeps the accepted socket as `_parent` of the server-side TLS socket (not a documented property).
        const raw = (socket as unknown as { _parent?: object })._parent;
        const from = (raw && rawRemotes.get(raw)) ?? { address: socket.remoteAddress ?? '', remote: `${socket.remoteAddress}:${socket.remotePort}` };
        this.log.debug({ remote: from.remote, err: err.message }, 'TLS handshake failed');
        // A peer that just goes away (health checks, port scans) is not worth an event; a refused one is: unknown
        // CA, missing client certificate, plain MQTT on the TLS port…
        if (err.code === 'ECONNRESET') return;
        events.record('tls_handshake_failed', from.address, { remote: from.remote, reason: err.message.trim() });
      };
      this.tlsServer = createTlsServer(options, (socket: TLSSocket) => {
        const remote = `${socket.remoteAddress}:${socket.remotePort}`;
        if (overLimit(remote)) return void socket.destroy();
        socket.setNoDelay(true);
        handle(socket, remote, undefined, socket);
      });
      this.tlsServer.on('connection', track);
      this.tlsServer.on('tlsClientError', handshakeFailed);
      this.tlsServer.listen(tls.port, tls.host);
      await once(this.tlsServer, 'listening');

      if (tls.websocketPort !== undefined) {
        const path = cfg.websocket.path;
        this.https = createHttpsServer(options, (_req, res) => {
          res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to ' + path + '\n');
        });
        this.https.on('connection', track);
        this.https.on('tlsClientError', handshakeFailed);
        this.wssSecure = new WebSocketServer({ server: this.https, path, maxPayload: maxPayload + PUBLISH_OVERHEAD, handleProtocols: pickMqttProtocol });
        this.wssSecure.on('connection', (socket, req) => {
          const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
          if (overLimit(remote)) return void socket.terminate();
          const stream = createWebSocketStream(socket);
          stream.on('error', () => socket.terminate());
          handle(stream, remote, req, req.socket as TLSSocket);
        });
        this.https.listen(tls.websocketPort, tls.host);
        await once(this.https, 'listening');
      }
      const files = [tls.certFile, tls.keyFile, tls.caFile].filter((f): f is string => f !== undefined);
      this.tlsWatcher = new FileChangeWatcher(files, () => this.reloadTls(handlers), this.log);
    }
    this.log.info(this.addresses(), 'embedded MQTT broker listening');
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

  /** New TLS material from disk for new handshakes; on any problem the current material stays in use. */
  private reloadTls(handlers: MqttSideHandlers): void {
    let next: TlsMaterial;
    try {
      next = loadTlsMaterial(this.cfg.tls);
    } catch (err) {
      const error = (err as Error).message;
      this.log.error({ err: error }, 'TLS reload failed; the listeners keep the previous certificate');
      handlers.onBrokerEvent('tls_reload_failed', { error });
      return;
    }
    const previous = this.tlsMaterial;
    if (previous && previous.digest === next.digest) return; // touched, not changed
    const context = contextOptions(next);
    try {
      this.tlsServer?.setSecureContext(context);
      this.https?.setSecureContext(context);
    } catch (err) {
      const error = (err as Error).message;
      this.log.error({ err: error }, 'TLS reload failed; the listeners keep the previous certificate');
      handlers.onBrokerEvent('tls_reload_failed', { error });
      return;
    }
    this.tlsMaterial = next;
    const data = { ...describeMaterial(next), previousFingerprint256: previous?.fingerprint256 };
    this.log.info(data, 'TLS certificate reloaded');
    handlers.onBrokerEvent('tls_reloaded', data);
  }

  /** Whether some client (connected, or with a persistent session) subscribed to a filter matching `topic`. */
  isSubscribed(_identity: string, topic: string): boolean {
    for (const filters of this.subscriptions.values()) for (const f of filters) if (filterMatches(f, topic)) return true;
    return false;
  }

  /**
   * Watched filters see every routed message, Will messages included (those never pass through authorizePublish).
   * Readings need no subscription here: every device publish passes through authorizePublish.
   */
  async subscribe(filter: string, kind: SubscriptionKind): Promise<void> {
    const aedes = this.aedes;
    if (kind !== 'watched' || this.watched.has(filter) || !aedes) return;
    const deliver = (packet: PublishPacket, cb: () => void): void => {
      this.handlers?.onWatched(filter, packet.topic, payloadBytes(packet.payload));
      cb();
    };
    this.watched.set(filter, deliver);
    await new Promise<void>((resolve, reject) =>
      aedes.subscribe(filter, deliver, (err?: Error) => {
        if (!err) return resolve();
        this.watched.delete(filter);
        reject(err);
      }),
    );
  }

  async unsubscribe(filter: string, kind: SubscriptionKind): Promise<void> {
    const deliver = this.watched.get(filter);
    const aedes = this.aedes;
    if (kind !== 'watched' || !deliver || !aedes) return;
    this.watched.delete(filter);
    await new Promise<void>((resolve) => aedes.unsubscribe(filter, deliver, () => resolve()));
  }

  addresses(): { mqtt?: string; websocket?: string; mqtts?: string; wss?: string } {
    const out: { mqtt?: string; websocket?: string; mqtts?: string; wss?: string } = {};
    const tcp = this.tcp?.address() as AddressInfo | null | undefined;
    if (tcp) out.mqtt = `mqtt://${hostOf(tcp)}:${tcp.port}`;
    const http = this.http?.address() as AddressInfo | null | undefined;
    if (http) out.websocket = `ws://${hostOf(http)}:${http.port}${this.cfg.websocket.path}`;
    const tls = this.tlsServer?.address() as AddressInfo | null | undefined;
    if (tls) out.mqtts = `mqtts://${hostOf(tls)}:${tls.port}`;
    const https = this.https?.address() as AddressInfo | null | undefined;
    if (https) out.wss = `wss://${hostOf(https)}:${https.port}${this.cfg.websocket.path}`;
    return out;
  }

  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
    const aedes = this.aedes;
    if (!aedes || aedes.closed) return Promise.reject(new Error('broker is stopped'));
    return new Promise((resolve, reject) => {
      aedes.publish(
        { cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos: opts.qos, retain: opts.retain, dup: false },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }

  async stop(): Promise<void> {
    const closeServer = (s: Server | HttpServer | undefined): Promise<void> =>
      s ? new Promise((resolve) => s.close(() => resolve())) : Promise.resolve();
    // Counted but not yet reported events go out while the broker can still publish them.
    this.events?.flushAll();
    this.limiter?.releaseAll();
    this.wss?.close();
    this.wssSecure?.close();
    this.tlsWatcher?.close();
    this.tlsWatcher = undefined;
    const closing = [closeServer(this.tcp), closeServer(this.http), closeServer(this.tlsServer), closeServer(this.https)];
    if (this.aedes) {
      const aedes = this.aedes;
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    }
    for (const s of this.sockets) s.destroy();
    // TLS handshakes still in progress (and idle https connections) would otherwise hold their server open.
    for (const s of this.tlsRaw) s.destroy();
    await Promise.all(closing);
  }
}

/** MQTT over WebSocket uses the subprotocol "mqtt" (MQTT 3.1.1 §6); older clients send "mqttv3.1". */
function pickMqttProtocol(protocols: Set<string>): string | false {
  if (protocols.has('mqtt')) return 'mqtt';
  if (protocols.has('mqttv3.1')) return 'mqttv3.1';
  return false;
}

function hostOf(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]` : a.address;
}

function identityName(identity: Identity | undefined): string {
  if (!identity) return 'unauthenticated';
  return identity.kind === 'anonymous' ? 'anonymous' : `${identity.kind}:${identity.name}`;
}
