/**
 * A compiled mapping: the declarative rule that ties MQTT topics, a payload schema and a device JID together.
 * Produced by the loader; immutable; shared by every device it describes.
 */
import type { CompiledSchema } from '../schemas/registry.js';
import type { JidPattern } from './jid-pattern.js';
import type { Template } from './template.js';
import type { TopicPattern } from './topic-pattern.js';

export type MessageType = 'chat' | 'headline' | 'normal';

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
  readonly messageType: MessageType;
  readonly notify: { readonly subscribers: boolean; readonly jids: readonly string[] };
  readonly availability?: Availability;
  readonly access: { readonly viewers: readonly JidPattern[]; readonly operators: readonly JidPattern[] };
  readonly commands: readonly CommandSpec[];
  /** Chat shortcuts: word → command line. */
  readonly aliases: Readonly<Record<string, string>>;
}
