/**
 * The network side of the embedded broker: MQTT over TCP, over WebSocket (`/mqtt`), and with `mqtt.embedded.tls`
 * over TLS and WebSocket over TLS. Every accepted connection is checked against `maxConnections` and handed to
 * `accept` (the broker's guard and aedes); nothing here knows MQTT.
 *
 * TLS: the certificate, key and CA are reloaded when they change on disk (tls.ts), for new handshakes; a handshake
 * gets the same time as a CONNECT; failed handshakes are reported as `tls_handshake_failed`.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { createWebSocketStream, WebSocketServer, type WebSocket } from 'ws';
import type { BridgeConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { EventReporter } from './event-reporter.js';
import type { Addresses } from './mqtt-side.js';
import { contextOptions, describeMaterial, FileChangeWatcher, loadTlsMaterial, tlsServerOptions, type TlsMaterial } from './tls.js';

type EmbeddedConfig = BridgeConfig['mqtt']['embedded'];

/** Hands one accepted connection to the broker; `secure` is the TLS socket under it (where a client certificate is). */
export type Accept = (conn: Duplex, remote: string, req?: IncomingMessage, secure?: TLSSocket) => void;

export interface ListenerOptions {
  readonly cfg: EmbeddedConfig;
  readonly log: Logger;
  readonly events: EventReporter;
  /** Bridge events that are not throttled (TLS reloads). */
  readonly onEvent: (type: string, data: Record<string, unknown>) => void;
  /** Largest WebSocket frame: an MQTT packet of the largest accepted payload. */
  readonly maxFrameBytes: number;
  /** Connections open now, TCP and WebSocket together. */
  readonly connections: () => number;
  readonly accept: Accept;
}

export class BrokerListeners {
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

  constructor(private readonly o: ListenerOptions) {}

