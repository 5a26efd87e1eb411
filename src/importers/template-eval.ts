/**
 * Interpreter of the Home Assistant template subset: walks the tree built by template-parse.ts over the values of
 * template-values.ts. The filters, functions, methods and tests it knows are the tables below — nothing else is
 * callable, there are no loops, no recursion, and every node visited costs a step, so a template ends in at most
 * `maxSteps` steps; strings and lists it builds are capped by `maxString`/`maxItems`.
 *
 * Semantics follow Jinja 2 plus Home Assistant's own filters (homeassistant/helpers/template.py), where HA differs
 * from Jinja: `float`, `int`, `round`, `bool` without a default fail on input they cannot convert (HA 2021.12+),
 * `round` returns an int at precision 0, `to_json` writes compact JSON, `is_defined` fails on an undefined value.
 * One deliberate difference: Undefined is chainable (`value_json.a.b` is Undefined when `a` is missing, where Jinja
 * would fail) — the result is the same (no value), with less noise.
 *
 * Pure: no I/O.
 */
import type { Expr, Node } from './template-parse.js';
import {
  PyDict,
  PyFloat,
  TemplateFault,
  UNDEFINED,
  equals,
  fromJson,
  makeNumber,
  numeric,
  str,
  toJson,
  truthy,
  typeName,
  type Value,
} from './template-values.js';

export interface EvalLimits {
  readonly maxSteps: number;
  readonly maxString: number;
  readonly maxItems: number;
}

export const DEFAULT_EVAL_LIMITS: EvalLimits = { maxSteps: 10_000, maxString: 65_536, maxItems: 10_000 };

type Fn = (ctx: Ctx, args: readonly Value[], kwargs: ReadonlyMap<string, Value>) => Value;

class Ctx {
  steps = 0;
  constructor(
    readonly vars: Map<string, Value>,
    readonly limits: EvalLimits,
  ) {}

  step(): void {
    if ((this.steps += 1) > this.limits.maxSteps) throw new TemplateFault(`more than ${this.limits.maxSteps} evaluation steps`, 'limit');
  }

  checkString(s: string): string {
    if (s.length > this.limits.maxString) throw new TemplateFault(`a string longer than ${this.limits.maxString} characters`, 'limit');
    return s;
  }

  checkList<T>(l: T[]): T[] {
    if (l.length > this.limits.maxItems) throw new TemplateFault(`a list longer than ${this.limits.maxItems} items`, 'limit');
    return l;
  }
}

const NO_DEFAULT = Symbol('no default');

function arg(args: readonly Value[], kwargs: ReadonlyMap<string, Value>, index: number, name: string): Value | typeof NO_DEFAULT {
  if (args.length > index) return args[index]!;
  return kwargs.has(name) ? kwargs.get(name)! : NO_DEFAULT;
}

function fail(what: string, v: Value): never {
  throw new TemplateFault(`${what} got invalid input '${str(v)}' (${typeName(v)}) and no default was given`, 'runtime');
}

