/**
 * What changed between two imports of one source (two `bridge/devices` lists, two sets of discovery messages). Pure.
 *
 * Devices are matched by hardware id (case-insensitively: IEEE addresses and MACs are written in either case), never
 * by name, so a rename is a rename and not a leave plus a join.
 */
import { canonicalJson } from './model-key.js';
import type { DeviceDescription } from './model.js';

export type DeviceChange =
  /** The definition changed (new model key: re-interviewed, new firmware with other exposes, edited description). */
  | 'definition'
  /** Manufacturer, model or software version changed. */
  | 'identity'
  /** State, command or availability topics changed although the name did not. */
  | 'topics';

export interface DeviceListDiff {
  readonly joined: readonly DeviceDescription[];
  readonly left: readonly DeviceDescription[];
  /** Same hardware id, another name (for Zigbee2MQTT its topics follow the new name). */
  readonly renamed: readonly { readonly before: DeviceDescription; readonly after: DeviceDescription }[];
  readonly changed: readonly { readonly before: DeviceDescription; readonly after: DeviceDescription; readonly what: readonly DeviceChange[] }[];
  /** Devices present in both lists with nothing of the above changed. */
  readonly unchanged: readonly DeviceDescription[];
}

export function diffDevices(before: readonly DeviceDescription[], after: readonly DeviceDescription[]): DeviceListDiff {
  const old = new Map(before.map((d) => [d.hardwareId.toLowerCase(), d]));
  const joined: DeviceDescription[] = [];
  const renamed: { before: DeviceDescription; after: DeviceDescription }[] = [];
  const changed: { before: DeviceDescription; after: DeviceDescription; what: DeviceChange[] }[] = [];
  const unchanged: DeviceDescription[] = [];
  const present = new Set<string>();
  for (const d of after) {
    const id = d.hardwareId.toLowerCase();
    present.add(id);
    const b = old.get(id);
    if (!b) {
      joined.push(d);
      continue;
    }
    const wasRenamed = b.name !== d.name;
    if (wasRenamed) renamed.push({ before: b, after: d });
    const what: DeviceChange[] = [];
    if (b.modelKey !== d.modelKey) what.push('definition');
    if (b.manufacturer !== d.manufacturer || b.model !== d.model || b.softwareVersion !== d.softwareVersion) what.push('identity');
    if (!wasRenamed && topicsOf(b) !== topicsOf(d)) what.push('topics');
    if (what.length > 0) changed.push({ before: b, after: d, what });
    if (!wasRenamed && what.length === 0) unchanged.push(d);
  }
  const left = before.filter((d) => !present.has(d.hardwareId.toLowerCase()));
  return { joined, left, renamed, changed, unchanged };
}

function topicsOf(d: DeviceDescription): string {
  return canonicalJson({
    state: d.state,
    availability: d.availability ?? null,
    commands: d.commands.map((c) => ({ name: c.name, topic: c.topic, encoding: c.encoding, qos: c.qos, retain: c.retain })),
  });
}
