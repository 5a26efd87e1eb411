/**
 * From a device description to what an ordinary mapping needs: the reading JSON Schema, one command JSON Schema per
 * command, and the body. Pure; everything depends only on the description's properties and commands, so devices with
 * one model key share the result (and the validators compiled from it).
 *
 * Reading schema (draft 2020-12): the readable properties, typed, with ranges and enums; no property is required
 * (devices report some fields at a time) and `additionalProperties` is true (devices add keys: `last_seen`, `update`…).
 * Every property also accepts `null`, which Zigbee2MQTT publishes for values it has no reading of yet (its Home
 * Assistant integration's placeholders, lib/extension/homeassistant.ts `mockProperties`); a momentary enum also
 * accepts `""`, which Zigbee2MQTT's legacy action sensor publishes to clear `action`.
 *
 * Command schemas: the command's fields with types, ranges and enums, `additionalProperties: false` (a mistyped field
 * is refused, not forwarded), and, by encoding: `json` needs at least one field (`minProperties: 1`), `value`,
 * `template` and `keys` require their field, `fixed` takes none. Binary fields also accept their toggle value. Fields
 * inside an object (a colour) accept more keys than declared, as Zigbee2MQTT's converters do (`{"hex": "#ff0000"}`).
 * They drive the chat syntax (src/convert/command-text.ts) and XEP-0004 forms (src/convert/form.ts), which read the
 * top-level `type`, `enum`, `minimum`/`maximum`, `title`, `description` and `required`.
 *
 * `title` is the label, the endpoint and the unit: "Brightness l1", "Temperature (°C)"; `description` the source's
 * description, presets and step.
 */
import { bodyFields, bodyTemplate, type BodyField } from './body.js';
import type { CommandDescription, DeviceDescription, Property } from './model.js';

export type JsonSchema = Record<string, unknown>;

export const SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema';

export interface GeneratedCommand {
  readonly name: string;
  readonly description?: string;
  readonly schema: JsonSchema;
}

export interface Generated {
  readonly readingSchema: JsonSchema;
  readonly commands: readonly GeneratedCommand[];
  readonly body: { readonly fields: readonly BodyField[]; readonly template: string };
}

export function generate(d: DeviceDescription): Generated {
  const fields = bodyFields(d.properties);
  return {
    readingSchema: readingSchema(d),
    commands: d.commands.map((c) => ({ name: c.name, ...(c.description ? { description: c.description } : {}), schema: commandSchema(c, d.modelKey) })),
    body: { fields, template: bodyTemplate(fields) },
  };
}

/** `$id` base of a model's schemas; a model key is `<source>:<hex>`. */
export function schemaIdBase(modelKey: string): string {
  return `urn:mqtt-xmpp-bridge:import:${modelKey.replace(/[^A-Za-z0-9:._-]/g, '_')}`;
}

export function readingSchema(d: Pick<DeviceDescription, 'modelKey' | 'properties'>): JsonSchema {
  return {
    $schema: SCHEMA_DIALECT,
    $id: `${schemaIdBase(d.modelKey)}:reading`,
    title: 'Reading',
    type: 'object',
    properties: objectProperties(d.properties, 'reading'),
    additionalProperties: true,
  };
}

export function commandSchema(c: CommandDescription, modelKey: string): JsonSchema {
  const properties = objectProperties(c.properties, 'command', false);
  const keys = Object.keys(properties);
  const schema: JsonSchema = {
    $schema: SCHEMA_DIALECT,
    $id: `${schemaIdBase(modelKey)}:command:${c.name}`,
    title: c.description ?? c.name,
    type: 'object',
    properties,
    additionalProperties: false,
  };
  switch (c.encoding.kind) {
    case 'json':
    case 'sparkplug':
      if (keys.length > 0) schema['minProperties'] = 1;
      break;
    case 'value':
    case 'template':
    case 'keys':
      if (keys.includes(c.encoding.key)) schema['required'] = [c.encoding.key];
      break;
    case 'fixed':
      break;
  }
  return schema;
}

type Mode = 'reading' | 'command';

