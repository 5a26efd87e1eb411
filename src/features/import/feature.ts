/**
 * The import feature (docs/IMPORT.md): devices that describe themselves on the broker — Zigbee2MQTT, Home Assistant
 * discovery, Tasmota, Homie — become ordinary mappings of origin `{kind: 'import', source, id}`, without a line of
 * mapping written by hand.
 *
 *   watch     per source enabled in the config (`import.<source>.mode` not `off`), the adapter's topic filters, through
 *             the MQTT edge: retained messages included, each with its publisher when the broker knows it
 *   vet       every description against its publisher's rights and the topics other devices use (safety.ts)
 *   admit     deny/allow globs, the source's cap, blocked devices, the mode: `auto` imports at once, `approve` keeps
 *             new devices pending — no presence, no disco — until an operator approves them (policy.ts)
 *   persist   every device and decision in SQLite (the import store), so imported devices — their JIDs, hence their
 *             subscriptions — come back at start even when the broker lost its retained messages
 *   apply     descriptions → mappings (to-mapping.ts, schemas compiled once per model) → ONE change of the mapping set
 *             per message or settling window (a bridge/devices list of 5,000 devices is one change); a change the set
 *             refuses is retried without the devices it names, which are refused (IMPORT_CONFLICT)
 *   decide    approve and block from the CLI (another process: the store is polled), the operations
 *             `import/list|approve|block` (kernel/operations.ts: the request topics `<base>/bridge/request/import/…`
 *             and the status page), and an admin-only XEP-0050 command on the component
 *
 * Joins, renames (same hardware id: same JID, new name and topics), leaves and removals apply as they happen; each is
 * an event (import_* in the catalogue) reported on `<base>/bridge/event`.
 */
import type { MqttSide, Publisher } from '../../broker/mqtt-side.js';
import type { ImportSourceConfig, ImportSourceName } from '../../config/schema.js';
import { deviceJid } from '../../devices/device-jid.js';
import { fail, ok, type Result } from '../../errors.js';
import type { DeviceDescription } from '../../importers/model.js';
import type { ImportDeviceEvent } from '../../kernel/events.js';
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { ImportRow, ImportStatus } from '../../kernel/stores.js';
import type { Mapping } from '../../mapping/mapping.js';
import { filterMatches, type Segments } from '../../mapping/topic-pattern.js';
import type { Actor, OperationOutcome } from '../../kernel/operations.js';
import { ImportAdmin } from './admin.js';
import { admit } from './policy.js';
import { checkDescription, type TopicClaims } from './safety.js';
import { ModelSchemaCache } from './schema-cache.js';
import { NOTHING, type Announced, type ImportAdapter, type SourceRefusal, type Vet } from './source.js';
import { HomeAssistantAdapter } from './sources/homeassistant.js';
import { HomieAdapter } from './sources/homie.js';
import { SparkplugAdapter } from './sources/sparkplug.js';
import { TasmotaAdapter } from './sources/tasmota.js';
import { Zigbee2MqttAdapter } from './sources/zigbee2mqtt.js';
import { importLocalpart, importName, toMapping, type ImportOptions } from './to-mapping.js';

/** How often the store is asked whether the CLI decided something. */
const DECISION_POLL_MS = 1000;
const NO_SEGMENTS: Segments = Object.freeze({});
export const IMPORT_SOURCES: readonly ImportSourceName[] = ['zigbee2mqtt', 'homeassistant', 'tasmota', 'homie', 'sparkplug'];

/** One device of a source, as the feature knows it. */
interface Entry {
  /** The stored row without its description text (kept parsed below; the text stays in the store). */
  row: ImportRow;
  description: DeviceDescription | undefined;
  /** The mapping in force for it (approved and applied). */
  mapping: Mapping | undefined;
}

type Op = { readonly kind: 'upsert'; readonly a: Announced } | { readonly kind: 'remove'; readonly hardwareId: string; readonly reason: string };

