/**
 * What each Home Assistant MQTT platform contributes to a device: its fields (properties), where their values come
 * from (state sources with the entity's templates), and its commands. One function per platform, from the expanded
 * entity configuration (ha-config.ts) and the field key the importer chose for the entity (homeassistant.ts).
 *
 * Options and defaults are Home Assistant's (homeassistant/components/mqtt/<platform>.py and const.py):
 * payload_on/off `ON`/`OFF`, payload_press `PRESS`, cover payloads `OPEN`/`CLOSE`/`STOP` and states
 * `open`/`opening`/`closed`/`closing`/`stopped`, lock `LOCK`/`UNLOCK` and `LOCKED`/`UNLOCKED`/…, number 1..100 step 1,
 * climate modes `auto off cool heat dry fan_only` and 7..35 °C, light brightness scale 255.
 *
 * Command names: `set-<field>` for a settable field, `press-<key>` for a button, `open-`/`close-`/`stop-<key>` for
 * a cover, `lock-`/`unlock-`/`open-<key>` for a lock — one command per MQTT topic, stable across discovery updates.
 *
 * Pure: no I/O.
 */
import type { CommandDescription, CommandEncoding, PayloadFormat, Property, StateSource } from './model.js';
import { type Config, type HaResult, haFail } from './ha-config.js';
import { compileTemplate, renderTemplate, type CompiledTemplate } from './template.js';

export interface EntityPart {
  readonly properties: Property[];
  readonly state: StateSource[];
  readonly commands: CommandDescription[];
  readonly warnings: string[];
  /** Constructs of templates outside the subset met in this entity (counted by the importer). */
  readonly unsupportedTemplates: string[];
}

/** Platforms the importer describes. */
export const SUPPORTED_PLATFORMS = ['sensor', 'binary_sensor', 'switch', 'light', 'number', 'select', 'button', 'climate', 'cover', 'lock'] as const;

const MAX_TOPIC_LENGTH = 1024;
const MAX_TEXT = 256;
const MAX_OPTIONS = 256;

/** A problem that invalidates the entity; thrown inside this module only, returned as a Result. */
class Invalid extends Error {
  constructor(
    message: string,
    readonly code: 'HA_INVALID' | 'HA_TOPIC_INVALID' = 'HA_INVALID',
  ) {
    super(message);
  }
}

