/**
 * Tasmota native discovery → device descriptions, as a pure accumulator. Tasmota (SetOption19 0, the default since
 * 9.0) publishes two retained messages per device (arendst/Tasmota, tasmota/tasmota_xdrv_driver/xdrv_12_discovery.ino,
 * TasDiscoverMessage / TasDiscovery):
 *
 *   tasmota/discovery/<MAC>/config   {"ip","dn","fn":[…],"hn","mac","md","ty","if","ofln","onln","state":[OFF,ON,
 *                                    TOGGLE,HOLD],"sw","t","ft","tp":[cmnd,stat,tele],"rl":[…],"swc":[…],"swn":[…],
 *                                    "btn":[…],"so":{…},"lk","lt_st","bat","dslp","sho":[…],"sht":[…],"ver":1}
 *   tasmota/discovery/<MAC>/sensors  {"sn":{"Time":…,"AM2301":{"Temperature":21.5,"Humidity":45.0},"TempUnit":"C"},
 *                                    "ver":1}
 *
 * Topics are built as Home Assistant's Tasmota integration builds them (emontnemery/hatasmota, utils.py): the
 * FullTopic `ft` with `%prefix%` (one of `tp`), `%topic%` (`t`), `%hostname%` (`hn`) and `%id%` (last 6 of the MAC)
 * replaced, then the command: `cmnd/<t>/POWER1`, `stat/<t>/RESULT`, `tele/<t>/STATE`, `tele/<t>/SENSOR`,
 * `tele/<t>/LWT` (payloads `onln`/`ofln`).
 *
 * What becomes what (relay types `rl`: 1 relay, 2 light, 3 shutter — xdrv_12):
 *   relay n        field `power<n>` (boolean) from stat/RESULT, tele/STATE `{"POWER<n>":"ON"}` and stat/POWER<n>;
 *                  command `set-power<n>` on cmnd/<t>/POWER<n> with the `state` texts ("ON"/"OFF").
 *   light n        field `light<n>` the same way, plus `light<n>_dimmer` (0–100, cmnd/<t>/Dimmer), `_ct` (153–500,
 *                  cmnd/<t>/CT) and `_color` (cmnd/<t>/Color) as the light subtype `lt_st` allows.
 *   shutter n      field `shutter<n>_position` (0–100) from `{"Shutter<n>":{"Position":…}}`; commands
 *                  `open-`/`close-`/`stop-shutter<n>` and `set-shutter<n>_position` (cmnd/<t>/ShutterPosition<n>).
 *   switch n       (SetOption114) field `switch<n>` (boolean) from tele/SENSOR `{"Switch<n>":"ON"}` (`swn` names).
 *   sensors        every leaf of `sn` (`AM2301.Temperature`, `ENERGY.Power[0]`) becomes a number (or text) field
 *                  `<sensor>_<quantity>[_<index>]` lower-cased (`am2301_temperature`, `energy_power_1`), read from
 *                  tele/<t>/SENSOR, with the unit hatasmota gives that quantity.
 *
 * hardwareId = the MAC as Tasmota writes it (12 upper-case hex digits); name = `dn`, else `fn[0]`, else `hn`.
 *
 * Never throws: every message gets a Result with a stable code; rejections are counted.
 *
 * Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import type { CommandDescription, DeviceDescription, Property, StateSource } from './model.js';
import { topicProblem } from './ha-platforms.js';

export type TasmotaErrorCode =
  /** Not `tasmota/discovery/<MAC>/config` or `/sensors`. */
  | 'TASMOTA_TOPIC'
  | 'TASMOTA_PAYLOAD_TOO_LARGE'
  | 'TASMOTA_NOT_JSON'
  /** Valid JSON, but not the discovery format (a required key missing or of the wrong type, `ver` not 1). */
  | 'TASMOTA_INVALID'
  /** The `mac` in the payload is not the one in the topic. */
  | 'TASMOTA_MAC_MISMATCH'
  /** A topic built from `ft`/`t`/`tp` holds a wildcard, a NUL or is too long. */
  | 'TASMOTA_TOPIC_INVALID'
  | 'TASMOTA_LIMIT';

export interface TasmotaProblem {
  readonly code: TasmotaErrorCode;
  readonly message: string;
}

export type TasmotaResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: TasmotaProblem };

export interface TasmotaFeedOutcome {
  readonly changed: readonly string[];
  readonly removed: readonly string[];
}

