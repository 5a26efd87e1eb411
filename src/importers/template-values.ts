/**
 * The values the Home Assistant template subset (src/importers/template.ts) computes with, modelled on the Python
 * values Jinja works on, because device templates are written against Python semantics: `{{ value | float }}` renders
 * `21.0`, `1 / 2` is `0.5`, `7 // 2` is `3`, `-7 % 3` is `2`, `True == 1`.
 *
 * Ints are JS numbers with an integral value; floats are boxed in `PyFloat` so that `21.0` stays a float; dicts are
 * `PyDict` (a Map keyed by Python hash-equality), never JS objects, so that no template can reach a prototype or a
 * method: the interpreter has no way to name a JS property. `UNDEFINED` is Jinja's Undefined (a missing key).
 *
 * Pure: no I/O.
 */

export const UNDEFINED: unique symbol = Symbol('Undefined');
export type Undefined = typeof UNDEFINED;

export class PyFloat {
  constructor(readonly v: number) {}
}

export class PyDict {
  /** key of `hashKey(k)` → [original key, value], in insertion order like a Python dict. */
  readonly entries = new Map<string, readonly [Value, Value]>();

  get(k: Value): Value | Undefined {
    const e = this.entries.get(hashKey(k));
    return e === undefined ? UNDEFINED : e[1];
  }

  set(k: Value, v: Value): void {
    this.entries.set(hashKey(k), [k, v]);
  }

  has(k: Value): boolean {
    return this.entries.has(hashKey(k));
  }
}

export type Value = null | boolean | number | PyFloat | string | Value[] | PyDict | Undefined;

/** A problem that stops rendering; `unsupported` marks constructs outside the subset met only at run time. */
export class TemplateFault extends Error {
  constructor(
    message: string,
    readonly kind: 'runtime' | 'unsupported' | 'limit',
    readonly construct?: string,
  ) {
    super(message);
  }
}

/** Python hash-equality: 1 == 1.0 == True share a key; strings and numbers never do. */
function hashKey(k: Value): string {
  if (k === null) return 'none';
  if (k === UNDEFINED) throw new TemplateFault('an undefined value cannot be a dict key', 'runtime');
  if (typeof k === 'boolean') return `n:${k ? 1 : 0}`;
  if (typeof k === 'number') return `n:${k}`;
  if (k instanceof PyFloat) return `n:${k.v}`;
  if (typeof k === 'string') return `s:${k}`;
  throw new TemplateFault(`unhashable type: '${typeName(k)}'`, 'runtime');
}

export function typeName(v: Value): string {
  if (v === UNDEFINED) return 'Undefined';
  if (v === null) return 'NoneType';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return 'int';
  if (v instanceof PyFloat) return 'float';
  if (typeof v === 'string') return 'str';
  if (Array.isArray(v)) return 'list';
  return 'dict';
}

/** Numbers (bool counts as int, as in Python) as [JS number, is float]; undefined when not numeric. */
export function numeric(v: Value): readonly [number, boolean] | undefined {
  if (typeof v === 'number') return [v, false];
  if (v instanceof PyFloat) return [v.v, true];
  if (typeof v === 'boolean') return [v ? 1 : 0, false];
  return undefined;
}

/** An int when integral and not forced to float, else a float. */
export function makeNumber(n: number, isFloat: boolean): Value {
  return isFloat || !Number.isInteger(n) ? new PyFloat(n) : n;
}

export function truthy(v: Value): boolean {
  if (v === UNDEFINED || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (v instanceof PyFloat) return v.v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  return v.entries.size > 0;
}

export function equals(a: Value, b: Value): boolean {
  if (a === UNDEFINED || b === UNDEFINED) return a === b;
  const na = numeric(a);
  const nb = numeric(b);
  if (na && nb) return na[0] === nb[0];
  if (na || nb) return false;
  if (a === null || b === null) return a === b;
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equals(x, b[i]!));
  if (a instanceof PyDict && b instanceof PyDict) {
    if (a.entries.size !== b.entries.size) return false;
    for (const [k, v] of a.entries.values()) if (!b.has(k) || !equals(v, b.get(k))) return false;
    return true;
  }
  return false;
}

