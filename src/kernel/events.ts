/**
 * The bridge's typed event bus and the catalogue of its events.
 *
 * Like the error catalogue (errors.ts), event names are part of the public surface: the reported ones are published on
 * `<base>/bridge/event` as `{"type": <name>, "data": {…}}`, logged, and counted; tests assert names, not prose.
 * Features emit events and subscribe to them; no feature calls into another. Dispatch is synchronous and in
 * subscription order; a throwing subscriber is logged and skipped, never allowed to break the emitter (an uplink
 * rejection must not fail because the event topic could not be written).
 *
 * Each catalogue entry says whether the event is reported (log line + event topic) and, for events a misbehaving
 * device or user can cause thousands of times a second, the key it is throttled by (observe/report-throttle.ts): one
 * report per key and window, every occurrence still counted.
 */
import type { Device, Reading } from '../devices/device.js';
import type { Logger } from '../log.js';
import type { Mapping } from '../mapping/mapping.js';

export type Data = Record<string, unknown>;

/** An uplink payload that did not become a reading. */
export interface RejectionEvent {
  readonly code: string;
  readonly message: string;
  readonly deviceId: string | undefined;
  readonly topic: string;
  readonly mapping: string;
  readonly clientId: string | undefined;
  readonly errors?: readonly { readonly path: string; readonly message: string }[];
}

/** One command's outcome (delivered or refused), whatever path it came by. */
export interface CommandEvent {
  readonly from: string;
  readonly device: string;
  readonly command: string;
  readonly origin: string;
  readonly code: string;
  readonly json: string;
  readonly topic?: string;
  readonly confirmed?: boolean;
  readonly queued?: boolean;
  readonly message?: string;
  /** From the command received to its outcome. */
  readonly elapsedMs?: number;
}

export interface MappingsChange {
  readonly added: readonly Mapping[];
  readonly replaced: readonly { readonly before: Mapping; readonly after: Mapping }[];
  readonly removed: readonly Mapping[];
}

/** Payload of every event of the bridge itself, by name. */
export interface BridgeEvents {
  // Uplink
  /** A validated reading, before delivery (hot path: subscribers must be cheap). */
  reading: { readonly reading: Reading; readonly replay: boolean };
  /** The change policy let a reading through: it goes out now (presence status follows it). */
  reading_sent: { readonly reading: Reading };
  reading_rejected: RejectionEvent;
  // Devices
  device_added: { readonly device: Device };
  device_removed: { readonly device: Device; readonly reason: string };
  device_availability: { readonly device: Device; readonly reason: string };
  /** An operator renamed a device (status page, request API). */
  device_renamed: { readonly device: Device; readonly before: string };
  // Mappings
  mappings_changed: MappingsChange;
  mappings_reloaded: { readonly origin: string; readonly added: readonly string[]; readonly replaced: readonly string[]; readonly removed: readonly string[]; readonly warnings: readonly string[] };
  mappings_reload_failed: { readonly origin: string; readonly problems: readonly string[] };
  // Presence
  subscription_approved: { readonly device: Device; readonly user: string };
  subscription_refused: { readonly jid: string; readonly user: string };
  subscription_removed: { readonly device: Device; readonly user: string };
  /** A user answered a device's request for their presence (RFC 6121 §3.1.5/§3.2.2). */
  presence_shared: { readonly device: Device; readonly user: string; readonly granted: boolean };
  /**
   * A user is back: their first resource became available, or — for a user who shares no presence with the bridge —
   * their server probed `device` at login. Internal.
   */
  user_available: { readonly user: string; readonly resource: string; readonly tracked: boolean; readonly device?: Device };
  /** A user's last resource left. Internal. */
  user_unavailable: { readonly user: string };
  // PubSub (XEP-0060)
  pubsub_subscribed: { readonly device: Device; readonly node: string; readonly subscriber: string };
  pubsub_unsubscribed: { readonly device: Device; readonly node: string; readonly subscriber: string };
  // Downlink
  command_delivered: CommandEvent;
  command_failed: CommandEvent;
  // Delivery
  outbox_full: { readonly size: number; readonly limit: number };
  readings_expired: { readonly count: number; readonly maxAgeMs: number };
  delivery_resumed: { readonly replayed: number; readonly buffered: number };
  another_instance: { readonly domain: string };
  // Lifecycle
  /** The bridge begins to stop: what happens from now on is shutdown, not news. */
  bridge_stopping: Record<string, never>;
  // XMPP link
  xmpp_online: Record<string, never>;
  xmpp_offline: Record<string, never>;
  // MQTT clients (embedded broker), internal
  client_connected: { readonly clientId: string; readonly side: string };
  client_disconnected: { readonly clientId: string; readonly side: string };
  client_subscribed: { readonly clientId: string; readonly side: string };
  // Import (features/import): devices that describe themselves
  import_pending: ImportDeviceEvent;
  import_added: ImportDeviceEvent & { readonly mapping: string };
  import_updated: ImportDeviceEvent & { readonly mapping: string };
  import_renamed: ImportDeviceEvent & { readonly from: string };
  import_removed: ImportDeviceEvent & { readonly reason: string };
  import_decided: { readonly source: string; readonly hardwareId: string; readonly status: string; readonly by: string };
  import_refused: ImportRefusalEvent;
}

