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

export interface Mapping {
  readonly id: string;
  /** Where it was declared, for messages. */
  readonly file: string;
  readonly index: number;
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
