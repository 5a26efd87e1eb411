/**
 * Mapping loader: files → structure check (JSON Schema) → semantic checks → compiled `Mapping`s.
 * Every problem in every file is collected and reported together, with file and JSON path.
 */
import { MEDIA_READING_SCHEMA } from '../schemas/media.js';
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import type { LoadProblem } from '../errors.js';
import { readYamlFile } from '../config/yaml-file.js';
import { LITERAL_FORBIDDEN } from '../devices/device-jid.js';
import { createAjv } from '../schemas/ajv.js';
import { ajvErrorsToPathMessages } from '../schemas/format-errors.js';
import { listFiles, type CompiledSchema, type SchemaRegistry } from '../schemas/registry.js';
import { compileTemplate } from '../importers/template.js';
import { anyMatch, parseJidPattern, type JidPattern } from './jid-pattern.js';
import {
  DEFAULT_IDLE_AFTER,
  type Availability,
  type AvailabilityTopic,
  type ChangePolicy,
  type CommandFile,
  type CommandPayload,
  type CommandSpec,
  type Deadband,
  type DeliveryMode,
  type FieldChangePolicy,
  type Mapping,
  type MediaSpec,
  type MessageType,
  type OfflinePolicy,
  type PayloadDecoding,
  type PayloadFormat,
  type ReadingSource,
} from './mapping.js';
import { mappingFileSchema } from './schema.js';
import { parseTemplate, type Template } from './template.js';
import { crossCheck } from './cross-check.js';
import { parseTopicPattern, patternsOverlap, type TopicPattern } from './topic-pattern.js';

export interface MappingContext {
  readonly registry: SchemaRegistry;
  /** Values for `{name}` variables in JID patterns, e.g. `{ serverDomain: 'example.org' }`. */
  readonly jidVariables: Readonly<Record<string, string>>;
}

const MAPPING_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

type Words = string | string[];

/** A payload decoding as written (`payload:` of a mapping or of one of its `topics`). */
interface RawDecoding {
  format: PayloadFormat | 'binary';
  mediaType?: string;
  maxBytes?: number;
  inlineMaxBytes?: number;
  key?: string;
  trueValues?: Words;
  falseValues?: Words;
  empty?: string;
  integer: boolean;
  template?: string;
  momentary: boolean | string[];
}

interface RawCommandPayload {
  format: CommandPayload['format'];
  key?: string;
  trueValue?: string;
  falseValue?: string;
  template?: string;
  aliases?: string[];
  payload?: string;
}

/** Raw mapping as validated by `mappingFileSchema` (defaults applied). */
interface RawMapping {
  id: string;
  description?: string;
  topic: string;
  payload?: RawDecoding;
  topics?: { topic: string; payload?: RawDecoding }[];
  jid: string;
  name?: string;
  schema?: string;
  body?: string;
  messageType: MessageType;
  delivery: { mode?: DeliveryMode; offline: OfflinePolicy; period: 'hour' | 'day' | 'week'; archive: boolean; status: boolean };
  changes?: RawChanges;
  pubsub: { enabled: boolean; items: number };
  notify: { subscribers: boolean; jids: string[] };
  invite: string[];
  availability?: {
    clientId?: string;
    topic?: string;
    online: Words;
    offline: Words;
    topics?: { topic: string; online?: Words; offline?: Words; template?: string }[];
    mode: Availability['mode'];
    sleeping?: string;
    timeout: number;
    idleAfter?: number;
  };
  commands: RawCommand[];
  aliases: Record<string, string>;
  access: { viewers: string[]; operators: string[] };
}

type RawDeadband = number | string;

interface RawChanges {
  deadband?: RawDeadband;
  minInterval?: number;
  maxInterval?: number;
  fields: Record<string, { deadband?: RawDeadband; minInterval?: number; ignore?: boolean }>;
}

interface RawCommand {
  name: string;
  description?: string;
  topic: string;
  schema: string;
  qos: 0 | 1 | 2;
  retain: boolean;
  ttl?: number;
  confirm?: { topic: string; fields?: string[]; timeout: number };
  payload?: RawCommandPayload;
  file?: { key: string; mediaTypes?: string[]; maxBytes?: number; encoding: 'binary' | 'base64'; oob: boolean };
}

