/**
 * Text templates with `{placeholders}`: `"{temperature} °C, {humidity} %"`, `"{site}-{device}"`.
 *
 * Used for reading bodies (placeholders are payload paths or topic segments, with optional filters), device JID local
 * parts, display names and MQTT client ids (placeholders are topic segments only). `{{` and `}}` are literal braces.
 *
 * Filters (bodies only):
 *   `{door|closed/open}`  a boolean choice: the text before `/` when the value is true, the text after otherwise;
 *   `{temperature|.1}`    a number with that many decimals.
 *
 * Pure: no I/O.
 */

export type Filter = { readonly kind: 'choice'; readonly yes: string; readonly no: string } | { readonly kind: 'fixed'; readonly digits: number };

export type TemplatePart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'field'; readonly path: readonly string[]; readonly filter?: Filter }
  /**
   * Items rendered only when every value they name is present (not absent, null or ""), joined by `separator`. Built by
   * the importers (a body such as "Temperature 21.5 °C · Humidity 45 %" over readings that carry some fields at a
   * time); there is no syntax for it in mapping files.
   */
  | { readonly kind: 'join'; readonly separator: string; readonly items: readonly (readonly TemplatePart[])[] };

export interface Template {
  readonly source: string;
  readonly parts: readonly TemplatePart[];
  /** Distinct placeholder paths, dotted. */
  readonly fields: readonly string[];
}

export interface TemplateOptions {
  /** Allow dotted paths and filters (reading bodies); otherwise only plain names (segments). */
  readonly rich: boolean;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export function parseTemplate(source: string, opts: TemplateOptions): { template?: Template; errors: string[] } {
  const errors: string[] = [];
  const parts: TemplatePart[] = [];
  let text = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '{' && source[i + 1] === '{') {
      text += '{';
      i += 2;
    } else if (c === '}' && source[i + 1] === '}') {
      text += '}';
      i += 2;
    } else if (c === '}') {
      errors.push(`unmatched "}" at offset ${i} (write "}}" for a literal brace)`);
      i += 1;
    } else if (c === '{') {
      const end = source.indexOf('}', i + 1);
      if (end < 0) {
        errors.push(`unclosed "{" at offset ${i}`);
        break;
      }
      if (text) parts.push({ kind: 'text', text });
      text = '';
      const inner = source.slice(i + 1, end);
      const field = parseField(inner, opts, errors);
      if (field) parts.push(field);
      i = end + 1;
    } else {
      text += c;
      i += 1;
    }
  }
  if (text) parts.push({ kind: 'text', text });
  if (errors.length > 0) return { errors };
  const fields = [...new Set(parts.flatMap((p) => (p.kind === 'field' ? [p.path.join('.')] : [])))];
  return { template: { source, parts, fields }, errors };
}

function parseField(inner: string, opts: TemplateOptions, errors: string[]): TemplatePart | undefined {
  const bar = inner.indexOf('|');
  const pathText = bar < 0 ? inner : inner.slice(0, bar);
  const filterText = bar < 0 ? undefined : inner.slice(bar + 1);
  const path = pathText.split('.');
  // After the first name, a rich path may index arrays: {readings.0.value}.
  if (path.some((p, i) => !NAME.test(p) && !(opts.rich && i > 0 && /^\d+$/.test(p))) || (!opts.rich && path.length > 1)) {
    errors.push(`placeholder {${inner}}: expected ${opts.rich ? 'a name or dotted path' : 'a segment name'}`);
    return undefined;
  }
  if (filterText === undefined) return { kind: 'field', path };
  if (!opts.rich) {
    errors.push(`placeholder {${inner}}: filters are only allowed in reading bodies`);
    return undefined;
  }
  const fixed = /^\.(\d)$/.exec(filterText);
  if (fixed) return { kind: 'field', path, filter: { kind: 'fixed', digits: Number(fixed[1]) } };
  const slash = filterText.indexOf('/');
  if (slash >= 0) {
    return { kind: 'field', path, filter: { kind: 'choice', yes: filterText.slice(0, slash), no: filterText.slice(slash + 1) } };
  }
  errors.push(`placeholder {${inner}}: unknown filter "${filterText}" (use ".N" for N decimals or "yes/no" for a boolean)`);
  return undefined;
}

/** Look up a placeholder path; return undefined when absent. */
export type Lookup = (path: readonly string[]) => unknown;

export function renderTemplate(t: Template, lookup: Lookup): string {
  return renderParts(t.parts, lookup);
}

function renderParts(parts: readonly TemplatePart[], lookup: Lookup): string {
  let out = '';
  for (const part of parts) {
    if (part.kind === 'text') out += part.text;
    else if (part.kind === 'field') out += renderValue(lookup(part.path), part.filter);
    else out += part.items.filter((item) => item.every((p) => p.kind !== 'field' || present(lookup(p.path)))).map((item) => renderParts(item, lookup)).join(part.separator);
  }
  return out;
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

/** A template of items shown only when their values are present (see the `join` part). */
export function joinTemplate(source: string, items: readonly (readonly TemplatePart[])[], separator: string): Template {
  const fields = [...new Set(items.flatMap((item) => item.flatMap((p) => (p.kind === 'field' ? [p.path.join('.')] : []))))];
  return { source, parts: [{ kind: 'join', separator, items }], fields };
}

function renderValue(v: unknown, filter: Filter | undefined): string {
  if (filter?.kind === 'choice') return v === true || v === 'true' || v === 1 || v === 'ON' || v === 'on' ? filter.yes : filter.no;
  if (v === undefined) return '?';
  if (filter?.kind === 'fixed' && typeof v === 'number') return v.toFixed(filter.digits);
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v);
}

/** Lookup over a JSON value by path. */
export function pathLookup(root: unknown): Lookup {
  return (path) => {
    let v: unknown = root;
    for (const key of path) {
      if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, key)) return undefined;
      v = (v as Record<string, unknown>)[key];
    }
    return v;
  };
}

/**
 * A matcher that recovers placeholder values from a rendered string (e.g. an MQTT client id rendered from
 * `"{site}-{device}"`). Placeholders match lazily, so the first literal after a placeholder ends it.
 */
export function templateMatcher(t: Template): (s: string) => Record<string, string> | undefined {
  const names: string[] = [];
  let re = '^';
  for (const part of t.parts) {
    if (part.kind === 'text') re += part.text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (part.kind === 'field') {
      names.push(part.path.join('.'));
      re += '(.+?)';
    }
  }
  const regex = new RegExp(`${re}$`, 's');
  return (s) => {
    const m = regex.exec(s);
    if (!m) return undefined;
    const out: Record<string, string> = {};
    names.forEach((n, i) => {
      out[n] = m[i + 1]!;
    });
    return out;
  };
}
