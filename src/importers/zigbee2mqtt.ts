/**
 * Zigbee2MQTT importer: the retained `<base>/bridge/devices` list → one DeviceDescription per device. Pure.
 *
 * Source format (Zigbee2MQTT 1.17+ and 2.x, lib/extension/bridge.ts `publishDevices`): an array of devices, each with
 * `ieee_address`, `type` (`Coordinator` | `Router` | `EndDevice` | `GreenPower`), `friendly_name`, `disabled`,
 * `supported`, the interview state (`interview_state` in 2.x; `interviewing` / `interview_completed` in 1.x) and
 * `definition` = `{model, vendor, description, exposes, options, source}` or null. `exposes` is the serialized
 * zigbee-herdsman-converters Expose list (docs: zigbee2mqtt.io/guide/usage/exposes.html):
 *
 *   generic   binary · numeric · enum · text · composite (`features`) · list (`item_type`)
 *   specific  light · switch · cover · lock · fan · climate: wrappers whose `features` are generic exposes
 *
 * Each generic expose has `name`, `label`, `property` (the key in the state JSON — `state_l1` for endpoint `l1`),
 * `access` (bit 1: in published state, bit 2: settable with `/set`, bit 4: readable with `/get`), and its type's
 * details (`value_on`/`value_off`/`value_toggle`; `unit`, `value_min`/`value_max`/`value_step`, `presets`; `values`;
 * `length_min`/`length_max`), optionally `category` (`config` | `diagnostic`) and `endpoint`.
 *
 * What becomes of a device:
 *   properties    the wrappers are flattened: their features are top-level keys of the state, as Zigbee2MQTT
 *                 publishes them; composites nest; a key declared twice is merged (composites: union of features —
 *                 a colour light declares `color` once as x/y and once as hue/saturation; other types: access bits
 *                 or-ed, the first declaration wins).
 *   state         `<base>/<friendly_name>`, JSON merged at the top level. Names may contain `/`.
 *   availability  `<base>/<friendly_name>/availability`: `{"state":"online"}` (2.x, and 1.x with
 *                 `legacy_availability_payload: false`) or plain `online` (1.x default); none when disabled.
 *   commands      `set` on `<base>/<friendly_name>/set`: the settable properties, sent as JSON;
 *                 `get` on `<base>/<friendly_name>/get`: field `properties` lists the gettable keys to ask for,
 *                 sent as `{"<key>": ""}` (encoding `keys`). Either is absent when no property qualifies.
 *   hardwareId    the IEEE address; the friendly name is only the display name.
 *   modelKey      a hash of the exposes alone: devices (even of different models or white labels) with equal
 *                 exposes share their generated schemas and validators.
 *
 * Not imported (listed in `skipped` with a reason code): the coordinator is not a device and is left out silently;
 * `disabled` devices; devices still being interviewed (`not_interviewed`); devices without a definition
 * (`unsupported` — 1.x publishes `definition: null` for unknown devices; `interview_failed` when the interview failed
 * before a definition was found); unusable friendly names (`bad_name`); malformed entries; repeated IEEE addresses.
 * Devices Zigbee2MQTT does not support natively but describes with a generated definition (2.x, `supported: false`)
 * are imported with a warning, as are devices whose interview failed but that have a definition.
 */
import { fail, ok, type Result } from '../errors.js';
import { booleanField, CONTROL_CHARS, humanize, isRecord, numberField, parseJson, stringField, type JsonRecord } from './json-input.js';
import type { AvailabilitySpec, CommandDescription, DeviceDescription, Property } from './model.js';
import { modelKeyOf } from './model-key.js';

export type Zigbee2MqttAvailability = 'json' | 'text' | false;