let validateFile: ReturnType<ReturnType<typeof createAjv>['compile']> | undefined;

export function loadMappings(paths: readonly string[], ctx: MappingContext, problems: LoadProblem[]): Mapping[] {
  const files: string[] = [];
  for (const p of paths) files.push(...listFiles(p, MAPPING_EXTENSIONS, problems));
  if (files.length === 0 && problems.length === 0) problems.push({ file: paths.join(', '), path: '', message: 'no mapping files found' });

  const mappings: Mapping[] = [];
  const ids = new Map<string, string>();
  for (const file of files) {
    for (const { raw, index, mapping } of loadMappingFile(file, ctx, problems)) {
      // Ids are checked on every declared mapping, compiled or not, so a duplicate is reported with the rest.
      const other = ids.get(raw.id);
      if (other !== undefined) problems.push({ file, path: `/mappings/${index}/id`, message: `id "${raw.id}" is already used in ${other}` });
      else ids.set(raw.id, file);
      if (mapping) mappings.push(mapping);
    }
  }
  problems.push(...crossCheck(mappings, [], { ids: false }));
  return mappings;
}

function loadMappingFile(file: string, ctx: MappingContext, problems: LoadProblem[]): { raw: RawMapping; index: number; mapping?: Mapping }[] {
  const doc = readYamlFile(file, problems);
  if (doc === undefined) return [];
  validateFile ??= createAjv({ useDefaults: true }).compile(mappingFileSchema);
  if (!validateFile(doc)) {
    for (const m of ajvErrorsToPathMessages(validateFile.errors)) problems.push({ file, path: m.path, message: m.message });
    return [];
  }
  return (doc as { mappings: RawMapping[] }).mappings.map((raw, index) => {
    const mapping = compileMapping(raw, file, index, ctx, problems);
    return mapping ? { raw, index, mapping } : { raw, index };
  });
}

