/**
 * The dry run of one publish: which mapping and device a topic and payload hit, the validation errors, and the exact
 * stanza that would be sent — computed by the uplink pipeline itself (features/uplink/uplink.ts) and the delivery
 * mode's own builder (ChatDelivery.build), with a registry that answers without registering (DeviceRegistry.peek).
 * Nothing is sent, stored, counted or announced. Used by the status page's preview box and `mqtt-xmpp-bridge preview`.
 */
import { inlineMeta } from '../../convert/media.js';
import type { Element } from '@xmpp/xml';
import type { Device } from '../../devices/device.js';
import type { DeviceRegistry } from '../../devices/registry.js';
import type { Result } from '../../errors.js';
import type { PathMessage } from '../../schemas/format-errors.js';
import { Uplink, type ReadingRoutes } from '../uplink/uplink.js';

/** What a delivery mode builds for a reading, without sending it (ChatDelivery.build). */
export type BuildStanza = (device: Device, json: string, value: unknown) => Result<{ stanza: Element; recipients: readonly string[] }>;

export interface PreviewDevice {
  readonly id: string;
  readonly jid: string;
  readonly name: string;
  /** Known to the bridge already (false: this publish would register it). */
  readonly known: boolean;
}

export type PreviewResult =
  | { readonly outcome: 'unmapped'; readonly topic: string }
  | {
      readonly outcome: 'rejected';
      readonly topic: string;
      readonly mapping: string;
      readonly device?: PreviewDevice;
      readonly code: string;
      readonly message: string;
      readonly errors: readonly PathMessage[];
    }
  | {
      readonly outcome: 'delivered';
      readonly topic: string;
      readonly mapping: string;
      readonly device: PreviewDevice;
      /** Who would get a copy now (each copy is addressed to one of them, with its own id). */
      readonly recipients: readonly string[];
      /** The stanza as written (its `id` and `to` are set per copy when sent). */
      readonly stanza: string;
    };

export interface PreviewInput {
  readonly routes: ReadingRoutes;
  readonly registry: Pick<DeviceRegistry, 'identify' | 'peek' | 'byJid'>;
  readonly build: BuildStanza;
}

/** Stanza id shown in a preview: the real one is given when the reading is written. */
export const PREVIEW_ID = 'preview';

export function preview(input: PreviewInput, topic: string, payload: Buffer): PreviewResult {
  const { registry } = input;
  const uplink = new Uplink(input.routes, { identify: (m, s) => registry.identify(m, s), register: (m, s, id) => registry.peek(m, s, id), byJid: (j) => registry.byJid(j) });
  const out = uplink.process({ topic, payload, qos: 1, retain: false, clientId: undefined, replay: false });
  // Without a `resume`, the uplink answers a mapping with payload formats at once: never `merged` here.
  if (out.kind === 'unmapped' || out.kind === 'merged') return { outcome: 'unmapped', topic };
  if (out.kind === 'rejected') {
    const r = out.rejection;
    const known = r.deviceId !== undefined ? findById(input, r.mappingId, topic) : undefined;
    return {
      outcome: 'rejected',
      topic,
      mapping: r.mappingId,
      ...(known ? { device: known } : {}),
      code: r.error.code,
      message: r.error.message,
      errors: r.schemaErrors ?? [],
    };
  }
  // A binary payload: shown as it would travel inline (the upload happens only for real).
  const { reading } =
    out.kind === 'binary'
      ? { reading: { device: out.device, topic, json: JSON.stringify(inlineMeta(out.bytes, out.mediaType, topic)), value: inlineMeta(out.bytes, out.mediaType, topic), qos: 1 as const, receivedAt: out.receivedAt } }
      : out;
  const device = describe(reading.device, registry.byJid(reading.device.jid) !== undefined);
  const built = input.build(reading.device, reading.json, reading.value);
  if (!built.ok) {
    return { outcome: 'rejected', topic, mapping: reading.device.mapping.id, device, code: built.error.code, message: built.error.message, errors: [] };
  }
  const { stanza, recipients } = built.value;
  stanza.attrs['id'] = PREVIEW_ID;
  // The builder addressed it to the longest recipient to measure it; a copy goes to each of them.
  if (recipients[0] !== undefined) stanza.attrs['to'] = recipients[0];
  else delete stanza.attrs['to'];
  return { outcome: 'delivered', topic, mapping: reading.device.mapping.id, device, recipients, stanza: stanza.toString() };
}

/** The device a rejected publish named, when its JID could be formed. */
function findById(input: PreviewInput, mappingId: string, topic: string): PreviewDevice | undefined {
  const route = input.routes.route(topic);
  if (!route || route.target.id !== mappingId) return undefined;
  const id = input.registry.identify(route.target, route.segments);
  if (!id.ok) return undefined;
  const known = input.registry.byJid(id.value.jid);
  return known ? describe(known, true) : { id: id.value.id, jid: id.value.jid, name: id.value.id, known: false };
}

function describe(d: Device, known: boolean): PreviewDevice {
  return { id: d.id, jid: d.jid, name: d.name, known };
}