/** A topic an entity may name: no wildcards, no NUL, not a `$` system topic, not empty, bounded. */
export function topicProblem(t: string): string | undefined {
  if (t.length === 0) return 'is empty';
  if (t.length > MAX_TOPIC_LENGTH) return `is longer than ${MAX_TOPIC_LENGTH} characters`;
  if (/[+#]/.test(t)) return 'contains a wildcard ("+" or "#")'; // [MQTT-3.3.2-2] no wildcards in a topic name
  if (t.includes('\u0000')) return 'contains U+0000'; // [MQTT-4.7.3-2]
  if (t.startsWith('$')) return 'is a "$" system topic';
  return undefined;
}

const COMPILE_CACHE_LIMIT = 2000;
const compileCache = new Map<string, ReturnType<typeof compileTemplate>>();

/** Templates repeat across entities and are re-read on every discovery update: compile each distinct one once. */
function compileCached(src: string, variables: readonly string[] | undefined): ReturnType<typeof compileTemplate> {
  const key = `${(variables ?? []).join(',')}\u0000${src}`;
  let t = compileCache.get(key);
  if (!t) {
    t = compileTemplate(src, variables ? { variables } : {});
    if (compileCache.size >= COMPILE_CACHE_LIMIT) compileCache.delete(compileCache.keys().next().value!);
    compileCache.set(key, t);
  }
  return t;
}

/** Typed access to the options of one entity, with Home Assistant's coercions (`cv.string` turns 1 into "1"). */
export class Options {
  readonly warnings: string[] = [];
  readonly unsupported: string[] = [];

  constructor(readonly cfg: Config) {}

  has(name: string): boolean {
    return this.cfg.get(name) !== undefined && this.cfg.get(name) !== null;
  }

  str(name: string, fallback?: string): string | undefined {
    const v = this.cfg.get(name);
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'string') {
      if (v.length > MAX_TEXT) throw new Invalid(`"${name}" is longer than ${MAX_TEXT} characters`);
      return v;
    }
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (typeof v === 'boolean') return v ? 'True' : 'False'; // Python str(True): what HA compares templates against
    throw new Invalid(`"${name}" must be a string`);
  }

  topic(name: string): string | undefined {
    const v = this.cfg.get(name);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new Invalid(`"${name}" must be a topic string`, 'HA_TOPIC_INVALID');
    const problem = topicProblem(v);
    if (problem) throw new Invalid(`"${name}" ${problem}`, 'HA_TOPIC_INVALID');
    return v;
  }

  requiredTopic(name: string): string {
    const t = this.topic(name);
    if (t === undefined) throw new Invalid(`"${name}" is required`);
    return t;
  }

  num(name: string, fallback?: number): number | undefined {
    const v = this.cfg.get(name);
    if (v === undefined || v === null) return fallback;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new Invalid(`"${name}" must be a number`);
    return n;
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.cfg.get(name);
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'True' || v === 1) return true;
    if (v === 'false' || v === 'False' || v === 0) return false;
    throw new Invalid(`"${name}" must be a boolean`);
  }

  list(name: string): string[] | undefined {
    const v = this.cfg.get(name);
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.length > MAX_OPTIONS) throw new Invalid(`"${name}" must be a list of at most ${MAX_OPTIONS} strings`);
    return v.map((x, i) => {
      if (typeof x === 'string' && x.length <= MAX_TEXT) return x;
      if (typeof x === 'number' && Number.isFinite(x)) return String(x);
      throw new Invalid(`"${name}"[${i}] must be a string`);
    });
  }

  qos(): 0 | 1 | 2 {
    const q = this.num('qos', 0)!;
    if (q !== 0 && q !== 1 && q !== 2) throw new Invalid('"qos" must be 0, 1 or 2');
    return q;
  }

  /** A template option: compiled, or recorded as unsupported (and then absent). */
  template(name: string, variables?: readonly string[]): CompiledTemplate | undefined {
    const src = this.cfg.get(name);
    if (src === undefined || src === null) return undefined;
    if (typeof src !== 'string') throw new Invalid(`"${name}" must be a template string`);
    const t = compileCached(src, variables);
    if (t.ok) return t.value;
    const construct = t.error.construct ?? t.error.code.toLowerCase().replace('template_', '');
    this.unsupported.push(construct);
    this.warnings.push(`${name} not used (${t.error.code}: ${t.error.message})`);
    return undefined;
  }
}

function formatOf(p: Property): PayloadFormat {
  switch (p.type) {
    case 'number':
    case 'integer':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'enum':
      return 'enum';
    case 'object':
    case 'array':
      return 'json';
    default:
      return 'text';
  }
}

/** Where a field's value comes from: the topic, read directly or through the entity's template. */
function source(topic: string, p: Property, tpl: CompiledTemplate | undefined, bool?: { on: string; off: string }): StateSource {
  const booleans = bool && p.type === 'boolean' ? { trueValue: bool.on, falseValue: bool.off } : {};
  if (!tpl) return { topic, key: p.key, format: formatOf(p), ...booleans };
  return {
    topic,
    key: p.key,
    format: tpl.variables.includes('value_json') ? 'json' : 'text',
    template: tpl.source,
    valueFormat: formatOf(p),
    ...booleans,
  };
}

/**
 * Add the state source of a field, read through the template option when there is one. A template outside the
 * subset leaves the field without a source: reading the raw payload instead would give wrong values.
 */
function addSource(part: EntityPart, o: Options, topic: string, p: Property, tplOption: string, bool?: { on: string; off: string }): void {
  const present = o.has(tplOption);
  const tpl = o.template(tplOption);
  if (present && !tpl) return;
  part.state.push(source(topic, p, tpl, bool));
}

