/**
 * Payload formats (docs/MAPPINGS.md, "Payload formats"): one MQTT message on a reading source → the fields it sets,
 * and merging those fields into a device's state. Pure.
 *
 * A message yields assignments (path → value), one per decoding of its topic, so a topic read by several decodings
 * (ESPHome and Tasmota publish one JSON state that many Home Assistant templates read) sets all its fields at once.
 * Decodings without a template are read here (json, text, number, boolean, enum); those with a Home Assistant value
 * template go through the importers' reader (importers/state-reading.ts), which evaluates the safe template subset
 * and reads its result per format — a template whose result is undefined (the message lacks the key it reads) sets
 * nothing and reports nothing.
 *
 * State: `mergeState` applies assignments to a copy of the previous state (copy on write, so a reading already
 * handed on is never changed afterwards) and `forget` removes momentary fields once their reading is made. Keys
 * come from devices: they are always defined as own properties, never assigned, so `__proto__` stays a key.
 */
import { isUtf8 } from 'node:buffer';
import { fail, ok, type Result } from '../errors.js';
import type { Property, StateSource } from '../importers/model.js';
import { readState } from '../importers/state-reading.js';
import type { PayloadDecoding } from '../mapping/mapping.js';
import { jsonTooDeep, MAX_JSON_DEPTH } from './payload.js';
import { decodeSparkplug } from './sparkplug.js';

export interface Assignment {
  /** Where the value lands; empty: a JSON object whose fields merge at the top level. */
  readonly path: readonly string[];
  readonly value: unknown;
}

/** Every decoding of one topic applied to one payload: the fields the message sets. */
export function decodePayload(decodings: readonly PayloadDecoding[], payload: Uint8Array): Result<Assignment[]> {
  // Sparkplug B is protobuf, not text: its topic has that one decoding.
  if (decodings[0]?.format === 'sparkplug') return sparkplugAssignments(decodings[0], payload);
  if (!isUtf8(payload)) return fail('PAYLOAD_INVALID', 'payload is not valid UTF-8');
  let text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // RFC 8259 §8.1: a byte order mark may be ignored
  const out: Assignment[] = [];
  for (const d of decodings) {
    const r = d.template !== undefined ? viaTemplate(d, text) : decodeOne(d, text);
    if (!r.ok) return r;
    if (r.value) out.push(r.value);
  }
  return ok(out);
}

