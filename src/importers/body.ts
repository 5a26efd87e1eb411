/**
 * The human body of an imported device's readings: "Temperature 21.5 °C · Humidity 45 %". Pure.
 *
 * `bodyFields` picks what a person wants to read — at most six readable values, most relevant first (events such as
 * `action`, the on/off state and alarms, then climate and energy readings, then the rest in declaration order);
 * diagnostic and configuration values stay in the JSON, and so do composite values such as a colour. Two renderings:
 *
 *   bodyTemplate  the same fields in the mapping template language (src/mapping/template.ts). That language prints a
 *                 missing value as "?", and Zigbee2MQTT and Homie readings often carry only some fields (an `action`
 *                 comes alone, a Homie property topic carries one value), so
 *   formatBody    renders the fields present in a reading and leaves the others out; "" when none is present.
 */
import { valueAt } from '../convert/json-path.js';
import type { Property } from './model.js';

export interface BodyField {
  /** Path of the value in the reading. */
  readonly path: readonly string[];
  readonly label: string;
  readonly unit?: string;
  /** Booleans: the words for true and false. */
  readonly words?: { readonly true: string; readonly false: string };
}

export const MAX_BODY_FIELDS = 6;

/** Names (Zigbee2MQTT expose names, Homie property ids) in order of relevance to a person. */
const RELEVANCE = [
  'action',
  'state',
  'contact',
  'occupancy',
  'presence',
  'water_leak',
  'smoke',
  'gas',
  'carbon_monoxide',
  'alarm',
  'vibration',
  'tamper',
  'temperature',
  'local_temperature',
  'humidity',
  'pressure',
  'co2',
  'voc',
  'pm25',
  'illuminance',
  'power',
  'energy',
  'current',
  'voltage',
  'brightness',
  'color_temp',
  'position',
  'tilt',
  'lock_state',
  'occupied_heating_setpoint',
  'current_heating_setpoint',
  'system_mode',
  'running_state',
  'fan_mode',
];

/** What true and false mean for well-known binary values (Zigbee2MQTT: `contact` true = closed). */
const WORDS: Readonly<Record<string, { true: string; false: string }>> = {
  contact: { true: 'closed', false: 'open' },
  occupancy: { true: 'detected', false: 'clear' },
  presence: { true: 'present', false: 'away' },
  water_leak: { true: 'leak', false: 'dry' },
  smoke: { true: 'smoke', false: 'clear' },
  gas: { true: 'gas', false: 'clear' },
  carbon_monoxide: { true: 'CO', false: 'clear' },
  vibration: { true: 'detected', false: 'clear' },
  tamper: { true: 'tampered', false: 'ok' },
  battery_low: { true: 'low', false: 'ok' },
  moving: { true: 'moving', false: 'stopped' },
  power: { true: 'on', false: 'off' },
  state: { true: 'on', false: 'off' },
};
const YES_NO = { true: 'yes', false: 'no' };

export function bodyFields(properties: readonly Property[]): BodyField[] {
  const candidates: { field: BodyField; rank: number; order: number; parentLabel?: string }[] = [];
  const visit = (props: readonly Property[], path: readonly string[], parentLabel: string | undefined, depth: number): void => {
    for (const p of props) {
      // Events (`action`) are what a person wants to see, even where the source files them as diagnostic.
      if (!p.readable || (p.diagnostic && !(p.momentary && p.type === 'enum'))) continue;
      if (p.type === 'object') {
        // A read-only object only groups values (a Homie node); a settable one is a value of its own (a colour).
        if (!p.settable && depth < 2) visit(p.properties ?? [], [...path, p.key], p.label ?? p.key, depth + 1);
        continue;
      }
      if (p.type === 'array' || p.type === 'json') continue;
      const name = p.deviceClass ?? p.key;
      const i = RELEVANCE.indexOf(name);
      const label = `${p.label ?? p.key}${p.endpoint ? ` ${p.endpoint}` : ''}`;
      const words = p.type === 'boolean' && !hasTextValues(p) ? (p.booleanLabels ?? WORDS[name] ?? YES_NO) : undefined;
      candidates.push({
        field: { path: [...path, p.key], label, ...(p.unit ? { unit: p.unit } : {}), ...(words ? { words } : {}) },
        rank: i < 0 ? RELEVANCE.length : i,
        order: candidates.length,
        ...(parentLabel !== undefined ? { parentLabel } : {}),
      });
    }
  };
  visit(properties, [], undefined, 0);
  candidates.sort((a, b) => a.rank - b.rank || a.order - b.order);
  const chosen = candidates.slice(0, MAX_BODY_FIELDS);
  // Two values with one label (two Homie nodes with a `temperature` each): name their groups.
  const counts = new Map<string, number>();
  for (const c of chosen) counts.set(c.field.label, (counts.get(c.field.label) ?? 0) + 1);
  return chosen.map((c) => ((counts.get(c.field.label) ?? 0) > 1 && c.parentLabel !== undefined ? { ...c.field, label: `${c.parentLabel} ${c.field.label}` } : c.field));
}

/** Binary values written as words ("ON"/"OFF", "LOCK"/"UNLOCK") read best as they are. */
function hasTextValues(p: Property): boolean {
  return (p.valueOn !== undefined && typeof p.valueOn !== 'boolean') || (p.valueOff !== undefined && typeof p.valueOff !== 'boolean');
}

const TEMPLATE_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * The fields in the template language: `Temperature {temperature} °C · Contact {contact|closed/open}`. Fields whose
 * path the language cannot name (a Homie id starting with a digit) or whose words hold `/`, `|` or `}` are left out.
 */
export function bodyTemplate(fields: readonly BodyField[]): string {
  const parts: string[] = [];
  for (const f of fields) {
    if (!f.path.every((p, i) => TEMPLATE_NAME.test(p) || (i > 0 && /^\d+$/.test(p)))) continue;
    const words = f.words && ![f.words.true, f.words.false].some((w) => /[/|{}]/.test(w)) ? f.words : undefined;
    if (f.words && !words) continue;
    const placeholder = `{${f.path.join('.')}${words ? `|${words.true}/${words.false}` : ''}}`;
    parts.push(`${literal(f.label)} ${placeholder}${f.unit ? ` ${literal(f.unit)}` : ''}`);
  }
  return parts.join(' · ');
}

function literal(text: string): string {
  return text.replace(/\{/g, '{{').replace(/\}/g, '}}');
}

/** The fields present in `reading`, rendered; absent, null and empty values are left out. */
export function formatBody(fields: readonly BodyField[], reading: unknown): string {
  const parts: string[] = [];
  for (const f of fields) {
    const v = valueAt(reading, f.path);
    if (v === undefined || v === null || v === '') continue;
    let text: string;
    if (typeof v === 'boolean') text = (f.words ?? YES_NO)[v ? 'true' : 'false'];
    else if (typeof v === 'string') text = v;
    else if (typeof v === 'number') text = String(v);
    else text = JSON.stringify(v);
    parts.push(`${f.label} ${text}${f.unit ? ` ${f.unit}` : ''}`);
  }
  return parts.join(' · ');
}
