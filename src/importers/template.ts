/**
 * The safe subset of Home Assistant templates that device publishers put in MQTT discovery: `value_template`,
 * `command_template`, `availability_template`… — Jinja `{{ … }}` expressions over `value` (the payload text) and
 * `value_json` (the payload parsed as JSON), with literals, arithmetic, comparisons, `and`/`or`/`not`, `x if c else y`,
 * `{% if %}…{% elif %}…{% else %}…{% endif %}`, `{% set %}`, and the filters, functions, methods and tests listed in
 * template-eval.ts (`float`, `int`, `round(n)`, `lower`, `upper`, `default`/`d`, `string`, `abs`, `tojson`/`to_json`,
 * `from_json`, `is_defined`, `bool`, `iif`, `value.split(',')`, `is defined`…).
 *
 * Everything else — `for` loops, macros, `states()`, `now()`, `regex_*`, printf `%` — is refused with a Result whose
 * code is `TEMPLATE_UNSUPPORTED` and whose `construct` names the thing (`"filter 'regex_findall'"`,
 * `"tag 'for'"`), so the importer can count what real devices use that the subset lacks. Nothing is ever evaluated as
 * code: a small tokenizer, parser and interpreter with no access to JS objects (template-values.ts), bounded in source
 * size, tokens, nesting depth, evaluation steps and the size of every string and list they build. No function here
 * throws: every outcome is a Result.
 *
 * Why not a library: nunjucks resolves attribute access on JS objects (prototype reach, known sandbox escapes) and
 * has no step bound. minijinja-js (WASM, sandboxed, with a fuel limit) was the serious candidate, but it only tells
 * that a construct is unsupported when rendering reaches it with data that takes that branch, while an importer must
 * decide at discovery time; it also needs the Home Assistant filters (`float` with HA's failure rules, `is_defined`,
 * `iif`) re-implemented as JS callbacks anyway, and ships 1 MB of WASM for a subset this size.
 *
 * Pure: no I/O.
 */
import { DEFAULT_EVAL_LIMITS, FILTERS, FUNCTIONS, METHODS, TESTS, evaluateExpr, renderNodes, type EvalLimits } from './template-eval.js';
import { ParseFault, parseTemplateSource, type Expr, type Node } from './template-parse.js';
import { TemplateFault, UNDEFINED, fromJson, fromNative, toNative, type Value } from './template-values.js';

export type { EvalLimits } from './template-eval.js';

/** Stable codes of template problems. */
export type TemplateErrorCode =
  /** Not Jinja at all: unbalanced delimiters, a stray operator. */
  | 'TEMPLATE_SYNTAX'
  /** Valid Jinja, outside the subset (see `construct`). */
  | 'TEMPLATE_UNSUPPORTED'
  /** Over a size or step bound. */
  | 'TEMPLATE_LIMIT'
  /** Failed on this input: `'abc' | float` without a default, division by zero, `is_defined` on a missing key. */
  | 'TEMPLATE_RUNTIME';

export interface TemplateError {
  readonly code: TemplateErrorCode;
  readonly message: string;
  /** `TEMPLATE_UNSUPPORTED`: the construct, e.g. `"filter 'regex_findall'"`, `"function 'states'"`, `"tag 'for'"`. */
  readonly construct?: string;
  /** Offset in the source, when known. */
  readonly offset?: number;
}

export type TemplateResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: TemplateError };

export type JsonPath = readonly (string | number)[];

export interface CompiledTemplate {
  readonly source: string;
  /** Variables the template reads, from the allowed ones. */
  readonly variables: readonly string[];
  /** The constant paths into `value_json` it reads (`value_json['ENERGY'].Today` → `['ENERGY', 'Today']`). */
  readonly jsonPaths: readonly JsonPath[];
  /**
   * Set when the whole template is `{{ value_json.<constant path> }}`: the value is that path of the payload, so a
   * consumer may read it directly.
   */
  readonly simplePath?: JsonPath;
  /** @internal the parsed template. */
  readonly nodes: readonly Node[];
  /** @internal set when the template is one `{{ expression }}` (blank text around it allowed). */
  readonly expression?: Expr;
}

export interface CompileOptions {
  /** Variables the template may read (default `value`, `value_json`, as MQTT value templates get). */
  readonly variables?: readonly string[];
  /** Longest accepted source (default 4096 characters; real discovery templates stay well under 1000). */
  readonly maxLength?: number;
}

/** What a template is rendered with. */
export interface TemplateInput {
  /** `value`: the payload text for value templates, the command's value for command templates. */
  readonly value?: unknown;
  /** `value_json`: the payload as JSON (absent when the payload is not JSON). */
  readonly valueJson?: unknown;
  /** Further variables (only those allowed at compile time are visible). */
  readonly variables?: Readonly<Record<string, unknown>>;
}