const FLOAT_TEXT = /^[+-]?(?:(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)$/i;

/** Python float(x); undefined when x cannot be converted. */
function toFloat(v: Value): number | undefined {
  const n = numeric(v);
  if (n) return n[0];
  if (typeof v === 'string') {
    const t = v.trim();
    if (!FLOAT_TEXT.test(t)) return undefined;
    const lower = t.toLowerCase().replace(/_/g, '');
    if (lower.endsWith('nan')) return NaN;
    if (lower.endsWith('inf') || lower.endsWith('infinity')) return lower.startsWith('-') ? -Infinity : Infinity;
    return Number(lower);
  }
  return undefined;
}

/** Jinja's do_int: int(x, base), falling back to int(float(x)); undefined when neither works. */
function toInt(v: Value, base: number): number | undefined {
  if (typeof v === 'string') {
    const t = v.trim().replace(/_/g, '').toLowerCase();
    const prefixed = /^([+-]?)0([xob])([0-9a-f]+)$/.exec(t);
    if (prefixed && base !== 10) {
      const radix = prefixed[2] === 'x' ? 16 : prefixed[2] === 'o' ? 8 : 2;
      if (base === 0 || base === radix) return parseIntStrict(prefixed[1]! + prefixed[3]!, radix);
    }
    const direct = parseIntStrict(t, base === 0 ? 10 : base);
    if (direct !== undefined) return direct;
  }
  const f = toFloat(v);
  return f === undefined || !Number.isFinite(f) ? undefined : Math.trunc(f);
}

function parseIntStrict(t: string, radix: number): number | undefined {
  if (radix < 2 || radix > 36) return undefined;
  const digits = '0123456789abcdefghijklmnopqrstuvwxyz'.slice(0, radix);
  const m = /^([+-]?)(\w+)$/.exec(t);
  if (!m || [...m[2]!].some((c) => !digits.includes(c))) return undefined;
  const n = parseInt(m[2]!, radix);
  return m[1] === '-' ? -n : n;
}

/**
 * Python's round(x, n): the double's exact decimal value decides, and exact halves go to the even neighbour
 * (round(2.675, 2) is 2.67 because 2.675 is stored as 2.67499999…; round(2.5) is 2). `toFixed` rounds on the exact
 * value too, but sends halves up, so halves are detected on the exact expansion and handled here.
 */
function pyRound(x: number, n: number): number {
  if (!Number.isFinite(x) || Math.abs(x) >= 1e21 || n < 0 || n > 20) {
    const m = 10 ** n;
    return Math.round(x * m) / m;
  }
  const sign = x < 0 ? -1 : 1;
  const exact = Math.abs(x).toFixed(100);
  const [intPart, frac] = exact.split('.') as [string, string];
  const tail = frac.slice(n);
  if (tail[0] === '5' && /^0*$/.test(tail.slice(1))) {
    const kept = `${intPart}${frac.slice(0, n)}`;
    const lastDigit = Number(kept.at(-1));
    const truncated = Number(`${intPart}.${frac.slice(0, n) || '0'}`);
    return sign * (lastDigit % 2 === 0 ? truncated : truncated + 10 ** -n);
  }
  return sign * Number(Math.abs(x).toFixed(n));
}

/** Home Assistant's boolean(): "on", "yes", "true", "enable", "1" and non-zero numbers are true. */
function toBool(v: Value): boolean | undefined {
  if (typeof v === 'boolean') return v;
  const n = numeric(v);
  if (n) return n[0] !== 0;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on', 'enable'].includes(t)) return true;
    if (['0', 'false', 'no', 'off', 'disable'].includes(t)) return false;
  }
  return undefined;
}

function withDefault<T extends Value>(what: string, v: Value, result: T | undefined, dflt: Value | typeof NO_DEFAULT): Value {
  if (result !== undefined) return result;
  if (dflt === NO_DEFAULT) fail(what, v);
  return dflt;
}

function floatFn(what: string): Fn {
  return (_c, args, kw) => {
    const v = args[0] ?? UNDEFINED;
    const f = toFloat(v);
    return withDefault(what, v, f === undefined ? undefined : new PyFloat(f), arg(args, kw, 1, 'default'));
  };
}

function intFn(what: string): Fn {
  return (_c, args, kw) => {
    const v = args[0] ?? UNDEFINED;
    const base = arg(args, kw, 2, 'base');
    const b = base === NO_DEFAULT ? 10 : numeric(base)?.[0] ?? 10;
    return withDefault(what, v, toInt(v, b), arg(args, kw, 1, 'default'));
  };
}

function boolFn(what: string): Fn {
  return (_c, args, kw) => {
    const v = args[0] ?? UNDEFINED;
    return withDefault(what, v, toBool(v), arg(args, kw, 1, 'default'));
  };
}

function length(v: Value): number {
  if (typeof v === 'string' || Array.isArray(v)) return v.length;
  if (v instanceof PyDict) return v.entries.size;
  if (v === UNDEFINED) return 0;
  throw new TemplateFault(`object of type '${typeName(v)}' has no len()`, 'runtime');
}