function compileMapping(raw: RawMapping, file: string, index: number, ctx: MappingContext, problems: LoadProblem[]): Mapping | undefined {
  const at = (field: string): string => `/mappings/${index}${field ? `/${field}` : ''}`;
  const before = problems.length;
  const problem = (field: string, message: string): void => {
    problems.push({ file, path: at(field), message });
  };

  const topic = topicOf(raw.topic, 'topic', problem);
  const segments = new Set(topic?.segments ?? []);

  // JID template: plain segment names only, literals that need no XEP-0106 escaping, segments separated by text.
  const jid = templateOf(raw.jid, 'jid', false, problem);
  if (jid) {
    for (const part of jid.parts) {
      if (part.kind === 'text' && LITERAL_FORBIDDEN.test(part.text)) problem('jid', `literal text "${part.text}" contains a character a JID local part cannot hold unescaped`);
    }
    jid.parts.forEach((part, i) => {
      if (part.kind === 'field' && jid.parts[i + 1]?.kind === 'field') problem('jid', 'two segments must be separated by literal text, or JIDs cannot be told apart');
    });
  }
  if (jid && topic) {
    checkSegmentsExist(jid, segments, 'jid', problem);
    // Every named topic segment must reach the JID, or two devices would share one JID.
    for (const s of segments) {
      if (!jid.fields.includes(s)) problem('jid', `segment {${s}} of the topic is not used, so different topics would map to one JID`);
    }
  }
  if (topic?.hasAnonymousWildcards) problem('topic', 'use named segments ({name}) instead of "+" or "#", so every device gets its own JID');
  const binary = raw.payload?.format === 'binary';
  const media: MediaSpec | undefined = binary
    ? {
        ...(raw.payload!.mediaType !== undefined ? { mediaType: raw.payload!.mediaType } : {}),
        ...(raw.payload!.maxBytes !== undefined ? { maxBytes: raw.payload!.maxBytes } : {}),
        ...(raw.payload!.inlineMaxBytes !== undefined ? { inlineMaxBytes: raw.payload!.inlineMaxBytes } : {}),
      }
    : undefined;
  if (binary && raw.topics !== undefined) problem('topics', 'a binary payload is one file per message: it cannot be merged with other topics');
  if (binary && raw.schema !== undefined) problem('schema', 'a binary payload has no JSON Schema: its reading is the file\'s metadata');
  if (!binary && (raw.payload?.mediaType !== undefined || raw.payload?.maxBytes !== undefined || raw.payload?.inlineMaxBytes !== undefined)) problem('payload', 'mediaType, maxBytes and inlineMaxBytes are for binary payloads');
  (raw.topics ?? []).forEach((t, i) => {
    if (t.payload?.format === 'binary') problem(`topics/${i}/payload/format`, 'a binary payload is one file per message: give it a mapping of its own');
  });
  const sources = topic && !binary && (raw.payload !== undefined || raw.topics !== undefined) ? readingSources(raw, topic, jid, segments, problem) : undefined;

  const name = raw.name !== undefined ? templateOf(raw.name, 'name', false, problem) : undefined;
  if (name) checkSegmentsExist(name, segments, 'name', problem);

  const schema = binary ? MEDIA_READING_SCHEMA : raw.schema !== undefined ? ctx.registry.resolve(raw.schema, dirname(file), problems, { file, path: at('schema') }) : undefined;

  const body = raw.body !== undefined ? templateOf(raw.body, 'body', true, problem) : undefined;
  if (body && schema) {
    const props = schema.schema['properties'];
    if (props !== null && typeof props === 'object') {
      for (const f of body.fields) {
        const head = f.split('.')[0]!;
        if (!Object.hasOwn(props, head) && !segments.has(head)) problem('body', `placeholder {${f}} is neither a property of schema ${schema.id} nor a topic segment`);
      }
    }
  }

  let availability: Availability | undefined;
  if (raw.availability) {
    const a = raw.availability;
    const clientId = a.clientId !== undefined ? templateOf(a.clientId, 'availability/clientId', false, problem) : undefined;
    if (clientId) checkIdentifies(clientId.fields, jid, 'availability/clientId', segments, problem);
    const declared: { at: string; topic: string; online: Words; offline: Words; template?: string }[] = [
      ...(a.topic !== undefined ? [{ at: 'availability/topic', topic: a.topic, online: a.online, offline: a.offline }] : []),
      ...(a.topics ?? []).map((t, i) => ({
        at: `availability/topics/${i}/topic`,
        topic: t.topic,
        online: t.online ?? a.online,
        offline: t.offline ?? a.offline,
        ...(t.template !== undefined ? { template: t.template } : {}),
      })),
    ];
    const topics: AvailabilityTopic[] = [];
    for (const d of declared) {
      const atopic = topicOf(d.topic, d.at, problem);
      if (!atopic) continue;
      if (atopic.hasAnonymousWildcards) problem(d.at, 'an availability topic may only use named segments');
      checkIdentifies(atopic.segments, jid, d.at, segments, problem);
      if (topic && readingTopicsOf(topic, sources).some((t) => t.filter === atopic.filter)) problem(d.at, 'must differ from the reading topic');
      const online = wordList(d.online);
      const offline = wordList(d.offline);
      if (online.some((w) => offline.some((o) => o.toLowerCase() === w.toLowerCase()))) problem('availability', 'online and offline payloads must differ');
      if (d.template !== undefined) checkTemplate(d.template, d.at.replace(/topic$/, 'template'), problem);
      topics.push({ topic: atopic, online, offline, ...(d.template !== undefined ? { template: d.template } : {}) });
    }
    if (a.topic === undefined && a.topics === undefined && wordList(a.online).some((w) => wordList(a.offline).some((o) => o.toLowerCase() === w.toLowerCase()))) {
      problem('availability', 'online and offline payloads must differ');
    }
    availability = {
      ...(clientId ? { clientId } : {}),
      topics,
      mode: a.mode,
      ...(a.sleeping !== undefined ? { sleeping: a.sleeping } : {}),
      timeout: a.timeout,
    };
  }

  const commands = raw.commands.map((c, i) => compileCommand(c, `commands/${i}`, jid, segments, dirname(file), file, at, ctx, problems, problem));
  const names = new Set<string>();
  // A message carrying a file runs one command: which one must not depend on the order of the list.
  if (raw.commands.filter((c) => c.file?.oob === true).length > 1) problem('commands', 'at most one command may take files sent in a chat (file.oob)');
  raw.commands.forEach((c, i) => {
    if (c.name === 'help') problem(`commands/${i}/name`, '"help" is reserved: it lists the commands in a chat');
    if (names.has(c.name)) problem(`commands/${i}/name`, `command "${c.name}" is declared twice`);
    names.add(c.name);
  });
  for (const [word, line] of Object.entries(raw.aliases)) {
    if (names.has(word) || word === 'help') problem(`aliases/${word}`, `"${word}" is already a command name`);
    const target = line.trim().split(/\s+/)[0] ?? '';
    if (!names.has(target)) problem(`aliases/${word}`, `"${line}" does not start with a command of this mapping`);
  }

  const viewers = jidPatterns(raw.access.viewers, 'access/viewers', ctx, problem);
  const operators = jidPatterns(raw.access.operators, 'access/operators', ctx, problem);

  const mode: DeliveryMode = raw.delivery.mode ?? raw.messageType;
  if (mode === 'live' && raw.delivery.offline === 'store') {
    problem('delivery/offline', 'a live message is corrected in place: storing every correction for offline recipients defeats it (use latest)');
  }
  const notifyJids = bareJids(raw.notify.jids, 'notify/jids', ctx, problem);
  const invite = bareJids(raw.invite, 'invite', ctx, problem);
  invite.forEach((j, i) => {
    if (!anyMatch(viewers, j) && !anyMatch(operators, j)) problem(`invite/${i}`, `${j} is invited but is not a viewer: the device would refuse their subscription`);
  });
  const changes = raw.changes ? changePolicyOf(raw.changes, schema, problem) : undefined;

  if (problems.length > before || !topic || !jid || !schema || commands.some((c) => c === undefined)) return undefined;
  return {
    id: raw.id,
    origin: { kind: 'file', file },
    file,
    index,
    fingerprint: fingerprintOf(raw, [schema, ...commands.map((c) => c?.schema)]),
    ...(raw.description !== undefined ? { description: raw.description } : {}),
    topic,
    ...(sources ? { sources } : {}),
    ...(media ? { media } : {}),
    jid,
    ...(name ? { name } : {}),
    schema,
    ...(body ? { body } : {}),
    messageType: mode === 'live' ? 'chat' : mode,
    delivery: { mode, offline: raw.delivery.offline, period: raw.delivery.period, archive: raw.delivery.archive, status: raw.delivery.status },
    ...(changes ? { changes } : {}),
    pubsub: { enabled: raw.pubsub.enabled, items: raw.pubsub.items },
    notify: { subscribers: raw.notify.subscribers, jids: notifyJids },
    invite,
    ...(availability ? { availability } : {}),
    idleAfter: raw.availability?.idleAfter ?? DEFAULT_IDLE_AFTER,
    access: { viewers, operators },
    commands: commands.filter((c): c is CommandSpec => c !== undefined),
    aliases: { ...raw.aliases },
  };
}

