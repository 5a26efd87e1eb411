/**
 * The top-level fields of an object JSON Schema, as far as a person typing a command or filling a form needs them:
 * name, kind, allowed values, bounds, whether required. Pure. Anything this cannot describe is a `json` field
 * (entered as JSON text), so every schema still gets a usable form.
 */

export type FieldKind = 'enum' | 'boolean' | 'integer' | 'number' | 'string' | 'enum-list' | 'string-list' | 'json';

export interface SchemaField {
  readonly name: string;
  readonly kind: FieldKind;
  readonly title?: string;
  readonly description?: string;
  readonly required: boolean;
  readonly options?: readonly (string | number | boolean)[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly default?: unknown;
  /** A string that is a URL (`format: uri`, or a file's URL: `contentMediaType`). */
  readonly uri?: boolean;
}

type Schema = Readonly<Record<string, unknown>>;

export function schemaFields(schema: Schema): SchemaField[] {
  const props = schema['properties'];
  if (props === null || typeof props !== 'object') return [];
  const required = new Set(Array.isArray(schema['required']) ? (schema['required'] as unknown[]).filter((r): r is string => typeof r === 'string') : []);
  return Object.entries(props as Record<string, Schema>).map(([name, p]) => describe(name, p, required.has(name)));
}

function describe(name: string, p: Schema, required: boolean): SchemaField {
  const base = {
    name,
    required,
    ...(typeof p['title'] === 'string' ? { title: p['title'] } : {}),
    ...(typeof p['description'] === 'string' ? { description: p['description'] } : {}),
    ...('default' in p ? { default: p['default'] } : {}),
  };
  const type = p['type'];
  if (Array.isArray(p['enum'])) return { ...base, kind: 'enum', options: (p['enum'] as unknown[]).filter(isScalar) };
  if ('const' in p && isScalar(p['const'])) return { ...base, kind: 'enum', options: [p['const']] };
  if (type === 'boolean') return { ...base, kind: 'boolean' };
  if (type === 'integer' || type === 'number') {
    return {
      ...base,
      kind: type,
      ...(typeof p['minimum'] === 'number' ? { minimum: p['minimum'] } : {}),
      ...(typeof p['maximum'] === 'number' ? { maximum: p['maximum'] } : {}),
    };
  }
  if (type === 'string') return { ...base, kind: 'string', ...(p['format'] === 'uri' || typeof p['contentMediaType'] === 'string' ? { uri: true } : {}) };
  if (type === 'array' && p['items'] !== null && typeof p['items'] === 'object') {
    const items = p['items'] as Schema;
    if (Array.isArray(items['enum'])) return { ...base, kind: 'enum-list', options: (items['enum'] as unknown[]).filter(isScalar) };
    if (items['type'] === 'string') return { ...base, kind: 'string-list' };
  }
  return { ...base, kind: 'json' };
}

function isScalar(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/**
 * Text typed by a person → the JSON value the schema expects for that field, or the text itself when it cannot be
 * converted (validation then says what is wrong). Enum members match case-insensitively: `state=on` means "ON".
 */
export function coerceText(field: SchemaField | undefined, text: string): unknown {
  if (!field) return guess(text);
  switch (field.kind) {
    case 'enum': {
      const exact = field.options?.find((o) => String(o) === text);
      if (exact !== undefined) return exact;
      const folded = field.options?.find((o) => String(o).toLowerCase() === text.toLowerCase());
      return folded ?? text;
    }
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(text)) return true;
      if (/^(false|0|no|off)$/i.test(text)) return false;
      return text;
    case 'integer':
    case 'number':
      return text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
    case 'string':
      return text;
    case 'enum-list':
    case 'string-list':
      return text.split(',').map((s) => s.trim()).filter(Boolean);
    case 'json':
      return guess(text);
  }
}

function guess(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
