/**
 * Tokenizer and parser of the Home Assistant template subset (see src/importers/template.ts): Jinja's delimiters
 * `{{ … }}`, `{% … %}`, `{# … #}` with `-` whitespace control, the statements `if`/`elif`/`else`/`endif` and `set`,
 * and Jinja's expression grammar (precedence as in jinja2/parser.py: conditional → or → and → not → comparison →
 * `~` → `+ -` → `* / // %` → `**` → unary `- +` → postfix `. [] ()` → filters `|` and tests `is`).
 *
 * Syntax only: which names, filters, functions and tests exist is checked afterwards (template.ts), so a template
 * that uses something outside the subset gets an "unsupported" answer naming it, not a syntax error.
 *
 * Bounded: the caller limits the source length; here tokens are capped and nesting depth is capped, so the recursive
 * descent can neither loop nor overflow the stack.
 */
import { PyFloat, type Value } from './template-values.js';

export const MAX_TOKENS = 4096;
export const MAX_DEPTH = 48;

export type Expr =
  | { readonly k: 'lit'; readonly v: Value }
  | { readonly k: 'name'; readonly name: string }
  | { readonly k: 'list'; readonly items: readonly Expr[] }
  | { readonly k: 'dict'; readonly items: readonly (readonly [Expr, Expr])[] }
  | { readonly k: 'attr'; readonly obj: Expr; readonly name: string }
  | { readonly k: 'item'; readonly obj: Expr; readonly index: Expr }
  | { readonly k: 'slice'; readonly obj: Expr; readonly start?: Expr; readonly stop?: Expr }
  | { readonly k: 'call'; readonly callee: Expr; readonly args: readonly Expr[]; readonly kwargs: readonly (readonly [string, Expr])[] }
  | { readonly k: 'filter'; readonly name: string; readonly arg: Expr; readonly args: readonly Expr[]; readonly kwargs: readonly (readonly [string, Expr])[] }
  | { readonly k: 'test'; readonly name: string; readonly arg: Expr; readonly args: readonly Expr[]; readonly negated: boolean }
  | { readonly k: 'unary'; readonly op: '-' | '+' | 'not'; readonly arg: Expr }
  | { readonly k: 'bin'; readonly op: BinOp; readonly left: Expr; readonly right: Expr }
  | { readonly k: 'cmp'; readonly first: Expr; readonly rest: readonly (readonly [CmpOp, Expr])[] }
  | { readonly k: 'cond'; readonly test: Expr; readonly then: Expr; readonly else?: Expr };

export type BinOp = '+' | '-' | '*' | '/' | '//' | '%' | '**' | '~' | 'and' | 'or';
export type CmpOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in';

export type Node =
  | { readonly k: 'text'; readonly text: string }
  | { readonly k: 'out'; readonly expr: Expr }
  | { readonly k: 'if'; readonly branches: readonly (readonly [Expr, readonly Node[]])[]; readonly else?: readonly Node[] }
  | { readonly k: 'set'; readonly name: string; readonly expr: Expr };

/** A problem found while reading the source: bad syntax, or a construct the subset leaves out (a `for` loop). */
export class ParseFault extends Error {
  constructor(
    message: string,
    readonly kind: 'syntax' | 'unsupported' | 'limit',
    readonly offset: number,
    readonly construct?: string,
  ) {
    super(message);
  }
}

type Tok =
  | { readonly t: 'name'; readonly v: string; readonly at: number }
  | { readonly t: 'num'; readonly v: Value; readonly at: number }
  | { readonly t: 'str'; readonly v: string; readonly at: number }
  | { readonly t: 'op'; readonly v: string; readonly at: number }
  | { readonly t: 'end'; readonly at: number };

type Chunk =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'var' | 'block'; readonly toks: Tok[]; readonly at: number };

const OPS = ['**', '//', '==', '!=', '<=', '>=', '<', '>', '+', '-', '*', '/', '%', '~', '|', '.', ',', ':', '(', ')', '[', ']', '{', '}', '='];