function compileCommand(
  raw: RawCommand,
  field: string,
  jid: Template | undefined,
  segments: ReadonlySet<string>,
  baseDir: string,
  file: string,
  at: (field: string) => string,
  ctx: MappingContext,
  problems: LoadProblem[],
  problem: Problem,
): CommandSpec | undefined {
  const before = problems.length;
  const topic = topicOf(raw.topic, `${field}/topic`, problem);
  if (topic) {
    // The command topic is built from the device's segments, so it may use only those, and no wildcards.
    if (topic.hasAnonymousWildcards) problem(`${field}/topic`, 'a command topic cannot contain "+" or "#"');
    for (const s of topic.segments) if (!segments.has(s)) problem(`${field}/topic`, `{${s}} is not a segment of the topic`);
  }
  const schema = ctx.registry.resolve(raw.schema, baseDir, problems, { file, path: at(`${field}/schema`) });
  let confirm: CommandSpec['confirm'];
  if (raw.confirm) {
    const ctopic = topicOf(raw.confirm.topic, `${field}/confirm/topic`, problem);
    if (ctopic) {
      if (ctopic.hasAnonymousWildcards) problem(`${field}/confirm/topic`, 'a confirmation topic may only use named segments');
      checkIdentifies(ctopic.segments, jid, `${field}/confirm/topic`, segments, problem);
      confirm = { topic: ctopic, ...(raw.confirm.fields ? { fields: raw.confirm.fields } : {}), timeoutMs: Math.round(raw.confirm.timeout * 1000) };
    }
  }
  const payload = raw.payload ? commandPayload(raw.payload, schema, `${field}/payload`, problem) : undefined;
  const fileSpec = raw.file ? commandFile(raw.file, raw.payload !== undefined, schema, `${field}/file`, problem) : undefined;
  if (problems.length > before || !topic || !schema) return undefined;
  return {
    name: raw.name,
    ...(raw.description !== undefined ? { description: raw.description } : {}),
    topic,
    schema,
    qos: raw.qos,
    retain: raw.retain,
    ...(raw.ttl !== undefined ? { ttl: raw.ttl } : {}),
    ...(confirm ? { confirm } : {}),
    ...(payload && payload.format !== 'json' ? { payload } : {}),
    ...(fileSpec ? { file: fileSpec } : {}),
  };
}