/** One imported device, as the import events name it. */
export interface ImportDeviceEvent {
  readonly source: string;
  readonly hardwareId: string;
  readonly name: string;
  /** The JID it has, or will have once approved. */
  readonly jid: string;
}

/** A discovery message, or a device in it, that was not imported (docs/IMPORT.md lists the codes). */
export interface ImportRefusalEvent {
  readonly source: string;
  readonly code: string;
  readonly reason: string;
  readonly topic: string;
  readonly hardwareId?: string;
  /** The importer's own code (HA_NOT_JSON, TASMOTA_INVALID, not_interviewed…). */
  readonly detail?: string;
  /** Who published it (anonymous, device:NAME, service:NAME), when the broker knows. */
  readonly publisher?: string;
}

/**
 * The brokers' own reports (the embedded broker throttles and counts them itself, see broker/event-reporter.ts; the
 * attachment to an existing broker is one of them too).
 */
export const BROKER_EVENTS = [
  'broker_attached',
  'login_failed',
  'connection_refused',
  'subscribe_denied',
  'publish_denied',
  'forward_denied',
  'session_revoked',
  'payload_too_large',
  'packet_too_large',
  'protocol_violation',
  'pre_auth_budget_exceeded',
  'rate_limited',
  'tls_handshake_failed',
  'tls_reloaded',
  'tls_reload_failed',
] as const;

export type BrokerEventName = (typeof BROKER_EVENTS)[number];

export type EventPayloads = BridgeEvents & { readonly [K in BrokerEventName]: Data };

export type EventName = keyof EventPayloads;

export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface EventSpec<T> {
  /** Log level of the report; undefined: not logged (internal, or logged where it happens). */
  readonly level?: Level;
  /** The log message. */
  readonly message: string;
  /** What goes on `<base>/bridge/event` (and into the log line); undefined: not reported there. */
  readonly report?: (data: T) => Data;
  /** Events a device or user can cause at will are reported once per key and window (every one counted). */
  readonly throttleKey?: (data: T) => string;
  /** The broker's events: counted as `broker_events_total{code=<name>}`. */
  readonly broker?: true;
}

const deviceData = (d: Device): Data => ({ deviceId: d.id, jid: d.jid, mapping: d.mapping.id });
const asIs = (d: Data): Data => d;
/** The broker logs these itself, with their context; here they are reported on the event topic and counted. */
const brokerEvent = (message: string): EventSpec<Data> => ({ message, report: asIs, broker: true });

