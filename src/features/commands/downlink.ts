/**
 * The downlink: a command from an XMPP user → device → authorization → validation → MQTT publish → outcome.
 *
 * Checks run in this order, and nothing is published unless all pass:
 *   sender within its rate?  RATE_LIMITED    (resource-constraint) — before any other work
 *   device visible to them?  DEVICE_UNKNOWN  (item-not-found) — the same answer for a hidden device and a JID that
 *                                             names none (access-policy.ts): strangers learn nothing, not even that
 *                                             the device exists
 *   command known?           COMMAND_UNKNOWN (item-not-found)
 *   sender an operator?      FORBIDDEN       (forbidden)      — before validation
 *   payload valid?           COMMAND_INVALID (bad-request, with the schema messages)
 *   device online, awake?    queued for the command's TTL (delivered when it returns or wakes, TIMEOUT if not);
 *                            with a TTL of 0: DEVICE_OFFLINE (recipient-unavailable). A device asleep (availability
 *                            `sleeping`) does not listen: what is published meanwhile would be lost to it
 * then the publish (MQTT_PUBLISH_FAILED when the broker refuses it) and, with a declared state echo, the
 * confirmation (TIMEOUT without one).
 *
 * A command carrying a file (`file:` in the mapping, docs/MEDIA.md) adds one step after validation: the URL in its
 * field is fetched under the fetch policy (features/media/fetch-policy.ts — never before the sender was authorized and
 * the command validated; MEDIA_FETCH_* when refused) and the bytes are published. Such a command is not held for an
 * offline device (the bytes are not kept): DEVICE_OFFLINE. The payload published is the JSON text the sender wrote, byte for byte — or,
 * when the command declares a payload format (a field as text, a command template, a fixed payload…), what that
 * format makes of the validated command (convert/command-payload.ts).
 */
import { LRUCache } from 'lru-cache';
import type { Device } from '../../devices/device.js';
import { fail, ok, type Result } from '../../errors.js';
import type { AccessPolicy } from '../../kernel/access-policy.js';
import type { CommandFile, CommandSpec } from '../../mapping/mapping.js';
import { sha256Hex } from '../../convert/media.js';
import { formatTopic } from '../../mapping/topic-pattern.js';
import { encodeCommand } from '../../convert/command-payload.js';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../../convert/payload.js';
import { ajvErrorsToPathMessages, summarize } from '../../schemas/format-errors.js';
import { TokenBucket } from '../../broker/token-bucket.js';
import type { ConfirmationTracker } from './confirmations.js';

/** How the command came: typed in a chat, an IQ, an XEP-0050 form, or an operator's request (MQTT request API, status page). */
export type CommandOrigin = 'chat' | 'iq' | 'adhoc' | 'mqtt' | 'http';

export interface CommandRequest {
  /** Bare JID of the sender. */
  readonly from: string;
  readonly deviceJid: string;
  readonly name: string;
  /** The command payload as JSON text. */
  readonly json: string;
  readonly origin: CommandOrigin;
  /** Where a late answer goes (a queued command answered after a restart): the full JID and the stanza id. */
  readonly replyTo?: { readonly jid: string; readonly id?: string };
}

export interface CommandOutcome {
  readonly device: Device;
  readonly command: CommandSpec;
  readonly topic: string;
  /** The state report that confirmed the command, when the mapping declares one. */
  readonly confirmation?: string;
  /** Delivered after waiting for the device to come back. */
  readonly queued?: boolean;
  /** The file a command carried, as published. */
  readonly file?: { readonly size: number; readonly sha256: string; readonly mediaType: string };
}

/** Fetches the file a command names (features/media/file-fetch.ts). */
export interface FileSource {
  fetch(req: {
    readonly sender: string;
    readonly deviceJid: string;
    readonly url: string;
    readonly mediaTypes?: readonly string[];
    readonly maxBytes?: number;
  }): Promise<Result<{ readonly bytes: Buffer; readonly mediaType: string }>>;
}

