/**
 * The device registry: every known device, by JID, resolved from (mapping, segments) on the uplink and from a JID on
 * the XMPP side. Registration is durable (SQLite) so JIDs keep resolving after a restart; the first device to claim a
 * JID keeps it (JID_COLLISION for later claimants).
 */
import { fail, ok, type Result } from '../errors.js';
import type { Mapping } from '../mapping/mapping.js';
import { renderTemplate } from '../mapping/template.js';
import type { Segments } from '../mapping/topic-pattern.js';
import type { DeviceStore } from '../store/devices.js';
import type { Device } from './device.js';
import { deviceJid, formLocalpart, unescapeLocal } from './device-jid.js';

export interface Identity {
  readonly id: string;
  readonly jid: string;
}

export class DeviceRegistry {
  private readonly byJidMap = new Map<string, Device>();
  private readonly identities = new WeakMap<Segments, { mapping: Mapping; result: Result<Identity> }>();
  private readonly mappings: ReadonlyMap<string, Mapping>;

  constructor(
    private readonly domain: string,
    mappings: readonly Mapping[],
    private readonly store: DeviceStore,
    private readonly maxDevices: number,
    private readonly onAdded: (device: Device) => void = () => undefined,
  ) {
    this.mappings = new Map(mappings.map((m) => [m.id, m]));
    // Devices of mappings that no longer exist are kept in the database but not served.
    for (const row of store.all()) {
      const mapping = this.mappings.get(row.mappingId);
      if (mapping) this.byJidMap.set(row.jid, this.make(row.jid, mapping, row.segments, row.lastSeen));
    }
  }

  /**
   * The JID a (mapping, segments) pair would have; registers nothing. Remembered per segments object: the topic
   * routers hand out one per distinct topic, so the hot path forms each device's JID once, not once per publish.
   */
  identify(mapping: Mapping, segments: Segments): Result<Identity> {
    const known = this.identities.get(segments);
    if (known?.mapping === mapping) return known.result;
    const r = formLocalpart(mapping.jid, segments);
    const result: Result<Identity> = r.ok ? ok({ id: r.localpart, jid: deviceJid(r.localpart, this.domain) }) : fail('JID_INVALID', r.reason);
    this.identities.set(segments, { mapping, result });
    return result;
  }

  /** The device for an identity, registering it on first sight. */
  register(mapping: Mapping, segments: Segments, identity: Identity): Result<Device> {
    const existing = this.byJidMap.get(identity.jid);
    if (existing) {
      if (existing.mapping === mapping && sameSegments(existing.segments, segments)) return ok(existing);
      return fail('JID_COLLISION', `${identity.jid} already belongs to ${describe(existing)}`);
    }
    if (this.byJidMap.size >= this.maxDevices) return fail('RATE_LIMITED', `the device limit (${this.maxDevices}) is reached`);
    const now = Date.now();
    const device = this.make(identity.jid, mapping, { ...segments }, now);
    this.store.save({ jid: device.jid, mappingId: mapping.id, segments: device.segments, firstSeen: now, lastSeen: now });
    this.byJidMap.set(device.jid, device);
    this.onAdded(device);
    return ok(device);
  }

  /** Identify and register in one step. */
  resolve(mapping: Mapping, segments: Segments): Result<Device> {
    const id = this.identify(mapping, segments);
    return id.ok ? this.register(mapping, segments, id.value) : id;
  }

  byJid(bareJid: string): Device | undefined {
    return this.byJidMap.get(bareJid);
  }

  all(): IterableIterator<Device> {
    return this.byJidMap.values();
  }

  get size(): number {
    return this.byJidMap.size;
  }

  /** Persist last-seen times (at shutdown; the hot path only updates memory). */
  flush(): void {
    for (const d of this.byJidMap.values()) if (d.lastSeen > 0) this.store.setLastSeen(d.jid, d.lastSeen);
  }

  private make(jid: string, mapping: Mapping, segments: Segments, lastSeen: number): Device {
    const id = jid.slice(0, jid.lastIndexOf('@'));
    const name = mapping.name ? renderTemplate(mapping.name, (p) => segments[p[0]!]) : unescapeLocal(id);
    return { id, jid, mapping, segments, name, online: false, lastSeen, via: undefined };
  }
}

function sameSegments(a: Segments, b: Segments): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}

function describe(d: Device): string {
  return `mapping "${d.mapping.id}" with ${Object.entries(d.segments).map(([k, v]) => `${k}=${v}`).join(', ')}`;
}
