/**
 * The uplink: device publish → mapping → device → parse → validate → reading, handed to delivery.
 *
 * Every stage returns a Result; nothing throws across a stage. A publish that fails a stage is *rejected*: logged
 * with {deviceId, topic, code}, counted, published on <base>/bridge/event, and never reaches XMPP. Unmapped topics
 * are not the bridge's business: the broker routes them as any broker does.
 *
 * Decode step. A plain mapping's payload is one JSON document, the reading as the device sent it (the hot path: one
 * parse, one validation). A mapping with payload formats or several topics (`sources`: per-property topics of
 * Homie, Tasmota `stat/<t>/POWER1`, Home Assistant entities of one device) decodes each message into fields
 * (convert/decode.ts) and merges them into the device's state; the reading is that state. Updates of one device that
 * arrive in the same event-loop turn — the messages of one read from a socket, such as a Tasmota RESULT and its
 * POWER1, or a gateway's burst — are coalesced into one reading at the end of the turn (setImmediate); their PUBACKs
 * wait for it, as every reading's does. Momentary fields (events) are in that reading and then forgotten.
 */
import type { InboundPublish } from '../../broker/mqtt-side.js';
import { decodePayload, forget, mergeState, type Assignment } from '../../convert/decode.js';
import { sniffMediaType } from '../../convert/media.js';
import { parseJsonPayload } from '../../convert/payload.js';
import type { Reading } from '../../devices/device.js';
import type { Device } from '../../devices/device.js';
import type { DeviceRegistry, Identity } from '../../devices/registry.js';
import { BridgeError, fail, ok, type Result } from '../../errors.js';
import type { Mapping, ReadingSource } from '../../mapping/mapping.js';
import type { Route } from '../../mapping/router.js';
import { matchTopic, type Segments } from '../../mapping/topic-pattern.js';
import { ajvErrorsToPathMessages, summarize, type PathMessage } from '../../schemas/format-errors.js';

export type { Reading };

export interface Rejection {
  readonly error: BridgeError;
  readonly topic: string;
  readonly clientId: string | undefined;
  readonly deviceId: string | undefined;
  readonly mappingId: string;
  readonly schemaErrors?: readonly PathMessage[];
}

export type UplinkOutcome =
  | { kind: 'unmapped' }
  | { kind: 'reading'; reading: Reading }
  | { kind: 'rejected'; rejection: Rejection }
  /** Merged into the device's state: the reading (and the acknowledgement) come at the end of the event-loop turn. */
  | { kind: 'merged' }
  /** A binary payload (`mapping.media`): uploaded before it becomes a reading (features/media). */
  | { kind: 'binary'; device: Device; bytes: Buffer; mediaType: string; topic: string; qos: 0 | 1 | 2; receivedAt: number };

export type Done = (err?: Error) => void;

/** Receives the reading made of merged updates, with a `done` that acknowledges every publish merged into it. */
export type Resume = (outcome: UplinkOutcome, done: Done) => void;

/** A device's merged state larger than this is dropped (and the update refused): nothing a device sends grows memory without bound. */
export const MAX_STATE_BYTES = 512 * 1024;

/** Updates of one device waiting for the end of the turn. */
interface Pending {
  readonly mapping: Mapping;
  readonly segments: Segments;
  readonly identity: Identity;
  readonly assignments: Assignment[];
  readonly momentary: (readonly string[])[];
  readonly dones: Done[];
  resume: Resume;
  topic: string;
  qos: 0 | 1 | 2;
  clientId: string | undefined;
}

/** Where a topic's mapping is found: the live mapping set. */
export interface ReadingRoutes {
  route(topic: string): Route<Mapping> | undefined;
}

export class Uplink {
  /** Merged state per device (a device that leaves the registry takes its state with it). */
  private readonly states = new WeakMap<Device, Record<string, unknown>>();
  private readonly pending = new Map<string, Pending>();
  private flushing = false;

  constructor(
    private readonly router: ReadingRoutes,
    /** The registry, or (preview) one that answers `register` without registering (DeviceRegistry.peek). */
    private readonly registry: Pick<DeviceRegistry, 'identify' | 'register' | 'byJid'>,
  ) {}