/** Split the source into text and code chunks, tokenizing the code. */
function lex(src: string): Chunk[] {
  const chunks: Chunk[] = [];
  let tokens = 0;
  let text = '';
  let i = 0;
  let stripNext = false;
  const pushText = (stripEnd: boolean): void => {
    let t = text;
    if (stripNext) t = t.replace(/^\s+/, '');
    if (stripEnd) t = t.replace(/\s+$/, '');
    if (t) chunks.push({ kind: 'text', text: t });
    text = '';
    stripNext = false;
  };
  while (i < src.length) {
    const two = src.slice(i, i + 2);
    if (two === '{#') {
      const end = src.indexOf('#}', i + 2);
      if (end < 0) throw new ParseFault('unclosed comment "{#"', 'syntax', i);
      pushText(src[i + 2] === '-');
      stripNext = src[end - 1] === '-';
      i = end + 2;
      continue;
    }
    if (two !== '{{' && two !== '{%') {
      text += src[i];
      i += 1;
      continue;
    }
    const kind = two === '{{' ? 'var' : 'block';
    const close = kind === 'var' ? '}}' : '%}';
    const start = i;
    i += 2;
    const strip = src[i] === '-';
    if (strip) i += 1;
    pushText(strip);
    const toks: Tok[] = [];
    for (;;) {
      while (i < src.length && /\s/.test(src[i]!)) i += 1;
      if (i >= src.length) throw new ParseFault(`unclosed "${two}"`, 'syntax', start);
      if (src.startsWith(`-${close}`, i) || src.startsWith(close, i)) {
        stripNext = src[i] === '-';
        i += stripNext ? 3 : 2;
        break;
      }
      if ((tokens += 1) > MAX_TOKENS) throw new ParseFault(`more than ${MAX_TOKENS} tokens`, 'limit', i);
      const c = src[i]!;
      if (/[A-Za-z_]/.test(c)) {
        const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i, i + 256))!;
        toks.push({ t: 'name', v: m[0], at: i });
        i += m[0].length;
      } else if (/[0-9]/.test(c)) {
        const m = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(src.slice(i, i + 64))!;
        const n = Number(m[0]);
        toks.push({ t: 'num', v: m[1] !== undefined || m[2] !== undefined ? new PyFloat(n) : n, at: i });
        i += m[0].length;
      } else if (c === "'" || c === '"') {
        const [s, next] = readString(src, i);
        toks.push({ t: 'str', v: s, at: i });
        i = next;
      } else {
        const op = OPS.find((o) => src.startsWith(o, i));
        if (!op) throw new ParseFault(`unexpected character "${c}"`, 'syntax', i);
        toks.push({ t: 'op', v: op, at: i });
        i += op.length;
      }
    }
    toks.push({ t: 'end', at: i });
    chunks.push({ kind, toks, at: start });
  }
  pushText(false);
  return chunks;
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0' };

function readString(src: string, start: number): [string, number] {
  const quote = src[start]!;
  let out = '';
  let i = start + 1;
  while (i < src.length) {
    const c = src[i]!;
    if (c === quote) return [out, i + 1];
    if (c === '\\') {
      const e = src[i + 1];
      if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(src.slice(i + 2, i + 6))) {
        out += String.fromCharCode(parseInt(src.slice(i + 2, i + 6), 16));
        i += 6;
        continue;
      }
      out += e !== undefined && ESCAPES[e] !== undefined ? ESCAPES[e] : `\\${e ?? ''}`;
      i += 2;
      continue;
    }
    out += c;
    i += 1;
  }
  throw new ParseFault('unclosed string literal', 'syntax', start);
}

