/**
 * Small readers for JSON that came from the broker: everything is `unknown` until checked. Pure.
 */
import { isUtf8 } from 'node:buffer';
import { fail, type Result } from '../errors.js';
import { parseJsonPayload } from '../convert/payload.js';

export type JsonRecord = Readonly<Record<string, unknown>>;

export function isRecord(v: unknown): v is JsonRecord {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function stringField(o: JsonRecord, key: string): string | undefined {
  const v = o[key];
  return typeof v === 'string' ? v : undefined;
}

export function numberField(o: JsonRecord, key: string): number | undefined {
  const v = o[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function booleanField(o: JsonRecord, key: string): boolean | undefined {
  const v = o[key];
  return typeof v === 'boolean' ? v : undefined;
}

/** MQTT payload bytes (or text already decoded) → JSON value, with the uplink's UTF-8 and depth checks. */
export function parseJson(payload: Uint8Array | string): Result<unknown> {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const parsed = parseJsonPayload(bytes);
  return parsed.ok ? { ok: true, value: parsed.value.value } : parsed;
}

/** Payload bytes → text; refuses bytes that are not UTF-8 (payloads are UTF-8 strings, Homie §Payloads). */
export function payloadText(payload: Uint8Array | string): Result<string> {
  if (typeof payload === 'string') return { ok: true, value: payload };
  if (!isUtf8(payload)) return fail('PAYLOAD_INVALID', 'payload is not valid UTF-8');
  return { ok: true, value: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8') };
}

/** Control characters (C0, DEL, C1): never valid in names, topics we build, or labels. */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/** "color_temp" → "Color temp": a label for a machine name that came without one. */
export function humanize(name: string): string {
  const words = name.replace(/[_-]+/g, ' ').trim();
  return words.length === 0 ? name : words[0]!.toUpperCase() + words.slice(1);
}
