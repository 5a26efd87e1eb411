/**
 * The decisions of the frame guard for one connection, without the socket: bytes in from the client and out from
 * aedes, steps out (hand bytes to aedes, pause, resume, end the connection and why). GuardedConnection
 * (frame-guard.ts) carries the steps out.
 *
 * A connection goes through three phases:
 * 1. `connect` — its first packet must be a CONNECT [MQTT-3.1.0-1] of at most MAX_CONNECT_BYTES. It is held here,
 *    whole, until complete (aedes has no size limit of its own and would buffer any declared length), then checked
 *    (connect-level.ts: protocol level; connect-packet.ts: §3.1) and handed to aedes in one piece.
 * 2. `connack` — aedes authenticates. The socket is paused: what the client sends meanwhile stays in the kernel,
 *    apart from the rest of the chunk that carried the CONNECT, held here. Until then every byte held counts
 *    against the PreAuthBudget shared by all connections.
 * 3. `open` — after CONNACK 0 (seen in what aedes writes), the byte stream passes through the packet rules
 *    (packet-rules.ts) as it arrives; nothing is held.
 */
import { CONNACK_UNACCEPTABLE_PROTOCOL_LEVEL, inspectFirstPacket } from './connect-level.js';
import { checkConnect, CONNACK_IDENTIFIER_REJECTED, MAX_CONNECT_BYTES } from './connect-packet.js';
import { InFlight, OutboundScanner } from './in-flight.js';
import { PacketScanner, type Violation } from './packet-rules.js';
import type { PreAuthBudget } from './pre-auth-budget.js';

/** The broker event a report is published as. */
export type GuardEvent = 'packet_too_large' | 'protocol_violation' | 'connection_refused' | 'pre_auth_budget_exceeded';

/** Why a connection was ended by the guard: logged and reported as a broker event. */
export interface GuardReport {
  readonly event: GuardEvent;
  /** Stable code, e.g. `invalid-utf8`, `connect-too-large`, `identifier-rejected`. */
  readonly reason: string;
  /** The normative statement(s) concerned, e.g. `[MQTT-1.5.3-1]`. */
  readonly statement: string;
  readonly packetType?: number;
  /** Declared Remaining Length (size violations). */
  readonly declared?: number;
  /** The limit that was exceeded, in bytes. */
  readonly limit?: number;
  /** The string field at fault: client-id, will-topic, username, topic, filter. */
  readonly field?: string;
  /** What is wrong with a refused client id (`control-character`, `noncharacter`). */
  readonly detail?: string;
  /** Pre-authentication bytes this connection would have held, and all connections held (budget refusals). */
  readonly held?: number;
  readonly inUse?: number;
}

export interface GuardStep {
  /** Bytes for aedes. */
  readonly forward?: Buffer;
  /** Stop reading from the socket (a CONNECT went to aedes: nothing more until its CONNACK). */
  readonly pause?: true;
  /** Read from the socket again (CONNACK 0). */
  readonly resume?: true;
  /** The connection ends (after `forward` is handed on), with this CONNACK written first if there is one. */
  readonly end?: { readonly report: GuardReport; readonly connack?: Readonly<Buffer> };
}

export interface GuardLimits {
  /** Largest Remaining Length of any packet after the CONNECT (maxPayloadBytes and room for the rest). */
  readonly maxRemainingLength: number;
  /** Largest Remaining Length of a CONNECT; MAX_CONNECT_BYTES unless a test needs another. */
  readonly maxConnectBytes?: number;
}

/** A log line's wording for a report: the real reason, not only "too large". */
export function describeReport(report: GuardReport): string {
  switch (report.event) {
    case 'packet_too_large':
      return `${report.reason === 'connect-too-large' ? 'CONNECT' : 'packet'} over the size limit`;
    case 'pre_auth_budget_exceeded':
      return 'pre-authentication memory budget exhausted';
    case 'connection_refused':
      return `CONNECT refused (${report.reason})`;
    case 'protocol_violation':
      return `protocol violation (${report.reason})`;
  }
}

const NOTHING: GuardStep = {};
/** Smallest buffer for an unfinished CONNECT; it grows by doubling, so it never holds more than twice what arrived. */
const MIN_HOLD = 256;

function fromViolation(v: Violation): GuardReport {
  const event: GuardEvent = v.reason === 'packet-too-large' ? 'packet_too_large' : 'protocol_violation';
  return { event, ...v };
}

