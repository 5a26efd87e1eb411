/**
 * A compiled mapping: the declarative rule that ties MQTT topics, a payload schema and a device JID together.
 * Produced by the loader; immutable; shared by every device it describes.
 */
import type { CompiledSchema } from '../schemas/registry.js';
import type { JidPattern } from './jid-pattern.js';
import type { Template } from './template.js';
import type { TopicPattern } from './topic-pattern.js';

export type MessageType = 'chat' | 'headline' | 'normal';

/**
 * What a reading becomes (docs/MAPPINGS.md, "Delivery"): one message per reading (`chat`, `headline`, `normal`), or
 * `live`, one message per device and period that later readings correct in place (XEP-0308).
 */
export type DeliveryMode = MessageType | 'live';

/** What an offline recipient gets: the current value once when back, every reading (their server keeps it), or nothing. */
export type OfflinePolicy = 'latest' | 'store' | 'drop';

export interface DeliveryPolicy {
  readonly mode: DeliveryMode;
  readonly offline: OfflinePolicy;
  /** `live`: a new message starts each hour, day or week (local time); readings in between correct it. */
  readonly period: 'hour' | 'day' | 'week';
  /** false: XEP-0334 hints ask servers not to archive the messages (and not to store them offline, unless `offline: store`). */
  readonly archive: boolean;
  /** The device's presence status text carries its latest reading. */
  readonly status: boolean;
}

/** A deadband: changes smaller than this do not count (absolute, or a percentage of the last value sent). */
export type Deadband = { readonly kind: 'absolute'; readonly value: number } | { readonly kind: 'percent'; readonly value: number };

export interface FieldChangePolicy {
  readonly deadband?: Deadband;
  /** A change of this field alone counts at most this often (ms). */
  readonly minIntervalMs?: number;
  /** A change of this field alone never counts. */
  readonly ignore?: boolean;
}

/**
 * When a reading is worth a stanza (features/uplink/change-policy.ts). Numbers count when they move beyond their
 * deadband; any other value (enum, boolean, string) counts on every change and is sent at once.
 */
export interface ChangePolicy {
  readonly deadband?: Deadband;
  /** Readings closer together than this are coalesced to the newest (ms). */
  readonly minIntervalMs: number;
  /** A reading is sent at least this often even when nothing changed (ms); 0: never. */
  readonly maxIntervalMs: number;
  /** Per field (dotted payload paths). */
  readonly fields: ReadonlyMap<string, FieldChangePolicy>;
}

/** XEP-0060 on the device JID. */
export interface PubsubPolicy {
  readonly enabled: boolean;
  /** Items kept per device (the last N readings). */
  readonly items: number;
}

export interface Availability {
  /** Online while an MQTT client with this id is connected. */
  readonly clientId?: Template;
  /** Availability topic: online/offline payloads (the device's Will usually publishes here). */
  readonly topic?: TopicPattern;
  readonly online: string;
  readonly offline: string;
  /** Seconds without any message after which the device is offline; 0 = never. */
  readonly timeout: number;
}

/** Seconds without a reading after which an available device shows `xa` with an XEP-0319 idle time; 0 = never. */
export const DEFAULT_IDLE_AFTER = 900;

export interface CommandSpec {
  readonly name: string;
  readonly description?: string;
  /** Topic template the command is published on (segments of the device). */
  readonly topic: TopicPattern;
  readonly schema: CompiledSchema;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  /** Seconds to hold the command while the device is offline; undefined: the configured default; 0: refuse. */
  readonly ttl?: number;
  /** A state topic whose echo confirms the command took effect. */
  readonly confirm?: { readonly topic: TopicPattern; readonly fields?: readonly string[]; readonly timeoutMs: number };
}

/** Where a mapping came from: a mapping file, an importer (a device that described itself), or the request API. */
export type MappingOrigin =
  | { readonly kind: 'file'; readonly file: string }
  | { readonly kind: 'import'; readonly source: string; readonly id: string }
  | { readonly kind: 'api' };

export interface Mapping {
  readonly id: string;
  readonly origin: MappingOrigin;
  /** Where it was declared, for messages: the file (or the importer) and the index in its list. */
  readonly file: string;
  readonly index: number;
  /**
   * Identity of the definition: equal fingerprints mean equal mappings (the declaration and the schemas it uses), so
   * a reload keeps an unchanged mapping as it is and replaces only what changed.
   */
  readonly fingerprint: string;
  readonly description?: string;
  readonly topic: TopicPattern;
  readonly jid: Template;
  readonly name?: Template;
  readonly schema: CompiledSchema;
  readonly body?: Template;
  /** The message type of readings (`live` readings are `chat` messages). */
  readonly messageType: MessageType;
  readonly delivery: DeliveryPolicy;
  /** When a reading is worth a stanza; undefined: every reading is. */
  readonly changes?: ChangePolicy;
  readonly pubsub: PubsubPolicy;
  readonly notify: { readonly subscribers: boolean; readonly jids: readonly string[] };
  /** Bare JIDs that receive a subscription request from each device of the mapping (it lands in their roster). */
  readonly invite: readonly string[];
  readonly availability?: Availability;
  /** Seconds without a reading after which an available device shows `xa` (XEP-0319 idle); 0: never. */
  readonly idleAfter: number;
  readonly access: { readonly viewers: readonly JidPattern[]; readonly operators: readonly JidPattern[] };
  readonly commands: readonly CommandSpec[];
  /** Chat shortcuts: word → command line. */
  readonly aliases: Readonly<Record<string, string>>;
}