  async start(): Promise<void> {
    const { cfg, accept } = this.o;
    this.tcp = createServer((socket: Socket) => {
      const remote = `${socket.remoteAddress}:${socket.remotePort}`;
      if (this.overLimit(remote)) return void socket.destroy();
      // A PUBACK must not wait for Nagle's algorithm: with a client that waits for each acknowledgement (mqtt.js
      // re-sending its store after a reconnect) every packet would otherwise wait a delayed-ACK timeout (~40 ms).
      socket.setNoDelay(true);
      accept(socket, remote);
    });
    this.tcp.listen(cfg.port, cfg.host);
    await once(this.tcp, 'listening');

    if (cfg.websocket.enabled) {
      const ws = cfg.websocket;
      this.http = createHttpServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to ' + ws.path + '\n');
      });
      this.wss = this.webSocketServer(this.http, ws.path);
      this.http.listen(ws.port, ws.host);
      await once(this.http, 'listening');
    }

    if (cfg.tls.enabled) await this.startTls();
  }

  addresses(): Addresses {
    const out: { mqtt?: string; websocket?: string; mqtts?: string; wss?: string } = {};
    const path = this.o.cfg.websocket.path;
    const tcp = this.tcp?.address() as AddressInfo | null | undefined;
    if (tcp) out.mqtt = `mqtt://${hostOf(tcp)}:${tcp.port}`;
    const http = this.http?.address() as AddressInfo | null | undefined;
    if (http) out.websocket = `ws://${hostOf(http)}:${http.port}${path}`;
    const tls = this.tlsServer?.address() as AddressInfo | null | undefined;
    if (tls) out.mqtts = `mqtts://${hostOf(tls)}:${tls.port}`;
    const https = this.https?.address() as AddressInfo | null | undefined;
    if (https) out.wss = `wss://${hostOf(https)}:${https.port}${path}`;
    return out;
  }

  /**
   * Stops accepting. The returned promise settles once every server has closed, which needs their connections gone:
   * the broker destroys those it handles, then calls `endHandshakes()` for the rest.
   */
  close(): Promise<void> {
    this.wss?.close();
    this.wssSecure?.close();
    this.tlsWatcher?.close();
    this.tlsWatcher = undefined;
    const closeServer = (s: Server | HttpServer | undefined): Promise<void> => (s ? new Promise((resolve) => s.close(() => resolve())) : Promise.resolve());
    return Promise.all([closeServer(this.tcp), closeServer(this.http), closeServer(this.tlsServer), closeServer(this.https)]).then(() => undefined);
  }

  /** TLS handshakes still in progress (and idle https connections) would otherwise hold their server open. */
  endHandshakes(): void {
    for (const s of this.tlsRaw) s.destroy();
  }

  /** Beyond `maxConnections` (TCP and WebSocket together) a new connection is closed at once, before aedes sees it. */
  private overLimit(remote: string): boolean {
    const { cfg, log, events } = this.o;
    if (this.o.connections() < cfg.maxConnections) return false;
    log.debug({ remote, limit: cfg.maxConnections }, 'MQTT connection refused: connection limit');
    events.record('connection_refused', 'limit', { reason: 'limit', remote, limit: cfg.maxConnections });
    return true;
  }

  private webSocketServer(server: HttpServer | HttpsServer, path: string, secure = false): WebSocketServer {
    // ws enforces the frame limit itself; the frame scanner covers MQTT packets split over frames.
    const wss = new WebSocketServer({ server, path, maxPayload: this.o.maxFrameBytes, handleProtocols: pickMqttProtocol });
    wss.on('connection', (socket, req) => {
      const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
      if (this.overLimit(remote)) return void socket.terminate();
      refuseTextFrames(socket, () => {
        this.o.log.info({ remote }, 'MQTT over WebSocket: a text frame; connection closed');
        this.o.events.record('protocol_violation', `websocket-text-frame|${req.socket.remoteAddress}`, { remote, reason: 'websocket-text-frame' });
      });
      const stream = createWebSocketStream(socket);
      stream.on('error', () => socket.terminate());
      this.o.accept(stream, remote, req, secure ? (req.socket as TLSSocket) : undefined);
    });
    return wss;
  }

  private async startTls(): Promise<void> {
    const { cfg, log, events, accept } = this.o;
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
      log.debug({ remote: from.remote, err: err.message }, 'TLS handshake failed');
      // A peer that just goes away (health checks, port scans) is not worth an event; a refused one is: unknown
      // CA, missing client certificate, plain MQTT on the TLS port…
      if (err.code === 'ECONNRESET') return;
      events.record('tls_handshake_failed', from.address, { remote: from.remote, reason: err.message.trim() });
    };
    this.tlsServer = createTlsServer(options, (socket: TLSSocket) => {
      const remote = `${socket.remoteAddress}:${socket.remotePort}`;
      if (this.overLimit(remote)) return void socket.destroy();
      socket.setNoDelay(true);
      accept(socket, remote, undefined, socket);
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
      this.wssSecure = this.webSocketServer(this.https, path, true);
      this.https.listen(tls.websocketPort, tls.host);
      await once(this.https, 'listening');
    }
    const files = [tls.certFile, tls.keyFile, tls.caFile].filter((f): f is string => f !== undefined);
    this.tlsWatcher = new FileChangeWatcher(files, () => this.reloadTls(), log);
  }

  /** New TLS material from disk for new handshakes; on any problem the current material stays in use. */
  private reloadTls(): void {
    const { log, onEvent } = this.o;
    let next: TlsMaterial;
    try {
      next = loadTlsMaterial(this.o.cfg.tls);
    } catch (err) {
      const error = (err as Error).message;
      log.error({ err: error }, 'TLS reload failed; the listeners keep the previous certificate');
      onEvent('tls_reload_failed', { error });
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
      log.error({ err: error }, 'TLS reload failed; the listeners keep the previous certificate');
      onEvent('tls_reload_failed', { error });
      return;
    }
    this.tlsMaterial = next;
    const data = { ...describeMaterial(next), previousFingerprint256: previous?.fingerprint256 };
    log.info(data, 'TLS certificate reloaded');
    onEvent('tls_reloaded', data);
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

/**
 * [MQTT-6.0.0-1] MQTT packets MUST be sent in binary frames; on any other data frame the connection MUST be closed.
 * ws has no option for it, and its stream adapter would hand a text frame's bytes to the broker like any other: the
 * socket's `message` events are filtered before any listener sees them, so a text frame reaches nobody.
 */
function refuseTextFrames(socket: WebSocket, onRefused: () => void): void {
  const emit = socket.emit.bind(socket);
  socket.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'message' && args[1] === false) {
      onRefused();
      socket.terminate();
      return false;
    }
    return emit(event, ...args);
  }) as typeof socket.emit;
}
