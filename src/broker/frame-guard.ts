/**
 * A size limit on MQTT packets, enforced on the byte stream *before* aedes buffers a packet.
 *
 * aedes (via mqtt-packet) accumulates a whole packet before parsing it, whatever its declared length: one
 * unauthenticated CONNECT announcing 150 MB grew the broker by 150 MB. The scanner reads each fixed header's
 * Remaining Length (MQTT 3.1.1 §2.2.3) as bytes arrive and reports a violation as soon as a packet declares more
 * than the limit, so the connection is closed having buffered at most one chunk. The same guard holds back the first
 * packet's few header bytes until its protocol level is known ([MQTT-3.1.2-2], see connect-level.ts).
 */
import { Duplex } from 'node:stream';
import { CONNACK_UNACCEPTABLE_PROTOCOL_LEVEL, inspectFirstPacket } from './connect-level.js';

export interface FrameViolation {
  readonly reason: 'packet-too-large' | 'malformed-length';
  /** Declared remaining length, when known. */
  readonly declared?: number;
  /** MQTT control packet type (upper nibble of the first byte), when known. */
  readonly packetType?: number;
}

/** Incremental fixed-header scanner. Pure: feed it chunks, it keeps its state across chunk boundaries. */
export class MqttFrameScanner {
  private state: 'type' | 'length' | 'body' = 'type';
  private packetType = 0;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;

  constructor(private readonly maxRemainingLength: number) {}

  push(chunk: Uint8Array): FrameViolation | undefined {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.state === 'body') {
        const take = Math.min(this.remaining, n - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.state = 'type';
        continue;
      }
      const byte = chunk[i++]!;
      if (this.state === 'type') {
        this.packetType = byte >> 4;
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        this.state = 'length';
        continue;
      }
      // Remaining Length: 7 bits per byte, continuation in the high bit, at most 4 bytes (MQTT 3.1.1 §2.2.3).
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes += 1;
      if (byte & 0x80) {
        if (this.lengthBytes >= 4) return { reason: 'malformed-length', packetType: this.packetType };
        continue;
      }
      if (this.length > this.maxRemainingLength) {
        return { reason: 'packet-too-large', declared: this.length, packetType: this.packetType };
      }
      this.remaining = this.length;
      this.state = this.remaining === 0 ? 'type' : 'body';
    }
    return undefined;
  }
}

/**
 * The socket as aedes sees it: inbound bytes pass through the scanner; a violation destroys the connection before
 * the oversized packet is buffered. Outbound bytes go straight to the socket, with its backpressure, and the packets
 * written in one turn of the event loop (the PUBACKs of a batch of publishes) leave in one write: each write is a
 * system call, and small ones dominated the broker's CPU profile.
 */
export class GuardedConnection extends Duplex {
  private readonly socket: Duplex;
  private corked = false;
  /** Bytes of the first packet held until its protocol level is known; undefined once passed to aedes. */
  private head: Buffer | undefined = Buffer.alloc(0);
  private refused = false;

  constructor(socket: Duplex, scanner: MqttFrameScanner, onViolation: (v: FrameViolation) => void) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      if (this.refused) return;
      const violation = scanner.push(chunk);
      if (violation) {
        onViolation(violation);
        socket.destroy();
        this.destroy();
        return;
      }
      const data = this.firstPacket(chunk);
      if (data && !this.push(data)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  /**
   * Until the first packet's protocol level is known, hold its bytes back from aedes (a few bytes at most); refuse an
   * unsupported level with CONNACK 0x01 and close once it is written [MQTT-3.1.2-2]. Returns what aedes may read.
   */
  private firstPacket(chunk: Buffer): Buffer | undefined {
    if (this.head === undefined) return chunk;
    const bytes = this.head.length > 0 ? Buffer.concat([this.head, chunk]) : chunk;
    const verdict = inspectFirstPacket(bytes);
    if (verdict === 'more') {
      this.head = bytes;
      return undefined;
    }
    this.head = undefined;
    if (verdict === 'pass') return bytes;
    this.refused = true;
    // Closed once the CONNACK is flushed, whether or not the client closes its side; the socket's close closes this.
    this.socket.end(CONNACK_UNACCEPTABLE_PROTOCOL_LEVEL, () => this.socket.destroy());
    return undefined;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    // Accept the next chunk at once unless the socket is full; then wait for it to drain (backpressure to aedes).
    if (this.socket.write(chunk)) cb();
    else this.socket.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }
}
