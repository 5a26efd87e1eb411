/**
 * [MQTT-3.1.2-2]: a CONNECT whose protocol level the server does not support MUST be answered with CONNACK return
 * code 0x01 (unacceptable protocol level) and the connection closed. aedes cannot: its parser (mqtt-packet) throws on
 * any level other than 3, 4 and 5 while parsing, before any aedes hook runs, and aedes then closes without a CONNACK.
 * So the first packet's variable header is looked at here, ahead of aedes. Pure: bytes in, verdict out.
 */

/** CONNACK, remaining length 2, no session present, return code 0x01 (MQTT 3.1.1 §3.2.2.3). */
export const CONNACK_UNACCEPTABLE_PROTOCOL_LEVEL: Readonly<Buffer> = Buffer.from([0x20, 0x02, 0x00, 0x01]);

/** Levels aedes handles itself: 3 (MQTT 3.1, "MQIsdp"), 4 (3.1.1), 5 (refused by aedes with its own CONNACK 0x01). */
const LEVELS_FOR_AEDES = new Set([3, 4, 5]);

export type FirstPacketVerdict = 'more' | 'pass' | 'unacceptable-level';

/**
 * `more`: not enough bytes yet to decide; `pass`: hand the stream to aedes (it is not a CONNECT, or not an MQTT one,
 * or its level is one aedes answers); `unacceptable-level`: answer CONNACK 0x01 and close.
 */
export function inspectFirstPacket(bytes: Uint8Array): FirstPacketVerdict {
  if (bytes.length === 0) return 'more';
  if (bytes[0] !== 0x10) return 'pass'; // not a CONNECT with valid flags: aedes closes it ([MQTT-3.1.0-1], [MQTT-2.2.2-2])
  // Remaining Length: 1 to 4 bytes (§2.2.3); a malformed one is the frame scanner's to report.
  let at = 1;
  for (;;) {
    if (at >= bytes.length) return 'more';
    const byte = bytes[at++]!;
    if ((byte & 0x80) === 0) break;
    if (at - 1 >= 4) return 'pass';
  }
  // Variable header (§3.1.2): Protocol Name as a UTF-8 string (two-byte length), then the Protocol Level byte.
  if (bytes.length < at + 2) return 'more';
  const nameLength = (bytes[at]! << 8) | bytes[at + 1]!;
  if (nameLength !== 4 && nameLength !== 6) return 'pass'; // not "MQTT" nor "MQIsdp": aedes refuses it [MQTT-3.1.2-1]
  const levelAt = at + 2 + nameLength;
  if (bytes.length <= levelAt) return 'more';
  const name = Buffer.from(bytes.subarray(at + 2, levelAt)).toString('latin1');
  if (name !== 'MQTT' && name !== 'MQIsdp') return 'pass';
  return LEVELS_FOR_AEDES.has(bytes[levelAt]!) ? 'pass' : 'unacceptable-level';
}