/** A command carrying a file: its field must be a string property of the schema; the file makes the payload. */
function commandFile(raw: NonNullable<RawCommand['file']>, hasPayload: boolean, schema: CompiledSchema | undefined, field: string, problem: Problem): CommandFile | undefined {
  if (hasPayload) problem(field, 'a command carrying a file publishes the file (file.encoding): it takes no "payload"');
  const props = schema?.schema['properties'];
  const prop = props !== null && typeof props === 'object' && Object.hasOwn(props, raw.key) ? (props as Record<string, unknown>)[raw.key] : undefined;
  if (schema && (prop === null || typeof prop !== 'object')) {
    problem(`${field}/key`, `"${raw.key}" is not a property of schema ${schema.id}`);
    return undefined;
  }
  const declared = prop !== null && typeof prop === 'object' ? (prop as Record<string, unknown>)['contentMediaType'] : undefined;
  const mediaTypes = raw.mediaTypes ?? (typeof declared === 'string' ? [declared.toLowerCase()] : undefined);
  return {
    key: raw.key,
    ...(mediaTypes ? { mediaTypes: mediaTypes.map((t) => t.toLowerCase()) } : {}),
    ...(raw.maxBytes !== undefined ? { maxBytes: raw.maxBytes } : {}),
    encoding: raw.encoding,
    oob: raw.oob,
  };
}

type Problem = (field: string, message: string) => void;

function topicOf(source: string, field: string, problem: Problem): TopicPattern | undefined {
  const { pattern, errors } = parseTopicPattern(source);
  for (const e of errors) problem(field, e);
  return pattern;
}

/** The reading sources of a mapping with payload formats or several topics; topics named twice share one source. */
function readingSources(raw: RawMapping, topic: TopicPattern, jid: Template | undefined, segments: ReadonlySet<string>, problem: Problem): ReadingSource[] {
  const byFilter = new Map<string, { topic: TopicPattern; decodings: PayloadDecoding[] }>();
  const add = (t: TopicPattern, d: PayloadDecoding | undefined): void => {
    let s = byFilter.get(t.source);
    if (!s) byFilter.set(t.source, (s = { topic: t, decodings: [] }));
    if (d) s.decodings.push(d);
  };
  add(topic, decodingOf(raw.payload ?? { format: 'json', integer: false, momentary: false }, 'payload', problem));
  (raw.topics ?? []).forEach((t, i) => {
    const at = `topics/${i}`;
    const p = topicOf(t.topic, `${at}/topic`, problem);
    if (!p) return;
    if (p.hasAnonymousWildcards) problem(`${at}/topic`, 'a reading topic may only use named segments');
    checkIdentifies(p.segments, jid, `${at}/topic`, segments, problem);
    const other = [...byFilter.values()].find((s) => s.topic.source !== p.source && patternsOverlap(s.topic, p));
    if (other) problem(`${at}/topic`, `overlaps ${other.topic.source}: a message would be read twice`);
    add(p, decodingOf(t.payload ?? { format: 'json', integer: false, momentary: false }, `${at}/payload`, problem));
  });
  return [...byFilter.values()];
}

