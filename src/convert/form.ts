/**
 * Command schemas as XEP-0004 data forms, and submitted forms back to JSON. Pure.
 *
 *   enum                 → list-single with an <option/> per member
 *   boolean              → boolean
 *   integer / number     → text-single with XEP-0122 validation (xs:integer / xs:decimal, <range min max/>)
 *   string               → text-single
 *   string, format uri   → text-single with XEP-0122 xs:anyURI (a command carrying a file: the file's URL)
 *   array of enum        → list-multi
 *   array of string      → text-multi
 *   anything else        → text-single holding JSON
 * `required` becomes <required/>, `title` the label, `description` <desc/>, `default` the initial <value/>.
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { fail, ok, type Result } from '../errors.js';
import { schemaFields, type SchemaField } from './schema-fields.js';
import { xmlSafeText } from './xml-safe.js';
import { NS_DATA, NS_XDATA_VALIDATE } from '../xmpp/namespaces.js';


export function schemaForm(schema: Readonly<Record<string, unknown>>, title: string, instructions?: string): Element {
  return xml(
    'x',
    { xmlns: NS_DATA, type: 'form' },
    xml('title', {}, xmlSafeText(title)),
    instructions ? xml('instructions', {}, xmlSafeText(instructions)) : null,
    ...schemaFields(schema).map(fieldElement),
  );
}

function fieldElement(f: SchemaField): Element {
  const type = fieldType(f);
  const el = xml('field', { var: f.name, type, label: xmlSafeText(f.title ?? f.name) });
  if (f.description) el.append(xml('desc', {}, xmlSafeText(f.description)));
  if (f.required) el.append(xml('required'));
  if (f.kind === 'integer' || f.kind === 'number') {
    const range = f.minimum !== undefined || f.maximum !== undefined ? xml('range', { ...(f.minimum !== undefined ? { min: String(f.minimum) } : {}), ...(f.maximum !== undefined ? { max: String(f.maximum) } : {}) }) : xml('basic');
    el.append(xml('validate', { xmlns: NS_XDATA_VALIDATE, datatype: f.kind === 'integer' ? 'xs:integer' : 'xs:decimal' }, range));
  }
  if (f.uri) el.append(xml('validate', { xmlns: NS_XDATA_VALIDATE, datatype: 'xs:anyURI' }, xml('basic')));
  for (const v of defaultValues(f)) el.append(xml('value', {}, xmlSafeText(v)));
  for (const o of f.options ?? []) el.append(xml('option', { label: String(o) }, xml('value', {}, xmlSafeText(String(o)))));
  return el;
}

function fieldType(f: SchemaField): string {
  switch (f.kind) {
    case 'enum':
      return 'list-single';
    case 'boolean':
      return 'boolean';
    case 'enum-list':
      return 'list-multi';
    case 'string-list':
      return 'text-multi';
    default:
      return 'text-single';
  }
}

function defaultValues(f: SchemaField): string[] {
  if (f.default === undefined) return [];
  if (Array.isArray(f.default)) return f.default.map(String);
  if (f.kind === 'boolean') return [f.default ? '1' : '0'];
  const v = f.default;
  return [typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v)];
}

/**
 * A submitted form (<x type='submit'>) → the command payload. Empty optional fields are left out; values are typed
 * by the schema (validation of the result happens in the downlink, like every other command).
 */
export function formPayload(schema: Readonly<Record<string, unknown>>, form: Element): Result<Record<string, unknown>> {
  if (form.attrs['type'] !== 'submit') return fail('COMMAND_INVALID', 'expected a submitted form (type="submit")');
  const fields = new Map(schemaFields(schema).map((f) => [f.name, f]));
  const out: Record<string, unknown> = {};
  for (const el of form.getChildren('field')) {
    const name = el.attrs['var'];
    if (!name || name === 'FORM_TYPE') continue;
    const values = el.getChildren('value').map((v) => v.getText());
    const f = fields.get(name);
    if (!f) return fail('COMMAND_INVALID', `unknown field "${name}"`);
    if (values.length === 0 || (values.length === 1 && values[0] === '' && f.kind !== 'string')) continue;
    const v = typed(f, values);
    if (!v.ok) return v;
    out[name] = v.value;
  }
  return ok(out);
}

function typed(f: SchemaField, values: string[]): Result<unknown> {
  const one = values[0]!;
  switch (f.kind) {
    case 'boolean':
      // XEP-0004 §3.3: "0"/"false" and "1"/"true".
      if (one === '1' || one === 'true') return ok(true);
      if (one === '0' || one === 'false') return ok(false);
      return fail('COMMAND_INVALID', `${f.name}: "${one}" is not a boolean`);
    case 'integer':
    case 'number': {
      const n = Number(one);
      return one.trim() !== '' && Number.isFinite(n) ? ok(n) : fail('COMMAND_INVALID', `${f.name}: "${one}" is not a number`);
    }
    case 'enum':
      return ok(f.options?.find((o) => String(o) === one) ?? one);
    case 'enum-list':
      return ok(values.map((v) => f.options?.find((o) => String(o) === v) ?? v));
    case 'string-list':
      return ok(values);
    case 'json':
      try {
        return ok(JSON.parse(one) as unknown);
      } catch {
        return fail('COMMAND_INVALID', `${f.name}: not valid JSON`);
      }
    default:
      return ok(one);
  }
}