export interface TasmotaOptions {
  /** Discovery prefix (Tasmota hard-codes `tasmota/discovery`). */
  readonly prefix?: string;
  /** Largest accepted payload (default 16 KiB; Tasmota's own MQTT buffer is 1–4 KiB). */
  readonly maxPayloadBytes?: number;
  /** Most devices (default 10,000). */
  readonly maxDevices?: number;
}

export interface TasmotaStats {
  readonly messages: number;
  readonly accepted: number;
  readonly removals: number;
  readonly rejected: Readonly<Partial<Record<TasmotaErrorCode, number>>>;
}

function fail<T>(code: TasmotaErrorCode, message: string): TasmotaResult<T> {
  return { ok: false, error: { code, message } };
}

const MAC = /^[0-9A-F]{12}$/;
const MAX_ITEMS = 64;
const MAX_SENSOR_FIELDS = 256;

/** The discovery config, validated (hatasmota's TASMOTA_DISCOVERY_SCHEMA, the keys this importer uses). */
interface TasmotaConfig {
  readonly mac: string;
  readonly dn?: string;
  readonly fn: readonly (string | null)[];
  readonly hn: string;
  readonly md?: string;
  readonly sw?: string;
  readonly t: string;
  readonly ft: string;
  readonly tp: readonly [string, string, string];
  readonly rl: readonly number[];
  readonly swc: readonly number[];
  readonly swn: readonly (string | null)[];
  readonly state: readonly [string, string, ...string[]];
  readonly onln: string;
  readonly ofln: string;
  readonly ltSt: number;
  readonly ifan: boolean;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function own(o: Record<string, unknown>, k: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

function parseConfig(j: Record<string, unknown>): TasmotaResult<TasmotaConfig> {
  const str = (k: string, required: boolean): string | undefined | null => {
    const v = own(j, k);
    if (v === undefined) return required ? null : undefined;
    return typeof v === 'string' && v.length <= 256 ? v : null;
  };
  const ints = (k: string, required: boolean): number[] | null => {
    const v = own(j, k);
    if (v === undefined) return required ? null : [];
    if (!Array.isArray(v) || v.length > MAX_ITEMS || !v.every((x) => Number.isInteger(x))) return null;
    return v as number[];
  };
  const names = (k: string): (string | null)[] | null => {
    const v = own(j, k);
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.length > MAX_ITEMS || !v.every((x) => x === null || (typeof x === 'string' && x.length <= 256))) return null;
    return v as (string | null)[];
  };
  if (own(j, 'ver') !== 1) return fail('TASMOTA_INVALID', '"ver" must be 1');
  const mac = str('mac', true);
  const t = str('t', true);
  const ft = str('ft', true);
  const hn = str('hn', false);
  const onln = str('onln', true);
  const ofln = str('ofln', true);
  const dn = str('dn', false);
  const md = str('md', false);
  const sw = str('sw', false);
  const rl = ints('rl', true);
  const swc = ints('swc', false);
  const fn = names('fn');
  const swn = names('swn');
  const tp = own(j, 'tp');
  const state = own(j, 'state');
  const ltSt = own(j, 'lt_st') ?? 0;
  for (const [k, v] of Object.entries({ mac, t, ft, onln, ofln, rl, swc, fn, swn, hn, dn, md, sw })) {
    if (v === null) return fail('TASMOTA_INVALID', `"${k}" is missing or has the wrong type`);
  }
  if (!Array.isArray(tp) || tp.length !== 3 || !tp.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 64)) {
    return fail('TASMOTA_INVALID', '"tp" must list the three prefixes [cmnd, stat, tele]');
  }
  if (!Array.isArray(state) || state.length < 2 || state.length > 8 || !state.every((x) => typeof x === 'string' && x.length <= 64)) {
    return fail('TASMOTA_INVALID', '"state" must list the OFF, ON, TOGGLE, HOLD texts');
  }
  if (!Number.isInteger(ltSt) || (ltSt as number) < 0 || (ltSt as number) > 5) return fail('TASMOTA_INVALID', '"lt_st" must be 0..5');
  return {
    ok: true,
    value: {
      mac: mac!,
      fn: fn!,
      hn: hn ?? t!,
      t: t!,
      ft: ft!,
      tp: tp as [string, string, string],
      rl: rl!,
      swc: swc!,
      swn: swn!,
      state: state as [string, string],
      onln: onln!,
      ofln: ofln!,
      ltSt: ltSt as number,
      ifan: own(j, 'if') === 1,
      ...(dn ? { dn } : {}),
      ...(md ? { md } : {}),
      ...(sw ? { sw } : {}),
    },
  };
}

