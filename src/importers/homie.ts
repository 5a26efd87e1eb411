/**
 * Homie importer: Homie 5 and Homie 4 devices → DeviceDescriptions. Pure (an accumulator holds what it was fed; no I/O).
 *
 * Homie 5 (convention.md on homieiot/convention `develop`): a device publishes, retained,
 *   `<domain>/5/<id>/$state`        init | ready | disconnected | sleeping | lost; empty = the device was removed
 *   `<domain>/5/<id>/$description`  JSON: {homie: "5.x", version, name?, type?, root?, parent?, children?,
 *                                   nodes: {<node>: {name?, type?, properties: {<prop>: {datatype, format?, settable?,
 *                                   retained?, unit?, name?}}}}}
 *   `<domain>/5/<id>/<node>/<prop>` the value as text;  `…/<prop>/set` commands.
 * Homie 4 (convention.md at tag v4.0.0): the same tree as one retained topic per attribute:
 *   `<domain>/<id>/$homie` "4.x.y", `$name`, `$state` (also `alert`), `$nodes` "a,b"; `<node>/$name`, `$type`,
 *   `$properties` "p,q"; `<node>/<prop>/$name`, `$datatype`, `$format`, `$settable`, `$retained`, `$unit`.
 * Retained messages arrive in no guaranteed order, so `HomieAccumulator` gathers them and yields a description once
 * the device is complete: its state is known and not `init` (a device in `init` is still publishing), and every
 * listed node has its properties and every property its datatype (and its format where the datatype needs one). A
 * later change (new `$description` version, an attribute that arrived late) yields the description again.
 *
 * What becomes of a device:
 *   properties    one object per node, holding its properties: the reading is {"<node>": {"<prop>": value}}.
 *                 integer → integer, float → number (ranges from the `min:max[:step]` format), boolean → boolean
 *                 ("true"/"false"), enum → enum, string / color / datetime / duration → string, json → JSON value.
 *                 A property with an unknown datatype or an illegal format is left out with a warning (Homie 5
 *                 §Forward compatibility: ignore the object).
 *   state         one source per property topic, merged at `[node, prop]` (`StateSource.path`).
 *   availability  `$state`: ready is online; lost and disconnected are offline; sleeping is `sleeping` (presence
 *                 xa); Homie 4 `alert` is online; init leaves presence as it was. A Homie 5 child device also
 *                 follows its root's `$state`: a lost root means lost children (§Device hierarchy).
 *   commands      one per settable property, `set-<node>-<prop>`, on `…/<prop>/set`, with that property as its only
 *                 field, written as text (encoding `value`; booleans "true"/"false"). QoS: Homie 5 recommends 2, and 0
 *                 for non-retained properties; Homie 4 recommends 1. Never retained (§QoS and retained messages).
 *   hardwareId    the device id; modelKey a hash of the properties and commands (not of the topics).
 * Refused, with a `rejected` update: ids outside [a-z0-9-], other Homie versions, invalid JSON, a description or a
 * device tree beyond the limits. Nothing a device publishes makes the accumulator hold more than the limits allow.
 */
import { canonicalJson, modelKeyOf } from './model-key.js';
import { isRecord, parseJson, payloadText, stringField, type JsonRecord } from './json-input.js';
import type { AvailabilitySpec, CommandDescription, DeviceDescription, PayloadFormat, Property, StateSource } from './model.js';

export interface HomieLimits {
  /** Devices tracked at once (complete or not). */
  readonly maxDevices: number;
  readonly maxNodes: number;
  readonly maxPropertiesPerNode: number;
  /** Bytes of one `$description` (Homie 5). */
  readonly maxDescriptionBytes: number;
  /** Bytes of all attributes gathered for one Homie 4 device. */
  readonly maxDeviceBytes: number;
}

export const DEFAULT_HOMIE_LIMITS: HomieLimits = {
  maxDevices: 1000,
  maxNodes: 64,
  maxPropertiesPerNode: 128,
  maxDescriptionBytes: 256 * 1024,
  maxDeviceBytes: 64 * 1024,
};

