/**
 * Uplink payload parsing: MQTT bytes → JSON text → value. Pure.
 *
 * JSON must be UTF-8 (RFC 8259 §8.1); a payload that is not valid UTF-8 is refused instead of being silently
 * "repaired" with U+FFFD, because that would corrupt the device's data.
 */
import { isUtf8 } from 'node:buffer';
import { fail, ok, type Result } from '../errors.js';

/**
 * Deepest JSON nesting accepted. Parsing deeper JSON is fine, but every later walk over the value (schema validation,
 * body rendering, serialization) recurses, and past a few thousand levels that throws RangeError inside a broker
 * callback. Real device payloads are a handful of levels deep.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether JSON text nests arrays/objects deeper than `max` (one pass over the text, strings skipped). */
export function jsonTooDeep(text: string, max = MAX_JSON_DEPTH): boolean {
  // Nesting deeper than `max` needs more than `max` opening brackets. Counting them (native searches, brackets in
  // strings included) settles a typical payload, which has a few, without walking it character by character.
  if (openingsAtMost(text, max)) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/** Whether `text` holds at most `max` of `{` and `[` together. */
function openingsAtMost(text: string, max: number): boolean {
  let n = 0;
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) if (++n > max) return false;
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) if (++n > max) return false;
  return true;
}

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
  if (jsonTooDeep(text)) return fail('PAYLOAD_TOO_DEEP', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return ok({ text, value: JSON.parse(text) as unknown });
  } catch (err) {
    return fail('PAYLOAD_NOT_JSON', `payload is not JSON: ${(err as Error).message}`);
  }
}
