/**
 * The rules of §3.1 (CONNECT) that aedes 1.2.0 and its parser (mqtt-packet) do not enforce, checked on the whole
 * packet before aedes sees it. Pure: the packet's bytes in, a verdict out.
 *
 * mqtt-packet decodes strings with `toString('utf8')` (ill-formed bytes become U+FFFD, U+0000 passes), stops reading
 * at the last field its flags announce (a user name or password sent without its flag is ignored), and takes a Will
 * QoS of 3. aedes then answers CONNACK 0 to all of them. [MQTT-3.1.4-1]: the server MUST validate that the CONNECT
 * conforms to §3.1 and close the connection without sending a CONNACK if it does not.
 */
import { checkString, STRING_STATEMENTS, type StringProblem } from './mqtt-strings.js';

/** Largest CONNECT accepted (Remaining Length), whatever `maxPayloadBytes` is: a CONNECT is held whole until checked. */
export const MAX_CONNECT_BYTES = 64 * 1024;

/** CONNACK, remaining length 2, no session present, return code 0x02 "identifier rejected" (§3.2.2.3). */
export const CONNACK_IDENTIFIER_REJECTED: Readonly<Buffer> = Buffer.from([0x20, 0x02, 0x00, 0x02]);

export type ConnectField = 'client-id' | 'will-topic' | 'username';

export type ConnectProblem =
  | 'protocol-name'
  | 'reserved-connect-flag'
  | 'will-flags'
  | 'will-qos-3'
  | 'password-without-username'
  | 'username-not-flagged'
  | 'password-not-flagged'
  | 'trailing-bytes'
  | 'malformed-connect'
  | StringProblem;

export type ConnectVerdict =
  /** Hand it to aedes (which answers level 5 with CONNACK 0x01 itself). */
  | { readonly kind: 'pass' }
  /** Close without a CONNACK. */
  | { readonly kind: 'close'; readonly reason: ConnectProblem; readonly statement: string; readonly field?: ConnectField }
  /** Answer CONNACK 0x02, then close [MQTT-3.1.3-9]. */
  | { readonly kind: 'identifier-rejected'; readonly reason: StringProblem; readonly statement: string; readonly field: 'client-id' };

const PASS: ConnectVerdict = { kind: 'pass' };

// Connect Flags (§3.1.2.3, Figure 3.4).
const USERNAME = 0x80;
const PASSWORD = 0x40;
const WILL_RETAIN = 0x20;
const WILL_QOS = 0x18;
const WILL = 0x04;
const RESERVED = 0x01;

function close(reason: ConnectProblem, statement: string, field?: ConnectField): ConnectVerdict {
  return field ? { kind: 'close', reason, statement, field } : { kind: 'close', reason, statement };
}

/**
 * Checks a complete CONNECT: `packet` is the whole control packet, fixed header included, whose first byte is 0x10
 * and whose Remaining Length the caller has read (`bodyStart` is the offset of the variable header). Levels other
 * than 3 and 4 are decided elsewhere (connect-level.ts) and pass here.
 */
export function checkConnect(packet: Uint8Array, bodyStart: number): ConnectVerdict {
  const end = packet.length;
  let at = bodyStart;
  /** A two-byte length and that many bytes (§1.5.3, §1.5.2 binary data); -1 when the packet is too short. */
  const field = (): number => {
    if (at + 2 > end) return -1;
    const n = (packet[at]! << 8) | packet[at + 1]!;
    at += 2;
    if (at + n > end) return -1;
    const start = at;
    at += n;
    return start;
  };
  const malformed = close('malformed-connect', '[MQTT-3.1.4-1]');

  // Variable header (§3.1.2): Protocol Name, Protocol Level, Connect Flags, Keep Alive.
  const nameAt = field();
  if (nameAt < 0) return malformed;
  const name = Buffer.from(packet.subarray(nameAt, at)).toString('latin1');
  if (name !== 'MQTT' && name !== 'MQIsdp') return close('protocol-name', '[MQTT-3.1.2-1]');
  if (at + 4 > end) return malformed;
  const level = packet[at]!;
  if (level !== 3 && level !== 4) return PASS; // 5: aedes refuses it; others: refused ahead (connect-level.ts)
  const flags = packet[at + 1]!;
  at += 4;
  if (flags & RESERVED) return close('reserved-connect-flag', '[MQTT-3.1.2-3]');
  const will = (flags & WILL) !== 0;
  if (!will && (flags & (WILL_QOS | WILL_RETAIN)) !== 0) return close('will-flags', '[MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15]');
  if (will && (flags & WILL_QOS) === WILL_QOS) return close('will-qos-3', '[MQTT-3.1.2-14]');
  const username = (flags & USERNAME) !== 0;
  const password = (flags & PASSWORD) !== 0;
  if (password && !username) return close('password-without-username', '[MQTT-3.1.2-22]');

  // Payload (§3.1.3): Client Identifier, [Will Topic, Will Message], [User Name], [Password], in this order.
  const idAt = field();
  if (idAt < 0) return malformed;
  const idEnd = at;
  let topicAt = -1;
  let topicEnd = -1;
  if (will) {
    topicAt = field();
    topicEnd = at;
    if (topicAt < 0 || field() < 0) return malformed;
  }
  let userAt = -1;
  let userEnd = -1;
  if (username) {
    userAt = field();
    userEnd = at;
    if (userAt < 0) return malformed;
  }
  if (password && field() < 0) return malformed;
  // Bytes beyond the announced fields: the field their flag says is absent [MQTT-3.1.2-18] [MQTT-3.1.2-20].
  if (at !== end) {
    if (!username) return close('username-not-flagged', '[MQTT-3.1.2-18]');
    if (!password) return close('password-not-flagged', '[MQTT-3.1.2-20]');
    return close('trailing-bytes', '[MQTT-3.1.4-1]');
  }

  // Strings: a MUST broken anywhere closes without CONNACK; a client id the server will not take (control
  // characters, noncharacters) is answered CONNACK 0x02 once the rest of the packet is known to be sound.
  const idProblem = checkString(packet, 'id', idAt, idEnd);
  const idRefused = idProblem === 'control-character' || idProblem === 'noncharacter';
  if (idProblem && !idRefused) return stringClose(idProblem, 'client-id', '[MQTT-3.1.3-4]');
  if (will) {
    const p = checkString(packet, 'topic', topicAt, topicEnd);
    if (p) return stringClose(p, 'will-topic', '[MQTT-3.1.3-10]', '[MQTT-4.7.1-1]');
  }
  if (username) {
    const p = checkString(packet, 'text', userAt, userEnd);
    if (p) return stringClose(p, 'username', '[MQTT-3.1.3-11]');
  }
  if (idProblem) {
    return { kind: 'identifier-rejected', reason: idProblem, statement: `[MQTT-3.1.3-9] ${STRING_STATEMENTS[idProblem]}`, field: 'client-id' };
  }
  return PASS;
}

function stringClose(problem: StringProblem, field: ConnectField, fieldStatement: string, wildcardStatement?: string): ConnectVerdict {
  const statement = problem === 'wildcard-in-topic' && wildcardStatement ? wildcardStatement : STRING_STATEMENTS[problem];
  return close(problem, `${statement} ${fieldStatement}`, field);
}