export const EVENT_CATALOGUE: { readonly [K in EventName]: EventSpec<EventPayloads[K]> } = {
  reading: { message: 'reading' },
  reading_sent: { message: 'reading sent' },
  reading_rejected: {
    level: 'warn',
    message: 'reading rejected',
    report: (r) => ({
      code: r.code,
      message: r.message,
      deviceId: r.deviceId,
      topic: r.topic,
      mapping: r.mapping,
      clientId: r.clientId,
      ...(r.errors ? { errors: r.errors } : {}),
    }),
    throttleKey: (r) => `${r.deviceId ?? r.topic}\u0000${r.code}`,
  },
  device_added: { level: 'info', message: 'new device', report: ({ device }) => ({ ...deviceData(device), segments: device.segments }) },
  device_removed: { level: 'info', message: 'device removed', report: ({ device, reason }) => ({ ...deviceData(device), reason }) },
  device_availability: {
    level: 'info',
    message: 'device availability',
    report: ({ device, reason }) => ({ deviceId: device.id, jid: device.jid, online: device.online, reason }),
  },
  device_renamed: { level: 'info', message: 'device renamed', report: ({ device, before }) => ({ ...deviceData(device), name: device.name, before }) },
  mappings_changed: { message: 'mappings changed' },
  mappings_reloaded: { level: 'info', message: 'mappings reloaded', report: (d) => ({ ...d }) },
  mappings_reload_failed: { level: 'error', message: 'mappings not reloaded: nothing was changed', report: (d) => ({ ...d }) },
  subscription_approved: { level: 'info', message: 'subscription approved', report: ({ device, user }) => ({ deviceId: device.id, jid: device.jid, user }) },
  subscription_refused: { level: 'info', message: 'subscription refused', report: (d) => ({ ...d }), throttleKey: (d) => `${d.user}\u0000${d.jid}` },
  subscription_removed: { level: 'info', message: 'subscription removed', report: ({ device, user }) => ({ deviceId: device.id, jid: device.jid, user }) },
  presence_shared: {
    level: 'info',
    message: 'a user answered a device\'s presence request',
    report: ({ device, user, granted }) => ({ deviceId: device.id, jid: device.jid, user, granted }),
    throttleKey: ({ device, user }) => `${user}\u0000${device.jid}`,
  },
  user_available: { message: 'user available' },
  user_unavailable: { message: 'user unavailable' },
  pubsub_subscribed: {
    level: 'info',
    message: 'PubSub subscription',
    report: ({ device, node, subscriber }) => ({ deviceId: device.id, jid: device.jid, node, subscriber }),
    throttleKey: ({ device, subscriber }) => `${subscriber}\u0000${device.jid}`,
  },
  pubsub_unsubscribed: {
    level: 'info',
    message: 'PubSub subscription removed',
    report: ({ device, node, subscriber }) => ({ deviceId: device.id, jid: device.jid, node, subscriber }),
    throttleKey: ({ device, subscriber }) => `${subscriber}\u0000${device.jid}`,
  },
  command_delivered: { level: 'info', message: 'command delivered', report: commandData },
  command_failed: { level: 'info', message: 'command refused', report: commandData, throttleKey: (c) => `${c.from}\u0000${c.code}` },
  outbox_full: { level: 'warn', message: 'outbox full: QoS 1/2 publishes wait for acknowledgement', report: (d) => ({ ...d }) },
  readings_expired: { level: 'warn', message: 'readings expired in the outbox', report: (d) => ({ ...d }) },
  delivery_resumed: { level: 'info', message: 'caught up after an interruption', report: (d) => ({ ...d }) },
  another_instance: {
    level: 'error',
    message: 'another bridge is connected to this component domain; the server splits stanzas between them: run one bridge per domain',
    report: (d) => ({ ...d }),
    throttleKey: () => 'another_instance',
  },
  bridge_stopping: { message: 'stopping' },
  xmpp_online: { message: 'component online' },
  xmpp_offline: { message: 'component offline' },
  client_connected: { message: 'MQTT client connected' },
  client_disconnected: { message: 'MQTT client disconnected' },
  client_subscribed: { message: 'MQTT client subscribed' },
  broker_attached: brokerEvent('attached to the MQTT broker'),
  // Counted and reported here for every refused login (the access layer emits each one), once per address and window.
  login_failed: { ...brokerEvent('MQTT login refused'), throttleKey: (d) => String(d['address']) },
  connection_refused: brokerEvent('MQTT connection refused'),
  subscribe_denied: brokerEvent('MQTT subscription denied'),
  publish_denied: brokerEvent('MQTT publish denied'),
  forward_denied: brokerEvent('MQTT message not forwarded: the receiving session may no longer read it'),
  session_revoked: brokerEvent('MQTT session revoked: its credential was removed or rotated'),
  import_pending: { level: 'info', message: 'imported device waits for approval', report: (d) => ({ ...d }) },
  import_added: { level: 'info', message: 'device imported', report: (d) => ({ ...d }) },
  import_updated: { level: 'info', message: 'imported device changed', report: (d) => ({ ...d }) },
  import_renamed: { level: 'info', message: 'imported device renamed', report: (d) => ({ ...d }) },
  import_removed: { level: 'info', message: 'imported device removed', report: (d) => ({ ...d }) },
  import_decided: { level: 'info', message: 'import decision', report: (d) => ({ ...d }) },
  // Anyone allowed to publish discovery can cause these at will: once per source, topic and code per window, all
  // counted (a list of thousands of devices over the source's cap is one report with its count).
  import_refused: { level: 'warn', message: 'discovery message refused', report: (d) => ({ ...d }), throttleKey: (d) => `${d.source}\u0000${d.topic}\u0000${d.code}` },
  payload_too_large: brokerEvent('MQTT payload too large'),
  packet_too_large: brokerEvent('MQTT packet refused'),
  protocol_violation: brokerEvent('MQTT connection closed: protocol violation'),
  pre_auth_budget_exceeded: brokerEvent('MQTT connection closed: the memory for connections not yet accepted is used up'),
  rate_limited: brokerEvent('MQTT client over its publish rate'),
  tls_handshake_failed: brokerEvent('TLS handshake failed'),
  tls_reloaded: brokerEvent('TLS certificate reloaded'),
  tls_reload_failed: brokerEvent('TLS reload failed; the listeners keep the previous certificate'),
};