/** Python's repr of a float: shortest round-trip digits, always a `.0` or an exponent, `e+16` past 1e16. */
export function floatRepr(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const [mantissa, expText] = n.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  let body: string;
  if (exp >= 16 || exp < -4) {
    const frac = digits.slice(1);
    const absExp = Math.abs(exp);
    body = `${digits[0]}${frac ? `.${frac}` : ''}e${exp < 0 ? '-' : '+'}${absExp < 10 ? `0${absExp}` : absExp}`;
  } else if (exp >= 0) {
    const intPart = digits.length > exp + 1 ? digits.slice(0, exp + 1) : digits.padEnd(exp + 1, '0');
    const fracPart = digits.length > exp + 1 ? digits.slice(exp + 1) : '0';
    body = `${intPart}.${fracPart}`;
  } else {
    body = `0.${'0'.repeat(-exp - 1)}${digits}`;
  }
  return negative ? `-${body}` : body;
}

/** Python `str()`, which is what `{{ … }}` writes; Undefined writes nothing. */
export function str(v: Value): string {
  if (v === UNDEFINED) return '';
  if (typeof v === 'string') return v;
  return repr(v);
}

/** Python `repr()`, used inside lists and dicts. */
export function repr(v: Value): string {
  if (v === UNDEFINED) return '';
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  if (v instanceof PyFloat) return floatRepr(v.v);
  if (typeof v === 'string') return pyStringRepr(v);
  if (Array.isArray(v)) return `[${v.map(repr).join(', ')}]`;
  return `{${[...v.entries.values()].map(([k, x]) => `${repr(k)}: ${repr(x)}`).join(', ')}}`;
}

function pyStringRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  const body = s.replace(/[\\\n\r\t]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c] ?? c);
  return quote + (quote === "'" ? body.replace(/'/g, "\\'") : body) + quote;
}

export interface JsonStyle {
  /** Python json.dumps separators: compact `,`/`:` (HA `to_json`) or `, `/`: ` (Jinja `tojson`). */
  readonly compact: boolean;
  readonly sortKeys: boolean;
  /** Jinja's `tojson` escapes `<`, `>`, `&`, `'` so the text is safe inside HTML. */
  readonly htmlSafe: boolean;
}

/** JSON text of a value as Python's json module writes it (floats keep `.0`). */
export function toJson(v: Value, style: JsonStyle): string {
  const item = style.compact ? ',' : ', ';
  const kv = style.compact ? ':' : ': ';
  const enc = (x: Value): string => {
    if (x === UNDEFINED) throw new TemplateFault('an undefined value cannot be written as JSON', 'runtime');
    if (x === null) return 'null';
    if (typeof x === 'boolean') return x ? 'true' : 'false';
    if (typeof x === 'number') return String(x);
    if (x instanceof PyFloat) {
      if (!Number.isFinite(x.v)) return Number.isNaN(x.v) ? 'NaN' : x.v > 0 ? 'Infinity' : '-Infinity';
      return floatRepr(x.v);
    }
    if (typeof x === 'string') return JSON.stringify(x);
    if (Array.isArray(x)) return `[${x.map(enc).join(item)}]`;
    let entries = [...x.entries.values()].map(([k, val]) => [typeof k === 'string' ? k : str(k), val] as const);
    if (style.sortKeys) entries = entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, val]) => `${JSON.stringify(k)}${kv}${enc(val)}`).join(item)}}`;
  };
  const text = enc(v);
  if (!style.htmlSafe) return text;
  return text.replace(/[<>&']/g, (c) => `\\u00${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** A parsed JSON value (from JSON.parse) as template values; bounded by the caller's payload size limit. */
export function fromJson(j: unknown, depth = 0): Value {
  if (depth > 64) throw new TemplateFault('JSON nested too deeply', 'limit');
  if (j === null || typeof j === 'boolean' || typeof j === 'string') return j;
  if (typeof j === 'number') return Number.isInteger(j) ? j : new PyFloat(j);
  if (Array.isArray(j)) return j.map((x) => fromJson(x, depth + 1));
  if (typeof j === 'object') {
    const d = new PyDict();
    for (const [k, v] of Object.entries(j)) d.set(k, fromJson(v, depth + 1));
    return d;
  }
  return UNDEFINED;
}

/** A template value as plain JSON-compatible JS data (what a reading field holds); Undefined → undefined. */
export function toNative(v: Value): unknown {
  if (v === UNDEFINED) return undefined;
  if (v instanceof PyFloat) return v.v;
  if (Array.isArray(v)) return v.map(toNative);
  if (v instanceof PyDict) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v.entries.values()) {
      Object.defineProperty(o, str(k), { value: toNative(x), enumerable: true, writable: true, configurable: true });
    }
    return o;
  }
  return v;
}

/** A JS value given by the caller (a command field) as a template value. */
export function fromNative(v: unknown): Value {
  if (v === undefined) return UNDEFINED;
  return fromJson(v);
}