const DEFAULT_VARIABLES = ['value', 'value_json'];

function failure<T>(code: TemplateErrorCode, message: string, construct?: string, offset?: number): TemplateResult<T> {
  return { ok: false, error: { code, message, ...(construct !== undefined ? { construct } : {}), ...(offset !== undefined ? { offset } : {}) } };
}

/** Parse and check a template once; render it many times. */
export function compileTemplate(source: unknown, opts: CompileOptions = {}): TemplateResult<CompiledTemplate> {
  if (typeof source !== 'string') return failure('TEMPLATE_SYNTAX', 'a template must be a string');
  const maxLength = opts.maxLength ?? 4096;
  if (source.length > maxLength) return failure('TEMPLATE_LIMIT', `template longer than ${maxLength} characters`);
  let nodes: Node[];
  try {
    nodes = parseTemplateSource(source);
  } catch (err) {
    if (err instanceof ParseFault) {
      const code = err.kind === 'syntax' ? 'TEMPLATE_SYNTAX' : err.kind === 'unsupported' ? 'TEMPLATE_UNSUPPORTED' : 'TEMPLATE_LIMIT';
      return failure(code, err.message, err.construct, err.offset);
    }
    return failure('TEMPLATE_SYNTAX', err instanceof Error ? err.message : 'unreadable template');
  }
  const allowed = new Set(opts.variables ?? DEFAULT_VARIABLES);
  const checker = new Checker(allowed);
  for (const n of nodes) collectSetNames(n, checker.locals);
  const problem = checker.nodes(nodes);
  if (problem) return failure('TEMPLATE_UNSUPPORTED', problem.message, problem.construct);
  const outputs = nodes.filter((n) => !(n.k === 'text' && n.text.trim() === ''));
  const expression = outputs.length === 1 && outputs[0]!.k === 'out' ? outputs[0]!.expr : undefined;
  const simplePath = expression ? constantPath(expression) : undefined;
  return {
    ok: true,
    value: {
      source,
      nodes,
      variables: [...checker.used].filter((v) => allowed.has(v)),
      jsonPaths: uniquePaths(checker.paths),
      ...(expression ? { expression } : {}),
      ...(simplePath && simplePath.length > 0 ? { simplePath } : {}),
    },
  };
}

function variablesOf(input: TemplateInput): Map<string, Value> {
  const vars = new Map<string, Value>();
  for (const [k, v] of Object.entries(input.variables ?? {})) vars.set(k, fromNative(v));
  if (input.value !== undefined) vars.set('value', fromNative(input.value));
  vars.set('value_json', input.valueJson === undefined ? UNDEFINED : fromJson(input.valueJson));
  return vars;
}

function guard<T>(f: () => T): TemplateResult<T> {
  try {
    return { ok: true, value: f() };
  } catch (err) {
    if (err instanceof TemplateFault) {
      const code = err.kind === 'runtime' ? 'TEMPLATE_RUNTIME' : err.kind === 'unsupported' ? 'TEMPLATE_UNSUPPORTED' : 'TEMPLATE_LIMIT';
      return failure(code, err.message, err.construct);
    }
    // A RangeError from a runaway input (e.g. a huge exponent printed) is still a bounded, reported failure.
    return failure('TEMPLATE_LIMIT', err instanceof Error ? err.message : 'template failed');
  }
}

/** Render to text, as Home Assistant does (`{{ 21.5 | round }}` → `"22"`, `{{ 1 | float }}` → `"1.0"`). */
export function renderTemplate(t: CompiledTemplate, input: TemplateInput, limits: EvalLimits = DEFAULT_EVAL_LIMITS): TemplateResult<string> {
  return guard(() => renderNodes(t.nodes, variablesOf(input), limits));
}

/**
 * Render to a value: a template that is one `{{ expression }}` gives the expression's value as JSON-compatible data
 * (a number stays a number, a missing key gives `undefined`); any other template gives its text.
 */
export function evaluateTemplate(t: CompiledTemplate, input: TemplateInput, limits: EvalLimits = DEFAULT_EVAL_LIMITS): TemplateResult<unknown> {
  if (!t.expression) return renderTemplate(t, input, limits);
  const expression = t.expression;
  return guard(() => toNative(evaluateExpr(expression, variablesOf(input), limits)));
}

/** The input of a value template for one MQTT payload: `value` is its text, `value_json` its JSON if it is JSON. */
export function payloadInput(payload: string): TemplateInput {
  let valueJson: unknown;
  try {
    valueJson = JSON.parse(payload);
  } catch {
    valueJson = undefined; // not JSON: value_json stays undefined, as in Home Assistant
  }
  return { value: payload, valueJson };
}

