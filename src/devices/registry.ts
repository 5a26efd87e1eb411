/**
 * The device registry: every known device, by JID, resolved from (mapping, segments) on the uplink and from a JID on
 * the XMPP side. Registration is durable (DeviceStore) so JIDs keep resolving after a restart; the first device to
 * claim a JID keeps it (JID_COLLISION for later claimants).
 *
 * It follows the live mapping set (kernel/mapping-set.ts): a mapping added at run time brings back the devices it had
 * before; a replaced mapping keeps each device whose JID it still forms (same JID, same subscriptions, the new
 * mapping's name and rules); a removed mapping's devices leave (they stay in the store, and come back with it).
 * Leaving devices are announced (`device_removed`) so presence can tell their subscribers.
 */
import { fail, ok, type Result } from '../errors.js';
import type { EventBus, MappingsChange } from '../kernel/events.js';
import type { DeviceRow, DeviceStore } from '../kernel/stores.js';
import type { Mapping } from '../mapping/mapping.js';
import { renderTemplate } from '../mapping/template.js';
import type { Segments } from '../mapping/topic-pattern.js';
import type { Device } from './device.js';
import { deviceJid, formLocalpart, unescapeLocal } from './device-jid.js';

export interface Identity {
  readonly id: string;
  readonly jid: string;
}

export class DeviceRegistry {
  private readonly byJidMap = new Map<string, Device>();
  /** Devices per mapping id: following a mapping change touches only its devices. */
  private readonly byMappingId = new Map<string, Set<Device>>();
  private readonly identities = new WeakMap<Segments, { mapping: Mapping; result: Result<Identity> }>();
  /** Names operators gave devices (rename), by JID: they outlive mapping changes. */
  private readonly names = new Map<string, string>();