export interface HomieOptions {
  /** The Homie domain, the first topic level. Default `homie`. */
  readonly domain?: string;
  readonly limits?: Partial<HomieLimits>;
}

export type HomieRejection = 'bad_id' | 'unsupported_version' | 'not_json' | 'invalid_description' | 'too_large' | 'too_many_devices';

export type HomieUpdate =
  /** A device became complete, or its description changed. */
  | { readonly kind: 'device'; readonly description: DeviceDescription }
  /** The device was removed (Homie 5: empty `$state`; Homie 4: empty `$homie`). */
  | { readonly kind: 'removed'; readonly deviceId: string }
  /** The device cannot be imported; it stays refused until its next description or its removal. */
  | { readonly kind: 'rejected'; readonly deviceId: string; readonly code: HomieRejection; readonly message: string };

/** Homie ids: lower-case letters, digits and hyphens (§Topic IDs). */
const ID = /^[a-z0-9-]+$/;
const DEFAULT_DOMAIN = 'homie';

// ---------------------------------------------------------------------------------------------------------------------
// Datatypes, shared by both versions

interface PropertyAttributes {
  readonly name?: string;
  readonly datatype?: string;
  readonly format?: string;
  readonly settable?: boolean;
  readonly retained?: boolean;
  readonly unit?: string;
}

interface DeviceTree {
  readonly version: 4 | 5;
  readonly domain: string;
  readonly id: string;
  readonly name: string;
  readonly model?: string;
  readonly root?: string;
  readonly nodes: readonly { readonly id: string; readonly name?: string; readonly properties: readonly { readonly id: string; readonly attrs: PropertyAttributes }[] }[];
}

/** A complete device tree → its description. */
function describe(tree: DeviceTree): DeviceDescription {
  const warnings: string[] = [];
  const base = tree.version === 5 ? `${tree.domain}/5/${tree.id}` : `${tree.domain}/${tree.id}`;
  const properties: Property[] = [];
  const state: StateSource[] = [];
  const commands: CommandDescription[] = [];
  for (const node of tree.nodes) {
    const children: Property[] = [];
    for (const { id, attrs } of node.properties) {
      const where = `${node.id}/${id}`;
      const typed = propertyOf(id, attrs, tree.version, where, warnings);
      if (!typed) continue;
      children.push(typed.property);
      const topic = `${base}/${node.id}/${id}`;
      state.push({ topic, path: [node.id, id], key: id, ...typed.state });
      if (!typed.property.settable) continue;
      const name = `set-${node.id}-${id}`;
      if (commands.some((c) => c.name === name)) {
        warnings.push(`${where}: command name "${name}" is already taken by another node/property pair; left out`);
        continue;
      }
      const retained = attrs.retained !== false;
      commands.push({
        name,
        description: `Set ${node.name ?? node.id} ${typed.property.label ?? id}`,
        topic: `${topic}/set`,
        properties: [typed.property],
        encoding: typed.property.type === 'boolean' ? { kind: 'value', key: id, on: 'true', off: 'false' } : { kind: 'value', key: id },
        qos: tree.version === 5 ? (retained ? 2 : 0) : 1,
        retain: false,
      });
    }
    properties.push({
      key: node.id,
      label: node.name ?? node.id,
      type: 'object',
      properties: children,
      readable: children.some((c) => c.readable),
      settable: false,
      gettable: false,
    });
  }
  const availability: AvailabilitySpec = {
    topics: [
      { topic: `${base}/$state`, online: 'ready', offline: 'lost', format: 'text', moreOffline: ['disconnected'], ...(tree.version === 4 ? { moreOnline: ['alert'] } : {}) },
      // §Device hierarchy: only a lost root makes its children lost.
      ...(tree.root !== undefined
        ? [{ topic: `${tree.domain}/5/${tree.root}/$state`, online: 'ready', offline: 'lost', format: 'text' as const, moreOnline: ['init', 'disconnected', 'sleeping'] }]
        : []),
    ],
    mode: 'all',
    sleeping: 'sleeping',
  };
  const modelKey = modelKeyOf('homie', {
    properties,
    commands: commands.map((c) => ({ name: c.name, description: c.description, properties: c.properties, encoding: c.encoding, qos: c.qos })),
  });
  return {
    source: 'homie',
    hardwareId: tree.id,
    name: tree.name,
    ...(tree.model !== undefined ? { model: tree.model } : {}),
    modelKey,
    properties,
    state,
    availability,
    commands,
    warnings,
  };
}

