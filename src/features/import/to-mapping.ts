/**
 * A device description (importers/model.ts) → an ordinary mapping of origin `import`: the pipeline, ACL, presence
 * and disco never know where it came from (docs/IMPORT.md, "What a device becomes").
 *
 *   id          `<source>-<hardware id as a slug>` (plus a short hash when the slug had to change it)
 *   topics      literal topic patterns built level by level: friendly names may hold `{`, `}`, spaces and `/`, which
 *               the pattern grammar would read as segments
 *   jid         the source's `jid` template with `{id}` = the hardware id, folded and escaped once (XEP-0106,
 *               devices/device-jid.ts) — never the name, so a rename keeps the JID
 *   name        the source's `name` template ({name} = the friendly name, {id}, {model}, {manufacturer})
 *   readings    every state source becomes a payload decoding (mapping.ts): the device's state merged from all of
 *               its topics, momentary properties forgotten after their reading
 *   schemas     generated (importers/generate.ts), compiled once per model key (schema-cache.ts)
 *   body        the generated fields, each shown only when present in the reading
 *   commands    generated schemas; the encoding of the description becomes the command's payload format
 *
 * Pure apart from the schema cache.
 */
import { createHash } from 'node:crypto';
import { fail, ok, type Result } from '../../errors.js';
import { formLocalpart } from '../../devices/device-jid.js';
import { bodyFields, type BodyField } from '../../importers/body.js';
import { generate } from '../../importers/generate.js';
import type { CommandDescription, DeviceDescription, Property, StateSource } from '../../importers/model.js';
import { compileTemplate } from '../../importers/template.js';
import { parseJidPattern, type JidPattern } from '../../mapping/jid-pattern.js';
import { DEFAULT_IDLE_AFTER, type Availability, type CommandPayload, type CommandSpec, type Mapping, type MessageType, type PayloadDecoding, type PayloadFormat, type ReadingSource } from '../../mapping/mapping.js';
import { joinTemplate, parseTemplate, renderTemplate, type Template, type TemplatePart } from '../../mapping/template.js';
import type { TopicPattern } from '../../mapping/topic-pattern.js';
import type { ModelSchemaCache } from './schema-cache.js';

export interface ImportOptions {
  readonly jid: string;
  readonly name: string;
  readonly access: { readonly viewers: readonly string[]; readonly operators: readonly string[] };
  readonly messageType: MessageType;
  /** `{serverDomain}` and the like in access patterns. */
  readonly jidVariables: Readonly<Record<string, string>>;
}

/** The mapping id of an imported device. */
export function importMappingId(source: string, hardwareId: string): string {
  const slug = hardwareId.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48);
  const exact = slug === hardwareId.toLowerCase() && slug.length > 0;
  return exact ? `${source}-${slug}` : `${source}-${slug}${slug ? '-' : ''}${createHash('sha256').update(hardwareId).digest('hex').slice(0, 8)}`;
}

/** The JID local part a device gets (or would get once approved): the `jid` template with {id} = hardware id. */
export function importLocalpart(jidTemplate: string, hardwareId: string): Result<string> {
  const t = parseTemplate(jidTemplate, { rich: false });
  if (!t.template) return fail('JID_INVALID', t.errors.join('; '));
  const r = formLocalpart(t.template, { id: hardwareId });
  return r.ok ? ok(r.localpart) : fail('JID_INVALID', `hardware id "${hardwareId}": ${r.reason}`);
}

/** The display name: the `name` template over the description. */
export function importName(nameTemplate: string, d: DeviceDescription): string {
  const t = parseTemplate(nameTemplate, { rich: false });
  if (!t.template) return d.name;
  const values: Record<string, string> = { name: d.name, id: d.hardwareId, model: d.model ?? '', manufacturer: d.manufacturer ?? '' };
  return renderTemplate(t.template, (p) => values[p[0]!]).trim() || d.name;
}

/** A pattern that matches exactly this topic, whatever characters its levels hold. */
export function literalTopic(topic: string): TopicPattern {
  return { source: topic, levels: topic.split('/').map((text) => ({ kind: 'literal', text })), filter: topic, segments: [], hasAnonymousWildcards: false };
}

/**
 * The description and everything the options change: an unchanged device stays the same object. Its properties are
 * covered by the model key (every importer derives the key from them), so the hash reads only what is per device —
 * a republished list of thousands of devices costs a small hash each.
 */
