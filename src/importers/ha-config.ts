/**
 * Reading one Home Assistant MQTT discovery message into entity configurations, as Home Assistant itself does
 * (homeassistant/components/mqtt/discovery.py): the topic `<prefix>/<component>/[<node_id>/]<object_id>/config`,
 * abbreviated keys expanded (entity, `device` and `origin` tables, and each `availability` entry), the `~` base topic
 * substituted at the start or end of every `*_topic` value, and device-based discovery
 * (`<prefix>/device/<object_id>/config` with `components`/`cmps`) split into one configuration per component with the
 * shared options (availability, `state_topic`, `command_topic`, `qos`, `encoding`, `~`) inherited unless the
 * component sets its own, and `device`/`origin` always from the root.
 *
 * Discovery payloads are hostile input: they are size-checked before parsing, nesting-checked after, and kept in
 * Maps (never copied onto JS objects, so a `__proto__` key is just a key). Problems are Results with stable codes.
 *
 * Pure: no I/O.
 */
import { DEVICE_ABBREVIATIONS, ENTITY_ABBREVIATIONS, ORIGIN_ABBREVIATIONS } from './ha-abbreviations.js';

/** Stable codes of discovery problems. */
export type HaErrorCode =
  /** The topic is not `<prefix>/<component>/[<node_id>/]<object_id>/config` with ids in `[a-zA-Z0-9_-]`. */
  | 'HA_TOPIC'
  | 'HA_PAYLOAD_TOO_LARGE'
  | 'HA_NOT_JSON'
  /** The payload is JSON but not an object, or nested deeper than allowed. */
  | 'HA_NOT_OBJECT'
  /** A platform the importer does not describe (alarm_control_panel, fan, vacuum…): counted per platform. */
  | 'HA_UNSUPPORTED_PLATFORM'
  /** A required option is missing or an option has the wrong type (a number where a topic belongs…). */
  | 'HA_INVALID'
  /** A topic option holds a wildcard, a NUL, a `$` system topic, is empty or too long. */
  | 'HA_TOPIC_INVALID'
  /** Neither `device.identifiers`, `device.connections` nor `unique_id`: nothing stable to name the device by. */
  | 'HA_NO_IDENTITY'
  /** Every readable and settable option of the entity uses a template outside the subset. */
  | 'HA_TEMPLATE_UNSUPPORTED'
  /** Too many components in one message, entities on one device, or entities overall. */
  | 'HA_LIMIT';

export interface HaProblem {
  readonly code: HaErrorCode;
  readonly message: string;
  /** `HA_UNSUPPORTED_PLATFORM`: the platform; `HA_TEMPLATE_UNSUPPORTED`: the construct. */
  readonly detail?: string;
}

export type HaResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: HaProblem };

export function haFail<T>(code: HaErrorCode, message: string, detail?: string): HaResult<T> {
  return { ok: false, error: { code, message, ...(detail !== undefined ? { detail } : {}) } };
}

/** A discovery configuration after expansion: keys are full option names. */
export type Config = ReadonlyMap<string, unknown>;

export interface DiscoveryTopic {
  readonly component: string;
  readonly nodeId?: string;
  readonly objectId: string;
}

export interface EntityConfig {
  /** Stable within the source: `<component> [<node_id> ]<object_id>[ <component id>]`, like Home Assistant's hash. */
  readonly discoveryId: string;
  /** The platform: `sensor`, `switch`… */
  readonly platform: string;
  readonly nodeId?: string;
  readonly objectId: string;
  /** Device-based discovery: the component's key under `components`. */
  readonly componentId?: string;
  readonly config: Config;
}

export interface ParseLimits {
  readonly maxPayloadBytes: number;
  readonly maxDepth: number;
  readonly maxComponents: number;
}

const ID = /^[a-zA-Z0-9_-]+$/;
const COMPONENT = /^\w+$/;

/** `<prefix>/<component>/[<node_id>/]<object_id>/config` → its parts; undefined when it is not one. */
export function parseDiscoveryTopic(topic: string, prefix: string): DiscoveryTopic | undefined {
  if (!topic.startsWith(`${prefix}/`)) return undefined;
  const parts = topic.slice(prefix.length + 1).split('/');
  if (parts.at(-1) !== 'config' || (parts.length !== 3 && parts.length !== 4)) return undefined;
  const [component, a, b] = parts as [string, string, string];
  if (!COMPONENT.test(component)) return undefined;
  if (parts.length === 3) return ID.test(a) ? { component, objectId: a } : undefined;
  return ID.test(a) && ID.test(b) ? { component, nodeId: a, objectId: b } : undefined;
}

function depthOf(v: unknown, limit: number, depth = 0): boolean {
  if (depth > limit) return false;
  if (Array.isArray(v)) return v.every((x) => depthOf(x, limit, depth + 1));
  if (v !== null && typeof v === 'object') return Object.values(v).every((x) => depthOf(x, limit, depth + 1));
  return true;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** An object's own entries into a Map, abbreviations expanded (the abbreviated key wins, as in Home Assistant). */
function expand(obj: Record<string, unknown>, table: ReadonlyMap<string, string>): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(obj)) if (!table.has(k)) out.set(k, v);
  for (const [k, v] of Object.entries(obj)) {
    const full = table.get(k);
    if (full !== undefined) out.set(full, v);
  }
  return out;
}