/** Holds commands for offline devices (pipeline/command-queue.ts). */
export interface CommandHolder {
  enqueue(req: CommandRequest, device: Device, command: CommandSpec, ttlMs: number): Promise<Result<CommandOutcome>>;
}

export type Publish = (device: Device, topic: string, payload: Buffer, command: CommandSpec) => Promise<void>;

export interface RateOptions {
  readonly perMinute: number;
  readonly burst: number;
}

/** Senders whose rate is tracked at once; the least recently active are forgotten first (a forgotten sender starts afresh). */
const MAX_TRACKED_SENDERS = 10_000;

export class Downlink {
  private holder: CommandHolder | undefined;
  private files: FileSource | undefined;
  private confirm: ((device: Device) => Promise<{ readonly online: boolean; readonly asleep: boolean }>) | undefined;
  private readonly buckets = new LRUCache<string, TokenBucket>({ max: MAX_TRACKED_SENDERS });

  constructor(
    private readonly access: AccessPolicy,
    private readonly publish: Publish,
    private readonly confirmations: ConfirmationTracker,
    private readonly defaultTtlMs: number,
    private readonly onOutcome: (req: CommandRequest, outcome: Result<CommandOutcome>, elapsedMs: number) => void = () => undefined,
    private readonly rate: RateOptions = { perMinute: 0, burst: 1 },
  ) {}

  /** How a device's availability is confirmed before its command is held or refused (cluster mode: the shared state). */
  confirmWith(confirm: (device: Device) => Promise<{ readonly online: boolean; readonly asleep: boolean }>): void {
    this.confirm = confirm;
  }

  private async awake(device: Device): Promise<boolean> {
    if (!this.confirm) return false;
    const now = await this.confirm(device);
    return now.online && !now.asleep;
  }

  /** Where commands for offline devices wait; without one they are refused (DEVICE_OFFLINE). */
  holdWith(holder: CommandHolder): void {
    this.holder = holder;
  }

  /** Where the files of commands carrying one come from; without it such commands are refused (NOT_IMPLEMENTED). */
  fetchFilesWith(files: FileSource): void {
    this.files = files;
  }

  /** Device and command lookup plus authorization, shared with the ad-hoc command forms. */
  authorize(from: string, deviceJid: string, name: string): Result<{ device: Device; command: CommandSpec }> {
    const device = this.access.visible(deviceJid, from);
    if (!device) return unknownDevice(deviceJid);
    const command = device.mapping.commands.find((c) => c.name === name);
    if (!command) return fail('COMMAND_UNKNOWN', `${device.name} has no command "${name}"`);
    if (!this.access.mayOperate(device, from)) return fail('FORBIDDEN', `${from} may not command ${device.jid}`);
    return ok({ device, command });
  }

  async execute(req: CommandRequest): Promise<Result<CommandOutcome>> {
    const started = performance.now();
    const outcome = await this.run(req);
    this.onOutcome(req, outcome, performance.now() - started);
    return outcome;
  }