export interface Zigbee2MqttOptions {
  /** Zigbee2MQTT `mqtt.base_topic`. Default `zigbee2mqtt`. */
  readonly baseTopic?: string;
  /**
   * Device availability payloads: `json` (`{"state":"online"}`, the default), `text` (`online`), or false when
   * Zigbee2MQTT publishes none (availability is off by default in Zigbee2MQTT). `zigbee2mqttSettings` reads it from
   * `<base>/bridge/info`.
   */
  readonly availability?: Zigbee2MqttAvailability;
  /** Per-device overrides of whether availability is published (Zigbee2MQTT `devices.<ieee>.availability`). */
  readonly availabilityByDevice?: Readonly<Record<string, boolean>>;
}

export type Zigbee2MqttSkipReason = 'disabled' | 'not_interviewed' | 'interview_failed' | 'unsupported' | 'bad_name' | 'malformed' | 'duplicate';

export interface Zigbee2MqttSkip {
  readonly reason: Zigbee2MqttSkipReason;
  readonly message: string;
  readonly ieeeAddress?: string;
  readonly friendlyName?: string;
}

export interface Zigbee2MqttImport {
  readonly devices: readonly DeviceDescription[];
  readonly skipped: readonly Zigbee2MqttSkip[];
}

const DEFAULT_BASE = 'zigbee2mqtt';

/** `<base>/bridge/devices` payload → descriptions and the entries left out. A payload that is not a JSON array fails. */
export function importZigbee2MqttDevices(payload: Uint8Array | string, options: Zigbee2MqttOptions = {}): Result<Zigbee2MqttImport> {
  const base = options.baseTopic ?? DEFAULT_BASE;
  const baseProblem = topicLevelsProblem(base);
  if (baseProblem) return fail('PAYLOAD_INVALID', `base topic "${base}": ${baseProblem}`);
  const parsed = parseJson(payload);
  if (!parsed.ok) return parsed;
  if (!Array.isArray(parsed.value)) return fail('PAYLOAD_INVALID', 'bridge/devices must be a JSON array');
  const devices: DeviceDescription[] = [];
  const skipped: Zigbee2MqttSkip[] = [];
  const seen = new Set<string>();
  for (const entry of parsed.value) {
    const d = describeZigbee2MqttDevice(entry, options);
    if (d === undefined) continue;
    if ('reason' in d) {
      skipped.push(d);
      continue;
    }
    const id = d.hardwareId.toLowerCase();
    if (seen.has(id)) {
      skipped.push({ reason: 'duplicate', message: `IEEE address ${d.hardwareId} is listed twice; the first entry is used`, ieeeAddress: d.hardwareId, friendlyName: d.name });
      continue;
    }
    seen.add(id);
    devices.push(d);
  }
  return ok({ devices, skipped });
}

/**
 * One entry of `bridge/devices` → its description, the reason it is left out, or undefined for the coordinator.
 * The base topic is taken as given (`importZigbee2MqttDevices` checks it).
 */
