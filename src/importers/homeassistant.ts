/**
 * Home Assistant MQTT discovery → device descriptions, as a pure accumulator: feed it every message on
 * `<prefix>/+/+/config` and `<prefix>/+/+/+/config` (retained or not), read back the current descriptions. Entities
 * (per-entity messages `<prefix>/<component>/[<node_id>/]<object_id>/config`, and the components of device-based
 * messages `<prefix>/device/<object_id>/config`) are grouped into ONE device when they share a `device.identifiers`
 * entry or a `device.connections` pair, as Home Assistant's device registry does. An empty payload removes what that
 * topic had announced; a device disappears with its last entity.
 *
 * Identity: `hardwareId` is the first `device.identifiers` entry (of the earliest entity of the group that has one),
 * else the first connection as `<type>:<value>` (a MAC lower-cased with colons, `mac:84:0d:8e:52:28:51`), else — for
 * an entity without a device block — its `unique_id`. Never the name.
 *
 * Field keys (a stable, readable rule): the entity's id in its topic — the component id of a device-based message,
 * else `object_id` — with a leading `<node_id>` or device identifier (and `_`/`-`) removed, lower-cased, every run of
 * characters outside `[a-z0-9]` turned into `_`. `homeassistant/sensor/522851_ENERGY_Today/config` on device
 * `522851` → `energy_today`; `homeassistant/sensor/0x00158d0001d82999/temperature/config` → `temperature`. On a clash
 * the later entity (by discovery id) gets `_<platform>`, then `_2`, `_3`… Keys never depend on display names, so a
 * rename keeps every field. Fields an entity adds use the key as prefix: `<key>_brightness`, `<key>_position`,
 * `<key>_mode`. Command names: see ha-platforms.ts.
 *
 * Several entities usually read one state topic through different templates (ESPHome's JSON state, Tasmota's
 * `tele/<t>/SENSOR`): each is a StateSource with the same topic; the wiring evaluates all sources of a topic on each
 * message and applies the fields together as one reading (src/importers/state-reading.ts does exactly that).
 *
 * Never throws: every message gets a Result; rejections carry a stable code and are counted in `stats()`.
 *
 * Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import type { AvailabilitySpec, AvailabilityTopic, CommandDescription, DeviceDescription, Property, StateSource } from './model.js';
import { haFail, parseDiscoveryMessage, parseDiscoveryTopic, type Config, type EntityConfig, type HaErrorCode, type HaProblem, type HaResult } from './ha-config.js';
import { Options, describeEntity, isSupportedPlatform, topicProblem, type EntityPart } from './ha-platforms.js';

export type { HaErrorCode, HaProblem, HaResult } from './ha-config.js';

export interface HaDiscoveryOptions {
  /** Discovery prefix (default `homeassistant`). */
  readonly prefix?: string;
  /** Largest accepted discovery payload (default 64 KiB; real ones are under 4 KiB). */
  readonly maxPayloadBytes?: number;
  /** Deepest accepted JSON nesting (default 16). */
  readonly maxDepth?: number;
  /** Most components in one device-based message (default 256). */
  readonly maxComponents?: number;
  /** Most entities on one device (default 512). */
  readonly maxEntitiesPerDevice?: number;
  /** Most entities overall (default 20,000). */
  readonly maxEntities?: number;
}

export interface HaFeedOutcome {
  /** Hardware ids of devices added or whose description changed. */
  readonly changed: readonly string[];
  /** Hardware ids of devices that disappeared. */
  readonly removed: readonly string[];
  /** Components of a device-based message that were skipped (unsupported platform or invalid), with the reason. */
  readonly skipped: readonly (HaProblem & { readonly component: string })[];
}

export interface HaStats {
  readonly messages: number;
  readonly accepted: number;
  readonly removals: number;
  readonly rejected: Readonly<Partial<Record<HaErrorCode, number>>>;
  /** Entities of platforms the importer does not describe, per platform. */
  readonly unsupportedPlatforms: Readonly<Record<string, number>>;
  /** Templates outside the subset, per construct (`"filter 'regex_findall'"`, `"tag 'for'"`…). */
  readonly unsupportedTemplates: Readonly<Record<string, number>>;
}