function propertyOf(
  id: string,
  attrs: PropertyAttributes,
  version: 4 | 5,
  where: string,
  warnings: string[],
): { property: Property; state: { format: PayloadFormat; trueValue?: string; falseValue?: string; emptyValue?: string } } | undefined {
  const common = {
    key: id,
    label: attrs.name !== undefined && attrs.name !== '' ? attrs.name : id,
    readable: true,
    settable: attrs.settable === true,
    gettable: false,
    ...(attrs.unit !== undefined && attrs.unit !== '' ? { unit: attrs.unit } : {}),
    ...(attrs.retained === false ? { momentary: true } : {}),
    deviceClass: id,
  };
  const format = attrs.format;
  const skip = (why: string): undefined => {
    warnings.push(`${where}: ${why}; property left out`);
    return undefined;
  };
  switch (attrs.datatype) {
    case 'integer':
    case 'float': {
      const range = format === undefined || format === '' ? {} : parseRange(format, attrs.datatype === 'integer');
      if (range === undefined) return skip(`format "${format}" is not [min]:[max][:step]`);
      return { property: { ...common, type: attrs.datatype === 'integer' ? 'integer' : 'number', ...range }, state: { format: 'number' } };
    }
    case 'boolean': {
      let booleanLabels: { true: string; false: string } | undefined;
      if (version === 5 && format !== undefined && format !== '') {
        // Homie 5 §Formats: "false-label,true-label" describes the payloads "false" and "true".
        const labels = format.split(',');
        if (labels.length !== 2 || labels.some((l) => l === '')) return skip(`boolean format "${format}" must name false and true`);
        booleanLabels = { false: labels[0]!, true: labels[1]! };
      }
      return {
        property: { ...common, type: 'boolean', ...(booleanLabels ? { booleanLabels } : {}) },
        state: { format: 'boolean', trueValue: 'true', falseValue: 'false' },
      };
    }
    case 'enum': {
      if (format === undefined || format === '') return skip('an enum needs a format listing its values');
      // Homie 5: whitespace is significant; Homie 4: payloads should have it removed.
      const values = format.split(',').map((v) => (version === 4 ? v.trim() : v));
      if (values.some((v) => v === '')) return skip(`enum format "${format}" has an empty value`);
      if (new Set(values).size !== values.length) return skip(`enum format "${format}" repeats a value`);
      return { property: { ...common, type: 'enum', values }, state: { format: 'enum' } };
    }
    case 'string':
      return { property: { ...common, type: 'string' }, state: { format: 'text', ...(version === 5 ? { emptyValue: '\u0000' } : {}) } };
    case 'color': {
      const kinds = (format ?? '').split(',');
      if (format === undefined || format === '' || kinds.some((k) => k !== 'rgb' && k !== 'hsv' && !(version === 5 && k === 'xyz'))) {
        return skip(`color format "${format ?? ''}" must list rgb, hsv${version === 5 ? ' or xyz' : ''}`);
      }
      const example = version === 5 ? `${kinds[0]},…` : 'r,g,b / h,s,v';
      return { property: { ...common, type: 'string', description: `Colour as ${kinds.join(' or ')} (${example})` }, state: { format: 'text' } };
    }
    case 'datetime':
      return { property: { ...common, type: 'string', description: 'ISO 8601 date and time' }, state: { format: 'text' } };
    case 'duration':
      return { property: { ...common, type: 'string', description: 'ISO 8601 duration (PT12H5M46S)' }, state: { format: 'text' } };
    case 'json':
      // The format may carry a JSON Schema from the device; it is not compiled (untrusted regular expressions and
      // references): any JSON object or array is accepted, as the convention's default schema says.
      return { property: { ...common, type: 'json' }, state: { format: 'json' } };
    default:
      return skip(`unknown datatype "${String(attrs.datatype)}"`);
  }
}