export class GuardCore {
  private phase: 'connect' | 'connack' | 'open' | 'ended' = 'connect';
  /** The unfinished CONNECT (phase `connect`): `hold[0, holdLength)`. */
  private hold: Buffer | undefined;
  private holdLength = 0;
  /** The CONNECT's size with its fixed header, once its Remaining Length is known (0 until then). */
  private connectTotal = 0;
  /** What arrived after the CONNECT and waits for its CONNACK (phase `connack`). */
  private stash: Buffer | undefined;
  /** Bytes this connection counts against the pre-authentication budget. */
  private held = 0;
  private readonly inFlight = new InFlight();
  private readonly packets: PacketScanner;
  private readonly outgoing: OutboundScanner;
  private readonly maxConnect: number;

  constructor(
    limits: GuardLimits,
    private readonly budget: PreAuthBudget,
  ) {
    this.packets = new PacketScanner(limits.maxRemainingLength, this.inFlight);
    this.outgoing = new OutboundScanner(this.inFlight);
    this.maxConnect = limits.maxConnectBytes ?? MAX_CONNECT_BYTES;
  }

  /** Bytes held against the pre-authentication budget (0 once accepted or ended). */
  get preAuthBytes(): number {
    return this.held;
  }

  /** The next chunk from the client. */
  inbound(chunk: Buffer): GuardStep {
    switch (this.phase) {
      case 'open':
        return this.scan(chunk);
      case 'connect':
        return this.connect(chunk);
      case 'connack': {
        // Paused: at most what was already on its way arrives (a WebSocket frame, a TLS record).
        const stash = this.stash ? Buffer.concat([this.stash, chunk]) : Buffer.from(chunk);
        if (!this.take(stash.length)) return this.overBudget(stash.length);
        this.stash = stash;
        return NOTHING;
      }
      case 'ended':
        return NOTHING;
    }
  }

  /** The next chunk aedes writes to the client. */
  outbound(chunk: Uint8Array): GuardStep {
    if (this.phase === 'ended') return NOTHING;
    if (!this.outgoing.push(chunk) || this.phase !== 'connack') return NOTHING;
    // The first CONNACK: anything but 0 and aedes closes the connection itself [MQTT-3.2.2-5].
    if (this.outgoing.connackCode !== 0) return NOTHING;
    this.phase = 'open';
    const stash = this.stash;
    this.stash = undefined;
    this.release();
    if (!stash) return { resume: true };
    const step = this.scan(stash);
    return { ...step, resume: true };
  }

  /** The connection is gone: its share of the budget is returned. */
  dispose(): void {
    this.phase = 'ended';
    this.hold = undefined;
    this.stash = undefined;
    this.release();
  }

  private scan(chunk: Buffer): GuardStep {
    const v = this.packets.push(chunk);
    if (!v) return { forward: chunk };
    this.phase = 'ended';
    const at = this.packets.violationAt;
    return at > 0 ? { forward: chunk.subarray(0, at), end: { report: fromViolation(v) } } : { end: { report: fromViolation(v) } };
  }