interface Planned {
  readonly mapping: Mapping;
  readonly entry: Entry;
  readonly event: 'added' | 'updated' | 'renamed';
  readonly from?: string;
}

/** A device in a decision's answer. */
export interface ImportedDevice {
  readonly source: string;
  readonly id: string;
  readonly name: string;
  readonly status: ImportStatus;
  readonly jid: string | undefined;
  readonly publisher: string | undefined;
  readonly model: string | undefined;
  readonly updatedAt: number;
  readonly decidedBy: string | undefined;
}

export class ImportFeature implements Feature {
  readonly name = 'import';
  private readonly sources = new Map<ImportSourceName, { adapter: ImportAdapter; cfg: ImportSourceConfig; options: ImportOptions }>();
  private readonly entries = new Map<ImportSourceName, Map<string, Entry>>();
  private readonly queues = new Map<ImportSourceName, { ops: Map<string, Op>; timer: NodeJS.Timeout | undefined }>();
  private readonly schemas = new ModelSchemaCache();
  /** The model key each imported mapping holds in the schema cache. */
  private readonly held = new Map<string, string>();
  private readonly unwatch: (() => void)[] = [];
  private pollTimer: NodeJS.Timeout | undefined;
  /** The side of the message being handled: whether its broker knows publishers (vetting). */
  private knowsPublishers = true;

  constructor(private readonly k: Kernel) {
    const { config } = k;
    for (const source of IMPORT_SOURCES) {
      const cfg = config.import[source];
      if (cfg.mode === 'off') continue;
      const vet: Vet = (d, publisher) => this.vet(source, d, publisher);
      const options: ImportOptions = {
        jid: cfg.jid,
        name: cfg.name,
        access: cfg.access,
        messageType: cfg.messageType,
        jidVariables: { serverDomain: config.xmpp.serverDomain },
      };
      this.sources.set(source, { adapter: adapterOf(source, cfg, config.mqtt.embedded.maxPayloadBytes, vet), cfg, options });
      this.entries.set(source, new Map());
    }
    new ImportAdmin(k, this).register();
  }

  get enabled(): readonly ImportSourceName[] {
    return [...this.sources.keys()];
  }

  start(): void {
    this.restore();
    for (const [source, { adapter }] of this.sources) {
      for (const filter of adapter.filters()) {
        this.unwatch.push(this.k.mqtt.watch(filter, (topic, payload, side, publisher) => this.onMessage(source, topic, payload, side, publisher)));
      }
    }
    if (this.sources.size > 0) {
      for (const op of ['list', 'approve', 'block'] as const) {
        this.unwatch.push(this.k.operations.provide(`import/${op}`, (params, actor) => this.operation(op, params, actor)));
      }
      this.unwatch.push(
        this.k.metrics.gauge('imported_devices', () => {
          const counts = new Map<string, number>([
            ['pending', 0],
            ['approved', 0],
            ['blocked', 0],
          ]);
          for (const entries of this.entries.values()) for (const e of entries.values()) counts.set(e.row.status, (counts.get(e.row.status) ?? 0) + 1);
          return counts;
        }),
      );
      this.pollTimer = setInterval(() => this.pollDecisions(), DECISION_POLL_MS);
      this.pollTimer.unref();
    }
  }

