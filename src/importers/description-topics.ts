/**
 * Every MQTT topic a device description names, by use. A discovery message is accepted only if these lie within the
 * publishing client's MQTT rights (the wiring checks them against its ACL), so that a discovery message can never
 * point the bridge's commands at another device's topic or read another device's state.
 *
 * Pure: no I/O.
 */
import type { DeviceDescription } from './model.js';

export interface DescriptionTopics {
  /** Topics the bridge subscribes to for readings. */
  readonly state: readonly string[];
  /** Topics the bridge publishes commands on. */
  readonly commands: readonly string[];
  /** Topics the bridge subscribes to for availability. */
  readonly availability: readonly string[];
}

const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

export function descriptionTopics(d: DeviceDescription): DescriptionTopics {
  return {
    state: sorted(d.state.map((s) => s.topic)),
    commands: sorted(d.commands.map((c) => c.topic)),
    availability: sorted((d.availability?.topics ?? []).map((t) => t.topic)),
  };
}