/** `[min]:[max][:step]` → bounds; undefined when malformed. */
function parseRange(format: string, integer: boolean): { minimum?: number; maximum?: number; step?: number } | undefined {
  const parts = format.split(':');
  if (parts.length < 2 || parts.length > 3) return undefined;
  const num = (s: string): number | null | undefined => {
    if (s === '') return null;
    const ok = integer ? /^-?\d+$/.test(s) : /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s);
    const n = Number(s);
    return ok && Number.isFinite(n) ? n : undefined;
  };
  const [min, max, step] = [num(parts[0]!), num(parts[1]!), parts[2] === undefined ? null : num(parts[2])];
  if (min === undefined || max === undefined || step === undefined) return undefined;
  if (min !== null && max !== null && min > max) return undefined;
  if (step !== null && step <= 0) return undefined;
  return { ...(min !== null ? { minimum: min } : {}), ...(max !== null ? { maximum: max } : {}), ...(step !== null ? { step } : {}) };
}

// ---------------------------------------------------------------------------------------------------------------------
// Homie 5: the description document

/**
 * A Homie 5 `$description` document → the device tree, or why it cannot be imported. Nodes and properties with
 * illegal ids are left out with a warning (§Forward compatibility).
 */
export function homie5Description(
  domain: string,
  deviceId: string,
  doc: unknown,
  limits: HomieLimits = DEFAULT_HOMIE_LIMITS,
): { ok: true; description: DeviceDescription } | { ok: false; code: HomieRejection; message: string } {
  if (!ID.test(deviceId)) return { ok: false, code: 'bad_id', message: `device id "${deviceId}" is not a Homie id ([a-z0-9-])` };
  if (!isRecord(doc)) return { ok: false, code: 'invalid_description', message: '$description must be a JSON object' };
  const homie = stringField(doc, 'homie');
  if (homie === undefined || !/^5\.\d+$/.test(homie)) return { ok: false, code: 'unsupported_version', message: `"homie" is ${JSON.stringify(doc['homie'])}, expected "5.x"` };
  if (!Number.isInteger(doc['version'])) return { ok: false, code: 'invalid_description', message: '"version" must be an integer' };
  const root = doc['root'];
  if (root !== undefined && (typeof root !== 'string' || !ID.test(root))) return { ok: false, code: 'invalid_description', message: '"root" must be a device id' };
  const nodesDoc = doc['nodes'] ?? {};
  if (!isRecord(nodesDoc)) return { ok: false, code: 'invalid_description', message: '"nodes" must be an object' };
  const nodeEntries = Object.entries(nodesDoc);
  if (nodeEntries.length > limits.maxNodes) return { ok: false, code: 'too_large', message: `more than ${limits.maxNodes} nodes` };
  const early: string[] = [];
  const nodes: DeviceTree['nodes'][number][] = [];
  for (const [nodeId, node] of nodeEntries) {
    if (!ID.test(nodeId) || !isRecord(node)) {
      early.push(`node "${nodeId}" ${ID.test(nodeId) ? 'is not an object' : 'has an illegal id'}; left out`);
      continue;
    }
    const propsDoc = node['properties'] ?? {};
    if (!isRecord(propsDoc)) {
      early.push(`node "${nodeId}": "properties" is not an object; left out`);
      continue;
    }
    const propEntries = Object.entries(propsDoc);
    if (propEntries.length > limits.maxPropertiesPerNode) return { ok: false, code: 'too_large', message: `node "${nodeId}" has more than ${limits.maxPropertiesPerNode} properties` };
    const properties: { id: string; attrs: PropertyAttributes }[] = [];
    for (const [propId, p] of propEntries) {
      if (!ID.test(propId) || !isRecord(p)) {
        early.push(`${nodeId}/${propId}: ${ID.test(propId) ? 'not an object' : 'illegal id'}; property left out`);
        continue;
      }
      properties.push({ id: propId, attrs: attributesOf(p) });
    }
    const name = stringField(node, 'name');
    nodes.push({ id: nodeId, ...(name !== undefined ? { name } : {}), properties });
  }
  const name = stringField(doc, 'name');
  const type = stringField(doc, 'type');
  const d = describe({
    version: 5,
    domain,
    id: deviceId,
    name: name !== undefined && name !== '' ? name : deviceId,
    ...(type !== undefined ? { model: type } : {}),
    ...(typeof root === 'string' ? { root } : {}),
    nodes,
  });
  return { ok: true, description: early.length > 0 ? { ...d, warnings: [...early, ...d.warnings] } : d };
}

