/**
 * A compiled mapping: the declarative rule that ties MQTT topics, a payload schema and a device JID together.
 * Produced by the loader; immutable; shared by every device it describes.
 */
import type { CompiledTemplate } from '../importers/template.js';
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

/** How a device says whether it is there, on one availability topic. Words compare case-insensitively. */
export interface AvailabilityTopic {
  readonly topic: TopicPattern;
  /** Payloads meaning online (the first is the canonical word); also inside a JSON string or `{"state": …}`. */
  readonly online: readonly string[];
  readonly offline: readonly string[];
  /** A Home Assistant availability template (the safe subset) that turns the payload into the word first. */
  readonly template?: string;
  /**
   * A Sparkplug B topic: its message type is the word (BIRTH and DATA online, DEATH offline); with `bdSeq`, a death
   * certificate counts only when it carries that bdSeq (Sparkplug 3.0 §7.1, a stale Will does not end a new session).
   */
  readonly sparkplug?: { readonly bdSeq?: number | string };
}

export interface Availability {
  /** Online while an MQTT client with this id is connected. */
  readonly clientId?: Template;
  /** Availability topics: online/offline payloads (the device's Will usually publishes there). */
  readonly topics: readonly AvailabilityTopic[];
  /**
   * With several topics: online when `all` of them say online (a topic not heard from yet counts as offline), when
   * `any` does, or as the `latest` message says (Home Assistant `availability_mode`).
   */
  readonly mode: 'all' | 'any' | 'latest';
  /** A payload meaning "asleep, back later" (Homie `sleeping`): the device stays available, shown as away (`xa`). */
  readonly sleeping?: string;
  /** Seconds without any message after which the device is offline; 0 = never. */
  readonly timeout: number;
}

/** Seconds without a reading after which an available device shows `xa` with an XEP-0319 idle time; 0 = never. */
export const DEFAULT_IDLE_AFTER = 900;

/**
 * How one topic's payload becomes fields of the device's reading (docs/MAPPINGS.md, "Payload formats"):
 *   json     a JSON value; without `path`, an object's fields merge at the top level of the reading
 *   text     the payload as it is (UTF-8)
 *   number   a decimal number ("21.5")
 *   boolean  one of the `true` or `false` words ("ON" / "OFF")
 *   enum     a word, trimmed (the schema lists the allowed ones)
 *   sparkplug  a Sparkplug B protobuf payload: each metric (named, or by its birth alias) a field (imported devices)
 */
export type PayloadFormat = 'json' | 'text' | 'number' | 'boolean' | 'enum' | 'sparkplug';

export interface PayloadDecoding {
  readonly format: PayloadFormat;
  /** Where the value lands in the reading; required except for a JSON object merged at the top level. */
  readonly path?: readonly string[];
  /** `boolean`: the payloads meaning true and false, compared as written. */
  readonly true: readonly string[];
  readonly false: readonly string[];
  /** `text`: the payload standing for the empty string (Homie 5 sends one 0x00 byte: MQTT drops empty retained). */
  readonly empty?: string;
  /** `number`: round to an integer. */
  readonly integer: boolean;
  /**
   * A Home Assistant value template (the safe subset, src/importers/template.ts) that reads the payload (`value`,
   * `value_json`) first; its result is then read per `format`. A template whose result is undefined (the message
   * lacks the key it reads) sets nothing.
   */
  readonly template?: string;
  /**
   * Events, not lasting state (Zigbee2MQTT `action`, a Homie non-retained property): part of the reading that
   * carries them, then forgotten. Paths in the reading.
   */
  readonly momentary: readonly (readonly string[])[];
  /** `sparkplug`: the birth certificate's metric aliases (alias as decimal text → metric name). */
  readonly aliases?: Readonly<Record<string, string>>;
}

/** One topic a mapping reads, and what each of its decodings takes from the payload. */
export interface ReadingSource {
  readonly topic: TopicPattern;
  readonly decodings: readonly PayloadDecoding[];
}

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
  /** How the validated command becomes the MQTT payload; absent: the JSON as sent. */
  readonly payload?: CommandPayload;
  /** The command carries a file: `key` holds its URL, fetched and published as bytes (docs/MEDIA.md). */
  readonly file?: CommandFile;
}

export interface CommandFile {
  /** The top-level command field whose value is the file's URL. */
  readonly key: string;
  /** Accepted media types, checked on the fetched bytes; absent: any bytes. */
  readonly mediaTypes?: readonly string[];
  /** Largest file fetched; absent: `media.fetch.maxBytes`. */
  readonly maxBytes?: number;
  /** binary: the bytes are the MQTT payload; base64: the command's JSON with `key` holding the file base64-encoded. */
  readonly encoding: 'binary' | 'base64';
  /** A chat message with an XEP-0066 OOB URL runs this command. */
  readonly oob: boolean;
}

/**
 * How a command's validated JSON becomes the MQTT payload (docs/MAPPINGS.md, "Command payloads"):
 *   json      the JSON text as the sender wrote it
 *   value     one field written as text: numbers as digits, booleans as `on`/`off` (default true/false), objects as JSON
 *   template  one field through a Home Assistant command template (`value`, and the field under further `aliases`)
 *   fixed     a constant payload (a button press)
 *   keys      a list field → `{"<name>": ""}` for each name (Zigbee2MQTT `/get`)
 */
export type CommandPayload =
  | { readonly format: 'json' }
  | { readonly format: 'value'; readonly path: readonly string[]; readonly on?: string; readonly off?: string }
  | { readonly format: 'template'; readonly path: readonly string[]; readonly template: CompiledTemplate; readonly aliases: readonly string[] }
  | { readonly format: 'fixed'; readonly payload: string }
  | { readonly format: 'keys'; readonly path: readonly string[] }
  | { readonly format: 'sparkplug'; readonly metrics: Readonly<Record<string, { readonly type: string; readonly alias?: number }>> };

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
  /** The reading topic (the first of `sources` when there are several). */
  readonly topic: TopicPattern;
  /**
   * Payload formats other than one JSON document, or several topics of one device: the decoded fields of each message
   * are merged into the device's state, and a reading is that whole state (updates that arrive in the same
   * event-loop turn make one reading). Absent: the payload of `topic` is the reading, as the device sent it.
   */
  readonly sources?: readonly ReadingSource[];
  /**
   * `payload: {format: binary}`: the payload is bytes (an image, a file), uploaded and delivered as a link with its
   * metadata (docs/MEDIA.md). `mediaType` undefined: sniffed from the magic bytes.
   */
  readonly media?: MediaSpec;
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

export interface MediaSpec {
  readonly mediaType?: string;
  /** Larger payloads are refused (MEDIA_TOO_LARGE); default `media.maxBytes`. The broker's own limit applies first. */
  readonly maxBytes?: number;
  /** Payloads at most this long travel base64 in the reading's JSON instead of being uploaded; default `media.inlineMaxBytes`. */
  readonly inlineMaxBytes?: number;
}

/** Every topic a mapping takes readings from. */
export function readingTopics(m: Pick<Mapping, 'topic' | 'sources'>): readonly TopicPattern[] {
  return m.sources ? m.sources.map((s) => s.topic) : [m.topic];
}
