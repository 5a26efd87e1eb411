/**
 * Uplink payload parsing: MQTT bytes → JSON text → value. Pure.
 *
 * JSON must be UTF-8 (RFC 8259 §8.1); a payload that is not valid UTF-8 is refused instead of being silently
 * "repaired" with U+FFFD, because that would corrupt the device's data.
 */
import { isUtf8 } from 'node:buffer';
import { fail, ok, type Result } from '../errors.js';

export interface ParsedPayload {
  /** The JSON text exactly as the device sent it (minus a leading byte order mark). */
  readonly text: string;
  readonly value: unknown;
}

export function parseJsonPayload(payload: Uint8Array): Result<ParsedPayload> {
  if (payload.length === 0) return fail('PAYLOAD_NOT_JSON', 'payload is empty');
  if (!isUtf8(payload)) return fail('PAYLOAD_NOT_JSON', 'payload is not valid UTF-8');
  let text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  // RFC 8259 §8.1: parsers MAY ignore a byte order mark.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return ok({ text, value: JSON.parse(text) as unknown });
  } catch (err) {
    return fail('PAYLOAD_NOT_JSON', `payload is not JSON: ${(err as Error).message}`);
  }
}