function sequence(v: Value): Value[] {
  if (Array.isArray(v)) return v;
  if (typeof v === 'string') return [...v];
  if (v instanceof PyDict) return [...v.entries.values()].map(([k]) => k);
  if (v === UNDEFINED) return [];
  throw new TemplateFault(`'${typeName(v)}' object is not iterable`, 'runtime');
}

function compareValues(a: Value, b: Value): number {
  const na = numeric(a);
  const nb = numeric(b);
  if (na && nb) return na[0] < nb[0] ? -1 : na[0] > nb[0] ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new TemplateFault(`'<' not supported between '${typeName(a)}' and '${typeName(b)}'`, 'runtime');
}

function extreme(sign: 1 | -1): Fn {
  return (_c, args) => {
    const items = args.length === 1 ? sequence(args[0]!) : [...args];
    if (items.length === 0) throw new TemplateFault('min()/max() of an empty sequence', 'runtime');
    return items.reduce((best, x) => (compareValues(x, best) * sign > 0 ? x : best));
  };
}

function jsonFilter(compactDefault: boolean, htmlSafe: boolean, sortDefault: boolean): Fn {
  return (c, args, kw) => {
    const sort = kw.get('sort_keys');
    const pretty = kw.get('pretty_print');
    if (pretty !== undefined && truthy(pretty)) throw new TemplateFault('to_json(pretty_print=True) is not supported', 'unsupported', 'filter argument pretty_print');
    return c.checkString(toJson(args[0] ?? UNDEFINED, { compact: compactDefault, htmlSafe, sortKeys: sort === undefined ? sortDefault : truthy(sort) }));
  };
}

function strArg(v: Value | undefined, what: string): string {
  if (typeof v !== 'string') throw new TemplateFault(`${what} expects a string, got ${typeName(v ?? UNDEFINED)}`, 'runtime');
  return v;
}

