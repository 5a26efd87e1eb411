/**
 * Model keys: devices whose definitions are equal share one key, so their generated schemas and compiled validators
 * are shared too. Pure.
 */
import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level, so two definitions that differ only in key order hash alike.
 * `undefined` members are dropped, as `JSON.stringify` does.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.keys(value)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/** `<source>:<first 128 bits of the SHA-256 of the canonical JSON of the definition>`. */
export function modelKeyOf(source: string, definition: unknown): string {
  const digest = createHash('sha256').update(canonicalJson(definition)).digest('hex');
  return `${source}:${digest.slice(0, 32)}`;
}