export function describeZigbee2MqttDevice(entry: unknown, options: Zigbee2MqttOptions = {}): DeviceDescription | Zigbee2MqttSkip | undefined {
  const base = options.baseTopic ?? DEFAULT_BASE;
  if (!isRecord(entry)) return { reason: 'malformed', message: 'a device entry must be a JSON object' };
  const ieee = stringField(entry, 'ieee_address');
  if (ieee === undefined || ieee === '' || ieee.length > 64 || CONTROL_CHARS.test(ieee)) {
    return { reason: 'malformed', message: 'ieee_address is missing or not a usable string' };
  }
  if (stringField(entry, 'type') === 'Coordinator') return undefined;
  const name = stringField(entry, 'friendly_name') ?? ieee;
  const who = { ieeeAddress: ieee, friendlyName: name };
  if (booleanField(entry, 'disabled') === true) return { ...who, reason: 'disabled', message: 'the device is disabled in Zigbee2MQTT' };

  const interview = interviewState(entry);
  if (interview === 'PENDING' || interview === 'IN_PROGRESS') {
    return { ...who, reason: 'not_interviewed', message: 'the device has not been interviewed yet; it is imported once the interview succeeds' };
  }
  const definition = entry['definition'];
  if (!isRecord(definition)) {
    if (interview === 'FAILED') return { ...who, reason: 'interview_failed', message: 'the interview failed before a definition was found' };
    return { ...who, reason: 'unsupported', message: 'Zigbee2MQTT has no definition for this device' };
  }
  const nameProblem = friendlyNameProblem(name);
  if (nameProblem) return { ...who, reason: 'bad_name', message: `friendly name "${name}": ${nameProblem}` };
  const exposes = definition['exposes'];
  if (!Array.isArray(exposes)) return { ...who, reason: 'malformed', message: 'definition.exposes must be an array' };

  const warnings: string[] = [];
  if (entry['supported'] === false || stringField(definition, 'source') === 'generated') {
    warnings.push('not supported natively by Zigbee2MQTT: its definition was generated from the clusters the device reported');
  }
  if (interview === 'FAILED') warnings.push('the interview failed; the definition may be incomplete');
  const properties = exposesToProperties(exposes, warnings);

  const topic = `${base}/${name}`;
  const commands: CommandDescription[] = [];
  const settable = properties.filter((p) => p.settable);
  if (settable.length > 0) {
    commands.push({ name: 'set', description: 'Set one or more values', topic: `${topic}/set`, properties: settable, encoding: { kind: 'json' } });
  }
  const gettable = properties.filter((p) => p.gettable).map((p) => p.key);
  if (gettable.length > 0) {
    commands.push({
      name: 'get',
      description: 'Ask the device to report values',
      topic: `${topic}/get`,
      properties: [
        {
          key: 'properties',
          label: 'Properties',
          description: 'The values to ask for',
          type: 'array',
          items: { key: 'property', type: 'enum', values: gettable, readable: false, settable: true, gettable: false },
          minItems: 1,
          readable: false,
          settable: true,
          gettable: false,
        },
      ],
      encoding: { kind: 'keys', key: 'properties' },
    });
  }

  const byDevice = options.availabilityByDevice;
  const availabilityOn = byDevice && Object.hasOwn(byDevice, ieee) ? byDevice[ieee] === true : options.availability !== false;
  const format = options.availability === false || options.availability === undefined ? 'json' : options.availability;
  const availability: AvailabilitySpec | undefined = availabilityOn
    ? { topics: [{ topic: `${topic}/availability`, online: 'online', offline: 'offline', format }], mode: 'latest' }
    : undefined;

  const manufacturer = stringField(definition, 'vendor') ?? stringField(entry, 'manufacturer');
  const model = stringField(definition, 'model');
  const softwareVersion = stringField(entry, 'software_build_id');
  return {
    source: 'zigbee2mqtt',
    hardwareId: ieee,
    name,
    ...(manufacturer !== undefined ? { manufacturer } : {}),
    ...(model !== undefined ? { model } : {}),
    ...(softwareVersion !== undefined ? { softwareVersion } : {}),
    modelKey: modelKeyOf('zigbee2mqtt', exposes),
    properties,
    state: [{ topic, format: 'json' }],
    ...(availability ? { availability } : {}),
    commands,
    warnings,
  };
}

type InterviewState = 'PENDING' | 'IN_PROGRESS' | 'SUCCESSFUL' | 'FAILED';

function interviewState(entry: JsonRecord): InterviewState {
  // 2.x: interview_state; 1.x: interviewing / interview_completed (lib/extension/bridge.ts).
  const state = stringField(entry, 'interview_state');
  if (state === 'PENDING' || state === 'IN_PROGRESS' || state === 'SUCCESSFUL' || state === 'FAILED') return state;
  if (entry['interviewing'] === true) return 'IN_PROGRESS';
  if (entry['interview_completed'] === false) return 'PENDING';
  return 'SUCCESSFUL';
}

/**
 * Zigbee2MQTT's own friendly-name rules (lib/util/utils.ts `validateFriendlyName`), plus names whose topics would
 * land on the bridge's own topics or read as a `/set`, `/get` or `/availability` topic of another device.
 */