/** Sensor units by quantity (hatasmota sensor.py SENSOR_UNIT_MAP) and device classes (SENSOR_DEVICE_CLASS_MAP). */
const UNITS: Readonly<Record<string, string>> = {
  Ambient: 'lx', Battery: '%', CCT: 'K', CF1: 'µg/m³', CF10: 'µg/m³', 'CF2.5': 'µg/m³', CarbonDioxide: 'ppm',
  Current: 'A', CurrentNeutral: 'A', Distance: 'cm', eCO2: 'ppm', Energy: 'kWh', ExportActive: 'kWh',
  ExportReactive: 'kvarh', ExportTariff: 'kWh', ImportActive: 'kWh', ImportReactive: 'kvarh', Today: 'kWh',
  TotalTariff: 'kWh', Total: 'kWh', Yesterday: 'kWh', Frequency: 'Hz', Humidity: '%', Illuminance: 'lx',
  Moisture: '%', 'PB0.3': 'ppd', 'PB0.5': 'ppd', PB1: 'ppd', PB10: 'ppd', 'PB2.5': 'ppd', PB5: 'ppd', PhaseAngle: '°',
  PM1: 'µg/m³', PM10: 'µg/m³', 'PM2.5': 'µg/m³', Power: 'W', ActivePower: 'W', ApparentPower: 'VA',
  ReactivePower: 'var', TVOC: 'ppb', Voltage: 'V', Weight: 'kg',
};
const CLASSES: Readonly<Record<string, string>> = {
  Ambient: 'illuminance', Battery: 'battery', CarbonDioxide: 'carbon_dioxide', Current: 'current', DewPoint: 'temperature',
  Energy: 'energy', Today: 'energy', Total: 'energy', Yesterday: 'energy', Frequency: 'frequency', Humidity: 'humidity',
  Illuminance: 'illuminance', 'PM2.5': 'pm25', PM10: 'pm10', PM1: 'pm1', Power: 'power', ActivePower: 'power',
  ApparentPower: 'apparent_power', ReactivePower: 'reactive_power', Factor: 'power_factor', Pressure: 'pressure',
  SeaPressure: 'pressure', Temperature: 'temperature', Voltage: 'voltage',
};
/** Keys of `sn` that are not sensors (hatasmota IGNORED_SENSORS, and the unit keys). */
const NOT_SENSORS = new Set(['Time', 'PN532', 'RDM6300', 'TempUnit', 'HumUnit', 'PressureUnit', 'SpeedUnit']);

const slug = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');

/** `value_json['A']['B'][0]` for a path, with keys written as string literals (any text is safe inside quotes). */
function pathTemplate(path: readonly (string | number)[]): string {
  return `{{ value_json${path.map((p) => (typeof p === 'number' ? `[${p}]` : `[${JSON.stringify(p)}]`)).join('')} }}`;
}

export class TasmotaDiscovery {
  private readonly prefix: string;
  private readonly maxPayloadBytes: number;
  private readonly maxDevices: number;
  private readonly configs = new Map<string, TasmotaConfig>();
  private readonly sensors = new Map<string, Record<string, unknown>>();
  private readonly descriptions = new Map<string, DeviceDescription>();
  private readonly counts = { messages: 0, accepted: 0, removals: 0, rejected: Object.create(null) as Record<string, number> };

  constructor(opts: TasmotaOptions = {}) {
    this.prefix = opts.prefix ?? 'tasmota/discovery';
    this.maxPayloadBytes = opts.maxPayloadBytes ?? 16_384;
    this.maxDevices = opts.maxDevices ?? 10_000;
  }

  subscriptions(): string[] {
    return [`${this.prefix}/+/config`, `${this.prefix}/+/sensors`];
  }

  devices(): DeviceDescription[] {
    return [...this.descriptions.values()].sort((a, b) => (a.hardwareId < b.hardwareId ? -1 : 1));
  }

  device(mac: string): DeviceDescription | undefined {
    return this.descriptions.get(mac);
  }

  stats(): TasmotaStats {
    return { ...this.counts, rejected: { ...this.counts.rejected } };
  }