interface Entity {
  readonly seq: number;
  readonly topic: string;
  readonly cfg: EntityConfig;
  readonly platform: Parameters<typeof describeEntity>[0];
  /** `ids:…`, `<type>:<value>` connection keys, or `uid:…` for a device-less entity. */
  readonly keys: readonly string[];
  /** The id this entity would give its device: identifiers[0], first connection, unique_id. */
  readonly primary: string;
  readonly rank: 0 | 1 | 2;
  readonly identifiers: readonly string[];
  readonly device?: ReadonlyMap<string, unknown>;
  readonly availability: { readonly topics: readonly AvailabilityTopic[]; readonly mode: AvailabilitySpec['mode'] };
  /** The entity described under a field key (the key depends on its neighbours; the rest only on its config). */
  readonly parts: Map<string, HaResult<EntityPart>>;
}

const MAX_STAT_KEYS = 200;

function bump(rec: Record<string, number>, key: string): void {
  const k = key in rec || Object.keys(rec).length < MAX_STAT_KEYS ? key : '(other)';
  rec[k] = (rec[k] ?? 0) + 1;
}

export class HomeAssistantDiscovery {
  private readonly prefix: string;
  private readonly limits: Required<Omit<HaDiscoveryOptions, 'prefix'>>;
  private seq = 0;
  private readonly entities = new Map<string, Entity>();
  private readonly byTopic = new Map<string, string[]>();
  private readonly byKey = new Map<string, Set<string>>();
  private readonly groupOfEntity = new Map<string, string>();
  private readonly descriptions = new Map<string, DeviceDescription>();
  private readonly counts = {
    messages: 0,
    accepted: 0,
    removals: 0,
    rejected: Object.create(null) as Record<string, number>,
    unsupportedPlatforms: Object.create(null) as Record<string, number>,
    unsupportedTemplates: Object.create(null) as Record<string, number>,
  };

  constructor(opts: HaDiscoveryOptions = {}) {
    this.prefix = opts.prefix ?? 'homeassistant';
    this.limits = {
      maxPayloadBytes: opts.maxPayloadBytes ?? 65_536,
      maxDepth: opts.maxDepth ?? 16,
      maxComponents: opts.maxComponents ?? 256,
      maxEntitiesPerDevice: opts.maxEntitiesPerDevice ?? 512,
      maxEntities: opts.maxEntities ?? 20_000,
    };
  }

  /** The topic filters a consumer subscribes to for this prefix. */
  subscriptions(): string[] {
    return [`${this.prefix}/+/+/config`, `${this.prefix}/+/+/+/config`];
  }

  /** Current descriptions, one per device, in hardware id order. */
  devices(): DeviceDescription[] {
    return [...this.descriptions.values()].sort((a, b) => (a.hardwareId < b.hardwareId ? -1 : a.hardwareId > b.hardwareId ? 1 : 0));
  }

  device(hardwareId: string): DeviceDescription | undefined {
    return this.descriptions.get(hardwareId);
  }

  stats(): HaStats {
    return {
      messages: this.counts.messages,
      accepted: this.counts.accepted,
      removals: this.counts.removals,
      rejected: { ...this.counts.rejected },
      unsupportedPlatforms: { ...this.counts.unsupportedPlatforms },
      unsupportedTemplates: { ...this.counts.unsupportedTemplates },
    };
  }

