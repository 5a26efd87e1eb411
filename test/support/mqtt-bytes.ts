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

export interface ConnectOptions {
  clientId?: string;
  clean?: boolean;
  keepalive?: number;
  protocolName?: string;
  level?: number;
  /** Extra bits OR-ed into the Connect Flags byte (§3.1.2.3), e.g. the reserved bit 0. */
  extraFlags?: number;
  /** MQTT 5 CONNECT: a Properties length (0) after the keep alive (MQTT 5.0 §3.1.2.11). */
  v5Properties?: boolean;
}

/** The variable header and payload of a CONNECT (§3.1): protocol name, level, flags, keep alive, then the ClientId. */
export function connectBody(o: ConnectOptions = {}): Buffer {
  const flags = (o.clean ?? true ? 0x02 : 0x00) | (o.extraFlags ?? 0);
  return Buffer.concat([
    utf8(o.protocolName ?? 'MQTT'),
    Buffer.from([o.level ?? 4, flags]),
    u16(o.keepalive ?? 60),
    o.v5Properties ? Buffer.from([0]) : Buffer.alloc(0),
    utf8(o.clientId ?? 'conformance'),
  ]);
}

/** CONNECT (§3.1); by default MQTT 3.1.1, clean session, keep alive 60. */
export function connectPacket(o: ConnectOptions = {}): Buffer {
  return packet(0x10, connectBody(o));
}

/** PUBLISH (§3.3): QoS in bits 1–2 of the first byte; a Packet Identifier only when QoS > 0. */
export function publishPacket(topic: string, payload: string, qos: number, packetId = 1): Buffer {
  return packet(0x30 | (qos << 1), utf8(topic), qos > 0 ? u16(packetId) : Buffer.alloc(0), Buffer.from(payload));
}

/** SUBSCRIBE (§3.8): first byte 0x82 (reserved flags 0010 [MQTT-3.8.1-1]), Packet Identifier, filter/QoS pairs. */
export function subscribePacket(packetId: number, subs: readonly (readonly [string, number])[]): Buffer {
  return packet(0x82, u16(packetId), ...subs.flatMap(([filter, qos]) => [utf8(filter), Buffer.from([qos])]));
}

export const PINGREQ = Buffer.from([0xc0, 0x00]);
export const DISCONNECT = Buffer.from([0xe0, 0x00]);
export const CONNACK_ACCEPTED = '20020000';

/** A TCP connection to the host and port of an mqtt:// URL, once it is established. */
export async function openSocket(url: string): Promise<Socket> {
  const u = new URL(url);
  const socket = connect({ host: u.hostname, port: Number(u.port) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined); // a reset is one way for the server to close; 'close' follows
  return socket;
}