/** Expand one entity-level configuration (also each component of a device-based message). */
function expandEntity(obj: Record<string, unknown>): Map<string, unknown> {
  const cfg = expand(obj, ENTITY_ABBREVIATIONS);
  const device = cfg.get('device');
  if (isRecord(device)) cfg.set('device', expand(device, DEVICE_ABBREVIATIONS));
  const origin = cfg.get('origin');
  if (isRecord(origin)) cfg.set('origin', expand(origin, ORIGIN_ABBREVIATIONS));
  const availability = cfg.get('availability');
  if (Array.isArray(availability)) cfg.set('availability', (availability as unknown[]).map((a): unknown => (isRecord(a) ? expand(a, ENTITY_ABBREVIATIONS) : a)));
  else if (isRecord(availability)) cfg.set('availability', [expand(availability, ENTITY_ABBREVIATIONS)]);
  return cfg;
}

/** `~` at the start or end of a `*_topic` value (and of each availability `topic`) stands for the base topic. */
function substituteBase(cfg: Map<string, unknown>): void {
  const base = cfg.get('~');
  cfg.delete('~');
  if (typeof base !== 'string') return;
  const sub = (v: string): string => {
    let s = v;
    if (s.startsWith('~')) s = base + s.slice(1);
    if (s.endsWith('~')) s = s.slice(0, -1) + base;
    return s;
  };
  for (const [k, v] of cfg) if (k.endsWith('topic') && typeof v === 'string' && v) cfg.set(k, sub(v));
  const availability = cfg.get('availability');
  if (Array.isArray(availability)) {
    for (const a of availability) {
      const t = a instanceof Map ? (a as Map<string, unknown>).get('topic') : undefined;
      if (typeof t === 'string' && t) (a as Map<string, unknown>).set('topic', sub(t));
    }
  }
}

/** Options a device-based message shares with its components (HA docs, "Device discovery payload"). */
const SHARED_OPTIONS = [
  'availability',
  'availability_mode',
  'availability_template',
  'availability_topic',
  'payload_available',
  'payload_not_available',
  'state_topic',
  'command_topic',
  'qos',
  'encoding',
  '~',
];

/**
 * One discovery message (already known to be non-empty) → its entity configurations.
 * An empty payload is a removal and never reaches here.
 */
export function parseDiscoveryMessage(topic: DiscoveryTopic, payload: Uint8Array | string, limits: ParseLimits): HaResult<EntityConfig[]> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > limits.maxPayloadBytes) return haFail('HA_PAYLOAD_TOO_LARGE', `discovery payload of ${size} bytes exceeds ${limits.maxPayloadBytes}`);
  const text = typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return haFail('HA_NOT_JSON', 'discovery payload is not JSON');
  }
  if (!isRecord(json)) return haFail('HA_NOT_OBJECT', 'discovery payload is not a JSON object');
  if (!depthOf(json, limits.maxDepth)) return haFail('HA_NOT_OBJECT', `discovery payload nested deeper than ${limits.maxDepth}`);
  const nodePart = topic.nodeId !== undefined ? `${topic.nodeId} ` : '';
  if (topic.component !== 'device') {
    const cfg = expandEntity(json);
    substituteBase(cfg);
    return { ok: true, value: [{ discoveryId: `${topic.component} ${nodePart}${topic.objectId}`, platform: topic.component, ...nodeOf(topic), objectId: topic.objectId, config: cfg }] };
  }
  // Device-based discovery: one message, several components.
  const root = expandEntity(json);
  const components = root.get('components');
  if (!isRecord(components)) return haFail('HA_INVALID', 'device discovery needs a "components" ("cmps") object');
  if (!(root.get('device') instanceof Map)) return haFail('HA_INVALID', 'device discovery needs a "device" ("dev") object');
  const ids = Object.keys(components);
  if (ids.length > limits.maxComponents) return haFail('HA_LIMIT', `${ids.length} components in one message (at most ${limits.maxComponents})`);
  const out: EntityConfig[] = [];
  for (const componentId of ids) {
    const raw = components[componentId];
    if (!isRecord(raw)) return haFail('HA_INVALID', `component "${componentId}" is not an object`);
    if (!ID.test(componentId)) return haFail('HA_INVALID', `component id "${componentId}" is not made of [a-zA-Z0-9_-]`);
    const cfg = expandEntity(raw);
    for (const option of SHARED_OPTIONS) if (root.has(option) && !cfg.has(option)) cfg.set(option, root.get(option));
    cfg.set('device', root.get('device'));
    if (root.has('origin')) cfg.set('origin', root.get('origin'));
    substituteBase(cfg);
    const platform = cfg.get('platform');
    if (typeof platform !== 'string' || !COMPONENT.test(platform)) return haFail('HA_INVALID', `component "${componentId}" needs a "platform" ("p")`);
    out.push({
      discoveryId: `device ${nodePart}${topic.objectId} ${componentId}`,
      platform,
      ...nodeOf(topic),
      objectId: topic.objectId,
      componentId,
      config: cfg,
    });
  }
  return { ok: true, value: out };
}

function nodeOf(topic: DiscoveryTopic): { nodeId?: string } {
  return topic.nodeId !== undefined ? { nodeId: topic.nodeId } : {};
}
