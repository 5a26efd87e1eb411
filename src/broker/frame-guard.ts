/**
 * The socket as aedes sees it: every byte from the client passes the guard's rules (guard-core.ts) before aedes
 * reads it, and every byte aedes writes is read on its way out (CONNACK, packet identifiers in flight).
 *
 * Why ahead of aedes: aedes (via mqtt-packet) buffers a whole packet before parsing it, whatever its declared length
 * — one unauthenticated CONNECT announcing 150 MB grew the broker by 150 MB — and lets through a number of
 * malformed packets (docs/RELIABILITY.md, "MQTT conformance of the embedded broker"). Here, a packet over the size
 * limit is refused from its fixed header, a CONNECT is held (within the pre-authentication budget) and checked whole,
 * and the packets after it are checked as they pass, without copying.
 *
 * Outbound bytes go straight to the socket, with its backpressure, and the packets written in one turn of the event
 * loop (the PUBACKs of a batch of publishes) leave in one write: each write is a system call, and small ones
 * dominated the broker's CPU profile.
 */
import { Duplex } from 'node:stream';
import type { GuardCore, GuardReport, GuardStep } from './guard-core.js';

/** After a violation, the packets before it are handed to aedes, which closes once it has read them; at the latest then. */
const END_GRACE_MS = 1000;

export class GuardedConnection extends Duplex {
  private readonly socket: Duplex;
  private corked = false;
  /** A CONNECT is with aedes: the socket stays paused until its CONNACK. */
  private holding = false;
  /** The guard has ended the connection: nothing more is read from the socket. */
  private ending = false;
  private eof = false;
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(
    socket: Duplex,
    private readonly core: GuardCore,
    private readonly onEnd: (report: GuardReport) => void,
  ) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      if (!this.ending) this.apply(this.core.inbound(chunk));
    });
    socket.on('end', () => this.finishReading());
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  private apply(step: GuardStep): void {
    if (step.resume) {
      this.holding = false;
      this.socket.resume();
    }
    if (step.forward && step.forward.length > 0 && !this.eof && !this.push(step.forward)) this.socket.pause();
    if (step.pause) {
      this.holding = true;
      this.socket.pause();
    }
    if (step.end) this.endWith(step.end.report, step.end.connack, step.forward !== undefined && step.forward.length > 0);
  }

  private endWith(report: GuardReport, connack: Readonly<Buffer> | undefined, forwarded: boolean): void {
    this.ending = true;
    this.socket.pause();
    this.onEnd(report);
    if (connack) {
      // Closed once the CONNACK is flushed, whether or not the client closes its side; the socket's close closes this.
      this.socket.end(connack, () => this.socket.destroy());
      return;
    }
    if (!forwarded) {
      this.socket.destroy();
      this.destroy();
      return;
    }
    // aedes reads the packets that came before the offending one, then the end of the stream, and closes.
    this.finishReading();
    this.graceTimer = setTimeout(() => this.destroy(), END_GRACE_MS);
    this.graceTimer.unref();
  }

  private finishReading(): void {
    if (this.eof) return;
    this.eof = true;
    this.push(null);
  }

  override _read(): void {
    if (!this.holding && !this.ending) this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const step = this.core.outbound(chunk);
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
    if (step.resume || step.forward || step.end) this.apply(step);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    clearTimeout(this.graceTimer);
    this.core.dispose();
    this.socket.destroy();
    cb(err);
  }
}