  stop(): void {
    clearInterval(this.pollTimer);
    for (const u of this.unwatch.splice(0)) u();
    for (const q of this.queues.values()) clearTimeout(q.timer);
    this.queues.clear();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Operators' view and decisions (CLI poll, request topics, admin command)

  /** Devices of the enabled sources, optionally of one status. */
  list(filter: { source?: string; status?: ImportStatus } = {}): ImportedDevice[] {
    const out: ImportedDevice[] = [];
    for (const [source, entries] of this.entries) {
      if (filter.source !== undefined && filter.source !== source) continue;
      for (const e of entries.values()) {
        if (filter.status !== undefined && e.row.status !== filter.status) continue;
        out.push({
          source,
          id: e.row.hardwareId,
          name: e.row.name,
          status: e.row.status,
          jid: e.row.jid,
          publisher: e.row.publisher,
          model: e.description?.model,
          updatedAt: e.row.updatedAt,
          decidedBy: e.row.decidedBy,
        });
      }
    }
    return out.sort((a, b) => (a.source === b.source ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.source < b.source ? -1 : 1));
  }

  /** Approve or block a device of an enabled source (`source` may be left out when the id names one device). */
  decide(id: string, status: 'approved' | 'blocked', by: string, source?: string): Result<ImportedDevice> {
    const found = this.find(id, source, status === 'blocked');
    if (!found.ok) return found;
    const { source: s } = found.value;
    const now = Date.now();
    this.k.stores.imports.decide(s, found.value.hardwareId, status, by, now);
    const row = this.k.stores.imports.get(s, found.value.hardwareId);
    if (row) this.reconcile(s, row);
    this.k.bus.emit('import_decided', { source: s, hardwareId: found.value.hardwareId, status, by });
    const device = this.list({ source: s }).find((d) => d.id.toLowerCase() === found.value.hardwareId.toLowerCase());
    return device ? ok(device) : fail('INTERNAL', 'the decision was recorded but the device is not known');
  }

  private find(id: string, source: string | undefined, createIfUnknown: boolean): Result<{ source: ImportSourceName; hardwareId: string }> {
    if (source !== undefined && !this.sources.has(source as ImportSourceName)) return fail('DEVICE_UNKNOWN', `the ${source} import is not enabled`);
    const key = id.toLowerCase();
    const matches = [...this.entries].filter(([s, entries]) => (source === undefined || s === source) && entries.has(key));
    if (matches.length > 1) return fail('COMMAND_INVALID', `"${id}" names devices of ${matches.map(([s]) => s).join(' and ')}: say which source`);
    const [m] = matches;
    if (m) return ok({ source: m[0], hardwareId: m[1].get(key)!.row.hardwareId });
    // Blocking ahead of time: a device not seen yet is blocked before it announces itself.
    if (createIfUnknown && source !== undefined) return ok({ source: source as ImportSourceName, hardwareId: id });
    return fail('DEVICE_UNKNOWN', `no imported device "${id}"${source ? ` in ${source}` : ''}`);
  }

  /**
   * The operations `import/list` (optional `source`, `status`: `pending` — the waiting devices — and `devices`, those
   * matching), `import/approve` and `import/block` (`id`: the hardware id; `source` when two sources know it).
   */
  private operation(op: 'list' | 'approve' | 'block', params: Record<string, unknown>, actor: Actor): OperationOutcome {
    const source = typeof params['source'] === 'string' ? params['source'] : undefined;
    if (op === 'list') {
      const status = params['status'];
      if (status !== undefined && status !== 'pending' && status !== 'approved' && status !== 'blocked') return { ok: false, code: 'REQUEST_INVALID', error: 'status must be pending, approved or blocked' };
      const pending = this.list({ ...(source ? { source } : {}), status: 'pending' });
      return { ok: true, data: { pending, devices: status === 'pending' ? pending : this.list({ ...(source ? { source } : {}), ...(status ? { status } : {}) }) } };
    }
    const id = params['id'];
    if (typeof id !== 'string' || id === '') return { ok: false, code: 'REQUEST_INVALID', error: 'give the device\'s "id" (its hardware id) and, when ambiguous, its "source"' };
    const r = this.decide(id, op === 'approve' ? 'approved' : 'blocked', actor.via === 'http' ? 'status-page' : 'request', source);
    return r.ok ? { ok: true, data: { device: r.value } } : { ok: false, code: r.error.code, error: r.error.message };
  }

  /** The CLI (another process) wrote the store: apply its decisions. */
  private pollDecisions(): void {
    if (!this.k.stores.imports.changedElsewhere()) return;
    for (const source of this.sources.keys()) {
      for (const row of this.k.stores.imports.list({ source })) {
        const e = this.entries.get(source)!.get(row.hardwareId.toLowerCase());
        if (e && e.row.status === row.status) continue;
        this.reconcile(source, row);
        if (row.decidedBy !== undefined) this.k.bus.emit('import_decided', { source, hardwareId: row.hardwareId, status: row.status, by: row.decidedBy });
      }
    }
  }

  /** Make the device as its stored row says: imported when approved, out when blocked or pending. */
  private reconcile(source: ImportSourceName, row: ImportRow): void {
    const entries = this.entries.get(source)!;
    const key = row.hardwareId.toLowerCase();
    let e = entries.get(key);
    if (!e) entries.set(key, (e = { row: lean(row), description: parse(row.description), mapping: undefined }));
    e.row = lean(row);
    const upserts = new Map<string, Planned>();
    const removes = new Map<string, { entry: Entry; reason: string }>();
    if (row.status === 'approved' && e.description && !e.mapping) {
      const m = toMapping(e.description, this.sources.get(source)!.options, this.schemas);
      if (m.ok) upserts.set(m.value.id, { mapping: m.value, entry: e, event: 'added' });
      else this.refuse(source, { code: 'IMPORT_INVALID', reason: m.error.message, topic: '', hardwareId: row.hardwareId });
    } else if (row.status !== 'approved' && e.mapping) {
      removes.set(e.mapping.id, { entry: e, reason: row.status === 'blocked' ? 'blocked' : 'no longer approved' });
    }
    this.applyPlanned(source, upserts, removes);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Messages

  private onMessage(source: ImportSourceName, topic: string, payload: Buffer, side: MqttSide, publisher: Publisher | undefined): void {
    const s = this.sources.get(source);
    if (!s) return;
    this.knowsPublishers = side.knowsPublishers;
    const update = s.adapter.message(topic, payload, publisher) ?? NOTHING;
    for (const r of update.refused) this.refuse(source, r, publisher);
    for (const out of update.publish ?? []) {
      // Sparkplug 3.0 §7.6: commands (a rebirth request is one) at QoS 0, not retained, where the node is heard.
      this.k.log.info({ source, topic: out.topic, reason: out.reason }, 'import source asks the device');
      this.k.mqtt.publish(out.topic, out.payload, { qos: 0, retain: false }, side.name).catch((err: unknown) => this.k.log.warn({ topic: out.topic, err: (err as Error).message }, 'request to the device not published'));
    }
    if (update.upsert.length === 0 && update.remove.length === 0) return;
    let q = this.queues.get(source);
    if (!q) this.queues.set(source, (q = { ops: new Map(), timer: undefined }));
    for (const a of update.upsert) q.ops.set(a.description.hardwareId.toLowerCase(), { kind: 'upsert', a });
    for (const r of update.remove) q.ops.set(r.hardwareId.toLowerCase(), { kind: 'remove', ...r });
    if (s.adapter.settleMs === 0) this.flush(source);
    else q.timer ??= setTimeout(() => this.flush(source), s.adapter.settleMs);
  }

  /** Who already uses which topic, and what the bridge keeps for itself: the claims a description is vetted against. */
  private vet(source: ImportSourceName, d: DeviceDescription, publisher: Publisher | undefined): SourceRefusal | undefined {
    const cfg = this.sources.get(source)!.cfg;
    const local = importLocalpart(cfg.jid, d.hardwareId);
    if (!local.ok) return { code: 'IMPORT_INVALID', reason: local.error.message, topic: '' };
    const m = this.k.mappings;
    const ownerOf = (route: { target: Mapping; segments: Segments } | undefined): string | undefined => {
      if (!route) return undefined;
      const id = this.k.registry.identify(route.target, route.segments);
      return id.ok ? id.value.id : undefined;
    };
    const base = this.k.config.baseTopic;
    const discovery = [...this.sources.values()].flatMap((x) => x.adapter.filters());
    const claims: TopicClaims = {
      readingOwner: (t) => ownerOf(m.route(t)),
      reportOwner: (t) => m.publisherOf(t),
      commandOwner: (t) => m.commandTopicOwner(t),
      reserved: (t) =>
        t === `${base}/bridge` || t.startsWith(`${base}/bridge/`)
          ? 'the bridge\'s own topics'
          : discovery.some((f) => filterMatches(f, t))
            ? 'a discovery topic'
            : t.startsWith('$')
              ? 'a system topic'
              : undefined,
    };
    const refusal = checkDescription(d, local.value, publisher, this.knowsPublishers, claims);
    return refusal ? { code: refusal.code, reason: refusal.reason, topic: refusal.topic ?? '' } : undefined;
  }

  private refuse(source: string, r: SourceRefusal, publisher?: Publisher): void {
    this.k.metrics.inc('imports_refused_total', r.code);
    this.k.bus.emit('import_refused', {
      source,
      code: r.code,
      reason: r.reason,
      topic: r.topic,
      ...(r.hardwareId !== undefined ? { hardwareId: r.hardwareId } : {}),
      ...(r.detail !== undefined ? { detail: r.detail } : {}),
      ...(publisher ? { publisher: publisher.identity } : {}),
    });
  }

  /** Apply what a source announced since the last flush: store, then one change of the mapping set. */
  private flush(source: ImportSourceName): void {
    const q = this.queues.get(source);
    const s = this.sources.get(source);
    if (!q || !s) return;
    clearTimeout(q.timer);
    q.timer = undefined;
    const ops = [...q.ops.values()];
    q.ops.clear();
    const entries = this.entries.get(source)!;
    const now = Date.now();
    const rows: ImportRow[] = [];
    const upserts = new Map<string, Planned>();
    const removes = new Map<string, { entry: Entry; reason: string }>();
    let count = [...entries.values()].filter((e) => e.row.status !== 'blocked').length;
    for (const op of ops) {
      if (op.kind === 'remove') {
        const key = op.hardwareId.toLowerCase();
        const e = entries.get(key);
        if (!e || e.row.status === 'blocked') continue; // a blocked device stays blocked, gone or not
        entries.delete(key);
        count -= 1;
        this.k.stores.imports.delete(source, e.row.hardwareId);
        if (e.mapping) removes.set(e.mapping.id, { entry: e, reason: op.reason });
        else if (e.row.status === 'pending') this.k.bus.emit('import_removed', { ...this.eventOf(source, e), reason: op.reason });
        continue;
      }
      const d = op.a.description;
      const key = d.hardwareId.toLowerCase();
      const e = entries.get(key);
      // Refusals name the device's state topic: the throttle counts them per topic and code.
      const where = d.state[0]?.topic ?? '';
      const local = importLocalpart(s.cfg.jid, d.hardwareId);
      if (!local.ok) {
        this.refuse(source, { code: 'IMPORT_INVALID', reason: local.error.message, topic: where, hardwareId: d.hardwareId }, op.a.publisher);
        continue;
      }
      const name = importName(s.cfg.name, d);
      const admission = admit({ hardwareId: d.hardwareId, name: d.name }, s.cfg, e?.row, count);
      if (admission.kind === 'refuse') {
        // The cap: one report per window for the whole list (the throttle key has no topic for it).
        this.refuse(source, { code: admission.code, reason: admission.reason, topic: admission.code === 'IMPORT_LIMIT' ? '' : where, hardwareId: d.hardwareId }, op.a.publisher);
        continue;
      }
      const status = admission.kind === 'ignore' ? 'blocked' : admission.status;
      const row: ImportRow = {
        source,
        hardwareId: d.hardwareId,
        status,
        name,
        jid: deviceJid(local.value, this.k.config.xmpp.domain),
        description: JSON.stringify(d),
        publisher: op.a.publisher?.identity,
        firstSeen: e?.row.firstSeen ?? now,
        updatedAt: now,
        decidedBy: (admission.kind === 'import' ? admission.decidedBy : undefined) ?? e?.row.decidedBy,
      };
      rows.push(row);
      const before = e?.row;
      const entry: Entry = { row: lean(row), description: d, mapping: e?.mapping };
      entries.set(key, entry);
      if (!e) count += 1;
      if (status === 'pending' && before?.status !== 'pending') this.k.bus.emit('import_pending', this.eventOf(source, entry));
      if (status !== 'approved') continue;
      const m = toMapping(d, s.options, this.schemas);
      if (!m.ok) {
        this.refuse(source, { code: 'IMPORT_INVALID', reason: m.error.message, topic: where, hardwareId: d.hardwareId }, op.a.publisher);
        continue;
      }
      if (entry.mapping?.fingerprint === m.value.fingerprint) continue; // unchanged (a republished list)
      const renamed = before !== undefined && entry.mapping !== undefined && before.name !== name;
      upserts.set(m.value.id, { mapping: m.value, entry, event: !entry.mapping ? 'added' : renamed ? 'renamed' : 'updated', ...(renamed ? { from: before.name } : {}) });
    }
    this.k.stores.imports.saveMany(rows);
    this.applyPlanned(source, upserts, removes);
  }

  /**
   * One change of the mapping set. A change it refuses (a topic another mapping reads, a JID another device holds) is
   * retried without the devices its problems name; those are refused with the set's reasons.
   */
  private applyPlanned(source: ImportSourceName, upserts: Map<string, Planned>, removes: Map<string, { entry: Entry; reason: string }>): void {
    if (upserts.size === 0 && removes.size === 0) return;
    let planned = [...upserts.values()];
    const removeIds = [...removes.keys()];
    let r = this.k.mappings.apply(
      planned.map((p) => p.mapping),
      removeIds,
    );
    if (!r.ok) {
      const problems = new Map<string, string[]>();
      for (const p of r.problems ?? []) problems.set(p.file, [...(problems.get(p.file) ?? []), p.message]);
      const refused = planned.filter((p) => problems.has(p.mapping.file) || problems.size === 0);
      for (const p of refused) {
        this.refuse(source, { code: 'IMPORT_CONFLICT', reason: (problems.get(p.mapping.file) ?? [r.error.message]).join('; '), topic: p.mapping.topic.source, hardwareId: p.entry.row.hardwareId });
        this.releaseUnheld(p.mapping, p.entry.description);
      }
      planned = planned.filter((p) => !refused.includes(p));
      r = this.k.mappings.apply(
        planned.map((p) => p.mapping),
        removeIds,
      );
      if (!r.ok) {
        // Nothing the retry names can be told apart any more: none of these is imported now.
        for (const p of planned) {
          this.refuse(source, { code: 'IMPORT_CONFLICT', reason: r.error.message, topic: p.mapping.topic.source, hardwareId: p.entry.row.hardwareId });
          this.releaseUnheld(p.mapping, p.entry.description);
        }
        planned = [];
        r = this.k.mappings.apply([], removeIds);
      }
    }
    for (const p of planned) {
      const modelKey = p.entry.description!.modelKey;
      const old = this.held.get(p.mapping.id);
      if (old !== undefined && old !== modelKey) this.schemas.release(old, p.mapping.id);
      this.held.set(p.mapping.id, modelKey);
      p.entry.mapping = p.mapping;
      // The device exists from now on (disco, subscriptions), before its first reading.
      const device = this.k.registry.resolve(p.mapping, NO_SEGMENTS);
      if (!device.ok) this.k.log.warn({ mapping: p.mapping.id, code: device.error.code, err: device.error.message }, 'imported device not registered');
      const ev = { ...this.eventOf(source, p.entry), mapping: p.mapping.id };
      if (p.event === 'added') this.k.bus.emit('import_added', ev);
      else if (p.event === 'renamed') this.k.bus.emit('import_renamed', { ...ev, from: p.from ?? '' });
      else this.k.bus.emit('import_updated', ev);
    }
    if (r.ok) {
      for (const [id, { entry, reason }] of removes) {
        const key = this.held.get(id);
        if (key !== undefined) this.schemas.release(key, id);
        this.held.delete(id);
        entry.mapping = undefined;
        this.k.bus.emit('import_removed', { ...this.eventOf(source, entry), reason });
      }
    }
  }

  /** A mapping built but not applied: its schemas go back, unless the mapping in force holds the same model. */
  private releaseUnheld(m: Mapping, d: DeviceDescription | undefined): void {
    if (d && this.held.get(m.id) !== d.modelKey) this.schemas.release(d.modelKey, m.id);
  }

  private eventOf(source: string, e: Entry): ImportDeviceEvent {
    return { source, hardwareId: e.row.hardwareId, name: e.row.name, jid: e.row.jid ?? '' };
  }

  /** At start: the devices approved before come back at once, whatever the broker still holds. */
  private restore(): void {
    for (const [source, s] of this.sources) {
      const entries = this.entries.get(source)!;
      const upserts = new Map<string, Planned>();
      for (const row of this.k.stores.imports.list({ source })) {
        const e: Entry = { row: lean(row), description: parse(row.description), mapping: undefined };
        entries.set(row.hardwareId.toLowerCase(), e);
        if (row.status !== 'approved' || !e.description) continue;
        const m = toMapping(e.description, s.options, this.schemas);
        if (m.ok) upserts.set(m.value.id, { mapping: m.value, entry: e, event: 'added' });
      }
      const restored = upserts.size;
      // Restored quietly: these devices are not news.
      const r = this.k.mappings.apply([...upserts.values()].map((p) => p.mapping));
      if (!r.ok) {
        this.k.log.warn({ source, problems: (r.problems ?? []).slice(0, 10).map((p) => p.message) }, 'imported devices could not all be restored; they come back when they announce themselves');
        for (const p of upserts.values()) this.releaseUnheld(p.mapping, p.entry.description);
        continue;
      }
      for (const p of upserts.values()) {
        p.entry.mapping = p.mapping;
        this.held.set(p.mapping.id, p.entry.description!.modelKey);
        this.k.registry.resolve(p.mapping, NO_SEGMENTS);
      }
      if (restored > 0) this.k.log.info({ source, devices: restored }, 'imported devices restored');
    }
  }
}

function adapterOf(source: ImportSourceName, cfg: ImportSourceConfig, maxPayloadBytes: number, vet: Vet): ImportAdapter {
  switch (source) {
    case 'zigbee2mqtt':
      return new Zigbee2MqttAdapter(cfg.base, vet);
    case 'homeassistant':
      return new HomeAssistantAdapter({ prefix: cfg.base, maxPayloadBytes: Math.min(maxPayloadBytes, 65_536), maxEntities: cfg.maxDevices * 64 }, vet);
    case 'tasmota':
      return new TasmotaAdapter({ prefix: cfg.base, maxDevices: cfg.maxDevices }, vet);
    case 'homie':
      return new HomieAdapter({ domain: cfg.base, limits: { maxDevices: cfg.maxDevices } }, vet);
    case 'sparkplug':
      return new SparkplugAdapter({ namespace: cfg.base, maxDevices: cfg.maxDevices }, vet);
  }
}

/** A row without its description text: thousands of devices would otherwise hold their description twice. */
function lean(row: ImportRow): ImportRow {
  return row.description === undefined ? row : { ...row, description: undefined };
}

function parse(json: string | undefined): DeviceDescription | undefined {
  if (json === undefined) return undefined;
  try {
    return JSON.parse(json) as DeviceDescription;
  } catch {
    return undefined;
  }
}
