/**
 * The importer seam: one adapter per source turns the messages on its topics into devices announced, devices gone and
 * messages refused. Adapters wrap the pure importers (src/importers/) and know the source's topics; approval,
 * limits, persistence and the mapping set are the import feature's (feature.ts), the same for every source.
 */
import type { Publisher } from '../../broker/mqtt-side.js';
import type { ImportSourceName } from '../../config/schema.js';
import type { DeviceDescription } from '../../importers/model.js';

export interface Announced {
  readonly description: DeviceDescription;
  /** Who published the description, when the broker knows (checked by the adapter with `vet`). */
  readonly publisher: Publisher | undefined;
}

/** A message, or a device in it, that is not imported: reported on the event topic with its code. */
export interface SourceRefusal {
  readonly code: string;
  readonly reason: string;
  readonly topic: string;
  readonly hardwareId?: string;
  /** The importer's own code (HA_NOT_JSON, TASMOTA_INVALID, unsupported…). */
  readonly detail?: string;
}

export interface SourceUpdate {
  readonly upsert: readonly Announced[];
  readonly remove: readonly { readonly hardwareId: string; readonly reason: string }[];
  readonly refused: readonly SourceRefusal[];
  /** Messages the source asks the bridge to publish (a Sparkplug rebirth request), through the broker it came from. */
  readonly publish?: readonly OutgoingMessage[];
}

export interface OutgoingMessage {
  readonly topic: string;
  readonly payload: Buffer;
  /** Why, for the log. */
  readonly reason: string;
}

/** The check every description passes before it is announced (safety.ts, with the feature's claims and rules). */
export type Vet = (d: DeviceDescription, publisher: Publisher | undefined) => SourceRefusal | undefined;

export interface ImportAdapter {
  readonly source: ImportSourceName;
  /** Topic filters of the source's descriptions (watched, retained messages included). */
  filters(): readonly string[];
  /** One message on those filters. Never throws. */
  message(topic: string, payload: Buffer, publisher: Publisher | undefined): SourceUpdate;
  /**
   * How long announcements wait to be applied together (ms): discovery arrives as a burst of retained messages, one
   * per entity or attribute, and a device is best imported once complete. 0: at once (one message is the whole list).
   */
  readonly settleMs: number;
}

export const NOTHING: SourceUpdate = { upsert: [], remove: [], refused: [] };
