/**
 * The packet rules of MQTT 3.1.1 checked on a client's byte stream after its CONNECT, ahead of aedes — each a MUST
 * that aedes 1.2.0 (or its parser, mqtt-packet) misses or only half enforces, each closing the connection
 * [MQTT-4.8.0-1]. Pure: feed it chunks split anywhere; it keeps its state between them.
 *
 * Cheap on the PUBLISH path: a PUBLISH's fixed header, topic (2 + n bytes) and packet identifier are checked as they
 * pass and its payload is skipped in one step; nothing is copied or buffered. SUBSCRIBE and UNSUBSCRIBE are checked
 * field by field the same way, acknowledgements against the identifiers the server has in flight (in-flight.ts).
 *
 * A violation is reported while the offending packet's last byte has not been handed on yet, so aedes never acts on
 * it: `violationAt` says how much of the chunk came before the offending packet.
 */
import { InFlight, Sent } from './in-flight.js';
import { StringChecker, STRING_STATEMENTS, type StringProblem } from './mqtt-strings.js';

export type ViolationReason =
  | 'packet-too-large'
  | 'connect-too-large'
  | 'malformed-length'
  | 'first-packet-not-connect'
  | 'second-connect'
  | 'reserved-packet-type'
  | 'server-packet-type'
  | 'reserved-flags'
  | 'publish-qos-3'
  | 'dup-on-qos-0'
  | 'wrong-remaining-length'
  | 'malformed-packet'
  | 'packet-id-zero'
  | 'no-topic-filter'
  | 'subscribe-options'
  | 'wrong-acknowledgement'
  | StringProblem;

export interface Violation {
  /** Stable code, e.g. `invalid-utf8`. */
  readonly reason: ViolationReason;
  /** The normative statement(s) broken, e.g. `[MQTT-1.5.3-1]`. */
  readonly statement: string;
  /** MQTT control packet type (upper nibble of the first byte). */
  readonly packetType: number;
  /** Declared Remaining Length, for size violations. */
  readonly declared?: number;
  /** The string field at fault: `topic` (PUBLISH) or `filter` (SUBSCRIBE, UNSUBSCRIBE). */
  readonly field?: 'topic' | 'filter';
}

// Control packet types (§2.2.1, Table 2.1).
export const CONNECT = 1;
const PUBLISH = 3;
const PUBACK = 4;
const PUBREC = 5;
const PUBREL = 6;
const PUBCOMP = 7;
const SUBSCRIBE = 8;
const UNSUBSCRIBE = 10;
const PINGREQ = 12;
const DISCONNECT = 14;

/**
 * What a client may send once connected, by type: the exact flags (Table 2.2, [MQTT-2.2.2-1]) and the exact
 * Remaining Length where it is fixed (§3.4.1, §3.5.1, §3.6.1, §3.7.1: 2; §3.12.1, §3.14.1: 0). -1: not fixed.
 * Types absent are never valid from a client: CONNACK, SUBACK, UNSUBACK, PINGRESP go from server to client, 0 and
 * 15 are reserved (Table 2.1); a second CONNECT is a violation of its own [MQTT-3.1.0-2].
 */
const CLIENT_TYPES: readonly ({ readonly flags: number; readonly length: number } | undefined)[] = (() => {
  const table = new Array<{ flags: number; length: number } | undefined>(16).fill(undefined);
  table[PUBACK] = { flags: 0, length: 2 };
  table[PUBREC] = { flags: 0, length: 2 };
  table[PUBREL] = { flags: 2, length: 2 };
  table[PUBCOMP] = { flags: 0, length: 2 };
  table[SUBSCRIBE] = { flags: 2, length: -1 };
  table[UNSUBSCRIBE] = { flags: 2, length: -1 };
  table[PINGREQ] = { flags: 0, length: 0 };
  table[DISCONNECT] = { flags: 0, length: 0 };
  return table;
})();

const enum In {
  Type,
  Length,
  /** The rest of the body needs no check (PUBLISH payload). */
  Skip,
  /** A two-byte field; which one is in `word`. */
  Word,
  /** A string's bytes. */
  Text,
  /** SUBSCRIBE: the requested QoS byte after a filter. */
  Options,
}

const enum W {
  TopicLength,
  PacketId,
  FilterLength,
  AckId,
}

const MALFORMED = '§2.2.3, [MQTT-4.8.0-1]';

function violation(reason: ViolationReason, statement: string, packetType: number, extra?: { declared?: number; field?: 'topic' | 'filter' }): Violation {
  return { reason, statement, packetType, ...extra };
}

export class PacketScanner {
  private state = In.Type;
  private type = 0;
  private qos = 0;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  /** Body bytes of the current packet not consumed yet. */
  private remaining = 0;
  private word = W.TopicLength;
  private wordValue = 0;
  private wordBytes = 0;
  /** Bytes of the current string still to come. */
  private textLeft = 0;
  private filters = 0;
  private readonly text = new StringChecker();
  /** Offset in the last chunk where the offending packet started (0 when it started in an earlier chunk). */
  violationAt = 0;
  private packetStart = 0;