function fingerprintOf(d: DeviceDescription, opts: ImportOptions): string {
  const { properties: _p, warnings: _w, commands, ...rest } = d;
  const perDevice = { ...rest, commands: commands.map(({ properties: _cp, ...c }) => c), opts };
  return createHash('sha256').update(JSON.stringify(perDevice)).digest('base64url');
}

const literalTemplate = (text: string): Template => ({ source: text, parts: text ? [{ kind: 'text', text }] : [], fields: [] });

export function toMapping(d: DeviceDescription, opts: ImportOptions, schemas: ModelSchemaCache): Result<Mapping> {
  const id = importMappingId(d.source, d.hardwareId);
  if (d.state.length === 0) return fail('MAPPING_INVALID', 'the device reports nothing the bridge can read (no state topic)');
  const local = importLocalpart(opts.jid, d.hardwareId);
  if (!local.ok) return local;
  const access = { viewers: patterns(opts.access.viewers, opts.jidVariables), operators: patterns(opts.access.operators, opts.jidVariables) };
  if (!access.viewers.ok) return access.viewers;
  if (!access.operators.ok) return access.operators;

  const file = `import:${d.source}:${d.hardwareId}`;
  const compiled = schemas.acquire(d.modelKey, () => generate(d), `import:${d.source}`, id);
  const sources = readingSources(d);
  const commands: CommandSpec[] = [];
  for (const c of d.commands) {
    const schema = compiled.commands.get(c.name);
    const payload = commandPayload(c);
    if (!schema || !payload.ok) continue; // a command whose template left the subset is left out (the importer warned)
    commands.push({
      name: c.name,
      ...(c.description !== undefined ? { description: c.description } : {}),
      topic: literalTopic(c.topic),
      schema,
      qos: c.qos ?? 1,
      retain: c.retain ?? false,
      ...(payload.value.format !== 'json' ? { payload: payload.value } : {}),
    });
  }
  const body = bodyOf(bodyFields(d.properties));
  const name = importName(opts.name, d);
  const availability = availabilityOf(d);
  return ok({
    id,
    origin: { kind: 'import', source: d.source, id: d.hardwareId },
    file,
    index: 0,
    fingerprint: fingerprintOf(d, opts),
    description: [d.manufacturer, d.model].filter(Boolean).join(' ') || `${d.source} device`,
    topic: sources[0]!.topic,
    sources,
    jid: literalTemplate(local.value),
    name: literalTemplate(name),
    schema: compiled.reading,
    ...(body ? { body } : {}),
    messageType: opts.messageType,
    // Delivery as a mapping file without `delivery`, `pubsub`, `invite` or `idleAfter` has it (docs/MAPPINGS.md).
    delivery: { mode: opts.messageType, offline: 'latest', period: 'day', archive: true, status: true },
    pubsub: { enabled: true, items: 10 },
    notify: { subscribers: true, jids: [] },
    invite: [],
    idleAfter: DEFAULT_IDLE_AFTER,
    ...(availability ? { availability } : {}),
    access: { viewers: access.viewers.value, operators: access.operators.value },
    commands,
    aliases: aliasesOf(d, commands),
  });
}

function patterns(list: readonly string[], vars: Readonly<Record<string, string>>): Result<JidPattern[]> {
  const out: JidPattern[] = [];
  for (const source of list) {
    const { pattern, error } = parseJidPattern(source, vars);
    if (!pattern) return fail('MAPPING_INVALID', error ?? `bad JID pattern "${source}"`);
    out.push(pattern);
  }
  return ok(out);
}

/** The property a source writes (top level by key, or a node's property by path). */
function propertyAt(properties: readonly Property[], path: readonly string[]): Property | undefined {
  let list = properties;
  let p: Property | undefined;
  for (const key of path) {
    p = list.find((x) => x.key === key);
    if (!p) return undefined;
    list = p.properties ?? [];
  }
  return p;
}

function formatOf(p: Property | undefined): PayloadFormat {
  if (!p) return 'text';
  if (p.type === 'number' || p.type === 'integer') return 'number';
  if (p.type === 'boolean') return 'boolean';
  if (p.type === 'object' || p.type === 'array' || p.type === 'json') return 'json';
  return p.type === 'enum' ? 'enum' : 'text';
}