  /** One discovery message. Never throws. */
  feed(topic: string, payload: Uint8Array | string): HaResult<HaFeedOutcome> {
    this.counts.messages += 1;
    let r: HaResult<HaFeedOutcome>;
    try {
      r = this.apply(topic, payload);
    } catch (err) {
      // Defence in depth: a discovery message must never take the importer down.
      r = haFail('HA_INVALID', `unexpected: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!r.ok) {
      bump(this.counts.rejected, r.error.code);
      if (r.error.code === 'HA_UNSUPPORTED_PLATFORM' && r.error.detail) bump(this.counts.unsupportedPlatforms, r.error.detail);
      if (r.error.code === 'HA_TEMPLATE_UNSUPPORTED' && r.error.detail) bump(this.counts.unsupportedTemplates, r.error.detail);
    }
    return r;
  }

  private apply(topic: string, payload: Uint8Array | string): HaResult<HaFeedOutcome> {
    const dt = parseDiscoveryTopic(topic, this.prefix);
    if (!dt) return haFail('HA_TOPIC', `"${topic.slice(0, 200)}" is not ${this.prefix}/<component>/[<node_id>/]<object_id>/config`);
    const empty = typeof payload === 'string' ? payload.length === 0 : payload.byteLength === 0;
    if (empty) {
      const had = this.byTopic.has(topic);
      const outcome = this.replace(topic, []);
      if (had) this.counts.removals += 1;
      return { ok: true, value: { ...outcome, skipped: [] } };
    }
    const parsed = parseDiscoveryMessage(dt, payload, this.limits);
    if (!parsed.ok) return parsed;
    const fresh: Entity[] = [];
    const skipped: (HaProblem & { component: string })[] = [];
    for (const cfg of parsed.value) {
      const e = this.entity(topic, cfg);
      if (e.ok) fresh.push(e.value);
      else if (cfg.componentId !== undefined) {
        skipped.push({ ...e.error, component: cfg.componentId });
        if (e.error.code === 'HA_UNSUPPORTED_PLATFORM' && e.error.detail) bump(this.counts.unsupportedPlatforms, e.error.detail);
        if (e.error.code === 'HA_TEMPLATE_UNSUPPORTED' && e.error.detail) bump(this.counts.unsupportedTemplates, e.error.detail);
      } else return e;
    }
    if (fresh.length === 0) {
      // The skipped components were counted above; no detail, so feed() does not count them twice.
      return haFail(skipped[0]!.code, `no usable component: ${skipped.map((s) => `${s.component}: ${s.message}`).join('; ')}`);
    }
    const others = this.entities.size - (this.byTopic.get(topic)?.length ?? 0);
    if (others + fresh.length > this.limits.maxEntities) return haFail('HA_LIMIT', `more than ${this.limits.maxEntities} entities`);
    const previous = (this.byTopic.get(topic) ?? []).map((id) => this.entities.get(id)!);
    const outcome = this.replace(topic, fresh);
    const oversized = fresh.map((e) => this.group(e.cfg.discoveryId)).find((g) => g.length > this.limits.maxEntitiesPerDevice);
    if (oversized) {
      this.replace(topic, previous);
      return haFail('HA_LIMIT', `more than ${this.limits.maxEntitiesPerDevice} entities on one device`);
    }
    this.counts.accepted += 1;
    return { ok: true, value: { ...outcome, skipped } };
  }

  /** Validate one entity configuration and work out its identity. */
  private entity(topic: string, cfg: EntityConfig): HaResult<Entity> {
    if (!isSupportedPlatform(cfg.platform)) {
      return haFail('HA_UNSUPPORTED_PLATFORM', `the "${cfg.platform}" platform is not imported`, cfg.platform.slice(0, 64));
    }
    // Validate now (with a provisional key) so a bad configuration is refused with its reason at discovery time.
    const part = describeEntity(cfg.platform, new Options(cfg.config), 'x');
    if (!part.ok) return part;
    const identity = identityOf(cfg.config);
    if (!identity.ok) return identity;
    const availability = availabilityOf(cfg.config);
    if (!availability.ok) return availability;
    for (const construct of part.value.unsupportedTemplates) bump(this.counts.unsupportedTemplates, construct);
    const device = cfg.config.get('device');
    return {
      ok: true,
      value: {
        // An update keeps the entity's place, so the device's anchor (and hardware id) does not move.
        seq: this.entities.get(cfg.discoveryId)?.seq ?? this.seq++,
        topic,
        cfg,
        platform: cfg.platform,
        ...identity.value,
        ...(device instanceof Map ? { device: device as ReadonlyMap<string, unknown> } : {}),
        availability: availability.value,
        parts: new Map([['x', part]]),
      },
    };
  }

  /** Replace what `topic` announced by `fresh`; rebuild the affected devices. */
  private replace(topic: string, fresh: readonly Entity[]): { changed: string[]; removed: string[] } {
    const oldIds = this.byTopic.get(topic) ?? [];
    const touched = new Set<string>();
    const before = new Set<string>();
    for (const id of oldIds) {
      for (const member of this.group(id)) touched.add(member);
      const hw = this.groupOfEntity.get(id);
      if (hw !== undefined) before.add(hw);
    }
    for (const id of oldIds) this.remove(id);
    for (const e of fresh) this.add(e);
    if (fresh.length > 0) this.byTopic.set(topic, fresh.map((e) => e.cfg.discoveryId));
    else this.byTopic.delete(topic);
    for (const e of fresh) {
      for (const member of this.group(e.cfg.discoveryId)) {
        const hw = this.groupOfEntity.get(member);
        if (hw !== undefined) before.add(hw);
        touched.add(member);
      }
    }
    const changed: string[] = [];
    const after = new Set<string>();
    const done = new Set<string>();
    for (const id of touched) {
      if (!this.entities.has(id) || done.has(id)) continue;
      const members = this.group(id).map((m) => this.entities.get(m)!);
      for (const m of members) done.add(m.cfg.discoveryId);
      const desc = buildDescription(members);
      after.add(desc.hardwareId);
      for (const m of members) this.groupOfEntity.set(m.cfg.discoveryId, desc.hardwareId);
      const prev = this.descriptions.get(desc.hardwareId);
      if (!prev || JSON.stringify(prev) !== JSON.stringify(desc)) changed.push(desc.hardwareId);
      this.descriptions.set(desc.hardwareId, desc);
    }
    const removed: string[] = [];
    for (const hw of before) {
      if (after.has(hw)) continue;
      const stillUsed = [...this.groupOfEntity.values()].includes(hw);
      if (!stillUsed) {
        this.descriptions.delete(hw);
        removed.push(hw);
      }
    }
    return { changed, removed };
  }

  private add(e: Entity): void {
    this.entities.set(e.cfg.discoveryId, e);
    for (const k of e.keys) {
      let s = this.byKey.get(k);
      if (!s) this.byKey.set(k, (s = new Set()));
      s.add(e.cfg.discoveryId);
    }
  }

  private remove(id: string): void {
    const e = this.entities.get(id);
    if (!e) return;
    this.entities.delete(id);
    this.groupOfEntity.delete(id);
    for (const k of e.keys) {
      const s = this.byKey.get(k);
      s?.delete(id);
      if (s?.size === 0) this.byKey.delete(k);
    }
  }

  /** Entities connected to `id` through shared identity keys (sorted by arrival). */
  private group(id: string): string[] {
    const seen = new Set<string>();
    const keysSeen = new Set<string>();
    const stack = [id];
    while (stack.length > 0) {
      const cur = stack.pop()!;
      if (seen.has(cur) || !this.entities.has(cur)) continue;
      seen.add(cur);
      for (const k of this.entities.get(cur)!.keys) {
        // Each key's entities are listed once: linear in the size of the group, however many share a key.
        if (keysSeen.has(k)) continue;
        keysSeen.add(k);
        for (const other of this.byKey.get(k) ?? []) if (!seen.has(other)) stack.push(other);
      }
    }
    return [...seen].sort((a, b) => this.entities.get(a)!.seq - this.entities.get(b)!.seq);
  }
}

function asStringList(v: unknown, what: string): HaResult<string[]> {
  if (v === undefined || v === null) return { ok: true, value: [] };
  const list = Array.isArray(v) ? v : [v];
  if (list.length > 64) return haFail('HA_INVALID', `${what} has more than 64 entries`);
  const out: string[] = [];
  for (const x of list) {
    if (typeof x === 'number' && Number.isFinite(x)) out.push(String(x));
    else if (typeof x === 'string' && x.length > 0 && x.length <= 256) out.push(x);
    else return haFail('HA_INVALID', `${what} must hold non-empty strings of at most 256 characters`);
  }
  return { ok: true, value: out };
}

function identityOf(cfg: Config): HaResult<Pick<Entity, 'keys' | 'primary' | 'rank' | 'identifiers'>> {
  const device = cfg.get('device');
  if (device !== undefined && !(device instanceof Map)) return haFail('HA_INVALID', '"device" must be an object');
  const dev = device as ReadonlyMap<string, unknown> | undefined;
  const ids = asStringList(dev?.get('identifiers'), 'device.identifiers');
  if (!ids.ok) return ids;
  const connections: string[] = [];
  const rawConnections = dev?.get('connections');
  if (rawConnections !== undefined) {
    if (!Array.isArray(rawConnections) || rawConnections.length > 64) return haFail('HA_INVALID', 'device.connections must be a list of [type, value] pairs');
    for (const c of rawConnections) {
      if (!Array.isArray(c) || c.length !== 2 || typeof c[0] !== 'string' || typeof c[1] !== 'string' || c[0].length > 64 || c[1].length > 256) {
        return haFail('HA_INVALID', 'device.connections must be a list of [type, value] pairs');
      }
      // HA's device registry lower-cases MAC connections (helpers/device_registry.py format_mac).
      connections.push(`${c[0].toLowerCase()}:${c[0].toLowerCase() === 'mac' ? c[1].toLowerCase() : c[1]}`);
    }
  }
  if (ids.value.length > 0) return { ok: true, value: { keys: [...ids.value.map((i) => `ids:${i}`), ...connections], primary: ids.value[0]!, rank: 0, identifiers: ids.value } };
  if (connections.length > 0) return { ok: true, value: { keys: connections, primary: connections[0]!, rank: 1, identifiers: [] } };
  const uid = cfg.get('unique_id');
  if ((typeof uid === 'string' && uid.length > 0 && uid.length <= 256) || (typeof uid === 'number' && Number.isFinite(uid))) {
    return { ok: true, value: { keys: [`uid:${String(uid)}`], primary: String(uid), rank: 2, identifiers: [] } };
  }
  return haFail('HA_NO_IDENTITY', 'no device.identifiers, device.connections or unique_id to identify the device by');
}

function availabilityOf(cfg: Config): HaResult<{ topics: AvailabilityTopic[]; mode: AvailabilitySpec['mode'] }> {
  const o = new Options(cfg);
  const topics: AvailabilityTopic[] = [];
  try {
    const online = o.str('payload_available', 'online')!;
    const offline = o.str('payload_not_available', 'offline')!;
    const list = cfg.get('availability');
    if (list !== undefined && list !== null) {
      if (!Array.isArray(list) || list.length > 16) return haFail('HA_INVALID', '"availability" must be a list of at most 16 entries');
      for (const a of list) {
        if (!(a instanceof Map)) return haFail('HA_INVALID', 'each "availability" entry must be an object');
        const ao = new Options(a as Config);
        const topic = ao.requiredTopic('topic');
        const tpl = ao.template('value_template');
        topics.push({ topic, online: ao.str('payload_available', online)!, offline: ao.str('payload_not_available', offline)!, ...(tpl ? { template: tpl.source } : {}) });
      }
    }
    const single = o.topic('availability_topic');
    if (single) {
      const tpl = o.template('availability_template');
      topics.push({ topic: single, online, offline, ...(tpl ? { template: tpl.source } : {}) });
    }
    const mode = o.str('availability_mode', 'latest')!;
    if (mode !== 'all' && mode !== 'any' && mode !== 'latest') return haFail('HA_INVALID', '"availability_mode" must be all, any or latest');
    return { ok: true, value: { topics, mode } };
  } catch (err) {
    const e = err as { message?: string; code?: HaErrorCode };
    return haFail(e.code ?? 'HA_INVALID', e.message ?? 'invalid availability');
  }
}

/** `object_id` (or component id) → the field key, per the rule in the module comment. */
export function fieldKey(e: Pick<Entity, 'cfg' | 'identifiers'>): string {
  let base = e.cfg.componentId ?? e.cfg.objectId;
  const strip = [e.cfg.nodeId, ...e.identifiers].filter((x): x is string => !!x).map((x) => x.toLowerCase().replace(/[^a-z0-9]/g, ''));
  const flat = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  for (const prefix of strip) {
    // Compare without separators: identifiers like "E8:DB:84:D1:E2:D4" appear as "E8DB84D1E2D4" in object ids.
    let i = 0;
    let j = 0;
    while (i < base.length && j < prefix.length) {
      if (!/[a-zA-Z0-9]/.test(base[i]!)) i += 1;
      else if (base[i]!.toLowerCase() === prefix[j]) {
        i += 1;
        j += 1;
      } else break;
    }
    if (prefix.length > 0 && j === prefix.length && /^[-_]/.test(base.slice(i)) && flat(base.slice(i)).length > 0) {
      base = base.slice(i + 1);
      break;
    }
  }
  const key = base.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  return key || e.cfg.platform;
}

function str(m: ReadonlyMap<string, unknown> | undefined, k: string): string | undefined {
  const v = m?.get(k);
  return typeof v === 'string' && v.length > 0 && v.length <= 256 ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;
}

/** One device from its entities (sorted by arrival). */
function buildDescription(members: readonly Entity[]): DeviceDescription {
  const anchor = members.find((m) => m.rank === 0) ?? members.find((m) => m.rank === 1) ?? members[0]!;
  const hardwareId = anchor.primary;
  const info = (k: string): string | undefined => {
    for (let i = members.length - 1; i >= 0; i -= 1) {
      const v = str(members[i]!.device, k);
      if (v !== undefined) return v;
    }
    return undefined;
  };
  const byId = [...members].sort((a, b) => (a.cfg.discoveryId < b.cfg.discoveryId ? -1 : 1));
  const usedKeys = new Set<string>();
  const properties: Property[] = [];
  const state: StateSource[] = [];
  const commands: CommandDescription[] = [];
  const warnings: string[] = [];
  const propertyKeys = new Set<string>();
  const commandNames = new Set<string>();
  for (const m of byId) {
    let key = fieldKey(m);
    if (usedKeys.has(key)) key = `${key}_${m.platform}`;
    for (let n = 2; usedKeys.has(key); n += 1) key = `${fieldKey(m)}_${m.platform}_${n}`;
    usedKeys.add(key);
    let r = m.parts.get(key);
    if (!r) {
      r = describeEntity(m.platform, new Options(m.cfg.config), key);
      if (m.parts.size >= 4) m.parts.clear();
      m.parts.set(key, r);
    }
    if (!r.ok) {
      warnings.push(`${m.cfg.discoveryId}: ${r.error.message}`);
      continue;
    }
    const part: EntityPart = r.value;
    for (const w of part.warnings) warnings.push(`${m.cfg.discoveryId}: ${w}`);
    const dropped = new Set<Property>();
    for (const p of part.properties) {
      if (propertyKeys.has(p.key)) {
        warnings.push(`${m.cfg.discoveryId}: field "${p.key}" already used by another entity; left out`);
        dropped.add(p);
        continue;
      }
      propertyKeys.add(p.key);
      properties.push(p);
    }
    const own = new Set(part.properties.filter((p) => !dropped.has(p)).map((p) => p.key));
    state.push(...part.state.filter((s) => s.key === undefined || own.has(s.key)));
    for (const c of part.commands) {
      if (commandNames.has(c.name)) continue;
      commandNames.add(c.name);
      commands.push(c);
    }
  }
  const availability = deviceAvailability(members, warnings);
  const single = members.length === 1 ? str(members[0]!.cfg.config, 'name') : undefined;
  const name = info('name') ?? single ?? hardwareId;
  const modelKey = createHash('sha256')
    .update(JSON.stringify({ properties, commands: commands.map((c) => ({ name: c.name, properties: c.properties, encoding: c.encoding })) }))
    .digest('hex')
    .slice(0, 16);
  const manufacturer = info('manufacturer');
  const model = info('model') ?? info('model_id');
  const softwareVersion = info('sw_version');
  return {
    source: 'homeassistant',
    hardwareId,
    name,
    ...(manufacturer ? { manufacturer } : {}),
    ...(model ? { model } : {}),
    ...(softwareVersion ? { softwareVersion } : {}),
    modelKey,
    properties,
    state,
    ...(availability ? { availability } : {}),
    commands,
    warnings,
  };
}

function deviceAvailability(members: readonly Entity[], warnings: string[]): AvailabilitySpec | undefined {
  const topics = new Map<string, AvailabilityTopic>();
  let mode: AvailabilitySpec['mode'] | undefined;
  const signatures = new Set<string>();
  for (const m of members) {
    const a = m.availability;
    if (a.topics.length === 0) {
      signatures.add('none');
      continue;
    }
    mode ??= a.mode;
    signatures.add(JSON.stringify(a));
    for (const t of a.topics) if (!topicProblem(t.topic)) topics.set(JSON.stringify(t), t);
  }
  if (topics.size === 0) return undefined;
  if (signatures.size > 1) warnings.push('entities announce different availability; the device uses all their topics');
  return { topics: [...topics.values()], mode: mode ?? 'latest' };
}