  constructor(
    /** Largest Remaining Length accepted. */
    private readonly maxRemainingLength: number,
    private readonly inFlight: InFlight = new InFlight(),
  ) {}

  /** Scans the next chunk; the first violation found, if any (the scanner is not meant to be used after one). */
  push(chunk: Uint8Array): Violation | undefined {
    const n = chunk.length;
    let i = 0;
    this.packetStart = 0;
    while (i < n) {
      switch (this.state) {
        case In.Skip: {
          const take = Math.min(this.remaining, n - i);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = In.Type;
          continue;
        }
        case In.Type: {
          this.packetStart = i;
          const b = chunk[i++]!;
          const v = this.header(b);
          if (v) return this.fail(v);
          continue;
        }
        case In.Length: {
          const b = chunk[i++]!;
          // Remaining Length: 7 bits per byte, continuation in the high bit, at most 4 bytes (§2.2.3).
          this.length += (b & 0x7f) * this.multiplier;
          this.multiplier *= 128;
          this.lengthBytes += 1;
          if (b & 0x80) {
            if (this.lengthBytes >= 4) return this.fail(violation('malformed-length', '§2.2.3', this.type));
            continue;
          }
          const v = this.lengthKnown();
          if (v) return this.fail(v);
          continue;
        }
        case In.Word: {
          this.wordValue = ((this.wordValue << 8) | chunk[i++]!) & 0xffff;
          this.remaining -= 1;
          if (++this.wordBytes < 2) continue;
          const v = this.wordDone(this.wordValue);
          if (v) return this.fail(v);
          continue;
        }
        case In.Text: {
          const take = Math.min(this.textLeft, n - i);
          const problem = this.text.feed(chunk, i, i + take);
          i += take;
          this.textLeft -= take;
          this.remaining -= take;
          const v = problem ? this.stringViolation(problem) : this.textLeft === 0 ? this.textDone() : undefined;
          if (v) return this.fail(v);
          continue;
        }
        case In.Options: {
          const b = chunk[i++]!;
          this.remaining -= 1;
          // Requested QoS 0–2, the upper six bits reserved [MQTT-3.8.3-4].
          if (b > 2) return this.fail(violation('subscribe-options', '[MQTT-3.8.3-4]', this.type));
          const v = this.nextFilter();
          if (v) return this.fail(v);
          continue;
        }
      }
    }
    return undefined;
  }

  private fail(v: Violation): Violation {
    this.violationAt = this.packetStart;
    return v;
  }

  /** The first byte of a packet: its type and flags. */
  private header(b: number): Violation | undefined {
    const type = b >> 4;
    const flags = b & 0x0f;
    this.type = type;
    this.length = 0;
    this.multiplier = 1;
    this.lengthBytes = 0;
    this.state = In.Length;
    if (type === PUBLISH) {
      this.qos = (flags >> 1) & 3;
      if (this.qos === 3) return violation('publish-qos-3', '[MQTT-3.3.1-4]', type);
      // DUP is 0 on every QoS 0 message [MQTT-3.3.1-2].
      if (this.qos === 0 && flags & 0x08) return violation('dup-on-qos-0', '[MQTT-3.3.1-2]', type);
      return undefined;
    }
    const rule = CLIENT_TYPES[type];
    if (!rule) {
      if (type === CONNECT) return violation('second-connect', '[MQTT-3.1.0-2]', type);
      if (type === 0 || type === 15) return violation('reserved-packet-type', '§2.2.1 (Table 2.1), [MQTT-4.8.0-1]', type);
      return violation('server-packet-type', '§2.2.1 (Table 2.1: server to client only), [MQTT-4.8.0-1]', type);
    }
    if (flags !== rule.flags) return violation('reserved-flags', '[MQTT-2.2.2-1] [MQTT-2.2.2-2]', type);
    return undefined;
  }

  /** The Remaining Length is known: check it, and start reading the body. */
  private lengthKnown(): Violation | undefined {
    const type = this.type;
    const length = this.length;
    if (length > this.maxRemainingLength) return violation('packet-too-large', 'mqtt.embedded.maxPayloadBytes', type, { declared: length });
    const rule = CLIENT_TYPES[type];
    if (rule && rule.length >= 0 && length !== rule.length) {
      return violation('wrong-remaining-length', `§3.${type === PINGREQ ? 12 : type === DISCONNECT ? 14 : type}.1, [MQTT-4.8.0-1]`, type, {
        declared: length,
      });
    }
    this.remaining = length;
    this.wordValue = 0;
    this.wordBytes = 0;
    this.filters = 0;
    switch (type) {
      case PUBLISH:
        // Topic length (2), and the packet identifier (2) at QoS 1 and 2 (§3.3.2).
        if (length < (this.qos > 0 ? 4 : 2)) return violation('malformed-packet', MALFORMED, type);
        this.expectWord(W.TopicLength);
        return undefined;
      case SUBSCRIBE:
      case UNSUBSCRIBE:
        if (length < 2) return violation('malformed-packet', MALFORMED, type);
        this.expectWord(W.PacketId);
        return undefined;
      case PUBACK:
      case PUBREC:
      case PUBREL:
      case PUBCOMP:
        this.expectWord(W.AckId);
        return undefined;
      default:
        this.state = length === 0 ? In.Type : In.Skip;
        return undefined;
    }
  }