function command(o: Options, name: string, topic: string, properties: Property[], encoding: CommandEncoding): CommandDescription {
  return { name, topic, properties, encoding, qos: o.qos(), retain: o.bool('retain', false) };
}

/** A command that writes one field, as text, through the option's command template when there is a usable one. */
function valueCommand(
  o: Options,
  name: string,
  topic: string,
  field: Property,
  tplOption: string,
  onOff?: { on: string; off: string },
  aliases: readonly string[] = [],
): CommandDescription | undefined {
  const hadTemplate = o.has(tplOption);
  const tpl = o.template(tplOption, ['value', ...aliases]);
  if (hadTemplate && !tpl) return undefined; // the device expects the template's shape: sending raw values would be wrong
  const used = tpl ? aliases.filter((a) => tpl.variables.includes(a)) : [];
  const encoding: CommandEncoding = tpl
    ? { kind: 'template', key: field.key, template: tpl.source, ...(used.length > 0 ? { aliases: used } : {}) }
    : { kind: 'value', key: field.key, ...(onOff ? { on: onOff.on, off: onOff.off } : {}) };
  return command(o, name, topic, [{ ...field, readable: false }], encoding);
}

/** A payload fixed at discovery time; a command template over a constant is rendered once, here. */
function fixedPayload(o: Options, payload: string, tplOption: string): string | undefined {
  const hadTemplate = o.has(tplOption);
  const tpl = o.template(tplOption, ['value']);
  if (!tpl) return hadTemplate ? undefined : payload;
  const r = renderTemplate(tpl, { value: payload });
  if (r.ok) return r.value;
  o.warnings.push(`${tplOption} failed on "${payload}": ${r.error.message}`);
  return undefined;
}

function common(o: Options, key: string, type: Property['type']): Property {
  const name = o.str('name');
  const unit = o.str('unit_of_measurement')?.trim(); // Tasmota sends " " for "no unit"
  const deviceClass = o.str('device_class');
  const category = o.str('entity_category');
  return {
    key,
    type,
    readable: true,
    settable: false,
    gettable: false,
    ...(name ? { label: name } : {}),
    ...(unit ? { unit } : {}),
    ...(deviceClass ? { deviceClass } : {}),
    ...(category === 'diagnostic' || category === 'config' ? { diagnostic: true } : {}),
  };
}

/** Sensor device classes whose values are text, not numbers (HA sensor: `enum`, `timestamp`, `date`). */
const TEXT_SENSOR_CLASSES = new Set(['enum', 'timestamp', 'date']);

function sensor(o: Options, key: string, part: EntityPart): void {
  const topic = o.requiredTopic('state_topic');
  const deviceClass = o.str('device_class');
  const numeric = ((o.str('unit_of_measurement')?.trim() ?? '') !== '' || o.has('state_class') || (deviceClass !== undefined && !TEXT_SENSOR_CLASSES.has(deviceClass))) && deviceClass !== 'enum';
  const options = o.list('options');
  let p = common(o, key, options && deviceClass === 'enum' ? 'enum' : numeric ? 'number' : 'string');
  if (options && p.type === 'enum') p = { ...p, values: options };
  part.properties.push(p);
  addSource(part, o, topic, p, 'value_template');
}

function binarySensor(o: Options, key: string, part: EntityPart): void {
  const topic = o.requiredTopic('state_topic');
  const p = common(o, key, 'boolean');
  part.properties.push(p);
  addSource(part, o, topic, p, 'value_template', { on: o.str('payload_on', 'ON')!, off: o.str('payload_off', 'OFF')! });
}

function switchEntity(o: Options, key: string, part: EntityPart): void {
  const cmdTopic = o.requiredTopic('command_topic');
  const stateTopic = o.topic('state_topic');
  const on = o.str('payload_on', 'ON')!;
  const off = o.str('payload_off', 'OFF')!;
  const p: Property = { ...common(o, key, 'boolean'), readable: stateTopic !== undefined, settable: true };
  part.properties.push(p);
  if (stateTopic) addSource(part, o, stateTopic, p, 'value_template', { on: o.str('state_on', on)!, off: o.str('state_off', off)! });
  const c = valueCommand(o, `set-${key}`, cmdTopic, p, 'command_template', { on, off });
  if (c) part.commands.push(c);
}