/** State sources grouped by topic (several templates often read one topic), in the order of their first use. */
function readingSources(d: DeviceDescription): ReadingSource[] {
  const byTopic = new Map<string, PayloadDecoding[]>();
  for (const s of d.state) {
    let list = byTopic.get(s.topic);
    if (!list) byTopic.set(s.topic, (list = []));
    list.push(decodingOf(s, d.properties));
  }
  return [...byTopic].map(([topic, decodings]) => ({ topic: literalTopic(topic), decodings }));
}

function decodingOf(s: StateSource, properties: readonly Property[]): PayloadDecoding {
  const path = s.path ?? (s.key !== undefined ? [s.key] : undefined);
  const prop = path ? propertyAt(properties, path) : undefined;
  const format = s.template !== undefined ? (s.valueFormat ?? formatOf(prop)) : s.format;
  // The importers' defaults (state-reading.ts): a template's result compares with ON/OFF, a raw payload with true/false.
  const [yes, no] = s.template !== undefined ? ['ON', 'OFF'] : ['true', 'false'];
  const momentary = path ? (prop?.momentary ? [path] : []) : properties.filter((p) => p.momentary).map((p) => [p.key]);
  return {
    format,
    ...(path ? { path } : {}),
    true: [s.trueValue ?? yes],
    false: [s.falseValue ?? no],
    ...(s.emptyValue !== undefined ? { empty: s.emptyValue } : {}),
    integer: prop?.type === 'integer',
    ...(s.template !== undefined ? { template: s.template } : {}),
    momentary,
  };
}

function availabilityOf(d: DeviceDescription): Availability | undefined {
  const a = d.availability;
  if (!a || a.topics.length === 0) return undefined;
  return {
    topics: a.topics.map((t) => ({
      topic: literalTopic(t.topic),
      online: [t.online, ...(t.moreOnline ?? [])],
      offline: [t.offline, ...(t.moreOffline ?? [])],
      ...(t.template !== undefined ? { template: t.template } : {}),
    })),
    mode: a.mode,
    ...(a.sleeping !== undefined ? { sleeping: a.sleeping } : {}),
    timeout: 0,
  };
}

function commandPayload(c: CommandDescription): Result<CommandPayload> {
  const e = c.encoding;
  switch (e.kind) {
    case 'json':
      return ok({ format: 'json' });
    case 'fixed':
      return ok({ format: 'fixed', payload: e.payload });
    case 'keys':
      return ok({ format: 'keys', path: [e.key] });
    case 'value':
      return ok({ format: 'value', path: [e.key], ...(e.on !== undefined ? { on: e.on } : {}), ...(e.off !== undefined ? { off: e.off } : {}) });
    case 'template': {
      const aliases = e.aliases ?? [];
      const t = compileTemplate(e.template, { variables: ['value', ...aliases] });
      return t.ok ? ok({ format: 'template', path: [e.key], template: t.value, aliases }) : fail('MAPPING_INVALID', t.error.message);
    }
  }
}

/** "Temperature 21.5 °C · Humidity 45 %": each field shown when the reading has it. */
function bodyOf(fields: readonly BodyField[]): Template | undefined {
  if (fields.length === 0) return undefined;
  const items: TemplatePart[][] = fields.map((f) => [
    { kind: 'text', text: `${f.label} ` },
    { kind: 'field', path: f.path, ...(f.words ? { filter: { kind: 'choice', yes: f.words.true, no: f.words.false } } : {}) },
    ...(f.unit ? [{ kind: 'text', text: ` ${f.unit}` } as const] : []),
  ]);
  return joinTemplate(fields.map((f) => `${f.label} {${f.path.join('.')}}${f.unit ? ` ${f.unit}` : ''}`).join(' · '), items, ' · ');
}

/**
 * Chat shortcuts for a switchable state (Zigbee2MQTT lights and plugs): "on", "off", "toggle" = `set state=…`.
 */
function aliasesOf(d: DeviceDescription, commands: readonly CommandSpec[]): Record<string, string> {
  if (!commands.some((c) => c.name === 'set')) return {};
  const set = d.commands.find((c) => c.name === 'set');
  const state = set?.properties.find((p) => p.key === 'state' && p.type === 'boolean');
  if (!state) return {};
  const word = (v: string | number | boolean | undefined, dflt: string): string => (v === undefined ? dflt : String(v));
  const out: Record<string, string> = { on: `set state=${word(state.valueOn, 'true')}`, off: `set state=${word(state.valueOff, 'false')}` };
  if (state.valueToggle !== undefined) out['toggle'] = `set state=${String(state.valueToggle)}`;
  return out;
}