/** Parse a whole template into nodes. Throws ParseFault. */
export function parseTemplateSource(src: string): Node[] {
  const chunks = lex(src);
  let pos = 0;

  const parseBody = (terminators: readonly string[]): { nodes: Node[]; stop?: { tag: string; parser: ExprParser } } => {
    const nodes: Node[] = [];
    while (pos < chunks.length) {
      const chunk = chunks[pos]!;
      pos += 1;
      if (chunk.kind === 'text') {
        nodes.push({ k: 'text', text: chunk.text });
        continue;
      }
      const p = new ExprParser(chunk.toks);
      if (chunk.kind === 'var') {
        const expr = p.expression();
        p.expectEnd();
        nodes.push({ k: 'out', expr });
        continue;
      }
      const tag = p.tagName();
      if (terminators.includes(tag)) return { nodes, stop: { tag, parser: p } };
      if (tag === 'if') nodes.push(parseIf(p));
      else if (tag === 'set') nodes.push(p.setStatement());
      else if (['elif', 'else', 'endif'].includes(tag)) throw new ParseFault(`unexpected "${tag}"`, 'syntax', chunk.at);
      else throw new ParseFault(`the "${tag}" statement is not supported`, 'unsupported', chunk.at, `tag '${tag}'`);
    }
    if (terminators.length > 0) throw new ParseFault(`missing "{% ${terminators.at(-1)} %}"`, 'syntax', src.length);
    return { nodes };
  };

  const parseIf = (first: ExprParser): Node => {
    const branches: [Expr, readonly Node[]][] = [];
    let test = first.expression();
    first.expectEnd();
    for (;;) {
      const { nodes, stop } = parseBody(['elif', 'else', 'endif']);
      branches.push([test, nodes]);
      if (!stop) throw new ParseFault('missing "{% endif %}"', 'syntax', src.length);
      if (stop.tag === 'elif') {
        test = stop.parser.expression();
        stop.parser.expectEnd();
        continue;
      }
      stop.parser.expectEnd();
      if (stop.tag === 'endif') return { k: 'if', branches };
      const rest = parseBody(['endif']);
      rest.stop!.parser.expectEnd();
      return { k: 'if', branches, else: rest.nodes };
    }
  };

  return parseBody([]).nodes;
}

class ExprParser {
  private i = 0;
  private depth = 0;

  constructor(private readonly toks: readonly Tok[]) {}

  private peek(): Tok {
    return this.toks[this.i]!;
  }

  private next(): Tok {
    const t = this.toks[this.i]!;
    if (t.t !== 'end') this.i += 1;
    return t;
  }

  private isOp(v: string): boolean {
    const t = this.peek();
    return t.t === 'op' && t.v === v;
  }

  private isName(v: string): boolean {
    const t = this.peek();
    return t.t === 'name' && t.v === v;
  }

  private expectOp(v: string): void {
    const t = this.next();
    if (t.t !== 'op' || t.v !== v) throw this.unexpected(t, `"${v}"`);
  }

  private unexpected(t: Tok, wanted: string): ParseFault {
    const seen = t.t === 'end' ? 'the end of the tag' : t.t === 'str' ? 'a string' : `"${String(t.t === 'num' ? 'number' : t.v)}"`;
    return new ParseFault(`expected ${wanted}, found ${seen}`, 'syntax', t.at);
  }

  expectEnd(): void {
    const t = this.peek();
    if (t.t !== 'end') throw this.unexpected(t, 'the end of the tag');
  }

  tagName(): string {
    const t = this.next();
    if (t.t !== 'name') throw this.unexpected(t, 'a statement name');
    return t.v;
  }

  setStatement(): Node {
    const t = this.next();
    if (t.t !== 'name') throw this.unexpected(t, 'a variable name');
    if (this.isOp(',') || this.isOp('.')) throw new ParseFault('only "set name = expression" is supported', 'unsupported', t.at, 'set with several targets');
    this.expectOp('=');
    const expr = this.expression();
    this.expectEnd();
    return { k: 'set', name: t.v, expr };
  }

  private enter(at: number): void {
    if ((this.depth += 1) > MAX_DEPTH) throw new ParseFault(`expression nested deeper than ${MAX_DEPTH}`, 'limit', at);
  }