function light(o: Options, key: string, part: EntityPart): void {
  const schema = o.str('schema', 'basic');
  const cmdTopic = o.requiredTopic('command_topic');
  if (schema === 'json') return lightJson(o, key, cmdTopic, part);
  if (schema !== 'basic' && schema !== 'default') throw new Invalid(`light schema "${schema}" is not supported (only "basic" and "json")`);
  const on = o.str('payload_on', 'ON')!;
  const off = o.str('payload_off', 'OFF')!;
  const stateTopic = o.topic('state_topic');
  const p: Property = { ...common(o, key, 'boolean'), readable: stateTopic !== undefined, settable: true };
  part.properties.push(p);
  // HA light/schema_basic.py: the old `value_template` of a light is read as `state_value_template` (cv.deprecated);
  // Tasmota's legacy discovery still sends `val_tpl`.
  if (stateTopic) addSource(part, o, stateTopic, p, o.has('state_value_template') ? 'state_value_template' : 'value_template', { on, off });
  part.commands.push(command(o, `set-${key}`, cmdTopic, [{ ...p, readable: false }], { kind: 'value', key, on, off }));
  const briCmd = o.topic('brightness_command_topic');
  const briState = o.topic('brightness_state_topic');
  if (briCmd || briState) {
    const scale = o.num('brightness_scale', 255)!;
    const b: Property = {
      key: `${key}_brightness`,
      label: `${p.label ?? key} brightness`,
      type: 'integer',
      minimum: 0,
      maximum: scale,
      readable: briState !== undefined,
      settable: briCmd !== undefined,
      gettable: false,
    };
    part.properties.push(b);
    if (briState) addSource(part, o, briState, b, 'brightness_value_template');
    if (briCmd) {
      const c = valueCommand(o, `set-${b.key}`, briCmd, b, 'brightness_command_template');
      if (c) part.commands.push(c);
    }
  }
  for (const other of ['rgb_command_topic', 'color_temp_command_topic', 'effect_command_topic', 'hs_command_topic', 'xy_command_topic', 'white_command_topic']) {
    if (o.has(other)) part.warnings.push(`${other} not imported (only on/off and brightness of a basic-schema light)`);
  }
}

/** JSON-schema light: the state is one JSON object, the command one JSON object (HA light/schema_json.py). */
function lightJson(o: Options, key: string, cmdTopic: string, part: EntityPart): void {
  const stateTopic = o.topic('state_topic');
  const modes = o.list('supported_color_modes') ?? [];
  const scale = o.num('brightness_scale', 255)!;
  const brightness = o.bool('brightness', false) || modes.some((m) => m !== 'onoff');
  const fields: Property[] = [{ key: 'state', type: 'enum', values: ['ON', 'OFF'], readable: true, settable: true, gettable: false }];
  if (brightness) fields.push({ key: 'brightness', type: 'integer', minimum: 0, maximum: scale, readable: true, settable: true, gettable: false });
  if (modes.includes('color_temp')) {
    const kelvin = o.bool('color_temp_kelvin', false);
    fields.push({
      key: 'color_temp',
      type: 'integer',
      unit: kelvin ? 'K' : 'mired',
      minimum: kelvin ? o.num('min_kelvin', 2000)! : o.num('min_mireds', 153)!,
      maximum: kelvin ? o.num('max_kelvin', 6535)! : o.num('max_mireds', 500)!,
      readable: true,
      settable: true,
      gettable: false,
    });
  }
  const colorModes = modes.filter((m) => ['hs', 'rgb', 'rgbw', 'rgbww', 'xy'].includes(m));
  if (colorModes.length > 0) fields.push({ key: 'color', type: 'object', readable: true, settable: true, gettable: false, description: `color as ${colorModes.join(', ')}` });
  if (modes.length > 0) fields.push({ key: 'color_mode', type: 'enum', values: modes, readable: true, settable: false, gettable: false });
  const effects = o.bool('effect', false) ? o.list('effect_list') : undefined;
  if (effects) fields.push({ key: 'effect', type: 'enum', values: effects, readable: true, settable: true, gettable: false });
  const p: Property = { ...common(o, key, 'object'), properties: fields, readable: stateTopic !== undefined, settable: true };
  part.properties.push(p);
  if (stateTopic) part.state.push({ topic: stateTopic, key, format: 'json' });
  const settable = fields.filter((f) => f.settable).map((f) => ({ ...f, readable: false }));
  if (o.bool('transition', false) || o.has('flash_time_short')) settable.push({ key: 'transition', type: 'number', unit: 's', minimum: 0, readable: false, settable: true, gettable: false });
  part.commands.push(command(o, `set-${key}`, cmdTopic, settable, { kind: 'json' }));
}