/** Filters: `x | name(args)` calls FILTERS[name](ctx, [x, ...args], kwargs). */
export const FILTERS: ReadonlyMap<string, Fn> = new Map<string, Fn>([
  ['float', floatFn('float')],
  ['int', intFn('int')],
  ['bool', boolFn('bool')],
  [
    'round',
    (_c, args, kw) => {
      const v = args[0] ?? UNDEFINED;
      const p = arg(args, kw, 1, 'precision');
      const method = arg(args, kw, 2, 'method');
      const precision = p === NO_DEFAULT ? 0 : (numeric(p)?.[0] ?? 0);
      const f = toFloat(v);
      if (f === undefined) return withDefault('round', v, undefined, arg(args, kw, 3, 'default'));
      const m = 10 ** precision;
      const r =
        method === 'ceil' ? Math.ceil(f * m) / m : method === 'floor' ? Math.floor(f * m) / m : method === 'half' ? Math.round(f * 2) / 2 : pyRound(f, precision);
      return precision === 0 && Number.isFinite(r) ? Math.trunc(r) : new PyFloat(r);
    },
  ],
  [
    'multiply',
    (_c, args, kw) => {
      const v = args[0] ?? UNDEFINED;
      const f = toFloat(v);
      const amount = numeric(args[1] ?? UNDEFINED);
      if (!amount) throw new TemplateFault('multiply needs a numeric amount', 'runtime');
      return withDefault('multiply', v, f === undefined ? undefined : new PyFloat(f * amount[0]), arg(args, kw, 2, 'default'));
    },
  ],
  ['lower', (c, [v]) => c.checkString(str(v ?? UNDEFINED).toLowerCase())],
  ['upper', (c, [v]) => c.checkString(str(v ?? UNDEFINED).toUpperCase())],
  ['capitalize', (c, [v]) => { const s = str(v ?? UNDEFINED); return c.checkString(s.charAt(0).toUpperCase() + s.slice(1).toLowerCase()); }],
  ['title', (c, [v]) => c.checkString(str(v ?? UNDEFINED).toLowerCase().replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_m, a: string, b: string) => a + b.toUpperCase()))],
  ['trim', (c, [v]) => c.checkString(str(v ?? UNDEFINED).trim())],
  ['string', (c, [v]) => c.checkString(str(v ?? UNDEFINED))],
  [
    'replace',
    (c, [v, a, b]) => c.checkString(str(v ?? UNDEFINED).split(strArg(a, 'replace')).join(strArg(b, 'replace'))),
  ],
  [
    'default',
    (_c, args, kw) => {
      const v = args[0] ?? UNDEFINED;
      const dflt = arg(args, kw, 1, 'default_value');
      const boolean = arg(args, kw, 2, 'boolean');
      const useDefault = v === UNDEFINED || (boolean !== NO_DEFAULT && truthy(boolean) && !truthy(v));
      return useDefault ? (dflt === NO_DEFAULT ? '' : dflt) : v;
    },
  ],
  [
    'abs',
    (_c, [v]) => {
      const n = numeric(v ?? UNDEFINED);
      if (!n) throw new TemplateFault(`bad operand type for abs(): '${typeName(v ?? UNDEFINED)}'`, 'runtime');
      return makeNumber(Math.abs(n[0]), n[1]);
    },
  ],
  ['tojson', jsonFilter(false, true, true)],
  ['to_json', jsonFilter(true, false, false)],
  [
    'from_json',
    (c, [v]) => {
      const s = strArg(v, 'from_json');
      c.checkString(s);
      try {
        return fromJson(JSON.parse(s));
      } catch (err) {
        if (err instanceof TemplateFault) throw err;
        throw new TemplateFault('from_json got text that is not JSON', 'runtime');
      }
    },
  ],
  [
    'is_defined',
    (_c, [v]) => {
      if (v === undefined || v === UNDEFINED) throw new TemplateFault('is_defined: the value is undefined', 'runtime');
      return v;
    },
  ],
  ['length', (_c, [v]) => length(v ?? UNDEFINED)],
  ['count', (_c, [v]) => length(v ?? UNDEFINED)],
  ['first', (_c, [v]) => sequence(v ?? UNDEFINED)[0] ?? UNDEFINED],
  ['last', (_c, [v]) => sequence(v ?? UNDEFINED).at(-1) ?? UNDEFINED],
  ['list', (c, [v]) => c.checkList([...sequence(v ?? UNDEFINED)])],
  ['join', (c, [v, sep]) => c.checkString(sequence(v ?? UNDEFINED).map(str).join(sep === undefined ? '' : str(sep)))],
  ['min', (c, args, kw) => extreme(-1)(c, [args[0] ?? UNDEFINED], kw)],
  ['max', (c, args, kw) => extreme(1)(c, [args[0] ?? UNDEFINED], kw)],
]);
// Jinja's short names.
(FILTERS as Map<string, Fn>).set('d', FILTERS.get('default')!);

/** Global functions: `float(x, default)`, `iif(cond, a, b)`… */
export const FUNCTIONS: ReadonlyMap<string, Fn> = new Map<string, Fn>([
  ['float', floatFn('float')],
  ['int', intFn('int')],
  ['bool', boolFn('bool')],
  [
    'iif',
    (_c, args) => {
      const v = args[0] ?? UNDEFINED;
      const yes = args[1] ?? true;
      const no = args[2] ?? false;
      const none = args[3];
      if (none !== undefined && (v === null || v === UNDEFINED)) return none;
      return truthy(v) ? yes : no;
    },
  ],
  ['min', extreme(-1)],
  ['max', extreme(1)],
  ['is_number', (_c, [v]) => (typeof v === 'string' ? toFloat(v) !== undefined && Number.isFinite(toFloat(v)) : numeric(v ?? UNDEFINED) !== undefined && typeof v !== 'boolean')],
]);