  private connect(chunk: Buffer): GuardStep {
    if (chunk.length === 0) return NOTHING;
    const bytes = this.hold ? this.append(chunk) : chunk;
    if (!bytes) return this.overBudget(this.holdLength + chunk.length);
    const first = bytes[0]!;
    if (first !== 0x10) {
      // The flags of CONNECT are 0 (Table 2.2) [MQTT-2.2.2-2]; any other type first [MQTT-3.1.0-1].
      if (first >> 4 === 1) return this.ended({ event: 'protocol_violation', reason: 'reserved-flags', statement: '[MQTT-2.2.2-1] [MQTT-2.2.2-2]', packetType: 1 });
      return this.ended({ event: 'protocol_violation', reason: 'first-packet-not-connect', statement: '[MQTT-3.1.0-1]', packetType: first >> 4 });
    }
    // Remaining Length (§2.2.3): 1 to 4 bytes.
    let length = 0;
    let multiplier = 1;
    let at = 1;
    for (;;) {
      if (at >= bytes.length) return this.keep(bytes, chunk);
      const b = bytes[at++]!;
      length += (b & 0x7f) * multiplier;
      multiplier *= 128;
      if ((b & 0x80) === 0) break;
      if (at - 1 >= 4) return this.ended({ event: 'protocol_violation', reason: 'malformed-length', statement: '§2.2.3', packetType: 1 });
    }
    if (length > this.maxConnect) {
      return this.ended({ event: 'packet_too_large', reason: 'connect-too-large', statement: 'MAX_CONNECT_BYTES', packetType: 1, declared: length, limit: this.maxConnect });
    }
    const total = at + length;
    this.connectTotal = total;
    if (bytes.length < total) {
      // An unsupported level is answered as soon as it is known, not once the whole CONNECT is in [MQTT-3.1.2-2].
      if (inspectFirstPacket(bytes) === 'unacceptable-level') return this.refuseLevel();
      return this.keep(bytes, chunk, total);
    }
    const packet = bytes.subarray(0, total);
    if (inspectFirstPacket(packet) === 'unacceptable-level') return this.refuseLevel();
    const verdict = checkConnect(packet, at);
    if (verdict.kind === 'close') {
      const { reason, statement, field } = verdict;
      return this.ended({ event: 'protocol_violation', reason, statement, packetType: 1, field });
    }
    if (verdict.kind === 'identifier-rejected') {
      // [MQTT-3.1.3-9]: CONNACK 0x02, then close.
      const { reason, statement, field } = verdict;
      return this.ended({ event: 'connection_refused', reason: 'identifier-rejected', statement, packetType: 1, field, detail: reason }, CONNACK_IDENTIFIER_REJECTED);
    }
    // Sound: aedes gets the CONNECT; the rest waits for the CONNACK.
    this.phase = 'connack';
    this.hold = undefined;
    this.holdLength = 0;
    const rest = bytes.length > total ? Buffer.from(bytes.subarray(total)) : undefined;
    if (rest && !this.take(rest.length)) return this.overBudget(rest.length);
    if (!rest) this.release();
    this.stash = rest;
    return { forward: packet, pause: true };
  }

  /** Holds an unfinished CONNECT: `bytes` is all of it so far (the hold itself, or the first chunk). */
  private keep(bytes: Buffer, chunk: Buffer, total?: number): GuardStep {
    if (bytes === chunk) {
      // First chunk: copy it into a buffer of its own, sized for what may follow.
      const capacity = Math.min(total ?? Infinity, this.maxConnect + 5, Math.max(MIN_HOLD, 2 * chunk.length));
      if (!this.take(capacity)) return this.overBudget(capacity);
      this.hold = Buffer.allocUnsafe(capacity);
      chunk.copy(this.hold);
      this.holdLength = chunk.length;
    }
    return NOTHING;
  }

  /** Appends a chunk to the unfinished CONNECT; undefined when the budget cannot cover the larger buffer. */
  private append(chunk: Buffer): Buffer | undefined {
    const hold = this.hold!;
    const need = this.holdLength + chunk.length;
    let target = hold;
    if (need > hold.length) {
      // Doubling, but never beyond the CONNECT's declared size (or the largest one accepted, with its fixed header).
      const capacity = Math.max(need, Math.min(2 * hold.length, this.connectTotal || this.maxConnect + 5));
      if (!this.take(capacity)) return undefined;
      target = Buffer.allocUnsafe(capacity);
      hold.copy(target, 0, 0, this.holdLength);
      this.hold = target;
    }
    chunk.copy(target, this.holdLength);
    this.holdLength = need;
    return target.subarray(0, need);
  }

  /** Sets this connection's share of the budget to `bytes`; false when the budget cannot cover it. */
  private take(bytes: number): boolean {
    if (!this.budget.resize(this.held, bytes)) return false;
    this.held = bytes;
    return true;
  }

  private release(): void {
    this.budget.resize(this.held, 0);
    this.held = 0;
  }

  private overBudget(wanted: number): GuardStep {
    const inUse = this.budget.inUse;
    return this.ended({
      event: 'pre_auth_budget_exceeded',
      reason: 'pre-auth-budget',
      statement: 'PRE_AUTH_BUDGET_BYTES',
      held: wanted,
      inUse,
      limit: this.budget.limit,
    });
  }

  private refuseLevel(): GuardStep {
    return this.ended({ event: 'connection_refused', reason: 'unacceptable-protocol-level', statement: '[MQTT-3.1.2-2]', packetType: 1 }, CONNACK_UNACCEPTABLE_PROTOCOL_LEVEL);
  }

  private ended(report: GuardReport, connack?: Readonly<Buffer>): GuardStep {
    this.dispose();
    return connack ? { end: { report, connack } } : { end: { report } };
  }
}