  private async run(req: CommandRequest): Promise<Result<CommandOutcome>> {
    // Per sender, before any other work: a flood from one JID costs the bridge almost nothing.
    if (!this.admit(req.from)) return fail('RATE_LIMITED', `too many commands from ${req.from}; slow down`);
    const auth = this.authorize(req.from, req.deviceJid, req.name);
    if (!auth.ok) return auth;
    const { device, command } = auth.value;

    if (jsonTooDeep(req.json)) return fail('COMMAND_INVALID', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    let value: unknown;
    try {
      value = JSON.parse(req.json) as unknown;
    } catch (err) {
      return fail('COMMAND_INVALID', `not valid JSON: ${(err as Error).message}`);
    }
    if (!command.schema.validate(value)) {
      const messages = ajvErrorsToPathMessages(command.schema.validate.errors);
      return fail('COMMAND_INVALID', `${command.name}: ${summarize(messages)}`, messages);
    }
    // Cluster mode: this instance's copy of the device's availability follows the others' changes a moment late;
    // one that sees it offline or asleep asks the shared state before holding or refusing (kernel/cluster.ts).
    const ready = (device.online && !device.asleep) || (await this.awake(device));
    if (command.file) {
      if (!ready) return fail('DEVICE_OFFLINE', `${device.name} is ${device.online ? 'asleep' : 'offline'}; a command carrying a file is not held`);
      return this.withFile(req, device, command, command.file, value);
    }
    if (!ready) {
      const ttlMs = (command.ttl ?? this.defaultTtlMs / 1000) * 1000;
      if (ttlMs === 0 || !this.holder) return fail('DEVICE_OFFLINE', `${device.name} is ${device.online ? 'asleep' : 'offline'}`);
      return this.holder.enqueue(req, device, command, ttlMs);
    }
    return this.dispatch(device, command, req.json, value);
  }

  private admit(sender: string): boolean {
    if (this.rate.perMinute <= 0) return true;
    const now = performance.now();
    let bucket = this.buckets.get(sender);
    if (!bucket) {
      bucket = new TokenBucket(this.rate.perMinute / 60, this.rate.burst, now);
      this.buckets.set(sender, bucket);
    }
    return bucket.tryTake(now);
  }

  /** Fetch the file the command names, then publish it: its bytes, or the command's JSON holding it as base64. */
  private async withFile(req: CommandRequest, device: Device, command: CommandSpec, file: CommandFile, value: unknown): Promise<Result<CommandOutcome>> {
    const fields = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
    const url = Object.hasOwn(fields, file.key) ? fields[file.key] : undefined;
    if (typeof url !== 'string') return fail('COMMAND_INVALID', `${command.name} needs "${file.key}": the URL of the file`);
    if (!this.files) return fail('NOT_IMPLEMENTED', 'this bridge fetches no files');
    const got = await this.files.fetch({
      sender: req.from,
      deviceJid: device.jid,
      url,
      ...(file.mediaTypes ? { mediaTypes: file.mediaTypes } : {}),
      ...(file.maxBytes !== undefined ? { maxBytes: file.maxBytes } : {}),
    });
    if (!got.ok) return got;
    const { bytes, mediaType } = got.value;
    const payload = file.encoding === 'binary' ? bytes : Buffer.from(JSON.stringify({ ...fields, [file.key]: bytes.toString('base64') }), 'utf8');
    const r = await this.dispatch(device, command, req.json, value, payload);
    return r.ok ? ok({ ...r.value, file: { size: bytes.byteLength, sha256: sha256Hex(bytes), mediaType } }) : r;
  }

  /** Publish a validated command and, with a declared echo, wait for the confirmation. */
  async dispatch(device: Device, command: CommandSpec, json: string, value: unknown, encoded?: Buffer): Promise<Result<CommandOutcome>> {
    const topic = formatTopic(command.topic, device.segments);
    if (topic.topic === undefined) return fail('INTERNAL', topic.error);
    // Encode step: the validated command as the device expects it on the wire (a file's bytes are encoded already).
    const payload = encoded ? ok(encoded) : encodeCommand(command.payload, json, value);
    if (!payload.ok) return payload;

    const expectation = command.confirm ? this.confirmations.expect(device, command.confirm, (value ?? {}) as Record<string, unknown>) : undefined;
    try {
      await this.publish(device, topic.topic, typeof payload.value === 'string' ? Buffer.from(payload.value, 'utf8') : payload.value, command);
    } catch (err) {
      expectation?.cancel();
      return fail('MQTT_PUBLISH_FAILED', `the broker did not accept the command: ${(err as Error).message}`);
    }
    if (!expectation) return ok({ device, command, topic: topic.topic });
    const echo = await expectation.result;
    if (!echo.ok) return echo;
    return ok({ device, command, topic: topic.topic, confirmation: echo.value });
  }
}

/** What a JID that names no device gets — and a device the sender may not view. */
export function unknownDevice<T>(deviceJid: string): Result<T> {
  return fail('DEVICE_UNKNOWN', `no device ${deviceJid}`);
}