  /** One discovery message. Never throws. */
  feed(topic: string, payload: Uint8Array | string): TasmotaResult<TasmotaFeedOutcome> {
    this.counts.messages += 1;
    let r: TasmotaResult<TasmotaFeedOutcome>;
    try {
      r = this.apply(topic, payload);
    } catch (err) {
      r = fail('TASMOTA_INVALID', `unexpected: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (r.ok) this.counts.accepted += 1;
    else this.counts.rejected[r.error.code] = (this.counts.rejected[r.error.code] ?? 0) + 1;
    return r;
  }

  private apply(topic: string, payload: Uint8Array | string): TasmotaResult<TasmotaFeedOutcome> {
    const m = topic.startsWith(`${this.prefix}/`) ? /^([^/]+)\/(config|sensors)$/.exec(topic.slice(this.prefix.length + 1)) : null;
    if (!m || !MAC.test(m[1]!)) return fail('TASMOTA_TOPIC', `"${topic.slice(0, 200)}" is not ${this.prefix}/<MAC>/config or /sensors`);
    const mac = m[1]!;
    const kind = m[2] as 'config' | 'sensors';
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
    if (size > this.maxPayloadBytes) return fail('TASMOTA_PAYLOAD_TOO_LARGE', `payload of ${size} bytes exceeds ${this.maxPayloadBytes}`);
    if (size === 0) {
      // Retained message cleared (SetOption19 1, or the device was reset): forget that half.
      const had = kind === 'config' ? this.configs.delete(mac) : this.sensors.delete(mac);
      if (had) this.counts.removals += 1;
      return { ok: true, value: this.rebuild(mac) };
    }
    const text = typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
    let j: unknown;
    try {
      j = JSON.parse(text);
    } catch {
      return fail('TASMOTA_NOT_JSON', 'discovery payload is not JSON');
    }
    if (!isRecord(j)) return fail('TASMOTA_INVALID', 'discovery payload is not a JSON object');
    if (kind === 'sensors') {
      const sn = own(j, 'sn');
      if (own(j, 'ver') !== 1 || !isRecord(sn)) return fail('TASMOTA_INVALID', 'a sensors message needs "sn" (an object) and "ver": 1');
      this.sensors.set(mac, sn);
      return { ok: true, value: this.rebuild(mac) };
    }
    const cfg = parseConfig(j);
    if (!cfg.ok) return cfg;
    if (cfg.value.mac.toUpperCase() !== mac) return fail('TASMOTA_MAC_MISMATCH', `the payload's mac "${cfg.value.mac}" is not the topic's "${mac}"`);
    if (!this.configs.has(mac) && this.configs.size >= this.maxDevices) return fail('TASMOTA_LIMIT', `more than ${this.maxDevices} devices`);
    const built = describe(cfg.value, undefined);
    if (!built.ok) return built;
    this.configs.set(mac, cfg.value);
    return { ok: true, value: this.rebuild(mac) };
  }

  private rebuild(mac: string): TasmotaFeedOutcome {
    const cfg = this.configs.get(mac);
    const had = this.descriptions.has(mac);
    if (!cfg) {
      this.descriptions.delete(mac);
      return { changed: [], removed: had ? [mac] : [] };
    }
    const d = describe(cfg, this.sensors.get(mac));
    if (!d.ok) return { changed: [], removed: [] }; // validated on arrival; cannot happen
    const prev = this.descriptions.get(mac);
    this.descriptions.set(mac, d.value);
    return { changed: !prev || JSON.stringify(prev) !== JSON.stringify(d.value) ? [mac] : [], removed: [] };
  }
}

/** One device from its config and (when known) its sensors. */
function describe(cfg: TasmotaConfig, sn: Record<string, unknown> | undefined): TasmotaResult<DeviceDescription> {
  const base = (prefix: string): string =>
    cfg.ft.replace(/%hostname%/g, cfg.hn).replace(/%id%/g, cfg.mac.slice(-6)).replace(/%prefix%/g, prefix).replace(/%topic%/g, cfg.t);
  const [cmnd, stat, tele] = [base(cfg.tp[0]), base(cfg.tp[1]), base(cfg.tp[2])];
  for (const t of [cmnd, stat, tele]) {
    const problem = topicProblem(`${t}RESULT`);
    if (problem) return fail('TASMOTA_TOPIC_INVALID', `a topic built from "ft", "t" and "tp" ${problem}`);
  }
  const [off, on] = cfg.state;
  const properties: Property[] = [];
  const state: StateSource[] = [];
  const commands: CommandDescription[] = [];
  const warnings: string[] = [];
  const cmd = (name: string, topic: string, props: Property[], encoding: CommandDescription['encoding']): void => {
    commands.push({ name, topic, properties: props, encoding, qos: 0, retain: false });
  };
  const jsonField = (key: string, topics: readonly string[], path: readonly (string | number)[], p: Property, bool?: boolean): void => {
    for (const topic of topics) {
      state.push({ topic, key, format: 'json', template: pathTemplate(path), valueFormat: bool ? 'boolean' : p.type === 'string' ? 'text' : 'number', ...(bool ? { trueValue: on, falseValue: off } : {}) });
    }
  };
  const power = (key: string, n: number, label: string | undefined, single: boolean): void => {
    const p: Property = { key, type: 'boolean', readable: true, settable: true, gettable: false, ...(label ? { label } : {}) };
    properties.push(p);
    const names = single ? [`POWER${n}`, 'POWER'] : [`POWER${n}`];
    for (const name of names) {
      // Single-relay devices answer `{"POWER":"ON"}`, others `{"POWER1":"ON"}` (xdrv_... GetPowerDevice / SetOption26).
      jsonField(key, [`${stat}RESULT`, `${tele}STATE`], [name], p, true);
      state.push({ topic: `${stat}${name}`, key, format: 'boolean', trueValue: on, falseValue: off });
    }
    cmd(`set-${key}`, `${cmnd}POWER${n}`, [{ ...p, readable: false }], { kind: 'value', key, on, off });
  };
  const relayCount = cfg.rl.filter((r) => r === 1 || r === 2).length;
  let shutter = 0;
  for (let i = 0; i < cfg.rl.length; i += 1) {
    const type = cfg.rl[i];
    const n = i + 1;
    const label = cfg.fn[i] ?? undefined;
    if (type === 1) power(`power${n}`, n, label, relayCount === 1);
    else if (type === 2) {
      power(`light${n}`, n, label, relayCount === 1);
      if (cfg.ltSt > 0 && !cfg.ifan) {
        const dim: Property = { key: `light${n}_dimmer`, label: `${label ?? `Light ${n}`} dimmer`, type: 'integer', unit: '%', minimum: 0, maximum: 100, readable: true, settable: true, gettable: false };
        properties.push(dim);
        jsonField(dim.key, [`${stat}RESULT`, `${tele}STATE`], ['Dimmer'], dim);
        cmd(`set-${dim.key}`, `${cmnd}Dimmer`, [{ ...dim, readable: false }], { kind: 'value', key: dim.key });
        if (cfg.ltSt === 2 || cfg.ltSt === 5) {
          const ct: Property = { key: `light${n}_ct`, label: `${label ?? `Light ${n}`} colour temperature`, type: 'integer', unit: 'mired', minimum: 153, maximum: 500, readable: true, settable: true, gettable: false };
          properties.push(ct);
          jsonField(ct.key, [`${stat}RESULT`, `${tele}STATE`], ['CT'], ct);
          cmd(`set-${ct.key}`, `${cmnd}CT`, [{ ...ct, readable: false }], { kind: 'value', key: ct.key });
        }
        if (cfg.ltSt >= 3) {
          const color: Property = { key: `light${n}_color`, label: `${label ?? `Light ${n}`} colour`, type: 'string', description: 'hex RRGGBB[WW]', readable: true, settable: true, gettable: false };
          properties.push(color);
          jsonField(color.key, [`${stat}RESULT`, `${tele}STATE`], ['Color'], color);
          cmd(`set-${color.key}`, `${cmnd}Color`, [{ ...color, readable: false }], { kind: 'value', key: color.key });
        }
      }
    } else if (type === 3) {
      // Shutters take two consecutive relays (hatasmota get_cover_entities).
      if (cfg.rl[i + 1] !== 3) {
        warnings.push(`relay ${n} is a shutter but relay ${n + 1} is not: shutters not imported`);
        break;
      }
      shutter += 1;
      i += 1;
      const s = shutter;
      const pos: Property = { key: `shutter${s}_position`, label: `Shutter ${s} position`, type: 'integer', unit: '%', minimum: 0, maximum: 100, readable: true, settable: true, gettable: false };
      properties.push(pos);
      jsonField(pos.key, [`${stat}RESULT`, `${tele}SENSOR`], [`Shutter${s}`, 'Position'], pos);
      for (const [verb, command] of [
        ['open', 'ShutterOpen'],
        ['close', 'ShutterClose'],
        ['stop', 'ShutterStop'],
      ] as const) {
        cmd(`${verb}-shutter${s}`, `${cmnd}${command}${s}`, [], { kind: 'fixed', payload: '' });
      }
      cmd(`set-${pos.key}`, `${cmnd}ShutterPosition${s}`, [{ ...pos, readable: false }], { kind: 'value', key: pos.key });
    }
  }
  if (cfg.ifan) warnings.push('Sonoff iFan speed control not imported');
  cfg.swc.forEach((mode, i) => {
    if (mode === -1) return;
    const name = cfg.swn[i] ?? `Switch${i + 1}`;
    const p: Property = { key: slug(`switch${i + 1}`), label: name, type: 'boolean', readable: true, settable: false, gettable: false };
    properties.push(p);
    jsonField(p.key, [`${tele}SENSOR`], [name], p, true);
  });
  if (sn) sensorFields(sn, `${tele}SENSOR`, properties, state, warnings);
  const modelKey = createHash('sha256')
    .update(JSON.stringify({ properties, commands: commands.map((c) => ({ name: c.name, properties: c.properties, encoding: c.encoding })) }))
    .digest('hex')
    .slice(0, 16);
  return {
    ok: true,
    value: {
      source: 'tasmota',
      hardwareId: cfg.mac.toUpperCase(),
      name: cfg.dn ?? cfg.fn[0] ?? cfg.hn,
      manufacturer: 'Tasmota',
      ...(cfg.md ? { model: cfg.md } : {}),
      ...(cfg.sw ? { softwareVersion: cfg.sw } : {}),
      modelKey,
      properties,
      state,
      availability: { topics: [{ topic: `${tele}LWT`, online: cfg.onln, offline: cfg.ofln }], mode: 'latest' },
      commands,
      warnings,
    },
  };
}

/** Sensor leaves of `sn` → fields read from tele/<t>/SENSOR (hatasmota get_sensor_entities: 2 levels, lists indexed). */
function sensorFields(sn: Record<string, unknown>, topic: string, properties: Property[], state: StateSource[], warnings: string[]): void {
  const tempUnit = own(sn, 'TempUnit') === 'F' ? '°F' : '°C';
  const pressureUnit = typeof own(sn, 'PressureUnit') === 'string' ? (own(sn, 'PressureUnit') as string) : 'hPa';
  const taken = new Set(properties.map((p) => p.key));
  const add = (path: (string | number)[], quantity: string, value: unknown): void => {
    if (properties.length >= MAX_SENSOR_FIELDS) return;
    const key = slug(path.map((p) => (typeof p === 'number' ? String(p + 1) : p)).join('_'));
    if (!key || taken.has(key) || path.some((x) => typeof x === 'string' && x.length > 64)) return;
    taken.add(key);
    const numeric = typeof value === 'number';
    const unit = quantity === 'Temperature' || quantity === 'DewPoint' ? tempUnit : quantity === 'Pressure' || quantity === 'SeaPressure' ? pressureUnit : UNITS[quantity];
    const deviceClass = CLASSES[quantity];
    const p: Property = {
      key,
      label: path.map(String).join(' '),
      type: numeric ? 'number' : 'string',
      readable: true,
      settable: false,
      gettable: false,
      ...(numeric && unit ? { unit } : {}),
      ...(numeric && deviceClass ? { deviceClass } : {}),
    };
    properties.push(p);
    state.push({ topic, key, format: 'json', template: pathTemplate(path), valueFormat: numeric ? 'number' : 'text' });
  };
  for (const [sensor, v] of Object.entries(sn)) {
    if (NOT_SENSORS.has(sensor) || !isRecord(v) || sensor.length > 64) continue;
    for (const [q, leaf] of Object.entries(v)) {
      if (isRecord(leaf)) for (const [q2, leaf2] of Object.entries(leaf)) add([sensor, q, q2], q2, leaf2);
      else if (Array.isArray(leaf)) leaf.slice(0, MAX_ITEMS).forEach((x, i) => add([sensor, q, i], q, x));
      else add([sensor, q], q, leaf);
    }
  }
  if (properties.length >= MAX_SENSOR_FIELDS) warnings.push(`more than ${MAX_SENSOR_FIELDS} fields: the rest left out`);
}