function commandData(c: CommandEvent): Data {
  const { json: _json, ...rest } = c;
  return rest;
}

export function isBrokerEvent(name: string): name is BrokerEventName {
  return (BROKER_EVENTS as readonly string[]).includes(name);
}

type Listener<K extends EventName> = (data: EventPayloads[K]) => void;
type AnyListener = <K extends EventName>(name: K, data: EventPayloads[K]) => void;

export class EventBus {
  private readonly listeners = new Map<EventName, Listener<EventName>[]>();
  private readonly any: AnyListener[] = [];

  constructor(private readonly log: Logger) {}

  /** Subscribe; returns the unsubscribe function. */
  on<K extends EventName>(name: K, fn: Listener<K>): () => void {
    let list = this.listeners.get(name);
    if (!list) this.listeners.set(name, (list = []));
    list.push(fn as Listener<EventName>);
    return () => {
      const l = this.listeners.get(name);
      const i = l?.indexOf(fn as Listener<EventName>) ?? -1;
      if (i >= 0) l!.splice(i, 1);
    };
  }

  /** Every event (reporters, metrics). */
  onAny(fn: AnyListener): () => void {
    this.any.push(fn);
    return () => {
      const i = this.any.indexOf(fn);
      if (i >= 0) this.any.splice(i, 1);
    };
  }

  emit<K extends EventName>(name: K, data: EventPayloads[K]): void {
    const list = this.listeners.get(name);
    if (list) {
      for (const fn of [...list]) {
        try {
          (fn as Listener<K>)(data);
        } catch (err) {
          this.log.error({ err: errorText(err), event: name }, 'event subscriber failed');
        }
      }
    }
    for (const fn of this.any) {
      try {
        fn(name, data);
      } catch (err) {
        this.log.error({ err: errorText(err), event: name }, 'event subscriber failed');
      }
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.stack ?? err.message : String(err);
}