  /**
   * Synchronous and total: every publish ends as unmapped, a reading, a rejection — or, for a mapping with payload
   * formats, `merged`: then `done` belongs to the uplink, and `resume` gets the reading at the end of the turn.
   * Without `resume` (a preview), a mapping with payload formats gives its reading at once: this message merged into
   * the device's state, which is left as it was.
   */
  process(msg: InboundPublish, done?: Done, resume?: Resume): UplinkOutcome {
    const route = this.router.route(msg.topic);
    if (!route) return { kind: 'unmapped' };
    const mapping = route.target;
    const reject = (error: BridgeError, deviceId?: string, schemaErrors?: readonly PathMessage[]): UplinkOutcome => ({
      kind: 'rejected',
      rejection: { error, topic: msg.topic, clientId: msg.clientId, deviceId, mappingId: mapping.id, ...(schemaErrors ? { schemaErrors } : {}) },
    });

    const identity = this.registry.identify(mapping, route.segments);
    if (!identity.ok) return reject(identity.error);

    if (mapping.media) {
      // Bytes, not JSON: checked for size here, uploaded and turned into a reading later (features/media).
      const max = mapping.media.maxBytes;
      if (max !== undefined && msg.payload.byteLength > max) return reject(new BridgeError('MEDIA_TOO_LARGE', `${msg.payload.byteLength} bytes exceed the mapping's maximum of ${max}`), identity.value.id);
      if (msg.payload.byteLength === 0) return reject(new BridgeError('PAYLOAD_INVALID', 'an empty binary payload'), identity.value.id);
      const device = this.registry.register(mapping, route.segments, identity.value);
      if (!device.ok) return reject(device.error, identity.value.id);
      const now = Date.now();
      device.value.lastSeen = now;
      return { kind: 'binary', device: device.value, bytes: msg.payload, mediaType: mapping.media.mediaType ?? sniffMediaType(msg.payload), topic: msg.topic, qos: msg.qos, receivedAt: now };
    }

    if (mapping.sources) {
      const source = sourceOf(mapping, mapping.sources, msg.topic);
      if (!source) return { kind: 'unmapped' };
      const decoded = decodePayload(source.decodings, msg.payload);
      if (!decoded.ok) return reject(decoded.error, identity.value.id);
      if (done && resume) {
        this.merge(mapping, route.segments, identity.value, source, decoded.value, msg, done, resume);
        return { kind: 'merged' };
      }
      let outcome: UplinkOutcome = { kind: 'unmapped' };
      this.settle({ mapping, segments: route.segments, identity: identity.value, assignments: decoded.value, momentary: [], dones: [], resume: (o) => (outcome = o), topic: msg.topic, qos: msg.qos, clientId: msg.clientId }, false);
      return outcome;
    }

    const parsed = parseJsonPayload(msg.payload);
    if (!parsed.ok) return reject(parsed.error, identity.value.id);

    const valid = validate(mapping, parsed.value.value);
    if (!valid.ok) return reject(valid.error, identity.value.id, valid.error.details as PathMessage[]);

    const device = this.registry.register(mapping, route.segments, identity.value);
    if (!device.ok) return reject(device.error, identity.value.id);

    const now = Date.now();
    device.value.lastSeen = now;
    return {
      kind: 'reading',
      reading: { device: device.value, topic: msg.topic, json: parsed.value.text, value: parsed.value.value, qos: msg.qos, receivedAt: now },
    };
  }

  private merge(mapping: Mapping, segments: Segments, identity: Identity, source: ReadingSource, assignments: Assignment[], msg: InboundPublish, done: Done, resume: Resume): void {
    let p = this.pending.get(identity.jid);
    if (!p || p.mapping !== mapping) {
      if (p) this.settle(p); // the mapping changed within the turn: what came before goes under the old one
      p = { mapping, segments, identity, assignments: [], momentary: [], dones: [], resume, topic: msg.topic, qos: msg.qos, clientId: msg.clientId };
      this.pending.set(identity.jid, p);
    }
    p.assignments.push(...assignments);
    for (const d of source.decodings) p.momentary.push(...d.momentary);
    p.dones.push(done);
    p.resume = resume;
    p.topic = msg.topic;
    if (msg.qos > p.qos) p.qos = msg.qos;
    p.clientId = msg.clientId;
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  }

  /** End of the turn: one reading per device with merged updates. */
  private flush(): void {
    this.flushing = false;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) this.settle(p);
  }

  /** The reading of a device's merged updates; `keep`: the state is kept (false: a preview). */
  private settle(p: Pending, keep = true): void {
    if (keep) this.pending.delete(p.identity.jid);
    const dones = p.dones;
    const done: Done = (err) => {
      for (const d of dones) d(err);
    };
    const reject = (error: BridgeError, schemaErrors?: readonly PathMessage[]): void =>
      p.resume(
        { kind: 'rejected', rejection: { error, topic: p.topic, clientId: p.clientId, deviceId: p.identity.id, mappingId: p.mapping.id, ...(schemaErrors ? { schemaErrors } : {}) } },
        done,
      );
    const known = this.registry.byJid(p.identity.jid);
    const previous = (known && this.states.get(known)) ?? {};
    const state = mergeState(previous, p.assignments);
    const json = JSON.stringify(state);
    if (json.length > MAX_STATE_BYTES) {
      if (known && keep) this.states.delete(known);
      return reject(new BridgeError('PAYLOAD_TOO_LARGE', `the device's merged state would exceed ${MAX_STATE_BYTES} bytes; it was reset`));
    }
    const valid = validate(p.mapping, state);
    if (!valid.ok) return reject(valid.error, valid.error.details as PathMessage[]);
    const device = this.registry.register(p.mapping, p.segments, p.identity);
    if (!device.ok) return reject(device.error);
    const now = Date.now();
    device.value.lastSeen = now;
    if (keep) this.states.set(device.value, p.momentary.length > 0 ? forget(state, p.momentary) : state);
    p.resume({ kind: 'reading', reading: { device: device.value, topic: p.topic, json, value: state, qos: p.qos, receivedAt: now } }, done);
  }
}

/** Which of a mapping's sources a topic belongs to (one lookup for literal topics: imported devices). */
const literalSources = new WeakMap<readonly ReadingSource[], Map<string, ReadingSource>>();

function sourceOf(mapping: Mapping, sources: readonly ReadingSource[], topic: string): ReadingSource | undefined {
  if (sources.length === 1) return sources[0];
  let literal = literalSources.get(sources);
  if (!literal) {
    literal = new Map();
    for (const s of sources) if (s.topic.levels.every((l) => l.kind === 'literal')) literal.set(s.topic.filter, s);
    literalSources.set(sources, literal);
  }
  return literal.get(topic) ?? sources.find((s) => matchTopic(s.topic, topic) !== undefined) ?? (mapping.topic.filter === topic ? sources[0] : undefined);
}

function validate(mapping: Mapping, value: unknown): Result<void> {
  const v = mapping.schema.validate;
  if (v(value)) return ok(undefined);
  const messages = ajvErrorsToPathMessages(v.errors);
  return fail('PAYLOAD_INVALID', `payload does not match ${mapping.schema.id}: ${summarize(messages)}`, messages);
}
