/**
 * The rules for MQTT 3.1.1 UTF-8 encoded strings (§1.5.3) and for topic names and filters (§4.7), checked on bytes
 * as they pass — a string may be split over any number of TCP chunks, so the checker keeps its state between calls.
 * Pure: bytes in, a problem code or nothing out.
 *
 * What is refused, and why:
 * - ill-formed UTF-8 (RFC 3629: overlong forms, surrogates U+D800–U+DFFF, code points above U+10FFFF, stray or missing
 *   continuation bytes) [MQTT-1.5.3-1];
 * - U+0000 [MQTT-1.5.3-2] [MQTT-4.7.3-2];
 * - in topics, filters and client ids only (`strict`): the control characters U+0001–U+001F and U+007F–U+009F and the
 *   Unicode noncharacters (U+FDD0–U+FDEF, U+xFFFE, U+xFFFF). §1.5.3 says a string SHOULD NOT contain them and a
 *   receiver MAY close the connection: a topic carrying one is forwarded byte for byte to every matching subscriber,
 *   and a strict subscriber then closes its own connection — one bad publisher would disconnect them all.
 * - wildcards in a topic name [MQTT-3.3.2-2] [MQTT-4.7.1-1], and misplaced ones in a filter: `#` only alone in the
 *   last level [MQTT-4.7.1-2], `+` only alone in a level [MQTT-4.7.1-3];
 * - an empty topic name or filter [MQTT-4.7.3-1].
 */

export type StringProblem =
  | 'invalid-utf8'
  | 'null-character'
  | 'control-character'
  | 'noncharacter'
  | 'empty-topic'
  | 'wildcard-in-topic'
  | 'misplaced-wildcard';

/**
 * `text`: any well-formed string without U+0000 (user name). `id`: also no control characters or noncharacters
 * (client id). `topic`: a topic name (PUBLISH, Will). `filter`: a topic filter (SUBSCRIBE, UNSUBSCRIBE).
 */
export type StringKind = 'text' | 'id' | 'topic' | 'filter';

/** The normative statement each problem breaks, for logs and docs. */
export const STRING_STATEMENTS: Readonly<Record<StringProblem, string>> = {
  'invalid-utf8': '[MQTT-1.5.3-1]',
  'null-character': '[MQTT-1.5.3-2]',
  'control-character': '§1.5.3 (SHOULD NOT; a receiver MAY close)',
  noncharacter: '§1.5.3 (SHOULD NOT; a receiver MAY close)',
  'empty-topic': '[MQTT-4.7.3-1]',
  'wildcard-in-topic': '[MQTT-3.3.2-2]',
  'misplaced-wildcard': '[MQTT-4.7.1-2] [MQTT-4.7.1-3]',
};

// Byte classes for the ASCII fast path: 0 = nothing to check.
const NUL = 1;
const CONTROL = 2;
const HASH = 3;
const PLUS = 4;
const SLASH = 5;
const HIGH = 6; // 0x80–0xFF: part of a multi-byte sequence
const CLASS = new Uint8Array(256);
CLASS[0] = NUL;
for (let b = 0x01; b <= 0x1f; b++) CLASS[b] = CONTROL;
CLASS[0x7f] = CONTROL;
CLASS[0x23] = HASH;
CLASS[0x2b] = PLUS;
CLASS[0x2f] = SLASH;
for (let b = 0x80; b <= 0xff; b++) CLASS[b] = HIGH;

/** Where a filter's last byte stands, for the wildcard placement rules. */
const enum Level {
  Start, // at the start of a level (string start or after '/')
  Plain, // inside a level of ordinary characters
  Plus, // just after a '+' that opened the level
  Hash, // just after a '#' that opened the level
}

/** Streaming checker for one string; `reset` starts the next one (no allocation per string). */
export class StringChecker {
  private kind: StringKind = 'text';
  private strict = false;
  private length = 0;
  /** Continuation bytes still expected, the bounds of the next one (RFC 3629 §4) and the code point so far. */
  private need = 0;
  private lo = 0x80;
  private hi = 0xbf;
  private cp = 0;
  private level = Level.Start;