/** Methods of Python str / dict values: `value.split(',')`, `value_json.get('a', 0)`. */
export const METHODS: ReadonlyMap<string, Fn> = new Map<string, Fn>([
  ['lower', (c, [self]) => c.checkString(strArg(self, 'lower()').toLowerCase())],
  ['upper', (c, [self]) => c.checkString(strArg(self, 'upper()').toUpperCase())],
  ['strip', (c, [self]) => c.checkString(strArg(self, 'strip()').trim())],
  ['startswith', (_c, [self, p]) => strArg(self, 'startswith()').startsWith(strArg(p, 'startswith()'))],
  ['endswith', (_c, [self, p]) => strArg(self, 'endswith()').endsWith(strArg(p, 'endswith()'))],
  ['replace', (c, [self, a, b]) => c.checkString(strArg(self, 'replace()').split(strArg(a, 'replace()')).join(strArg(b, 'replace()')))],
  [
    'split',
    (c, [self, sep, max]) => {
      const s = strArg(self, 'split()');
      const limit = max === undefined ? -1 : (numeric(max)?.[0] ?? -1);
      let parts: string[];
      if (sep === undefined || sep === null) parts = s.trim() === '' ? [] : s.trim().split(/\s+/);
      else {
        const d = strArg(sep, 'split()');
        if (d === '') throw new TemplateFault('split(): empty separator', 'runtime');
        parts = s.split(d);
      }
      if (limit >= 0 && parts.length > limit + 1) parts = [...parts.slice(0, limit), parts.slice(limit).join(sep === undefined || sep === null ? ' ' : str(sep))];
      return c.checkList(parts);
    },
  ],
  [
    'get',
    (_c, [self, key, dflt]) => {
      if (!(self instanceof PyDict)) throw new TemplateFault(`'${typeName(self ?? UNDEFINED)}' object has no attribute 'get'`, 'runtime');
      const v = self.get(key ?? UNDEFINED);
      return v === UNDEFINED ? (dflt ?? null) : v;
    },
  ],
]);

/** Tests: `x is name(args)`. */
export const TESTS: ReadonlyMap<string, (v: Value, args: readonly Value[]) => boolean> = new Map<string, (v: Value, args: readonly Value[]) => boolean>([
  ['defined', (v) => v !== UNDEFINED],
  ['undefined', (v) => v === UNDEFINED],
  ['none', (v) => v === null],
  ['number', (v) => typeof v === 'number' || v instanceof PyFloat],
  ['integer', (v) => typeof v === 'number'],
  ['float', (v) => v instanceof PyFloat],
  ['string', (v) => typeof v === 'string'],
  ['boolean', (v) => typeof v === 'boolean'],
  ['true', (v) => v === true],
  ['false', (v) => v === false],
  ['mapping', (v) => v instanceof PyDict],
  ['sequence', (v) => typeof v === 'string' || Array.isArray(v) || v instanceof PyDict],
  ['iterable', (v) => typeof v === 'string' || Array.isArray(v) || v instanceof PyDict],
  ['odd', (v) => (numeric(v)?.[0] ?? 0) % 2 !== 0],
  ['even', (v) => (numeric(v)?.[0] ?? 1) % 2 === 0],
  ['divisibleby', (v, [n]) => { const d = numeric(n ?? UNDEFINED)?.[0]; return d !== undefined && d !== 0 && (numeric(v)?.[0] ?? NaN) % d === 0; }],
  ['eq', (v, [x]) => equals(v, x ?? UNDEFINED)],
  ['equalto', (v, [x]) => equals(v, x ?? UNDEFINED)],
  ['ne', (v, [x]) => !equals(v, x ?? UNDEFINED)],
  ['lower', (v) => typeof v === 'string' && v === v.toLowerCase()],
  ['upper', (v) => typeof v === 'string' && v === v.toUpperCase()],
  ['in', (v, [x]) => contains(x ?? UNDEFINED, v)],
]);

function contains(container: Value, item: Value): boolean {
  if (typeof container === 'string') {
    if (typeof item !== 'string') throw new TemplateFault(`'in <string>' requires string as left operand, not ${typeName(item)}`, 'runtime');
    return container.includes(item);
  }
  if (Array.isArray(container)) return container.some((x) => equals(x, item));
  if (container instanceof PyDict) return container.has(item);
  if (container === UNDEFINED) return false;
  throw new TemplateFault(`argument of type '${typeName(container)}' is not iterable`, 'runtime');
}