function attributesOf(p: JsonRecord): PropertyAttributes {
  const out: { -readonly [K in keyof PropertyAttributes]: PropertyAttributes[K] } = {};
  const name = stringField(p, 'name');
  if (name !== undefined) out.name = name;
  const datatype = stringField(p, 'datatype');
  if (datatype !== undefined) out.datatype = datatype;
  const format = stringField(p, 'format');
  if (format !== undefined) out.format = format;
  const unit = stringField(p, 'unit');
  if (unit !== undefined) out.unit = unit;
  if (typeof p['settable'] === 'boolean') out.settable = p['settable'];
  if (typeof p['retained'] === 'boolean') out.retained = p['retained'];
  return out;
}

// ---------------------------------------------------------------------------------------------------------------------
// The accumulator

interface Tracked {
  readonly id: string;
  readonly version: 4 | 5;
  /** Homie 4: attribute topic (below the device) → payload. */
  readonly attrs: Map<string, string>;
  /** What the attributes cost: their text plus a fixed overhead per entry, against `maxDeviceBytes`. */
  bytes: number;
  /** Homie 5 */
  state?: string;
  outcome?: Outcome;
  /** The description last yielded, while it stands. */
  current?: DeviceDescription;
  /** Canonical JSON of the last description yielded, or the last rejection. */
  last?: string;
}

type Outcome = { ok: true; description: DeviceDescription } | { ok: false; code: HomieRejection; message: string };

/** Bytes counted per stored attribute besides its text (map entry, strings): bounds memory, not only text. */
const ENTRY_OVERHEAD = 64;

export class HomieAccumulator {
  private readonly domain: string;
  private readonly limits: HomieLimits;
  private readonly devices = new Map<string, Tracked>();

  constructor(options: HomieOptions = {}) {
    this.domain = options.domain ?? DEFAULT_DOMAIN;
    this.limits = { ...DEFAULT_HOMIE_LIMITS, ...options.limits };
  }

  /**
   * Topic filters that carry everything the accumulator needs (property values are not among them: the state
   * topics of each description are subscribed by whoever routes readings).
   */
  filters(): string[] {
    const d = this.domain;
    return [
      `${d}/5/+/$state`,
      `${d}/5/+/$description`,
      ...['$homie', '$name', '$state', '$nodes'].map((a) => `${d}/+/${a}`),
      ...['$name', '$properties'].map((a) => `${d}/+/+/${a}`),
      ...['$name', '$datatype', '$format', '$settable', '$retained', '$unit'].map((a) => `${d}/+/+/+/${a}`),
    ];
  }

  /** The devices whose description stands (yielded and neither removed nor rejected since). */
  descriptions(): DeviceDescription[] {
    return [...this.devices.values()].flatMap((t) => (t.current ? [t.current] : []));
  }