function friendlyNameProblem(name: string): string | undefined {
  if (name.startsWith('/') || name.endsWith('/')) return 'must not start or end with "/"';
  if (/\/\d*$/.test(name)) return 'must not end with "/<digits>" (Zigbee2MQTT reads that as an endpoint)';
  const levels = topicLevelsProblem(name);
  if (levels) return levels;
  const parts = name.split('/');
  if (parts[0] === 'bridge') return 'the first level "bridge" is Zigbee2MQTT\'s own';
  const last = parts[parts.length - 1]!;
  if (last === 'set' || last === 'get' || last === 'availability') return `must not end with "/${last}"`;
  return undefined;
}

/** Text that must be a literal run of MQTT topic levels. */
function topicLevelsProblem(text: string): string | undefined {
  if (text === '') return 'must not be empty';
  if (CONTROL_CHARS.test(text)) return 'must not contain control characters';
  if (text.includes('+') || text.includes('#')) return 'must not contain the MQTT wildcards + and #'; // [MQTT-3.3.2-2]
  if (Buffer.byteLength(text, 'utf8') > 1024) return 'is too long';
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------------
// Exposes → properties

const SPECIFIC = new Set(['light', 'switch', 'cover', 'lock', 'fan', 'climate']);
const GENERIC = new Set(['binary', 'numeric', 'enum', 'text', 'composite', 'list']);

/**
 * Keys Zigbee2MQTT does not keep in a device's cached state because they report events (lib/state.ts
 * `CACHE_IGNORE_PROPERTIES`): they are momentary.
 */
const MOMENTARY_KEYS = /^(?:action|action_.*|button|button_left|button_right|from_side|to_side|step_mode|step_size|transition_time|duration)$/;

/** A definition's exposes → the device's top-level properties. Problems are appended to `warnings`. */
export function exposesToProperties(exposes: readonly unknown[], warnings: string[]): Property[] {
  const out: Property[] = [];
  for (const [i, e] of exposes.entries()) {
    if (!isRecord(e)) {
      warnings.push(`exposes[${i}] is not an object; skipped`);
      continue;
    }
    const type = stringField(e, 'type') ?? '';
    const features = e['features'];
    if (SPECIFIC.has(type) || (!GENERIC.has(type) && Array.isArray(features))) {
      if (!SPECIFIC.has(type)) warnings.push(`exposes[${i}]: unknown expose type "${type}"; its features are imported`);
      if (!Array.isArray(features)) {
        warnings.push(`exposes[${i}] (${type}) has no features; skipped`);
        continue;
      }
      for (const [j, f] of features.entries()) addProperty(out, exposeToProperty(f, `exposes[${i}].features[${j}]`, warnings, false), warnings);
    } else {
      addProperty(out, exposeToProperty(e, `exposes[${i}]`, warnings, false), warnings);
    }
  }
  return out;
}

/** Add `p` to `list`, merging it into an earlier property with the same key. */
function addProperty(list: Property[], p: Property | undefined, warnings: string[]): void {
  if (!p) return;
  const i = list.findIndex((q) => q.key === p.key);
  if (i < 0) {
    list.push(p);
    return;
  }
  const q = list[i]!;
  const flags = { readable: q.readable || p.readable, settable: q.settable || p.settable, gettable: q.gettable || p.gettable };
  if (q.type === 'object' && p.type === 'object') {
    const merged = [...(q.properties ?? [])];
    for (const f of p.properties ?? []) addProperty(merged, f, warnings);
    // The two declarations name the same value two ways (x/y, hue/saturation): keep only what they share.
    const { description, deviceClass, ...rest } = q;
    list[i] = {
      ...rest,
      ...flags,
      properties: merged,
      label: q.label === p.label ? q.label : humanize(q.key),
      ...(description === p.description && description !== undefined ? { description } : {}),
      ...(deviceClass === p.deviceClass && deviceClass !== undefined ? { deviceClass } : {}),
    };
    return;
  }
  if (q.type !== p.type) warnings.push(`property "${p.key}" is declared twice with different types (${q.type}, ${p.type}); the first is used`);
  list[i] = { ...q, ...flags };
}

function exposeToProperty(e: unknown, where: string, warnings: string[], item: boolean): Property | undefined {
  if (!isRecord(e)) {
    warnings.push(`${where} is not an object; skipped`);
    return undefined;
  }
  const type = stringField(e, 'type') ?? '';
  const name = stringField(e, 'name');
  // List items carry no property (they are not keys of the state); their name is enough.
  const key = stringField(e, 'property') ?? (item ? (name ?? 'item') : undefined);
  if (key === undefined || key === '') {
    warnings.push(`${where} (${type || 'no type'}) has no property name; skipped`);
    return undefined;
  }
  if (key === '__proto__') {
    warnings.push(`${where}: property name "__proto__" is refused`);
    return undefined;
  }
  const access = numberField(e, 'access') ?? 1;
  const rawCategory = stringField(e, 'category');
  const category = rawCategory === 'diagnostic' || rawCategory === 'config' ? rawCategory : undefined;
  const endpoint = stringField(e, 'endpoint');
  const label = stringField(e, 'label');
  const description = stringField(e, 'description');
  const common: Omit<Property, 'type'> = {
    key,
    label: label !== undefined && label !== '' ? label : humanize(name ?? key),
    ...(description !== undefined && description !== '' ? { description } : {}),
    readable: (access & 1) !== 0,
    settable: (access & 2) !== 0,
    gettable: (access & 4) !== 0,
    ...(name !== undefined ? { deviceClass: name } : {}),
    ...(endpoint !== undefined && endpoint !== '' ? { endpoint } : {}),
    ...(category !== undefined ? { category, diagnostic: true } : {}),
    ...(!item && MOMENTARY_KEYS.test(key) ? { momentary: true } : {}),
  };

  switch (type) {
    case 'binary': {
      const on = binaryValue(e['value_on']);
      const off = binaryValue(e['value_off']);
      const toggle = binaryValue(e['value_toggle']);
      if (on === undefined || off === undefined) warnings.push(`${where} ("${key}"): binary without value_on/value_off; read as true/false`);
      const plain = (on === undefined || on === true) && (off === undefined || off === false);
      return {
        ...common,
        type: 'boolean',
        ...(plain ? {} : { valueOn: on ?? true, valueOff: off ?? false }),
        ...(toggle !== undefined ? { valueToggle: toggle } : {}),
      };
    }
    case 'numeric':
      return { ...common, type: 'number', ...numericDetails(e) };
    case 'enum': {
      const raw = Array.isArray(e['values']) ? (e['values'] as unknown[]) : [];
      const values = [...new Set(raw.filter((v): v is string | number => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))))];
      if (values.length === 0) {
        warnings.push(`${where} ("${key}"): enum without values; read as text`);
        return { ...common, type: 'string' };
      }
      return { ...common, type: 'enum', values };
    }
    case 'text':
      return { ...common, type: 'string' };
    case 'composite': {
      const features = Array.isArray(e['features']) ? (e['features'] as unknown[]) : [];
      const properties: Property[] = [];
      for (const [j, f] of features.entries()) addProperty(properties, exposeToProperty(f, `${where}.features[${j}]`, warnings, false), warnings);
      return { ...common, type: 'object', properties };
    }
    case 'list': {
      const itemType = e['item_type'];
      const items = itemType === undefined ? undefined : exposeToProperty(itemType, `${where}.item_type`, warnings, true);
      const minItems = numberField(e, 'length_min');
      const maxItems = numberField(e, 'length_max');
      return {
        ...common,
        type: 'array',
        ...(items ? { items } : {}),
        ...(minItems !== undefined && minItems >= 0 ? { minItems } : {}),
        ...(maxItems !== undefined && maxItems >= 0 ? { maxItems } : {}),
      };
    }
    default:
      warnings.push(`${where} ("${key}"): unknown expose type "${type}"; skipped`);
      return undefined;
  }
}