function arithmetic(c: Ctx, op: string, a: Value, b: Value): Value {
  if (a === UNDEFINED || b === UNDEFINED) throw new TemplateFault(`an undefined value in '${op}'`, 'runtime');
  const na = numeric(a);
  const nb = numeric(b);
  if (na && nb) {
    const [x, fx] = na;
    const [y, fy] = nb;
    const isFloat = fx || fy;
    switch (op) {
      case '+':
        return makeNumber(x + y, isFloat);
      case '-':
        return makeNumber(x - y, isFloat);
      case '*':
        return makeNumber(x * y, isFloat);
      case '/':
        if (y === 0) throw new TemplateFault('division by zero', 'runtime');
        return new PyFloat(x / y);
      case '//':
        if (y === 0) throw new TemplateFault('division by zero', 'runtime');
        return makeNumber(Math.floor(x / y), isFloat);
      case '%':
        if (y === 0) throw new TemplateFault('modulo by zero', 'runtime');
        return makeNumber(x - y * Math.floor(x / y), isFloat);
      case '**':
        return makeNumber(x ** y, isFloat || y < 0);
    }
  }
  if (op === '+' && typeof a === 'string' && typeof b === 'string') return c.checkString(a + b);
  if (op === '+' && Array.isArray(a) && Array.isArray(b)) return c.checkList([...a, ...b]);
  if (op === '*') {
    const [seq, times] = na ? [b, na] : nb ? [a, nb] : [undefined, undefined];
    if (times && !times[1] && (typeof seq === 'string' || Array.isArray(seq))) {
      const n = Math.max(0, times[0]);
      if (seq.length * n > (typeof seq === 'string' ? c.limits.maxString : c.limits.maxItems)) {
        throw new TemplateFault('a repeated string or list over the size limit', 'limit');
      }
      return typeof seq === 'string' ? seq.repeat(n) : c.checkList(Array.from({ length: n }, () => seq).flat());
    }
  }
  if (op === '%' && typeof a === 'string') throw new TemplateFault('printf-style "%" formatting is not supported', 'unsupported', "operator '%' on a string");
  throw new TemplateFault(`unsupported operand types for ${op}: '${typeName(a)}' and '${typeName(b)}'`, 'runtime');
}

function compare(op: string, a: Value, b: Value): boolean {
  switch (op) {
    case '==':
      return equals(a, b);
    case '!=':
      return !equals(a, b);
    case 'in':
      return contains(b, a);
    case 'not in':
      return !contains(b, a);
    default: {
      const r = compareValues(a, b);
      return op === '<' ? r < 0 : op === '<=' ? r <= 0 : op === '>' ? r > 0 : r >= 0;
    }
  }
}

function getItem(obj: Value, key: Value): Value {
  if (obj instanceof PyDict) return obj.get(key);
  if (Array.isArray(obj) || typeof obj === 'string') {
    const n = numeric(key);
    if (!n || n[1]) return UNDEFINED;
    const i = n[0] < 0 ? obj.length + n[0] : n[0];
    const v = obj[i];
    return v === undefined ? UNDEFINED : v;
  }
  return UNDEFINED;
}