function decodingOf(raw: RawDecoding, field: string, problem: Problem): PayloadDecoding | undefined {
  if (raw.key === undefined && raw.format !== 'json') problem(`${field}/key`, `a ${raw.format} payload needs "key": where its value lands in the reading`);
  if (raw.template !== undefined) checkTemplate(raw.template, `${field}/template`, problem);
  if ((raw.trueValues !== undefined || raw.falseValues !== undefined) && raw.format !== 'boolean') problem(field, 'trueValues/falseValues are for boolean payloads');
  const yes = wordList(raw.trueValues ?? 'true');
  const no = wordList(raw.falseValues ?? 'false');
  if (yes.some((w) => no.includes(w))) problem(field, 'a payload cannot mean both true and false');
  const path = raw.key?.split('.');
  if (path?.includes('__proto__')) problem(`${field}/key`, '"__proto__" cannot be a field');
  if (raw.momentary === true && !path) problem(`${field}/momentary`, 'true needs "key"; for a JSON object, list its momentary fields');
  return {
    format: raw.format as PayloadFormat,
    ...(path ? { path } : {}),
    true: yes,
    false: no,
    ...(raw.empty !== undefined ? { empty: raw.empty } : {}),
    integer: raw.integer,
    ...(raw.template !== undefined ? { template: raw.template } : {}),
    momentary: raw.momentary === true ? (path ? [path] : []) : raw.momentary === false ? [] : raw.momentary.map((m) => m.split('.')),
  };
}

function commandPayload(raw: RawCommandPayload, schema: CompiledSchema | undefined, field: string, problem: Problem): CommandPayload | undefined {
  const needsKey = raw.format === 'value' || raw.format === 'template' || raw.format === 'keys';
  if (needsKey && raw.key === undefined) problem(`${field}/key`, `a ${raw.format} payload needs "key": the command field it writes`);
  if (raw.format === 'fixed' && raw.payload === undefined) problem(`${field}/payload`, 'a fixed payload needs "payload"');
  if (raw.format === 'template' && raw.template === undefined) problem(`${field}/template`, 'a template payload needs "template"');
  const path = raw.key?.split('.') ?? [];
  const props = schema?.schema['properties'];
  if (needsKey && raw.key !== undefined && props !== null && typeof props === 'object' && !Object.hasOwn(props, path[0]!)) {
    problem(`${field}/key`, `"${raw.key}" is not a property of schema ${schema?.id ?? ''}`);
  }
  switch (raw.format) {
    case 'json':
      return { format: 'json' };
    case 'value':
      return { format: 'value', path, ...(raw.trueValue !== undefined ? { on: raw.trueValue } : {}), ...(raw.falseValue !== undefined ? { off: raw.falseValue } : {}) };
    case 'keys':
      return { format: 'keys', path };
    case 'fixed':
      return { format: 'fixed', payload: raw.payload ?? '' };
    case 'template': {
      const aliases = raw.aliases ?? [];
      const t = compileTemplate(raw.template ?? '', { variables: ['value', ...aliases] });
      if (!t.ok) {
        problem(`${field}/template`, `${t.error.code}: ${t.error.message}`);
        return undefined;
      }
      return { format: 'template', path, template: t.value, aliases };
    }
  }
}

/** A Home Assistant template must lie within the supported subset (src/importers/template.ts). */
function checkTemplate(source: string, field: string, problem: Problem): void {
  const t = compileTemplate(source);
  if (!t.ok) problem(field, `${t.error.code}: ${t.error.message}`);
}

function wordList(w: Words): string[] {
  return typeof w === 'string' ? [w] : [...w];
}

