/**
 * The embedded MQTT broker: aedes on TCP and on WebSocket (`/mqtt`). Identity and transport only — payload work
 * happens in the uplink pipeline, reached through `authorizePublish`, the one aedes hook that runs before a QoS 1
 * PUBACK / QoS 2 PUBREC is written, so a publish is acknowledged only once the bridge has taken it.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { BridgeConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { GuardedConnection, MqttFrameScanner, type FrameViolation } from './frame-guard.js';
import type { MqttFilters, MqttSide, MqttSideHandlers, PublishOptions } from './mqtt-side.js';

type EmbeddedConfig = BridgeConfig['mqtt']['embedded'];

/** Room for the fixed parts of a PUBLISH around its payload: topic (≤ 65535 + 2 bytes) and packet id. */
const PUBLISH_OVERHEAD = 65535 + 2 + 2;

export class EmbeddedBroker implements MqttSide {
  readonly name = 'embedded';
  readonly reportsClients = true;
  private aedes: Aedes | undefined;
  private tcp: Server | undefined;
  private http: HttpServer | undefined;
  private wss: WebSocketServer | undefined;
  private readonly sockets = new Set<Duplex>();

  constructor(
    private readonly cfg: EmbeddedConfig,
    private readonly log: Logger,
  ) {}

  async start(handlers: MqttSideHandlers, filters: MqttFilters): Promise<void> {
    const maxPayload = this.cfg.maxPayloadBytes;
    const aedes = await Aedes.createBroker({
      authorizePublish: (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) => {
        // [MQTT-3.3.2-2] no wildcards in a topic name; aedes refuses them before this hook.
        if (packet.topic.startsWith('$SYS')) return callback(new Error('$SYS topics are reserved'));
        const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
        if (payload.length > maxPayload) {
          // MQTT 3.1.1 cannot refuse a PUBLISH except by closing the connection (the error does that).
          handlers.onBrokerEvent('payload_too_large', { clientId: client?.id, topic: packet.topic, bytes: payload.length, limit: maxPayload });
          return callback(new Error('payload too large'));
        }
        handlers.onPublish(
          { topic: packet.topic, payload, qos: packet.qos, retain: packet.retain, clientId: client?.id ?? undefined, replay: false },
          (err) => callback(err ?? null),
        );
      },
    });
    this.aedes = aedes;

    aedes.on('clientReady', (client) => handlers.onClientConnected(client.id));
    aedes.on('clientDisconnect', (client) => handlers.onClientDisconnected(client.id));
    aedes.on('clientError', (client, err) => this.log.debug({ clientId: client.id, err: err.message }, 'MQTT client error'));
    aedes.on('connectionError', (client, err) => this.log.debug({ clientId: client.id, err: err.message }, 'MQTT connection error'));

    // Watched filters see every routed message, Will messages included (those never pass through authorizePublish).
    for (const filter of filters.watched) {
      await new Promise<void>((resolve) =>
        aedes.subscribe(
          filter,
          (packet, cb) => {
            const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
            handlers.onWatched(packet.topic, payload);
            cb();
          },
          resolve,
        ),
      );
    }

    const guard = (conn: Duplex, remote: string): Duplex => {
      const guarded = new GuardedConnection(conn, new MqttFrameScanner(maxPayload + PUBLISH_OVERHEAD), (v: FrameViolation) => {
        this.log.warn({ remote, ...v }, 'MQTT packet over the size limit; connection closed');
        handlers.onBrokerEvent('packet_too_large', { remote, ...v, limit: maxPayload + PUBLISH_OVERHEAD });
      });
      this.sockets.add(guarded);
      guarded.on('close', () => this.sockets.delete(guarded));
      return guarded;
    };

    this.tcp = createServer((socket: Socket) => {
      aedes.handle(guard(socket, `${socket.remoteAddress}:${socket.remotePort}`));
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
        const stream = createWebSocketStream(socket);
        stream.on('error', () => socket.terminate());
        aedes.handle(guard(stream, `${req.socket.remoteAddress}:${req.socket.remotePort}`), req);
      });
      this.http.listen(ws.port, ws.host);
      await once(this.http, 'listening');
    }
    this.log.info(this.addresses(), 'embedded MQTT broker listening');
  }

  addresses(): { mqtt?: string; websocket?: string } {
    const out: { mqtt?: string; websocket?: string } = {};
    const tcp = this.tcp?.address() as AddressInfo | null | undefined;
    if (tcp) out.mqtt = `mqtt://${hostOf(tcp)}:${tcp.port}`;
    const http = this.http?.address() as AddressInfo | null | undefined;
    if (http) out.websocket = `ws://${hostOf(http)}:${http.port}${this.cfg.websocket.path}`;
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
    this.wss?.close();
    const closing = [closeServer(this.tcp), closeServer(this.http)];
    if (this.aedes) {
      const aedes = this.aedes;
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    }
    for (const s of this.sockets) s.destroy();
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