function evalExpr(c: Ctx, e: Expr): Value {
  c.step();
  switch (e.k) {
    case 'lit':
      return e.v;
    case 'name': {
      const v = c.vars.get(e.name);
      return v === undefined ? UNDEFINED : v;
    }
    case 'list':
      return c.checkList(e.items.map((x) => evalExpr(c, x)));
    case 'dict': {
      const d = new PyDict();
      for (const [k, v] of e.items) d.set(evalExpr(c, k), evalExpr(c, v));
      return d;
    }
    case 'attr':
      return getItem(evalExpr(c, e.obj), e.name);
    case 'item':
      return getItem(evalExpr(c, e.obj), evalExpr(c, e.index));
    case 'slice': {
      const obj = evalExpr(c, e.obj);
      if (typeof obj !== 'string' && !Array.isArray(obj)) return UNDEFINED;
      const bound = (x: Expr | undefined): number | undefined => (x === undefined ? undefined : numeric(evalExpr(c, x))?.[0]);
      return obj.slice(bound(e.start), bound(e.stop));
    }
    case 'call': {
      const args = e.args.map((x) => evalExpr(c, x));
      const kwargs = new Map(e.kwargs.map(([k, x]) => [k, evalExpr(c, x)] as const));
      if (e.callee.k === 'name') return FUNCTIONS.get(e.callee.name)!(c, args, kwargs);
      if (e.callee.k === 'attr') return METHODS.get(e.callee.name)!(c, [evalExpr(c, e.callee.obj), ...args], kwargs);
      throw new TemplateFault('this value cannot be called', 'unsupported', 'call');
    }
    case 'filter': {
      const v = evalExpr(c, e.arg);
      const args = e.args.map((x) => evalExpr(c, x));
      const kwargs = new Map(e.kwargs.map(([k, x]) => [k, evalExpr(c, x)] as const));
      return FILTERS.get(e.name)!(c, [v, ...args], kwargs);
    }
    case 'test': {
      const r = TESTS.get(e.name)!(evalExpr(c, e.arg), e.args.map((x) => evalExpr(c, x)));
      return e.negated ? !r : r;
    }
    case 'unary': {
      const v = evalExpr(c, e.arg);
      if (e.op === 'not') return !truthy(v);
      const n = numeric(v);
      if (!n) throw new TemplateFault(`bad operand type for unary ${e.op}: '${typeName(v)}'`, 'runtime');
      return makeNumber(e.op === '-' ? -n[0] : n[0], n[1]);
    }
    case 'bin': {
      const left = evalExpr(c, e.left);
      if (e.op === 'and') return truthy(left) ? evalExpr(c, e.right) : left;
      if (e.op === 'or') return truthy(left) ? left : evalExpr(c, e.right);
      const right = evalExpr(c, e.right);
      if (e.op === '~') return c.checkString(str(left) + str(right));
      return arithmetic(c, e.op, left, right);
    }
    case 'cmp': {
      let left = evalExpr(c, e.first);
      for (const [op, x] of e.rest) {
        const right = evalExpr(c, x);
        if (!compare(op, left, right)) return false;
        left = right;
      }
      return true;
    }
    case 'cond':
      if (truthy(evalExpr(c, e.test))) return evalExpr(c, e.then);
      return e.else === undefined ? UNDEFINED : evalExpr(c, e.else);
  }
}

function run(c: Ctx, nodes: readonly Node[], out: string[], size: { n: number }): void {
  for (const node of nodes) {
    c.step();
    switch (node.k) {
      case 'text':
      case 'out': {
        const s = node.k === 'text' ? node.text : str(evalExpr(c, node.expr));
        size.n += s.length;
        if (size.n > c.limits.maxString) throw new TemplateFault(`output longer than ${c.limits.maxString} characters`, 'limit');
        out.push(s);
        break;
      }
      case 'set':
        c.vars.set(node.name, evalExpr(c, node.expr));
        break;
      case 'if': {
        const branch = node.branches.find(([test]) => truthy(evalExpr(c, test)));
        const body = branch ? branch[1] : node.else;
        if (body) run(c, body, out, size);
        break;
      }
    }
  }
}

/** Render nodes to text. Throws TemplateFault. */
export function renderNodes(nodes: readonly Node[], vars: ReadonlyMap<string, Value>, limits: EvalLimits): string {
  const out: string[] = [];
  run(new Ctx(new Map(vars), limits), nodes, out, { n: 0 });
  return out.join('');
}

/** Evaluate one expression to its value. Throws TemplateFault. */
export function evaluateExpr(expr: Expr, vars: ReadonlyMap<string, Value>, limits: EvalLimits): Value {
  return evalExpr(new Ctx(new Map(vars), limits), expr);
}