  /** One retained (or live) message → what changed. Topics that are not Homie discovery topics yield nothing. */
  feed(topic: string, payload: Uint8Array | string): HomieUpdate[] {
    const levels = topic.split('/');
    if (levels[0] !== this.domain || levels.length < 3) return [];
    const text = payloadText(payload);
    // A payload that is not UTF-8 is not a Homie payload (§Payloads); an attribute holding one is ignored.
    if (!text.ok) return [];
    if (levels[1] === '5') return levels.length === 4 ? this.feed5(levels[2]!, levels[3]!, text.value) : [];
    return this.feed4(levels[1]!, levels.slice(2), text.value);
  }

  private feed5(id: string, attribute: string, text: string): HomieUpdate[] {
    if (attribute !== '$state' && attribute !== '$description') return [];
    const key = `5/${id}`;
    let t = this.devices.get(key);
    if (text === '') {
      // §Device lifecycle: an empty $state removes the device; an empty $description only clears it.
      if (!t) return [];
      if (attribute === '$description') {
        t.outcome = undefined;
        return [];
      }
      return this.remove(key, t);
    }
    if (!t) {
      const refused = this.admit(id);
      if (refused) return [refused];
      t = { id, version: 5, attrs: new Map(), bytes: 0 };
      this.devices.set(key, t);
    }
    if (attribute === '$state') {
      t.state = text;
    } else if (Buffer.byteLength(text, 'utf8') > this.limits.maxDescriptionBytes) {
      t.outcome = { ok: false, code: 'too_large', message: `$description is larger than ${this.limits.maxDescriptionBytes} bytes` };
    } else {
      const doc = parseJson(text);
      t.outcome = doc.ok ? homie5Description(this.domain, id, doc.value, this.limits) : { ok: false, code: 'not_json', message: `$description: ${doc.error.message}` };
    }
    // A device in `init` is still publishing its description (§Device lifecycle).
    return this.yield(t, t.state !== undefined && t.state !== 'init' ? t.outcome : undefined);
  }

  private feed4(id: string, rest: readonly string[], text: string): HomieUpdate[] {
    const attribute = rest[rest.length - 1];
    if (attribute === undefined || rest.length > 3 || !HOMIE4_ATTRIBUTES[rest.length - 1]!.has(attribute)) return [];
    const path = rest.join('/');
    const key = `4/${id}`;
    let t = this.devices.get(key);
    if (path === '$homie' && text === '') return t ? this.remove(key, t) : [];
    if (!t) {
      if (text === '') return [];
      const refused = this.admit(id);
      if (refused) return [refused];
      t = { id, version: 4, attrs: new Map(), bytes: 0 };
      this.devices.set(key, t);
    }
    const before = t.attrs.get(path);
    const cost = (v: string | undefined): number => (v === undefined || v === '' ? 0 : ENTRY_OVERHEAD + path.length + v.length);
    const bytes = t.bytes - cost(before) + cost(text);
    if (bytes > this.limits.maxDeviceBytes) {
      return this.yield(t, { ok: false, code: 'too_large', message: `the device's attributes exceed ${this.limits.maxDeviceBytes} bytes` });
    }
    t.bytes = bytes;
    if (text === '') t.attrs.delete(path);
    else t.attrs.set(path, text);
    return this.yield(t, this.complete4(t));
  }

  /** A new device id: refused when it is not a Homie id or the accumulator is full. */
  private admit(id: string): HomieUpdate | undefined {
    if (!ID.test(id)) return { kind: 'rejected', deviceId: id, code: 'bad_id', message: `device id "${id}" is not a Homie id ([a-z0-9-])` };
    if (this.devices.size >= this.limits.maxDevices) {
      return { kind: 'rejected', deviceId: id, code: 'too_many_devices', message: `already tracking ${this.limits.maxDevices} Homie devices` };
    }
    return undefined;
  }

  private remove(key: string, t: Tracked): HomieUpdate[] {
    this.devices.delete(key);
    return t.current ? [{ kind: 'removed', deviceId: t.id }] : [];
  }

