/**
 * The uplink: device publish → mapping → device → parse → validate → reading, handed to delivery.
 *
 * Every stage returns a Result; nothing throws across a stage. A publish that fails a stage is *rejected*: logged
 * with {deviceId, topic, code}, counted, published on <base>/bridge/event, and never reaches XMPP. Unmapped topics
 * are not the bridge's business: the broker routes them as any broker does.
 */
import type { InboundPublish } from '../../broker/mqtt-side.js';
import { parseJsonPayload } from '../../convert/payload.js';
import type { Reading } from '../../devices/device.js';
import type { DeviceRegistry } from '../../devices/registry.js';
import { fail, ok, type BridgeError, type Result } from '../../errors.js';
import type { Mapping } from '../../mapping/mapping.js';
import type { Route } from '../../mapping/router.js';
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

export type UplinkOutcome = { kind: 'unmapped' } | { kind: 'reading'; reading: Reading } | { kind: 'rejected'; rejection: Rejection };

/** Where a topic's mapping is found: the live mapping set. */
export interface ReadingRoutes {
  route(topic: string): Route<Mapping> | undefined;
}

export class Uplink {
  constructor(
    private readonly router: ReadingRoutes,
    /** The registry, or (preview) one that answers `register` without registering (DeviceRegistry.peek). */
    private readonly registry: Pick<DeviceRegistry, 'identify' | 'register'>,
  ) {}

  /** Synchronous and total: every publish ends as unmapped, a reading, or a rejection. */
  process(msg: InboundPublish): UplinkOutcome {
    const route = this.router.route(msg.topic);
    if (!route) return { kind: 'unmapped' };
    const mapping = route.target;
    const reject = (error: BridgeError, deviceId?: string, schemaErrors?: readonly PathMessage[]): UplinkOutcome => ({
      kind: 'rejected',
      rejection: { error, topic: msg.topic, clientId: msg.clientId, deviceId, mappingId: mapping.id, ...(schemaErrors ? { schemaErrors } : {}) },
    });

    const identity = this.registry.identify(mapping, route.segments);
    if (!identity.ok) return reject(identity.error);

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
}

function validate(mapping: Mapping, value: unknown): Result<void> {
  const v = mapping.schema.validate;
  if (v(value)) return ok(undefined);
  const messages = ajvErrorsToPathMessages(v.errors);
  return fail('PAYLOAD_INVALID', `payload does not match ${mapping.schema.id}: ${summarize(messages)}`, messages);
}