  reset(kind: StringKind): this {
    this.kind = kind;
    this.strict = kind !== 'text';
    this.length = 0;
    this.need = 0;
    this.lo = 0x80;
    this.hi = 0xbf;
    this.cp = 0;
    this.level = Level.Start;
    return this;
  }

  /** Checks `bytes[start, end)`, the next part of the string. */
  feed(bytes: Uint8Array, start: number, end: number): StringProblem | undefined {
    this.length += end - start;
    const kind = this.kind;
    let i = start;
    while (i < end) {
      if (this.need === 0) {
        // Fast path: a run of ordinary ASCII characters (most topics are nothing else).
        const run = i;
        while (i < end && CLASS[bytes[i]!] === 0) i++;
        if (i > run && kind === 'filter' && this.level !== Level.Plain) {
          if (this.level !== Level.Start) return 'misplaced-wildcard';
          this.level = Level.Plain;
        }
        if (i === end) break;
      }
      const b = bytes[i++]!;
      if (this.need > 0) {
        if (b < this.lo || b > this.hi) return 'invalid-utf8';
        this.cp = (this.cp << 6) | (b & 0x3f);
        this.lo = 0x80;
        this.hi = 0xbf;
        if (--this.need === 0) {
          const problem = this.strict ? codePointProblem(this.cp) : undefined;
          if (problem) return problem;
        }
        continue;
      }
      switch (CLASS[b]) {
        case NUL:
          return 'null-character';
        case CONTROL:
          if (this.strict) return 'control-character';
          break;
        case HIGH: {
          const problem = this.lead(b);
          if (problem) return problem;
          if (kind === 'filter' && this.level !== Level.Plain) {
            if (this.level !== Level.Start) return 'misplaced-wildcard';
            this.level = Level.Plain;
          }
          break;
        }
        case HASH:
        case PLUS:
          if (kind === 'topic') return 'wildcard-in-topic';
          if (kind === 'filter') {
            if (this.level !== Level.Start) return 'misplaced-wildcard';
            this.level = b === 0x23 ? Level.Hash : Level.Plus;
          }
          break;
        case SLASH:
          if (kind === 'filter') {
            if (this.level === Level.Hash) return 'misplaced-wildcard';
            this.level = Level.Start;
          }
          break;
      }
    }
    return undefined;
  }

  /** The string has ended: a sequence cut short, or an empty topic, is a problem. */
  finish(): StringProblem | undefined {
    if (this.need > 0) return 'invalid-utf8';
    if (this.length === 0 && (this.kind === 'topic' || this.kind === 'filter')) return 'empty-topic';
    return undefined;
  }

  /** A lead byte of a multi-byte sequence: how many continuation bytes follow and what the first may be. */
  private lead(b: number): StringProblem | undefined {
    if (b >= 0xc2 && b <= 0xdf) {
      this.need = 1;
      this.cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      this.need = 2;
      this.cp = b & 0x0f;
      if (b === 0xe0) this.lo = 0xa0; // overlong below U+0800
      else if (b === 0xed) this.hi = 0x9f; // surrogates U+D800–U+DFFF
    } else if (b >= 0xf0 && b <= 0xf4) {
      this.need = 3;
      this.cp = b & 0x07;
      if (b === 0xf0) this.lo = 0x90; // overlong below U+10000
      else if (b === 0xf4) this.hi = 0x8f; // above U+10FFFF
    } else {
      return 'invalid-utf8'; // a continuation byte without a lead, C0/C1 (overlong ASCII), F5–FF
    }
    return undefined;
  }
}

function codePointProblem(cp: number): StringProblem | undefined {
  if (cp <= 0x9f) return 'control-character'; // U+0080–U+009F (two-byte forms start at U+0080)
  if ((cp & 0xfffe) === 0xfffe || (cp >= 0xfdd0 && cp <= 0xfdef)) return 'noncharacter';
  return undefined;
}

const shared = new StringChecker();

/** Checks a whole string's bytes. */
export function checkString(bytes: Uint8Array, kind: StringKind, start = 0, end = bytes.length): StringProblem | undefined {
  return shared.reset(kind).feed(bytes, start, end) ?? shared.finish();
}