function decodeOne(d: PayloadDecoding, text: string): Result<Assignment | undefined> {
  const path = d.path ?? [];
  switch (d.format) {
    case 'json': {
      if (text.length === 0) return fail('PAYLOAD_NOT_JSON', 'payload is empty');
      if (jsonTooDeep(text)) return fail('PAYLOAD_TOO_DEEP', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
      let value: unknown;
      try {
        value = JSON.parse(text) as unknown;
      } catch (err) {
        return fail('PAYLOAD_NOT_JSON', `payload is not JSON: ${(err as Error).message}`);
      }
      if (path.length === 0 && !isObject(value)) return fail('PAYLOAD_INVALID', 'a JSON object was expected (its fields are merged into the reading)');
      return ok({ path, value });
    }
    case 'number': {
      const n = text.trim() === '' ? NaN : Number(text.trim());
      if (!Number.isFinite(n)) return fail('PAYLOAD_INVALID', `"${text.slice(0, 64)}" is not a number`);
      return ok({ path, value: d.integer ? Math.round(n) : n });
    }
    case 'boolean': {
      const word = d.true.includes(text) || d.false.includes(text) ? text : text.trim();
      if (d.true.includes(word)) return ok({ path, value: true });
      if (d.false.includes(word)) return ok({ path, value: false });
      return fail('PAYLOAD_INVALID', `"${text.slice(0, 64)}" is none of ${[...d.true, ...d.false].map((w) => JSON.stringify(w)).join(', ')}`);
    }
    case 'enum':
      return ok({ path, value: text.trim() });
    case 'text':
      return ok({ path, value: d.empty !== undefined && text === d.empty ? '' : text });
    case 'sparkplug':
      return fail('PAYLOAD_INVALID', 'a Sparkplug B topic is read with that one decoding');
  }
}

/**
 * A Sparkplug B NDATA / DDATA: each metric, by name or by the alias its birth certificate declared, is a field. A
 * metric whose alias no birth declared refuses the message (the importer asks the node for a rebirth meanwhile);
 * null values and the datatypes not read (DataSet, Template) set nothing.
 */
function sparkplugAssignments(d: PayloadDecoding, payload: Uint8Array): Result<Assignment[]> {
  const p = decodeSparkplug(payload);
  if (!p.ok) return p;
  const out: Assignment[] = [];
  const base = d.path ?? [];
  for (const m of p.value.metrics) {
    const name = m.name ?? (m.alias !== undefined && d.aliases && Object.hasOwn(d.aliases, String(m.alias)) ? d.aliases[String(m.alias)] : undefined);
    if (name === undefined) return fail('PAYLOAD_INVALID', `metric alias ${m.alias ?? '(none)'} was not declared by the birth certificate`);
    if (m.value === null || m.value === undefined) continue;
    out.push({ path: [...base, name], value: m.value });
  }
  return ok(out);
}

/** A decoding with a Home Assistant value template, read as the importers read it. */
function viaTemplate(d: PayloadDecoding, text: string): Result<Assignment | undefined> {
  const key = 'value';
  const type: Property['type'] = d.format === 'number' ? (d.integer ? 'integer' : 'number') : d.format === 'boolean' ? 'boolean' : d.format === 'json' ? 'json' : 'string';
  const source: StateSource = {
    topic: '',
    format: 'text',
    key,
    template: d.template!,
    valueFormat: d.format,
    ...(d.true[0] !== undefined ? { trueValue: d.true[0] } : {}),
    ...(d.false[0] !== undefined ? { falseValue: d.false[0] } : {}),
  };
  const property: Property = { key, type, readable: true, settable: false, gettable: false };
  const r = readState({ properties: [property], state: [source] }, '', text);
  if (r.problems.length > 0) {
    const p = r.problems[0]!;
    return fail('PAYLOAD_INVALID', `${p.code}: ${p.message}`);
  }
  if (!Object.hasOwn(r.values, key)) return ok(undefined);
  const value = r.values[key];
  const path = d.path ?? [];
  if (path.length === 0 && !isObject(value)) return fail('PAYLOAD_INVALID', 'the template gave no JSON object to merge; give the payload a "key"');
  return ok({ path, value });
}

/** The state after these assignments; `state` itself is not changed. */
export function mergeState(state: Readonly<Record<string, unknown>>, assignments: readonly Assignment[]): Record<string, unknown> {
  const next: Record<string, unknown> = { ...state };
  /** Objects of `next` already copied (safe to write in place). */
  const fresh = new Set<object>([next]);
  for (const a of assignments) {
    if (a.path.length === 0) {
      for (const [k, v] of Object.entries(a.value as Record<string, unknown>)) define(next, k, v);
      continue;
    }
    let cur = next;
    for (const key of a.path.slice(0, -1)) {
      const child = Object.hasOwn(cur, key) ? cur[key] : undefined;
      let copy: Record<string, unknown>;
      if (isObject(child) && fresh.has(child)) copy = child;
      else {
        copy = isObject(child) ? { ...child } : {};
        fresh.add(copy);
        define(cur, key, copy);
      }
      cur = copy;
    }
    define(cur, a.path[a.path.length - 1]!, a.value);
  }
  return next;
}

/** The state without its momentary fields (a copy when one was there). */
export function forget(state: Record<string, unknown>, paths: readonly (readonly string[])[]): Record<string, unknown> {
  let out = state;
  for (const path of paths) {
    if (!has(out, path)) continue;
    if (out === state) out = { ...state };
    let cur = out;
    for (const key of path.slice(0, -1)) {
      const copy = { ...(cur[key] as Record<string, unknown>) };
      define(cur, key, copy);
      cur = copy;
    }
    delete cur[path[path.length - 1]!];
  }
  return out;
}

function has(obj: Record<string, unknown>, path: readonly string[]): boolean {
  let cur: unknown = obj;
  for (const key of path) {
    if (!isObject(cur) || !Object.hasOwn(cur, key)) return false;
    cur = cur[key];
  }
  return true;
}

function define(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