function readingTopicsOf(topic: TopicPattern, sources: readonly ReadingSource[] | undefined): readonly TopicPattern[] {
  return sources ? sources.map((s) => s.topic) : [topic];
}

function templateOf(source: string, field: string, rich: boolean, problem: Problem): Template | undefined {
  const { template, errors } = parseTemplate(source, { rich });
  for (const e of errors) problem(field, e);
  return template;
}

function checkSegmentsExist(t: Template, segments: ReadonlySet<string>, field: string, problem: Problem): void {
  for (const f of t.fields) if (!segments.has(f)) problem(field, `{${f}} is not a segment of the topic`);
}

/** A secondary topic or client id must carry every segment of the JID, or it cannot say which device it is about. */
function checkIdentifies(fields: readonly string[], jid: Template | undefined, field: string, segments: ReadonlySet<string>, problem: Problem): void {
  for (const f of fields) if (!segments.has(f)) problem(field, `{${f}} is not a segment of the topic`);
  for (const f of jid?.fields ?? []) if (!fields.includes(f)) problem(field, `must contain segment {${f}} to identify the device`);
}

/** Bare JIDs with variables replaced (`{serverDomain}`), lower-cased. */
function bareJids(list: readonly string[], field: string, ctx: MappingContext, problem: Problem): string[] {
  const out: string[] = [];
  list.forEach((source, i) => {
    let unknown: string | undefined;
    const jid = source.replace(/\{([A-Za-z]+)\}/g, (m, name: string) => {
      const v = ctx.jidVariables[name];
      if (v === undefined) unknown = name;
      return v ?? m;
    });
    if (unknown !== undefined) problem(`${field}/${i}`, `unknown variable {${unknown}} in "${source}"`);
    else out.push(jid.toLowerCase());
  });
  return [...new Set(out)];
}

function deadbandOf(raw: RawDeadband | undefined): Deadband | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw === 'number') return { kind: 'absolute', value: raw };
  return { kind: 'percent', value: Number(raw.slice(0, -1)) };
}

const ms = (seconds: number | undefined): number => Math.round((seconds ?? 0) * 1000);

function changePolicyOf(raw: RawChanges, schema: CompiledSchema | undefined, problem: Problem): ChangePolicy {
  const minIntervalMs = ms(raw.minInterval);
  const maxIntervalMs = ms(raw.maxInterval);
  if (maxIntervalMs > 0 && maxIntervalMs < minIntervalMs) problem('changes/maxInterval', 'must not be shorter than minInterval');
  const props = schema?.schema['properties'];
  const fields = new Map<string, FieldChangePolicy>();
  for (const [path, f] of Object.entries(raw.fields)) {
    const head = path.split('.')[0]!;
    if (props !== null && typeof props === 'object' && !Object.hasOwn(props, head)) {
      problem(`changes/fields/${path}`, `"${path}" is not a property of schema ${schema?.id ?? ''}`);
    }
    const deadband = deadbandOf(f.deadband);
    fields.set(path, {
      ...(deadband ? { deadband } : {}),
      ...(f.minInterval !== undefined ? { minIntervalMs: ms(f.minInterval) } : {}),
      ...(f.ignore ? { ignore: true } : {}),
    });
  }
  const deadband = deadbandOf(raw.deadband);
  return { ...(deadband ? { deadband } : {}), minIntervalMs, maxIntervalMs, fields };
}

function jidPatterns(list: readonly string[], field: string, ctx: MappingContext, problem: Problem): JidPattern[] {
  const out: JidPattern[] = [];
  list.forEach((source, i) => {
    const { pattern, error } = parseJidPattern(source, ctx.jidVariables);
    if (error) problem(`${field}/${i}`, error);
    if (pattern) out.push(pattern);
  });
  return out;
}

/** The declaration as written plus the content of every schema it uses (a schema file may change on its own). */
function fingerprintOf(raw: RawMapping, schemas: readonly (CompiledSchema | undefined)[]): string {
  const h = createHash('sha256').update(JSON.stringify(raw));
  for (const s of schemas) h.update('\u0000').update(s ? `${s.id}\u0000${JSON.stringify(s.schema)}` : '');
  return h.digest('base64url');
}