  private expectWord(w: W): void {
    this.word = w;
    this.wordValue = 0;
    this.wordBytes = 0;
    this.state = In.Word;
  }

  private expectText(bytes: number, kind: 'topic' | 'filter'): Violation | undefined {
    this.text.reset(kind);
    this.textLeft = bytes;
    this.state = In.Text;
    return bytes === 0 ? this.textDone() : undefined;
  }

  private wordDone(value: number): Violation | undefined {
    const type = this.type;
    switch (this.word) {
      case W.TopicLength:
        if (value + (this.qos > 0 ? 2 : 0) > this.remaining) return violation('malformed-packet', MALFORMED, type);
        return this.expectText(value, 'topic');
      case W.PacketId:
        // SUBSCRIBE, UNSUBSCRIBE and QoS 1/2 PUBLISH carry a non-zero Packet Identifier [MQTT-2.3.1-1].
        if (value === 0) return violation('packet-id-zero', '[MQTT-2.3.1-1]', type);
        if (type === PUBLISH) {
          this.state = this.remaining === 0 ? In.Type : In.Skip;
          return undefined;
        }
        // At least one topic filter [MQTT-3.8.3-3] [MQTT-3.10.3-2].
        if (this.remaining === 0) return violation('no-topic-filter', type === SUBSCRIBE ? '[MQTT-3.8.3-3]' : '[MQTT-3.10.3-2]', type);
        return this.nextFilter();
      case W.FilterLength:
        if (value + (type === SUBSCRIBE ? 1 : 0) > this.remaining) return violation('malformed-packet', MALFORMED, type);
        return this.expectText(value, 'filter');
      case W.AckId:
        this.state = In.Type;
        return this.acknowledged(value);
    }
  }

  /** The current string ended without a problem in its bytes. */
  private textDone(): Violation | undefined {
    const problem = this.text.finish();
    if (problem) return this.stringViolation(problem);
    if (this.type === PUBLISH) {
      if (this.qos > 0) this.expectWord(W.PacketId);
      else this.state = this.remaining === 0 ? In.Type : In.Skip;
      return undefined;
    }
    this.filters += 1;
    if (this.type === SUBSCRIBE) {
      this.state = In.Options;
      return undefined;
    }
    return this.nextFilter();
  }

  /** After a SUBSCRIBE/UNSUBSCRIBE entry: the packet ends here, or another filter follows. */
  private nextFilter(): Violation | undefined {
    if (this.remaining === 0) {
      this.state = In.Type;
      return undefined;
    }
    if (this.remaining < 2) return violation('malformed-packet', MALFORMED, this.type);
    this.expectWord(W.FilterLength);
    return undefined;
  }

  private stringViolation(problem: StringProblem): Violation {
    const field = this.type === PUBLISH ? 'topic' : 'filter';
    const where = this.type === PUBLISH ? '[MQTT-3.3.2-1]' : this.type === SUBSCRIBE ? '[MQTT-3.8.3-1]' : '[MQTT-3.10.3-1]';
    const statement = problem === 'wildcard-in-topic' ? STRING_STATEMENTS[problem] : `${STRING_STATEMENTS[problem]} ${where}`;
    return violation(problem, statement, this.type, { field });
  }

  /** An acknowledgement of a message the server sent must be of the kind its QoS calls for (§4.3). */
  private acknowledged(id: number): Violation | undefined {
    const type = this.type;
    if (type === PUBREL) return undefined; // concerns the client's own QoS 2 publish; aedes answers it
    const sent = this.inFlight.get(id);
    if (sent === undefined) return undefined; // not (or no longer) tracked: aedes ignores unknown identifiers
    if (type === PUBACK) {
      if (sent !== Sent.Qos1) return violation('wrong-acknowledgement', '[MQTT-4.3.3-2]', type);
      this.inFlight.done(id);
    } else if (type === PUBREC) {
      if (sent === Sent.Qos1) return violation('wrong-acknowledgement', '[MQTT-4.3.2-2]', type);
      // A repeated PUBREC after the PUBREL is answered by aedes with the PUBREL again; not a violation.
    } else if (type === PUBCOMP) {
      if (sent === Sent.Qos1) return violation('wrong-acknowledgement', '[MQTT-4.3.2-2]', type);
      if (sent === Sent.Qos2) return violation('wrong-acknowledgement', '[MQTT-4.3.3-2]', type);
      this.inFlight.done(id);
    }
    return undefined;
  }
}