/**
 * The `properties` keyword for a list of properties. With `filter`, only those readable (reading) or settable
 * (command) — unless none is, then all: a composite marked settable as a whole may not mark its features.
 */
function objectProperties(props: readonly Property[], mode: Mode, filter = true): JsonSchema {
  let chosen = filter ? props.filter((p) => (mode === 'reading' ? p.readable : p.settable)) : props;
  if (filter && chosen.length === 0 && mode === 'command') chosen = props;
  const out: JsonSchema = {};
  for (const p of chosen) {
    // Keys come from a device's description: never let one reach an object's prototype.
    Object.defineProperty(out, p.key, { value: propertySchema(p, mode), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

export function propertySchema(p: Property, mode: Mode): JsonSchema {
  const s: JsonSchema = { title: title(p) };
  const description = describe(p);
  if (description) s['description'] = description;
  switch (p.type) {
    case 'boolean': {
      const values = [p.valueOn ?? true, p.valueOff ?? false, ...(mode === 'command' && p.valueToggle !== undefined ? [p.valueToggle] : [])];
      if (values.every((v) => typeof v === 'boolean')) s['type'] = 'boolean';
      else s['enum'] = [...new Set(values)];
      break;
    }
    case 'number':
    case 'integer': {
      const range: JsonSchema = { type: p.type };
      if (p.minimum !== undefined) range['minimum'] = p.minimum;
      if (p.maximum !== undefined) range['maximum'] = p.maximum;
      if (p.extraValues && p.extraValues.length > 0) {
        s['anyOf'] = [range, { enum: [...p.extraValues] }];
      } else Object.assign(s, range);
      break;
    }
    case 'string':
      s['type'] = 'string';
      break;
    case 'enum':
      s['enum'] = [...(p.values ?? [])];
      if (mode === 'reading' && p.momentary && !(p.values ?? []).includes('')) (s['enum'] as unknown[]).push('');
      break;
    case 'object':
      s['type'] = 'object';
      s['properties'] = objectProperties(p.properties ?? [], mode);
      s['additionalProperties'] = true;
      break;
    case 'array':
      s['type'] = 'array';
      if (p.items) s['items'] = propertySchema(p.items, mode);
      if (p.minItems !== undefined) s['minItems'] = p.minItems;
      if (p.maxItems !== undefined) s['maxItems'] = p.maxItems;
      // A choice of names (Zigbee2MQTT `get`) names each once; a device's own list may repeat values.
      if (mode === 'command' && p.items?.type === 'enum') s['uniqueItems'] = true;
      break;
    case 'json':
      s['type'] = ['object', 'array'];
      break;
  }
  return mode === 'reading' ? nullable(s) : s;
}

/** The same schema, also accepting null. */
function nullable(s: JsonSchema): JsonSchema {
  if (Array.isArray(s['enum'])) return { ...s, enum: [...(s['enum'] as unknown[]), null] };
  if (Array.isArray(s['anyOf'])) return { ...s, anyOf: [...(s['anyOf'] as unknown[]), { type: 'null' }] };
  const type = s['type'];
  if (typeof type === 'string') return { ...s, type: [type, 'null'] };
  if (Array.isArray(type)) return { ...s, type: [...(type as unknown[]), 'null'] };
  return s;
}

function title(p: Property): string {
  return `${p.label ?? p.key}${p.endpoint ? ` ${p.endpoint}` : ''}${p.unit ? ` (${p.unit})` : ''}`;
}

function describe(p: Property): string {
  const parts: string[] = [];
  if (p.description) parts.push(p.description.trim().replace(/\.$/, ''));
  if (p.step !== undefined) parts.push(`step ${p.step}`);
  if (p.presets && p.presets.length > 0) parts.push(`presets: ${p.presets.map((x) => `${x.name} = ${x.value}`).join(', ')}`);
  const extra = (p.extraValues ?? []).filter((v) => !(p.presets ?? []).some((x) => x.value === v));
  if (extra.length > 0) parts.push(`also ${extra.map((v) => JSON.stringify(v)).join(', ')}`);
  if (p.booleanLabels) parts.push(`true = ${p.booleanLabels.true}, false = ${p.booleanLabels.false}`);
  return parts.join('; ');
}