  expression(): Expr {
    this.enter(this.peek().at);
    try {
      const value = this.or();
      if (!this.isName('if')) return value;
      this.next();
      const test = this.or();
      if (!this.isName('else')) return { k: 'cond', test, then: value };
      this.next();
      return { k: 'cond', test, then: value, else: this.expression() };
    } finally {
      this.depth -= 1;
    }
  }

  private or(): Expr {
    let left = this.and();
    while (this.isName('or')) {
      this.next();
      left = { k: 'bin', op: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): Expr {
    let left = this.not();
    while (this.isName('and')) {
      this.next();
      left = { k: 'bin', op: 'and', left, right: this.not() };
    }
    return left;
  }

  private not(): Expr {
    if (this.isName('not')) {
      const at = this.next().at;
      this.enter(at);
      try {
        return { k: 'unary', op: 'not', arg: this.not() };
      } finally {
        this.depth -= 1;
      }
    }
    return this.compare();
  }

  private compare(): Expr {
    const first = this.concat();
    const rest: [CmpOp, Expr][] = [];
    for (;;) {
      const t = this.peek();
      if (t.t === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.v)) {
        this.next();
        rest.push([t.v as CmpOp, this.concat()]);
      } else if (this.isName('in')) {
        this.next();
        rest.push(['in', this.concat()]);
      } else if (this.isName('not') && this.toks[this.i + 1]?.t === 'name' && (this.toks[this.i + 1] as { v: string }).v === 'in') {
        this.next();
        this.next();
        rest.push(['not in', this.concat()]);
      } else break;
    }
    return rest.length === 0 ? first : { k: 'cmp', first, rest };
  }

  private concat(): Expr {
    let left = this.additive();
    while (this.isOp('~')) {
      this.next();
      left = { k: 'bin', op: '~', left, right: this.additive() };
    }
    return left;
  }

  private additive(): Expr {
    let left = this.multiplicative();
    while (this.isOp('+') || this.isOp('-')) {
      const op = this.next() as { v: '+' | '-' };
      left = { k: 'bin', op: op.v, left, right: this.multiplicative() };
    }
    return left;
  }

  private multiplicative(): Expr {
    let left = this.power();
    while (this.isOp('*') || this.isOp('/') || this.isOp('//') || this.isOp('%')) {
      const op = this.next() as { v: '*' | '/' | '//' | '%' };
      left = { k: 'bin', op: op.v, left, right: this.power() };
    }
    return left;
  }

  private power(): Expr {
    let left = this.unary();
    while (this.isOp('**')) {
      this.next();
      left = { k: 'bin', op: '**', left, right: this.unary() };
    }
    return left;
  }

  /** jinja2 parse_unary: the operand of `-`/`+` takes no filters; the filters apply to the negated value (`-3|abs`). */
  private unary(withFilters = true): Expr {
    let node: Expr;
    if (this.isOp('-') || this.isOp('+')) {
      const t = this.next() as { v: '-' | '+'; at: number };
      this.enter(t.at);
      try {
        node = { k: 'unary', op: t.v, arg: this.unary(false) };
      } finally {
        this.depth -= 1;
      }
    } else node = this.primary();
    node = this.postfix(node);
    return withFilters ? this.filters(node) : node;
  }

  private primary(): Expr {
    const t = this.next();
    if (t.t === 'num') return { k: 'lit', v: t.v };
    if (t.t === 'str') {
      let s = t.v;
      // Adjacent string literals concatenate, as in Python and Jinja.
      while (this.peek().t === 'str') s += (this.next() as { v: string }).v;
      return { k: 'lit', v: s };
    }
    if (t.t === 'name') {
      switch (t.v) {
        case 'true':
        case 'True':
          return { k: 'lit', v: true };
        case 'false':
        case 'False':
          return { k: 'lit', v: false };
        case 'none':
        case 'None':
          return { k: 'lit', v: null };
        default:
          return { k: 'name', name: t.v };
      }
    }
    if (t.t === 'op' && t.v === '(') {
      const e = this.expression();
      if (this.isOp(',')) throw new ParseFault('tuples are not supported', 'unsupported', t.at, 'tuple');
      this.expectOp(')');
      return e;
    }
    if (t.t === 'op' && t.v === '[') {
      const items: Expr[] = [];
      while (!this.isOp(']')) {
        items.push(this.expression());
        if (!this.isOp(',')) break;
        this.next();
      }
      this.expectOp(']');
      return { k: 'list', items };
    }
    if (t.t === 'op' && t.v === '{') {
      const items: [Expr, Expr][] = [];
      while (!this.isOp('}')) {
        const key = this.expression();
        this.expectOp(':');
        items.push([key, this.expression()]);
        if (!this.isOp(',')) break;
        this.next();
      }
      this.expectOp('}');
      return { k: 'dict', items };
    }
    throw this.unexpected(t, 'a value');
  }

  private postfix(e: Expr): Expr {
    for (;;) {
      if (this.isOp('.')) {
        this.next();
        const t = this.next();
        if (t.t === 'name') e = { k: 'attr', obj: e, name: t.v };
        else if (t.t === 'num' && typeof t.v === 'number') e = { k: 'item', obj: e, index: { k: 'lit', v: t.v } };
        else throw this.unexpected(t, 'an attribute name');
      } else if (this.isOp('[')) {
        this.next();
        let start: Expr | undefined;
        if (!this.isOp(':')) start = this.expression();
        if (this.isOp(':')) {
          this.next();
          let stop: Expr | undefined;
          if (!this.isOp(']')) stop = this.expression();
          if (this.isOp(':')) throw new ParseFault('slices with a step are not supported', 'unsupported', this.peek().at, 'slice step');
          this.expectOp(']');
          e = { k: 'slice', obj: e, ...(start ? { start } : {}), ...(stop ? { stop } : {}) };
        } else {
          this.expectOp(']');
          e = { k: 'item', obj: e, index: start! };
        }
      } else if (this.isOp('(')) {
        const { args, kwargs } = this.callArgs();
        e = { k: 'call', callee: e, args, kwargs };
      } else return e;
    }
  }

  private callArgs(): { args: Expr[]; kwargs: [string, Expr][] } {
    this.expectOp('(');
    const args: Expr[] = [];
    const kwargs: [string, Expr][] = [];
    while (!this.isOp(')')) {
      const t = this.peek();
      const after = this.toks[this.i + 1];
      if (t.t === 'name' && after?.t === 'op' && after.v === '=') {
        this.next();
        this.next();
        kwargs.push([t.v, this.expression()]);
      } else {
        if (kwargs.length > 0) throw new ParseFault('positional argument after a keyword argument', 'syntax', t.at);
        args.push(this.expression());
      }
      if (!this.isOp(',')) break;
      this.next();
    }
    this.expectOp(')');
    return { args, kwargs };
  }

  private filters(e: Expr): Expr {
    for (;;) {
      if (this.isOp('|')) {
        this.next();
        const name = this.dottedName();
        if (this.isOp('(')) {
          const { args, kwargs } = this.callArgs();
          e = { k: 'filter', name, arg: e, args, kwargs };
        } else e = { k: 'filter', name, arg: e, args: [], kwargs: [] };
      } else if (this.isName('is')) {
        this.next();
        let negated = false;
        if (this.isName('not')) {
          this.next();
          negated = true;
        }
        const name = this.dottedName();
        let args: Expr[] = [];
        if (this.isOp('(')) args = this.callArgs().args;
        else if (this.peek().t === 'num' || this.peek().t === 'str') args = [this.primary()];
        e = { k: 'test', name, arg: e, args, negated };
      } else return e;
    }
  }

  private dottedName(): string {
    const t = this.next();
    if (t.t !== 'name') throw this.unexpected(t, 'a filter or test name');
    let name = t.v;
    while (this.isOp('.')) {
      this.next();
      const n = this.next();
      if (n.t !== 'name') throw this.unexpected(n, 'a name');
      name += `.${n.v}`;
    }
    return name;
  }
}
