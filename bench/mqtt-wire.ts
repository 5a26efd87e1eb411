/**
 * A minimal MQTT 3.1.1 device on a raw socket, for the load generator: thousands of these must cost the generator
 * little, so there is no store, no reconnect and no per-client timer (keep-alive pings come from one shared timer).
 * Packets: CONNECT/CONNACK, PUBLISH (QoS 0/1, both directions), PUBACK, SUBSCRIBE/SUBACK, PINGREQ/PINGRESP,
 * DISCONNECT.
 */
import { connect, type Socket } from 'node:net';
import { remainingLengthBytes } from '../test/support/mqtt-bytes.js';

export interface DeviceOptions {
  readonly host: string;
  readonly port: number;
  /** Local (source) address. */
  readonly localAddress?: string;
  readonly clientId: string;
  readonly keepalive: number;
  readonly connectTimeoutMs: number;
}

export interface DeviceEvents {
  /** An inbound PUBLISH (already acknowledged when QoS 1). */
  onPublish?: (topic: string, payload: Buffer) => void;
  onPuback?: () => void;
  /** The connection closed after CONNACK (not by close()). */
  onLost?: (reason: string) => void;
}

function header(first: number, length: number): Buffer {
  return Buffer.from([first, ...remainingLengthBytes(length)]);
}

export function connectPacket(clientId: string, keepalive: number): Buffer {
  const id = Buffer.from(clientId, 'utf8');
  const body = Buffer.alloc(10 + 2 + id.length);
  body.writeUInt16BE(4, 0);
  body.write('MQTT', 2, 'latin1');
  body[6] = 4; // protocol level 3.1.1
  body[7] = 0x02; // clean session
  body.writeUInt16BE(keepalive, 8);
  body.writeUInt16BE(id.length, 10);
  id.copy(body, 12);
  return Buffer.concat([header(0x10, body.length), body]);
}

/** One PUBLISH packet; `topic` must be pre-encoded (Buffer) since devices reuse theirs. */
export function publishPacket(topic: Buffer, payload: Buffer, qos: 0 | 1, packetId: number): Buffer {
  const len = 2 + topic.length + (qos > 0 ? 2 : 0) + payload.length;
  const rl = remainingLengthBytes(len);
  const buf = Buffer.allocUnsafe(1 + rl.length + len);
  let o = 0;
  buf[o++] = 0x30 | (qos << 1);
  for (const b of rl) buf[o++] = b;
  buf.writeUInt16BE(topic.length, o);
  o += 2;
  topic.copy(buf, o);
  o += topic.length;
  if (qos > 0) {
    buf.writeUInt16BE(packetId, o);
    o += 2;
  }
  payload.copy(buf, o);
  return buf;
}

function subscribePacket(filter: string, qos: 0 | 1, packetId: number): Buffer {
  const f = Buffer.from(filter, 'utf8');
  const body = Buffer.alloc(2 + 2 + f.length + 1);
  body.writeUInt16BE(packetId, 0);
  body.writeUInt16BE(f.length, 2);
  f.copy(body, 4);
  body[4 + f.length] = qos;
  return Buffer.concat([header(0x82, body.length), body]);
}

const PINGREQ = Buffer.from([0xc0, 0x00]);
const DISCONNECT = Buffer.from([0xe0, 0x00]);

export class WireDevice {
  socket: Socket | undefined;
  connected = false;
  private closing = false;
  private buf: Buffer = Buffer.alloc(0);
  private nextId = 1;
  /** QoS 1 publishes sent and not yet acknowledged. */
  inflight = 0;
  private waitConnack: ((rc: number) => void) | undefined;
  private waitSuback: (() => void) | undefined;

  constructor(
    readonly opts: DeviceOptions,
    readonly events: DeviceEvents = {},
  ) {}

  /** Resolves once CONNACK 0 arrives; rejects on refusal, error or timeout. */
  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const { host, port, localAddress } = this.opts;
      const socket = connect({ host, port, ...(localAddress ? { localAddress } : {}) });
      this.socket = socket;
      socket.setNoDelay(true);
      let settled = false;
      const fail = (reason: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(new Error(reason));
      };
      const timer = setTimeout(() => fail(`no CONNACK within ${this.opts.connectTimeoutMs} ms`), this.opts.connectTimeoutMs);
      socket.once('connect', () => socket.write(connectPacket(this.opts.clientId, this.opts.keepalive)));
      socket.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
      socket.on('close', () => {
        const was = this.connected;
        this.connected = false;
        if (!settled) fail('closed before CONNACK');
        else if (was && !this.closing) this.events.onLost?.('closed by the server');
      });
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      this.waitConnack = (rc) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (rc !== 0) {
          socket.destroy();
          reject(new Error(`CONNACK return code ${rc}`));
          return;
        }
        this.connected = true;
        resolve();
      };
    });
  }

  subscribe(filter: string, qos: 0 | 1): Promise<void> {
    return new Promise((resolve) => {
      this.waitSuback = resolve;
      this.socket?.write(subscribePacket(filter, qos, this.packetId()));
    });
  }

  packetId(): number {
    const id = this.nextId;
    this.nextId = id >= 65535 ? 1 : id + 1;
    return id;
  }

  /** Writes a pre-built packet; false when the device is not connected. */
  write(packet: Buffer, qos: 0 | 1): boolean {
    if (!this.connected || !this.socket) return false;
    if (qos > 0) this.inflight += 1;
    this.socket.write(packet);
    return true;
  }

  ping(): void {
    if (this.connected) this.socket?.write(PINGREQ);
  }

  close(): void {
    this.closing = true;
    if (this.connected) this.socket?.end(DISCONNECT);
    else this.socket?.destroy();
    this.connected = false;
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      let len = 0;
      let mult = 1;
      let i = 1;
      for (;;) {
        if (i >= b.length) return;
        const d = b[i++]!;
        len += (d & 0x7f) * mult;
        mult *= 128;
        if ((d & 0x80) === 0) break;
      }
      if (b.length < i + len) return;
      const type = b[0]! >> 4;
      const body = b.subarray(i, i + len);
      this.buf = b.subarray(i + len);
      this.packet(type, b[0]!, body);
    }
  }

  private packet(type: number, first: number, body: Buffer): void {
    switch (type) {
      case 2: // CONNACK
        this.waitConnack?.(body[1] ?? 255);
        this.waitConnack = undefined;
        break;
      case 3: {
        // PUBLISH
        const qos = (first >> 1) & 3;
        const tlen = body.readUInt16BE(0);
        const topic = body.toString('utf8', 2, 2 + tlen);
        let o = 2 + tlen;
        if (qos > 0) {
          const id = body.readUInt16BE(o);
          o += 2;
          this.socket?.write(Buffer.from([0x40, 0x02, id >> 8, id & 0xff]));
        }
        this.events.onPublish?.(topic, body.subarray(o));
        break;
      }
      case 4: // PUBACK
        this.inflight = Math.max(0, this.inflight - 1);
        this.events.onPuback?.();
        break;
      case 9: // SUBACK
        this.waitSuback?.();
        this.waitSuback = undefined;
        break;
      default: // PINGRESP and anything else: nothing to do
        break;
    }
  }
}