class Checker {
  readonly used = new Set<string>();
  readonly locals = new Set<string>();
  readonly paths: JsonPath[] = [];

  constructor(private readonly allowed: ReadonlySet<string>) {}

  nodes(nodes: readonly Node[]): { message: string; construct: string } | undefined {
    for (const n of nodes) {
      const p = this.node(n);
      if (p) return p;
    }
    return undefined;
  }

  private node(n: Node): { message: string; construct: string } | undefined {
    switch (n.k) {
      case 'text':
        return undefined;
      case 'out':
      case 'set':
        return this.expr(n.expr);
      case 'if':
        for (const [test, body] of n.branches) {
          const p = this.expr(test) ?? this.nodes(body);
          if (p) return p;
        }
        return n.else ? this.nodes(n.else) : undefined;
    }
  }

  private expr(e: Expr): { message: string; construct: string } | undefined {
    const unsupported = (construct: string, what: string): { message: string; construct: string } => ({ message: `${what} is not supported`, construct });
    const all = (xs: readonly Expr[]): { message: string; construct: string } | undefined => {
      for (const x of xs) {
        const p = this.expr(x);
        if (p) return p;
      }
      return undefined;
    };
    switch (e.k) {
      case 'lit':
        return undefined;
      case 'name':
        this.used.add(e.name);
        if (this.allowed.has(e.name) || this.locals.has(e.name)) return undefined;
        return unsupported(`variable '${e.name}'`, `the variable "${e.name}"`);
      case 'list':
        return all(e.items);
      case 'dict':
        return all(e.items.flat());
      case 'attr':
      case 'item': {
        const path = constantPath(e);
        if (path) this.paths.push(path);
        return e.k === 'attr' ? this.expr(e.obj) : (this.expr(e.obj) ?? this.expr(e.index));
      }
      case 'slice':
        return all([e.obj, ...(e.start ? [e.start] : []), ...(e.stop ? [e.stop] : [])]);
      case 'call': {
        const args = [...e.args, ...e.kwargs.map(([, x]) => x)];
        if (e.callee.k === 'name') {
          if (!FUNCTIONS.has(e.callee.name)) return unsupported(`function '${e.callee.name}'`, `the function "${e.callee.name}()"`);
          return all(args);
        }
        if (e.callee.k === 'attr') {
          if (!METHODS.has(e.callee.name)) return unsupported(`method '${e.callee.name}'`, `the method ".${e.callee.name}()"`);
          return all([e.callee.obj, ...args]);
        }
        return unsupported('call', 'calling this value');
      }
      case 'filter':
        if (!FILTERS.has(e.name)) return unsupported(`filter '${e.name}'`, `the filter "${e.name}"`);
        return all([e.arg, ...e.args, ...e.kwargs.map(([, x]) => x)]);
      case 'test':
        if (!TESTS.has(e.name)) return unsupported(`test '${e.name}'`, `the test "is ${e.name}"`);
        return all([e.arg, ...e.args]);
      case 'unary':
        return this.expr(e.arg);
      case 'bin':
        return all([e.left, e.right]);
      case 'cmp':
        return all([e.first, ...e.rest.map(([, x]) => x)]);
      case 'cond':
        return all([e.test, e.then, ...(e.else ? [e.else] : [])]);
    }
  }
}

function collectSetNames(n: Node, into: Set<string>): void {
  if (n.k === 'set') into.add(n.name);
  if (n.k === 'if') {
    for (const [, body] of n.branches) for (const x of body) collectSetNames(x, into);
    for (const x of n.else ?? []) collectSetNames(x, into);
  }
}

/** `value_json.a['b'][0]` → ['a', 'b', 0]; `value_json` → []; anything else → undefined. */
function constantPath(e: Expr): JsonPath | undefined {
  const path: (string | number)[] = [];
  let cur = e;
  for (;;) {
    if (cur.k === 'name') return cur.name === 'value_json' ? path.reverse() : undefined;
    if (cur.k === 'attr') path.push(cur.name);
    else if (cur.k === 'item' && cur.index.k === 'lit' && (typeof cur.index.v === 'string' || typeof cur.index.v === 'number')) path.push(cur.index.v);
    else return undefined;
    cur = cur.obj;
  }
}

function uniquePaths(paths: readonly JsonPath[]): JsonPath[] {
  // Keep the longest paths only: `value_json.a.b` also visits `value_json.a`.
  const keys = new Map(paths.filter((p) => p.length > 0).map((p) => [JSON.stringify(p), p] as const));
  const all = [...keys.values()];
  return all.filter((p) => !all.some((q) => q.length > p.length && p.every((x, i) => q[i] === x)));
}