function binaryValue(v: unknown): string | boolean | number | undefined {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) ? v : undefined;
}

function numericDetails(e: JsonRecord): Partial<Property> {
  const unit = stringField(e, 'unit');
  const minimum = numberField(e, 'value_min');
  const maximum = numberField(e, 'value_max');
  const step = numberField(e, 'value_step');
  const presets: { name: string; value: number; description?: string }[] = [];
  const extra: (string | number | boolean | null)[] = [];
  for (const p of Array.isArray(e['presets']) ? (e['presets'] as unknown[]) : []) {
    if (!isRecord(p)) continue;
    const name = stringField(p, 'name');
    const value = p['value'];
    const description = stringField(p, 'description');
    if (typeof value === 'number' && Number.isFinite(value)) {
      if (name !== undefined) presets.push({ name, value, ...(description !== undefined ? { description } : {}) });
      if ((minimum !== undefined && value < minimum) || (maximum !== undefined && value > maximum)) extra.push(value);
    } else if (typeof value === 'string' || typeof value === 'boolean' || value === null) {
      // Presets that are not numbers are values the device also takes ("previous", null).
      extra.push(value);
    }
  }
  return {
    ...(unit !== undefined && unit !== '' ? { unit } : {}),
    ...(minimum !== undefined ? { minimum } : {}),
    ...(maximum !== undefined ? { maximum } : {}),
    ...(step !== undefined && step > 0 ? { step } : {}),
    ...(presets.length > 0 ? { presets } : {}),
    ...(extra.length > 0 ? { extraValues: [...new Set(extra)] } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// bridge/info → settings the importer needs

export interface Zigbee2MqttSettings {
  /** Zigbee2MQTT version (`2.9.2`). */
  readonly version: string;
  readonly major: number;
  readonly baseTopic?: string;
  readonly availability: Zigbee2MqttAvailability;
  readonly availabilityByDevice: Readonly<Record<string, boolean>>;
}

/**
 * The retained `<base>/bridge/info` payload → what the importer needs: version, base topic and how device
 * availability is published. 2.x: `config.availability.enabled`, payload always JSON; 1.x: `config.availability`
 * true or an object (or the older `advanced.availability_timeout` > 0), text unless
 * `advanced.legacy_availability_payload` is false. Per-device `devices.<ieee>.availability` overrides.
 */
export function zigbee2mqttSettings(payload: Uint8Array | string): Result<Zigbee2MqttSettings> {
  const parsed = parseJson(payload);
  if (!parsed.ok) return parsed;
  const info = parsed.value;
  if (!isRecord(info)) return fail('PAYLOAD_INVALID', 'bridge/info must be a JSON object');
  const version = stringField(info, 'version');
  const major = version === undefined ? NaN : Number.parseInt(version, 10);
  if (version === undefined || !Number.isInteger(major)) return fail('PAYLOAD_INVALID', 'bridge/info has no version');
  const config = isRecord(info['config']) ? info['config'] : {};
  const advanced = isRecord(config['advanced']) ? config['advanced'] : {};
  const mqtt = isRecord(config['mqtt']) ? config['mqtt'] : {};
  const av = config['availability'];
  let enabled: boolean;
  let format: 'json' | 'text';
  if (major >= 2) {
    enabled = isRecord(av) && av['enabled'] === true;
    format = 'json';
  } else {
    enabled = av === true || isRecord(av) || (numberField(advanced, 'availability_timeout') ?? 0) > 0;
    format = advanced['legacy_availability_payload'] === false ? 'json' : 'text';
  }
  const byDevice: Record<string, boolean> = {};
  const devices = config['devices'];
  if (isRecord(devices)) {
    for (const [ieee, d] of Object.entries(devices)) {
      if (!isRecord(d) || ieee === '__proto__' || d['availability'] === undefined || d['availability'] === null) continue;
      byDevice[ieee] = d['availability'] !== false;
    }
  }
  const baseTopic = stringField(mqtt, 'base_topic');
  return ok({
    version,
    major,
    ...(baseTopic !== undefined ? { baseTopic } : {}),
    availability: enabled ? format : false,
    availabilityByDevice: byDevice,
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// Events, as they happen

export type Zigbee2MqttEvent =
  | { readonly type: 'device_joined' | 'device_announce' | 'device_leave'; readonly ieeeAddress: string; readonly friendlyName?: string }
  | {
      readonly type: 'device_interview';
      readonly status: 'started' | 'successful' | 'failed';
      readonly ieeeAddress: string;
      readonly friendlyName?: string;
      readonly supported?: boolean;
      readonly model?: string;
      readonly vendor?: string;
    }
  | { readonly type: 'device_renamed'; readonly from: string; readonly to: string }
  /** An event type this importer does not act on; ignore it. */
  | { readonly type: 'other'; readonly eventType: string };

/**
 * A `<base>/bridge/event` message (`{"type": …, "data": {…}}`) → an event. Zigbee2MQTT publishes `device_joined`,
 * `device_announce`, `device_leave` and `device_interview` (status `started`, `successful` with `supported` and the
 * definition, or `failed`). The full, updated `bridge/devices` list is republished after each of them.
 */
export function parseBridgeEvent(payload: Uint8Array | string): Result<Zigbee2MqttEvent> {
  const parsed = parseJson(payload);
  if (!parsed.ok) return parsed;
  const msg = parsed.value;
  if (!isRecord(msg)) return fail('PAYLOAD_INVALID', 'a bridge event must be a JSON object');
  const type = stringField(msg, 'type');
  if (type === undefined) return fail('PAYLOAD_INVALID', 'a bridge event needs a "type"');
  if (type !== 'device_joined' && type !== 'device_announce' && type !== 'device_leave' && type !== 'device_interview') return ok({ type: 'other', eventType: type });
  const data = msg['data'];
  if (!isRecord(data)) return fail('PAYLOAD_INVALID', `${type}: "data" must be an object`);
  const ieeeAddress = stringField(data, 'ieee_address');
  if (ieeeAddress === undefined || ieeeAddress === '') return fail('PAYLOAD_INVALID', `${type}: "data.ieee_address" is missing`);
  const friendlyName = stringField(data, 'friendly_name');
  const who = { ieeeAddress, ...(friendlyName !== undefined ? { friendlyName } : {}) };
  if (type !== 'device_interview') return ok({ type, ...who });
  const status = stringField(data, 'status');
  if (status !== 'started' && status !== 'successful' && status !== 'failed') return fail('PAYLOAD_INVALID', `device_interview: unknown status "${String(status)}"`);
  const supported = booleanField(data, 'supported');
  const definition = isRecord(data['definition']) ? data['definition'] : undefined;
  const model = definition ? stringField(definition, 'model') : undefined;
  const vendor = definition ? stringField(definition, 'vendor') : undefined;
  return ok({
    type,
    status,
    ...who,
    ...(supported !== undefined ? { supported } : {}),
    ...(model !== undefined ? { model } : {}),
    ...(vendor !== undefined ? { vendor } : {}),
  });
}

/**
 * Zigbee2MQTT announces renames on no event topic: the answer to a rename request,
 * `<base>/bridge/response/device/rename` = `{"status":"ok","data":{"from":"old","to":"new"}}`, is the only message
 * (besides the republished `bridge/devices`). A refused rename (`status` ≠ `ok`) fails.
 */
export function parseRenameResponse(payload: Uint8Array | string): Result<Extract<Zigbee2MqttEvent, { type: 'device_renamed' }>> {
  const parsed = parseJson(payload);
  if (!parsed.ok) return parsed;
  const msg = parsed.value;
  if (!isRecord(msg)) return fail('PAYLOAD_INVALID', 'a bridge response must be a JSON object');
  if (msg['status'] !== 'ok') return fail('PAYLOAD_INVALID', `the rename was refused: ${stringField(msg, 'error') ?? 'no reason given'}`);
  const data = msg['data'];
  const from = isRecord(data) ? stringField(data, 'from') : undefined;
  const to = isRecord(data) ? stringField(data, 'to') : undefined;
  if (from === undefined || to === undefined) return fail('PAYLOAD_INVALID', 'a rename response needs data.from and data.to');
  return ok({ type: 'device_renamed', from, to });
}
