/**
 * The guard on a connection's byte stream: every byte from the client passes the guard's rules (guard-core.ts) before
 * it enters the stream aedes reads, and every byte aedes writes is read on its way out (CONNACK, packet identifiers in
 * flight).
 *
 * Why ahead of aedes: aedes (via mqtt-packet) buffers a whole packet before parsing it, whatever its declared length
 * — one unauthenticated CONNECT announcing 150 MB grew the broker by 150 MB — and lets through a number of
 * malformed packets (docs/RELIABILITY.md, "MQTT conformance of the embedded broker"). Here, a packet over the size
 * limit is refused from its fixed header, a CONNECT is held (within the pre-authentication budget) and checked whole,
 * and the packets after it are checked as they pass, without copying.
 *
 * How: aedes is handed the connection itself (the TCP or TLS socket, or the WebSocket's stream), whose `push` and
 * `write` are wrapped. A Readable's source hands it data through `push` and stops reading when `push` returns false
 * until the stream asks for more (`_read`) — the contract of Node's stream implementers, kept by net.Socket,
 * tls.TLSSocket and ws' createWebSocketStream. So the guard sees every chunk before it is buffered for aedes, and
 * holds the client still by returning false. An earlier version put a Duplex of its own between the socket and
 * aedes: 1.5 KB per connection, the largest part of an idle device's memory beyond aedes itself (docs/PERFORMANCE.md).
 *
 * Outbound bytes go straight to the socket: mqtt-packet corks it for each packet and uncorks on the next tick, so the
 * packets written in one turn of the event loop (the PUBACKs of a batch of publishes) leave in one write.
 */
import type { Duplex } from 'node:stream';
import type { GuardCore, GuardReport, GuardStep } from './guard-core.js';

/** After a violation, the packets before it are handed to aedes, which closes once it has read them; at the latest then. */
const END_GRACE_MS = 1000;

type Push = (this: Duplex, chunk: Buffer | null) => boolean;
type Write = (this: Duplex, chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;

/** Who a guarded connection reports to: one object for all connections (nothing allocated per connection). */
export interface GuardOwner {
  /** The guard ended the connection, for this reason (logged and reported by the owner). */
  guardEnded(guard: FrameGuard, report: GuardReport): void;
  /** The connection closed, for whatever reason. */
  connectionClosed(guard: FrameGuard): void;
}

/** The guard of a connection, on the connection itself: its wrapped methods find it there. */
const GUARD = Symbol('frame guard');
type Guarded = Duplex & { [GUARD]: FrameGuard };

/**
 * The state of one guarded connection; `conn` keeps its own methods, wrapped. It also carries what its owner keeps
 * per connection (the remote address, aedes' client): one object per connection, not an entry in several tables.
 */
export class FrameGuard {
  /** aedes' client for this connection, once it has one (set by the owner). */
  client: unknown;
  /** A CONNECT is with aedes: nothing more is read until its CONNACK (what arrives meanwhile is held by the core). */
  private holding = false;
  /** The client ended its side while a CONNECT was with aedes: the end follows what is held. */
  private endHeld = false;
  /** The guard has ended the connection: nothing more is read from the client. */
  private ending = false;
  private eof = false;
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly conn: Duplex,
    private readonly core: GuardCore,
    /** `address:port` of the client. */
    readonly remote: string,
    private readonly owner: GuardOwner,
    /** The stream's own methods (its prototype's: nothing is allocated per connection). */
    private readonly pushTo: Push,
    private readonly writeTo: Write,
  ) {}

  /** A chunk from the client (or its end, `null`); false stops the source until the stream reads again. */
  inbound(chunk: Buffer | null): boolean {
    if (this.ending || this.eof) return false;
    if (chunk === null) {
      if (this.holding) {
        this.endHeld = true;
        return false;
      }
      return this.finishReading();
    }
    if (chunk.length === 0) return this.pushTo.call(this.conn, chunk);
    const wasHolding = this.holding;
    const more = this.apply(this.core.inbound(chunk));
    // While holding, the chunk was kept by the core: the source stops (the rest stays in the kernel) until CONNACK.
    return more && !wasHolding && !this.holding;
  }

  /** A chunk aedes writes to the client. */
  outbound(chunk: unknown, encoding: unknown, cb: unknown): boolean {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : (chunk as Uint8Array);
    const step = this.core.outbound(bytes);
    const more = this.writeTo.call(this.conn, chunk, encoding, cb);
    if (step.resume || step.forward || step.end) this.apply(step);
    return more;
  }

  /** Carries out a step; whether the source may go on. */
  private apply(step: GuardStep): boolean {
    let more = true;
    if (step.forward && step.forward.length > 0) more = this.pushTo.call(this.conn, step.forward);
    if (step.pause) this.holding = true;
    if (step.end) this.endWith(step.end.report, step.end.connack, step.forward !== undefined && step.forward.length > 0);
    if (step.resume) {
      this.holding = false;
      if (this.endHeld) this.finishReading();
      // Reading stopped when the source was held; the stream asks for more (`_read`) once it is told to read. Pushing
      // the held bytes above cleared its "reading" mark; with nothing held, the source was never stopped.
      else this.conn.read(0);
    }
    return more && !this.ending;
  }

  private endWith(report: GuardReport, connack: Readonly<Buffer> | undefined, forwarded: boolean): void {
    this.ending = true;
    this.owner.guardEnded(this, report);
    if (connack) {
      // Closed once the CONNACK is flushed, whether or not the client closes its side.
      this.conn.end(connack, () => this.conn.destroy());
      return;
    }
    if (!forwarded) {
      this.conn.destroy();
      return;
    }
    // aedes reads the packets that came before the offending one, then the end of the stream, and closes.
    this.finishReading();
    this.graceTimer = setTimeout(() => this.conn.destroy(), END_GRACE_MS);
    this.graceTimer.unref();
  }

  private finishReading(): boolean {
    if (this.eof) return false;
    this.eof = true;
    return this.pushTo.call(this.conn, null);
  }

  /** The connection closed: the core's share of the pre-authentication budget is returned, the owner told. */
  closed(): void {
    clearTimeout(this.graceTimer);
    this.core.dispose();
    this.owner.connectionClosed(this);
  }
}

// Shared by every guarded connection: `this` is the connection.
function guardedPush(this: Guarded, chunk: unknown): boolean {
  return this[GUARD].inbound(chunk as Buffer | null);
}
function guardedWrite(this: Guarded, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  return this[GUARD].outbound(chunk, encoding, cb);
}
function guardedClose(this: Guarded): void {
  this[GUARD].closed();
}

/** Puts the guard on `conn` before aedes reads from it: chunks pass `core` on their way in and out. */
export function guardConnection(conn: Duplex, core: GuardCore, remote: string, owner: GuardOwner): FrameGuard {
  // The stream's own methods, called on it (`.call(conn, …)`) from the guard.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const guard = new FrameGuard(conn, core, remote, owner, conn.push as Push, conn.write as Write);
  const guarded = conn as Guarded;
  guarded[GUARD] = guard;
  guarded.push = guardedPush;
  (guarded as { write: unknown }).write = guardedWrite;
  guarded.on('close', guardedClose);
  return guard;
}

/** The guard of a connection `guardConnection` was given, if it is one. */
export function guardOf(conn: object): FrameGuard | undefined {
  return (conn as Partial<Guarded>)[GUARD];
}