function numberEntity(o: Options, key: string, part: EntityPart): void {
  const cmdTopic = o.requiredTopic('command_topic');
  const stateTopic = o.topic('state_topic');
  const min = o.num('min', 1)!;
  const max = o.num('max', 100)!;
  if (min > max) throw new Invalid('"min" is greater than "max"');
  const step = o.num('step', 1)!;
  if (step <= 0) throw new Invalid('"step" must be positive');
  const p: Property = { ...common(o, key, Number.isInteger(step) && Number.isInteger(min) ? 'integer' : 'number'), minimum: min, maximum: max, step, readable: stateTopic !== undefined, settable: true };
  part.properties.push(p);
  if (stateTopic) addSource(part, o, stateTopic, p, 'value_template');
  const c = valueCommand(o, `set-${key}`, cmdTopic, p, 'command_template');
  if (c) part.commands.push(c);
}

function select(o: Options, key: string, part: EntityPart): void {
  const cmdTopic = o.requiredTopic('command_topic');
  const options = o.list('options');
  if (!options || options.length === 0) throw new Invalid('"options" is required');
  const stateTopic = o.topic('state_topic');
  const p: Property = { ...common(o, key, 'enum'), values: options, readable: stateTopic !== undefined, settable: true };
  part.properties.push(p);
  if (stateTopic) addSource(part, o, stateTopic, p, 'value_template');
  const c = valueCommand(o, `set-${key}`, cmdTopic, p, 'command_template');
  if (c) part.commands.push(c);
}

function button(o: Options, key: string, part: EntityPart): void {
  const cmdTopic = o.requiredTopic('command_topic');
  const payload = fixedPayload(o, o.str('payload_press', 'PRESS')!, 'command_template');
  const label = o.str('name');
  if (payload !== undefined) {
    part.commands.push({ ...command(o, `press-${key}`, cmdTopic, [], { kind: 'fixed', payload }), ...(label ? { description: label } : {}) });
  }
}

const DEFAULT_CLIMATE_MODES = ['auto', 'off', 'cool', 'heat', 'dry', 'fan_only'];