  constructor(
    readonly domain: string,
    private readonly store: DeviceStore,
    private readonly maxDevices: number,
    private readonly bus: EventBus,
  ) {}

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
    const known = this.claim(mapping, segments, identity);
    if (!known.ok || known.value !== undefined) return known as Result<Device>;
    const now = Date.now();
    const device = this.make(identity.jid, mapping, { ...segments }, now);
    this.store.save({ jid: device.jid, mappingId: mapping.id, segments: device.segments, firstSeen: now, lastSeen: now });
    this.add(device);
    this.bus.emit('device_added', { device });
    return ok(device);
  }

  /**
   * What `register` would answer, changing nothing (the preview): a copy of the known device, or a new device that is
   * not registered, or the error.
   */
  peek(mapping: Mapping, segments: Segments, identity: Identity): Result<Device> {
    const known = this.claim(mapping, segments, identity);
    if (!known.ok) return known;
    return ok(known.value ? { ...known.value } : this.make(identity.jid, mapping, { ...segments }, 0));
  }

  /** Give a device a name of the operator's (undefined: the mapping's again); persisted. */
  rename(jid: string, name: string | undefined): Device | undefined {
    const d = this.byJidMap.get(jid);
    if (!d) return undefined;
    if (name === undefined) this.names.delete(jid);
    else this.names.set(jid, name);
    d.name = nameOf(d.mapping, d.segments, d.id, name);
    this.store.setName(jid, name);
    return d;
  }

  /**
   * Forget a device (an operator's remove): it leaves the registry and the store and is announced as removed. Its
   * next reading registers it again, under the same JID; subscriptions stay (they are in the users' rosters).
   */
  forget(jid: string): Device | undefined {
    const d = this.byJidMap.get(jid);
    if (!d) return undefined;
    this.remove(d, 'removed');
    this.names.delete(jid);
    this.store.delete(jid);
    return d;
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

  /** The devices of one mapping. */
  ofMapping(mappingId: string): ReadonlySet<Device> {
    return this.byMappingId.get(mappingId) ?? EMPTY;
  }

  get size(): number {
    return this.byJidMap.size;
  }

  /** Follow a change of the mapping set (called by the set itself, before anyone else hears of the change). */
  follow(change: MappingsChange): void {
    for (const m of change.removed) this.removeAll(m.id, 'mapping-removed');
    for (const { before, after } of change.replaced) {
      for (const d of [...this.ofMapping(before.id)]) {
        const id = this.identify(after, d.segments);
        if (id.ok && id.value.jid === d.jid) {
          d.mapping = after;
          d.name = nameOf(after, d.segments, d.id, this.names.get(d.jid));
          if (before.id !== after.id) this.move(d, before.id, after.id);
        } else {
          this.remove(d, 'mapping-changed');
        }
      }
    }
    for (const m of [...change.added, ...change.replaced.map((r) => r.after)]) this.restore(m);
  }

  /**
   * A device another instance registered (cluster mode): known here from now on — JID, disco, commands — without
   * being announced again (`device_added` was that instance's). Undefined when its mapping here does not form it.
   */
  adopt(mapping: Mapping, row: DeviceRow): Device | undefined {
    const known = this.byJidMap.get(row.jid);
    if (known) return known;
    if (this.byJidMap.size >= this.maxDevices || !this.stillForms(mapping, row)) return undefined;
    const device = this.make(row.jid, mapping, row.segments, row.lastSeen);
    this.add(device);
    return device;
  }

  /** Persist last-seen times (at shutdown; the hot path only updates memory). */
  flush(): void {
    for (const d of this.byJidMap.values()) if (d.lastSeen > 0) this.store.setLastSeen(d.jid, d.lastSeen);
  }

  /** Known devices of a mapping that is (back) in the set. */
  private restore(mapping: Mapping): void {
    for (const row of this.store.byMapping(mapping.id)) {
      if (this.byJidMap.has(row.jid)) continue;
      if (!this.stillForms(mapping, row)) continue; // the mapping changed while it was away: found again on its next reading
      if (row.name !== undefined) this.names.set(row.jid, row.name);
      this.add(this.make(row.jid, mapping, row.segments, row.lastSeen));
    }
  }

  private stillForms(mapping: Mapping, row: DeviceRow): boolean {
    const id = this.identify(mapping, row.segments);
    return id.ok && id.value.jid === row.jid;
  }

  private add(d: Device): void {
    this.byJidMap.set(d.jid, d);
    let set = this.byMappingId.get(d.mapping.id);
    if (!set) this.byMappingId.set(d.mapping.id, (set = new Set()));
    set.add(d);
  }

  private move(d: Device, from: string, to: string): void {
    this.byMappingId.get(from)?.delete(d);
    let set = this.byMappingId.get(to);
    if (!set) this.byMappingId.set(to, (set = new Set()));
    set.add(d);
  }

  private removeAll(mappingId: string, reason: string): void {
    for (const d of [...this.ofMapping(mappingId)]) this.remove(d, reason);
  }

  private remove(d: Device, reason: string): void {
    this.byJidMap.delete(d.jid);
    const set = this.byMappingId.get(d.mapping.id);
    set?.delete(d);
    if (set?.size === 0) this.byMappingId.delete(d.mapping.id);
    if (d.lastSeen > 0) this.store.setLastSeen(d.jid, d.lastSeen);
    this.bus.emit('device_removed', { device: d, reason });
  }

  private make(jid: string, mapping: Mapping, segments: Segments, lastSeen: number): Device {
    const id = jid.slice(0, jid.lastIndexOf('@'));
    return { id, jid, mapping, segments, name: nameOf(mapping, segments, id, this.names.get(jid)), online: false, lastSeen, via: undefined };
  }

  /** The known device for this identity (undefined: a new one may be registered), or why it cannot be. */
  private claim(mapping: Mapping, segments: Segments, identity: Identity): Result<Device | undefined> {
    const existing = this.byJidMap.get(identity.jid);
    if (existing) {
      if (existing.mapping === mapping && sameSegments(existing.segments, segments)) return ok(existing);
      return fail('JID_COLLISION', `${identity.jid} already belongs to ${describe(existing)}`);
    }
    if (this.byJidMap.size >= this.maxDevices) return fail('RATE_LIMITED', `the device limit (${this.maxDevices}) is reached`);
    return ok(undefined);
  }
}

const EMPTY: ReadonlySet<Device> = new Set();

function nameOf(mapping: Mapping, segments: Segments, id: string, given?: string): string {
  if (given !== undefined) return given;
  return mapping.name ? renderTemplate(mapping.name, (p) => segments[p[0]!]) : unescapeLocal(id);
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
