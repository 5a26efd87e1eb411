/**
 * One MQTT message on a device's state topic → the fields it sets, all at once: every StateSource of that topic is
 * applied to the same payload (ESPHome and Tasmota publish one JSON state read by many templates), so the fields
 * that arrive together become one reading instead of one per entity.
 *
 * Source semantics (model.ts): without a template the payload is decoded per `format` (`json` merges an object's
 * fields, or puts the value under `key`; `number`, `boolean` with trueValue/falseValue, `text`, `enum`). With a
 * template the template reads the payload (`value`, `value_json`) and its result is read per `valueFormat`; a
 * template whose result is undefined (a key missing from this message) sets nothing, as does a boolean matching
 * neither payload, and an empty text where a number belongs.
 *
 * Pure: no I/O. Compiled templates are cached (bounded).
 */
import type { DeviceDescription, PayloadFormat, Property, StateSource } from './model.js';
import { compileTemplate, evaluateTemplate, payloadInput, renderTemplate, type CompiledTemplate, type TemplateError } from './template.js';

export type StateProblemCode = 'STATE_NOT_JSON' | 'STATE_NOT_NUMBER' | 'STATE_TEMPLATE';

export interface StateProblem {
  readonly key: string;
  readonly code: StateProblemCode;
  readonly message: string;
}

export interface StateUpdate {
  /** Fields set by this message (a partial reading). */
  readonly values: Record<string, unknown>;
  readonly problems: readonly StateProblem[];
}

const CACHE_LIMIT = 1000;
const cache = new Map<string, { ok: true; value: CompiledTemplate } | { ok: false; error: TemplateError }>();

function compiled(source: string): { ok: true; value: CompiledTemplate } | { ok: false; error: TemplateError } {
  let c = cache.get(source);
  if (!c) {
    c = compileTemplate(source);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(source, c);
  }
  return c;
}

function setField(values: Record<string, unknown>, key: string, v: unknown): void {
  // defineProperty: a key named "__proto__" is stored as a field, never as a prototype.
  Object.defineProperty(values, key, { value: v, enumerable: true, writable: true, configurable: true });
}

function formatFor(p: Property | undefined): PayloadFormat {
  if (!p) return 'text';
  if (p.type === 'number' || p.type === 'integer') return 'number';
  if (p.type === 'boolean') return 'boolean';
  if (p.type === 'object' || p.type === 'array') return 'json';
  return p.type === 'enum' ? 'enum' : 'text';
}

function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v.trim());
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** Whether a JSON path is absent from a payload (the message does not carry that field). */
function missing(json: unknown, path: readonly (string | number)[]): boolean {
  let v = json;
  for (const k of path) {
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, k)) return true;
    v = (v as Record<string | number, unknown>)[k];
  }
  return false;
}

function applySource(s: StateSource, prop: Property | undefined, payload: string, values: Record<string, unknown>, problems: StateProblem[]): void {
  const key = s.key ?? '';
  if (s.template !== undefined) {
    const t = compiled(s.template);
    if (!t.ok) {
      problems.push({ key, code: 'STATE_TEMPLATE', message: t.error.message });
      return;
    }
    const fmt = s.valueFormat ?? formatFor(prop);
    const input = payloadInput(payload);
    const fail = (message: string): void => {
      // A template that fails because the message lacks a key it reads is about another message: no value, no problem.
      if (input.valueJson !== undefined && t.value.jsonPaths.some((p) => missing(input.valueJson, p))) return;
      problems.push({ key, code: 'STATE_TEMPLATE', message });
    };
    if (fmt === 'boolean' || fmt === 'text' || fmt === 'enum') {
      const native = evaluateTemplate(t.value, input);
      if (native.ok && native.value === undefined) return;
      const r = renderTemplate(t.value, input);
      if (!r.ok) return fail(r.error.message);
      if (fmt !== 'boolean') return setField(values, key, r.value);
      if (r.value === (s.trueValue ?? 'ON')) setField(values, key, true);
      else if (r.value === (s.falseValue ?? 'OFF')) setField(values, key, false);
      return;
    }
    const r = evaluateTemplate(t.value, input);
    if (!r.ok) return fail(r.error.message);
    if (r.value === undefined || r.value === '') return;
    if (fmt === 'json') return setField(values, key, r.value);
    const n = asNumber(r.value);
    if (n === undefined) problems.push({ key, code: 'STATE_NOT_NUMBER', message: `"${JSON.stringify(r.value).slice(0, 64)}" is not a number` });
    else setField(values, key, prop?.type === 'integer' ? Math.round(n) : n);
    return;
  }
  switch (s.format) {
    case 'json': {
      let j: unknown;
      try {
        j = JSON.parse(payload);
      } catch {
        problems.push({ key, code: 'STATE_NOT_JSON', message: 'payload is not JSON' });
        return;
      }
      if (s.key !== undefined) return setField(values, s.key, j);
      if (j !== null && typeof j === 'object' && !Array.isArray(j)) for (const [k, v] of Object.entries(j)) setField(values, k, v);
      return;
    }
    case 'number': {
      const n = asNumber(payload);
      if (n === undefined) problems.push({ key, code: 'STATE_NOT_NUMBER', message: `"${payload.slice(0, 64)}" is not a number` });
      else setField(values, key, prop?.type === 'integer' ? Math.round(n) : n);
      return;
    }
    case 'boolean':
      if (payload === (s.trueValue ?? 'true')) setField(values, key, true);
      else if (payload === (s.falseValue ?? 'false')) setField(values, key, false);
      return;
    default:
      setField(values, key, payload);
  }
}

/** Apply every state source of `topic` to `payload`: the fields of one reading. */
export function readState(desc: Pick<DeviceDescription, 'properties' | 'state'>, topic: string, payload: string): StateUpdate {
  const values: Record<string, unknown> = {};
  const problems: StateProblem[] = [];
  for (const s of desc.state) {
    if (s.topic !== topic) continue;
    applySource(s, desc.properties.find((p) => p.key === s.key), payload, values, problems);
  }
  return { values, problems };
}