/** Climate: mode, target and current temperature, fan/swing/preset modes and action as fields of `<key>_…`. */
function climate(o: Options, key: string, part: EntityPart): void {
  const label = o.str('name') ?? key;
  // HA accepts "C"/"F" (ESPHome and Zigbee2MQTT send those) as well as the symbols.
  const rawUnit = o.str('temperature_unit');
  const unit = rawUnit === 'F' || rawUnit === '°F' ? '°F' : '°C';
  const field = (suffix: string, p: Omit<Property, 'key' | 'readable' | 'settable' | 'gettable'>, stateT: string, stateTpl: string, cmdT?: string, cmdTpl?: string): void => {
    const st = o.topic(stateT);
    const ct = cmdT ? o.topic(cmdT) : undefined;
    if (!st && !ct) return;
    const prop: Property = { ...p, key: `${key}_${suffix}`, label: `${label} ${suffix.replace(/_/g, ' ')}`, readable: st !== undefined, settable: ct !== undefined, gettable: false };
    part.properties.push(prop);
    if (st) addSource(part, o, st, prop, stateTpl);
    if (ct && cmdTpl) {
      const c = valueCommand(o, `set-${prop.key}`, ct, prop, cmdTpl);
      if (c) part.commands.push(c);
    }
  };
  const temp = { type: 'number' as const, unit, minimum: o.num('min_temp', unit === '°F' ? 45 : 7)!, maximum: o.num('max_temp', unit === '°F' ? 95 : 35)!, step: o.num('temp_step', 1)! };
  field('mode', { type: 'enum', values: o.list('modes') ?? DEFAULT_CLIMATE_MODES }, 'mode_state_topic', 'mode_state_template', 'mode_command_topic', 'mode_command_template');
  field('temperature', temp, 'temperature_state_topic', 'temperature_state_template', 'temperature_command_topic', 'temperature_command_template');
  field('temperature_low', temp, 'temperature_low_state_topic', 'temperature_low_state_template', 'temperature_low_command_topic', 'temperature_low_command_template');
  field('temperature_high', temp, 'temperature_high_state_topic', 'temperature_high_state_template', 'temperature_high_command_topic', 'temperature_high_command_template');
  field('current_temperature', { type: 'number', unit }, 'current_temperature_topic', 'current_temperature_template');
  field('current_humidity', { type: 'number', unit: '%' }, 'current_humidity_topic', 'current_humidity_template');
  field('target_humidity', { type: 'number', unit: '%', minimum: o.num('min_humidity', 30)!, maximum: o.num('max_humidity', 99)! }, 'target_humidity_state_topic', 'target_humidity_state_template', 'target_humidity_command_topic', 'target_humidity_command_template');
  const list = (name: string, fallback: string[]): { type: 'enum'; values: string[] } => ({ type: 'enum', values: o.list(name) ?? fallback });
  field('fan_mode', list('fan_modes', ['auto', 'low', 'medium', 'high']), 'fan_mode_state_topic', 'fan_mode_state_template', 'fan_mode_command_topic', 'fan_mode_command_template');
  field('swing_mode', list('swing_modes', ['on', 'off']), 'swing_mode_state_topic', 'swing_mode_state_template', 'swing_mode_command_topic', 'swing_mode_command_template');
  if (o.has('preset_modes')) field('preset_mode', list('preset_modes', []), 'preset_mode_state_topic', 'preset_mode_value_template', 'preset_mode_command_topic', 'preset_mode_command_template');
  field('action', { type: 'string' }, 'action_topic', 'action_template');
  const power = o.topic('power_command_topic');
  if (power) {
    const on = o.str('payload_on', 'ON')!;
    const off = o.str('payload_off', 'OFF')!;
    const p: Property = { key: `${key}_power`, label: `${label} power`, type: 'boolean', readable: false, settable: true, gettable: false };
    const c = valueCommand(o, `set-${p.key}`, power, p, 'power_command_template', { on, off });
    if (c) part.commands.push(c);
  }
  if (part.properties.length === 0 && part.commands.length === 0) throw new Invalid('a climate entity needs at least one state or command topic');
}

