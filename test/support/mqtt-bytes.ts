/**
 * A tiny MQTT 3.1.1 encoder for tests that speak raw bytes, written from the specification's figures (OASIS
 * Standard, 2014, §1–3) rather than from a library, and a raw socket to send them on.
 */
import { connect, type Socket } from 'node:net';

/** Remaining Length (§2.2.3): 7 bits per byte, least significant group first, high bit = another byte follows. */
export function remainingLengthBytes(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

export function remainingLength(n: number): Buffer {
  return Buffer.from(remainingLengthBytes(n));
}

/** A UTF-8 encoded string (§1.5.3): two-byte big-endian length, then the bytes. */
export function utf8(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([u16(b.length), b]);
}

/** A two-byte big-endian integer (§1.5.2), e.g. a Packet Identifier. */
export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** A fixed header (§2.2): first byte (type and flags), then a Remaining Length of `declared`. */
export function fixedHeader(firstByte: number, declared: number): Buffer {
  return Buffer.concat([Buffer.from([firstByte]), remainingLength(declared)]);
}

/** A whole control packet: fixed header, then variable header and payload. */
export function packet(firstByte: number, ...parts: readonly (Uint8Array | readonly number[])[]): Buffer {
  const body = Buffer.concat(parts.map((p) => (p instanceof Uint8Array ? p : Buffer.from(p))));
  return Buffer.concat([fixedHeader(firstByte, body.length), body]);
}

/** A string field's bytes: text is UTF-8 encoded; raw bytes are taken as they are (to send ill-formed UTF-8). */
export type StringBytes = string | Uint8Array;

/** A UTF-8 encoded string field (§1.5.3) from text or from raw bytes: two-byte length, then the bytes. */
export function str(s: StringBytes): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
  return Buffer.concat([u16(b.length), b]);
}

export interface ConnectOptions {
  clientId?: StringBytes;
  clean?: boolean;
  keepalive?: number;
  protocolName?: string;
  level?: number;
  /** Extra bits OR-ed into the Connect Flags byte (§3.1.2.3), e.g. the reserved bit 0. */
  extraFlags?: number;
  /** Bits cleared from the Connect Flags byte after the fields set theirs (to send a field without its flag). */
  clearFlags?: number;
  /** MQTT 5 CONNECT: a Properties length (0) after the keep alive (MQTT 5.0 §3.1.2.11). */
  v5Properties?: boolean;
  /** Will Flag, QoS and Retain, and the Will Topic and Message in the payload (§3.1.2.5–3.1.2.7, §3.1.3.2–3). */
  will?: { topic: StringBytes; payload?: string; qos?: number; retain?: boolean };
  /** User Name Flag and the User Name (§3.1.2.8, §3.1.3.4). */
  username?: StringBytes;
  /** Password Flag and the Password (§3.1.2.9, §3.1.3.5). */
  password?: string | Buffer;
  /** Bytes after the last announced field. */
  trailing?: Uint8Array;
}

/** The variable header and payload of a CONNECT (§3.1): protocol name, level, flags, keep alive, then the payload. */
export function connectBody(o: ConnectOptions = {}): Buffer {
  let flags = (o.clean ?? true ? 0x02 : 0x00) | (o.extraFlags ?? 0);
  if (o.will) flags |= 0x04 | ((o.will.qos ?? 0) << 3) | (o.will.retain ? 0x20 : 0);
  if (o.username !== undefined) flags |= 0x80;
  if (o.password !== undefined) flags |= 0x40;
  flags &= ~(o.clearFlags ?? 0);
  const password = typeof o.password === 'string' ? Buffer.from(o.password) : o.password;
  return Buffer.concat([
    utf8(o.protocolName ?? 'MQTT'),
    Buffer.from([o.level ?? 4, flags]),
    u16(o.keepalive ?? 60),
    o.v5Properties ? Buffer.from([0]) : Buffer.alloc(0),
    str(o.clientId ?? 'conformance'),
    o.will ? Buffer.concat([str(o.will.topic), str(o.will.payload ?? '')]) : Buffer.alloc(0),
    o.username !== undefined ? str(o.username) : Buffer.alloc(0),
    password !== undefined ? Buffer.concat([u16(password.length), password]) : Buffer.alloc(0),
    o.trailing ?? Buffer.alloc(0),
  ]);
}

/** CONNECT (§3.1); by default MQTT 3.1.1, clean session, keep alive 60. */
export function connectPacket(o: ConnectOptions = {}): Buffer {
  return packet(0x10, connectBody(o));
}

/** PUBLISH (§3.3): QoS in bits 1–2 of the first byte; a Packet Identifier only when QoS > 0. */
export function publishPacket(topic: StringBytes, payload: string | Uint8Array, qos: number, packetId = 1, o: { dup?: boolean; retain?: boolean } = {}): Buffer {
  const first = 0x30 | (o.dup ? 0x08 : 0) | (qos << 1) | (o.retain ? 0x01 : 0);
  return packet(first, str(topic), qos > 0 ? u16(packetId) : Buffer.alloc(0), Buffer.from(payload));
}

/** SUBSCRIBE (§3.8): first byte 0x82 (reserved flags 0010 [MQTT-3.8.1-1]), Packet Identifier, filter/QoS pairs. */
export function subscribePacket(packetId: number, subs: readonly (readonly [StringBytes, number])[]): Buffer {
  return packet(0x82, u16(packetId), ...subs.flatMap(([filter, qos]) => [str(filter), Buffer.from([qos])]));
}

/** UNSUBSCRIBE (§3.10): first byte 0xA2 [MQTT-3.10.1-1], Packet Identifier, topic filters. */
export function unsubscribePacket(packetId: number, filters: readonly StringBytes[]): Buffer {
  return packet(0xa2, u16(packetId), ...filters.map(str));
}

/** PUBACK 0x40, PUBREC 0x50, PUBREL 0x62, PUBCOMP 0x70 (§3.4–3.7): the Packet Identifier only. */
export function ackPacket(firstByte: number, packetId: number): Buffer {
  return packet(firstByte, u16(packetId));
}

export const PUBACK = 0x40;
export const PUBREC = 0x50;
export const PUBREL = 0x62;
export const PUBCOMP = 0x70;

export const PINGREQ = Buffer.from([0xc0, 0x00]);
export const DISCONNECT = Buffer.from([0xe0, 0x00]);
export const CONNACK_ACCEPTED = '20020000';

/**
 * A TCP connection to the host and port of an mqtt:// URL, once it is established; from `localAddress` if given
 * (any 127.x.y.z works on Linux loopback: the broker then sees a distinct source address).
 */
export async function openSocket(url: string, localAddress?: string): Promise<Socket> {
  const u = new URL(url);
  const socket = connect({ host: u.hostname, port: Number(u.port), ...(localAddress ? { localAddress } : {}) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined); // a reset is one way for the server to close; 'close' follows
  return socket;
}