  /** Yield `outcome` if it differs from what was last yielded for the device. */
  private yield(t: Tracked, outcome: Outcome | undefined): HomieUpdate[] {
    if (!outcome) return [];
    const mark = outcome.ok ? canonicalJson(outcome.description) : `rejected:${outcome.code}:${outcome.message}`;
    if (mark === t.last) return [];
    t.last = mark;
    if (!outcome.ok) {
      t.current = undefined;
      return [{ kind: 'rejected', deviceId: t.id, code: outcome.code, message: outcome.message }];
    }
    t.current = outcome.description;
    return [{ kind: 'device', description: outcome.description }];
  }

  /** The Homie 4 device, once complete; undefined while attributes are missing. */
  private complete4(t: Tracked): Outcome | undefined {
    const a = t.attrs;
    const version = a.get('$homie');
    const state = a.get('$state');
    const nodesList = a.get('$nodes');
    if (version === undefined || state === undefined || state === 'init' || nodesList === undefined) return undefined;
    if (!/^4\.\d+\.\d+$/.test(version)) return { ok: false, code: 'unsupported_version', message: `$homie is "${version}", expected 4.x.y` };
    const nodeIds = splitList(nodesList);
    if (nodeIds.length > this.limits.maxNodes) return { ok: false, code: 'too_large', message: `more than ${this.limits.maxNodes} nodes` };
    const warnings: string[] = [];
    const nodes: DeviceTree['nodes'][number][] = [];
    for (const nodeId of nodeIds) {
      if (!ID.test(nodeId)) {
        warnings.push(`node "${nodeId}" has an illegal id; left out`);
        continue;
      }
      const propsList = a.get(`${nodeId}/$properties`);
      if (propsList === undefined) return undefined;
      const propIds = splitList(propsList);
      if (propIds.length > this.limits.maxPropertiesPerNode) return { ok: false, code: 'too_large', message: `node "${nodeId}" has more than ${this.limits.maxPropertiesPerNode} properties` };
      const properties: { id: string; attrs: PropertyAttributes }[] = [];
      for (const propId of propIds) {
        if (!ID.test(propId)) {
          warnings.push(`${nodeId}/${propId}: illegal id; property left out`);
          continue;
        }
        const p = (attr: string): string | undefined => a.get(`${nodeId}/${propId}/${attr}`);
        const datatype = p('$datatype');
        if (datatype === undefined) return undefined;
        if ((datatype === 'enum' || datatype === 'color') && p('$format') === undefined) return undefined;
        const attrs: { -readonly [K in keyof PropertyAttributes]: PropertyAttributes[K] } = { datatype };
        const name = p('$name');
        if (name !== undefined) attrs.name = name;
        const format = p('$format');
        if (format !== undefined) attrs.format = format;
        const unit = p('$unit');
        if (unit !== undefined) attrs.unit = unit;
        const settable = p('$settable');
        if (settable !== undefined) attrs.settable = settable === 'true';
        const retained = p('$retained');
        if (retained !== undefined) attrs.retained = retained !== 'false';
        properties.push({ id: propId, attrs });
      }
      const name = a.get(`${nodeId}/$name`);
      nodes.push({ id: nodeId, ...(name !== undefined ? { name } : {}), properties });
    }
    const name = a.get('$name');
    const d = describe({ version: 4, domain: this.domain, id: t.id, name: name !== undefined && name !== '' ? name : t.id, nodes });
    return { ok: true, description: warnings.length > 0 ? { ...d, warnings: [...warnings, ...d.warnings] } : d };
  }
}

/** Attributes of a Homie 4 device, node and property that the import reads, by depth below the device. */
const HOMIE4_ATTRIBUTES: readonly ReadonlySet<string>[] = [
  new Set(['$homie', '$name', '$state', '$nodes']),
  new Set(['$name', '$properties']),
  new Set(['$name', '$datatype', '$format', '$settable', '$retained', '$unit']),
];

function splitList(text: string): string[] {
  return text === '' ? [] : text.split(',').map((s) => s.trim());
}