function cover(o: Options, key: string, part: EntityPart): void {
  const label = o.str('name');
  const cmdTopic = o.topic('command_topic');
  const stateTopic = o.topic('state_topic');
  const states = ['state_open', 'state_opening', 'state_closed', 'state_closing', 'state_stopped'].map((n, i) => o.str(n, ['open', 'opening', 'closed', 'closing', 'stopped'][i])!);
  if (stateTopic) {
    const p: Property = { ...common(o, key, 'string'), description: `one of ${states.join(', ')}` };
    part.properties.push(p);
    addSource(part, o, stateTopic, p, 'value_template');
  }
  if (cmdTopic) {
    for (const [verb, option, dflt] of [
      ['open', 'payload_open', 'OPEN'],
      ['close', 'payload_close', 'CLOSE'],
      ['stop', 'payload_stop', 'STOP'],
    ] as const) {
      // HA: a payload set to null disables that command.
      if (o.cfg.has(option) && o.cfg.get(option) === null) continue;
      part.commands.push({ ...command(o, `${verb}-${key}`, cmdTopic, [], { kind: 'fixed', payload: o.str(option, dflt)! }), ...(label ? { description: `${label}: ${verb}` } : {}) });
    }
  }
  const posTopic = o.topic('position_topic');
  const setPos = o.topic('set_position_topic');
  if (posTopic || setPos) {
    const lo = o.num('position_closed', 0)!;
    const hi = o.num('position_open', 100)!;
    const p: Property = {
      key: `${key}_position`,
      label: `${label ?? key} position`,
      type: 'integer',
      unit: '%',
      minimum: Math.min(lo, hi),
      maximum: Math.max(lo, hi),
      readable: posTopic !== undefined,
      settable: setPos !== undefined,
      gettable: false,
    };
    part.properties.push(p);
    if (posTopic) addSource(part, o, posTopic, p, 'position_template');
    if (setPos) {
      // HA cover.py renders set_position_template with the position as both `value` and `position`.
      const c = valueCommand(o, `set-${p.key}`, setPos, p, 'set_position_template', undefined, ['position']);
      if (c) part.commands.push(c);
    }
  }
  if (o.has('tilt_command_topic') || o.has('tilt_status_topic')) part.warnings.push('cover tilt not imported');
  if (part.properties.length === 0 && part.commands.length === 0) throw new Invalid('a cover needs a command, state or position topic');
}

function lock(o: Options, key: string, part: EntityPart): void {
  const cmdTopic = o.requiredTopic('command_topic');
  const stateTopic = o.topic('state_topic');
  const label = o.str('name');
  if (stateTopic) {
    const states = [
      o.str('state_locked', 'LOCKED')!,
      o.str('state_unlocked', 'UNLOCKED')!,
      o.str('state_locking', 'LOCKING')!,
      o.str('state_unlocking', 'UNLOCKING')!,
      o.str('state_jammed', 'JAMMED')!,
      ...(o.has('payload_open') ? [o.str('state_open', 'OPEN')!, o.str('state_opening', 'OPENING')!] : []),
    ];
    const p: Property = { ...common(o, key, 'string'), description: `one of ${states.join(', ')}` };
    part.properties.push(p);
    addSource(part, o, stateTopic, p, 'value_template');
  }
  const verbs: [string, string, string][] = [
    ['lock', 'payload_lock', 'LOCK'],
    ['unlock', 'payload_unlock', 'UNLOCK'],
  ];
  if (o.has('payload_open')) verbs.push(['open', 'payload_open', 'OPEN']);
  for (const [verb, option, dflt] of verbs) {
    const payload = fixedPayload(o, o.str(option, dflt)!, 'command_template');
    if (payload !== undefined) part.commands.push({ ...command(o, `${verb}-${key}`, cmdTopic, [], { kind: 'fixed', payload }), ...(label ? { description: `${label}: ${verb}` } : {}) });
  }
}

const PLATFORMS: Record<(typeof SUPPORTED_PLATFORMS)[number], (o: Options, key: string, part: EntityPart) => void> = {
  sensor,
  binary_sensor: binarySensor,
  switch: switchEntity,
  light,
  number: numberEntity,
  select,
  button,
  climate,
  cover,
  lock,
};

export function isSupportedPlatform(p: string): p is (typeof SUPPORTED_PLATFORMS)[number] {
  return (SUPPORTED_PLATFORMS as readonly string[]).includes(p);
}

/** Describe one entity of a supported platform under the field key `key`. */
export function describeEntity(platform: (typeof SUPPORTED_PLATFORMS)[number], o: Options, key: string): HaResult<EntityPart> {
  const part: EntityPart = { properties: [], state: [], commands: [], warnings: o.warnings, unsupportedTemplates: o.unsupported };
  try {
    PLATFORMS[platform](o, key, part);
  } catch (err) {
    if (err instanceof Invalid) return haFail(err.code, err.message);
    throw err;
  }
  if (part.state.length === 0 && part.commands.length === 0 && o.unsupported.length > 0) {
    return haFail('HA_TEMPLATE_UNSUPPORTED', `nothing of the ${platform} can be read or set: ${o.warnings.join('; ')}`, o.unsupported[0]);
  }
  return { ok: true, value: part };
}
