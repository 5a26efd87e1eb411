/**
 * Sparkplug B importer (Eclipse Sparkplug 3.0): edge nodes and their devices → DeviceDescriptions. Pure — an
 * accumulator holds what it was fed and the caller passes the clock; the rebirth requests it asks for are returned,
 * the caller publishes them.
 *
 * Topics (§4.1.1): `<namespace>/<group>/<type>/<edge>[/<device>]`, namespace `spBv1.0`.
 *   NBIRTH  the edge node's birth certificate: every node metric with its name, alias and datatype, and `bdSeq`
 *   DBIRTH  a device's birth certificate (after its node's NBIRTH)
 *   NDATA / DDATA   values, by alias when the birth gave one (§6.4.4)
 *   NDEATH  the node's Will (registered at CONNECT): offline, it and its devices — when its `bdSeq` is the one of the
 *           current NBIRTH (§7.1: a stale Will of an earlier session does not end the current one)
 *   DDEATH  one device offline
 *   NCMD / DCMD   written by the bridge: commands, and `Node Control/Rebirth`
 *
 * What becomes of them:
 *   hardwareId   `<group>/<edge>` for a node, `<group>/<edge>/<device>` for a device (topic levels hold no `/`, so the
 *                id is unambiguous; the JID escapes `/` as `\2f`, XEP-0106)
 *   properties   one per metric with a datatype that reads as JSON (integers, floats, booleans, strings, DateTime as
 *                epoch milliseconds, Bytes and File as base64 text); DataSet, Template and property sets are left out
 *                with a warning. `bdSeq` and `Node Control/*` are not readings; the metric property `engUnit` is the unit.
 *   state        NDATA / DDATA decoded with the birth's aliases (format `sparkplug`)
 *   availability BIRTH and DATA online, DEATH offline; a device also goes offline with its node's NDEATH
 *   commands     `set`: every metric not marked `readOnly` (a metric property), written as an NCMD / DCMD with its
 *                name, alias and datatype — a node's `Node Control/*` metrics among them
 *
 * Sequence numbers (§6.4.3, §7.3): every message of a node after its NBIRTH (seq 0) carries the next `seq` (mod 256).
 * A gap, data from a node or device whose birth was not seen, or a metric alias no birth declared means the bridge's
 * picture is incomplete: it asks the node to be born again (NCMD `Node Control/Rebirth` = true), at most once per
 * `rebirthIntervalMs` per node.
 */
import { decodeSparkplug, parseSparkplugTopic, rebirthRequest, sparkplugKind, type SparkplugMetric, type SparkplugTopic } from '../convert/sparkplug.js';
import { canonicalJson, modelKeyOf } from './model-key.js';
import type { AvailabilityTopic, CommandDescription, DeviceDescription, Property, PropertyType } from './model.js';

export interface SparkplugOptions {
  /** The namespace, the first topic level. Default `spBv1.0`. */
  readonly namespace?: string;
  /** Nodes and devices tracked at once. */
  readonly maxDevices?: number;
  /** Least time between two rebirth requests to one node. */
  readonly rebirthIntervalMs?: number;
}

export type SparkplugUpdate =
  /** A birth certificate made a description, or changed it. */
  | { readonly kind: 'device'; readonly description: DeviceDescription }
  /** A message that cannot be read, or a device beyond the limit. */
  | { readonly kind: 'rejected'; readonly hardwareId: string; readonly code: 'not_sparkplug' | 'too_many_devices'; readonly message: string }
  /** Publish this NCMD: the node is asked for its births again. */
  | { readonly kind: 'rebirth'; readonly node: string; readonly topic: string; readonly payload: Buffer; readonly reason: string };

interface MetricInfo {
  readonly name: string;
  readonly type: string;
  readonly alias?: number;
}

interface DeviceState {
  /** Born since the node's last NBIRTH: its aliases are known. */
  born: boolean;
  aliases: Map<number, string>;
  last?: string;
}

interface NodeState {
  readonly group: string;
  readonly edge: string;
  bdSeq?: number | string;
  /** The seq expected next; undefined while the node is not born (never seen, or dead). */
  next?: number;
  aliases: Map<number, string>;
  readonly devices: Map<string, DeviceState>;
  lastRebirth?: number;
  last?: string;
}

const DEFAULT_NAMESPACE = 'spBv1.0';

export class SparkplugAccumulator {
  readonly namespace: string;
  private readonly maxDevices: number;
  private readonly rebirthIntervalMs: number;
  private readonly nodes = new Map<string, NodeState>();
  private count = 0;

  constructor(options: SparkplugOptions = {}) {
    this.namespace = options.namespace ?? DEFAULT_NAMESPACE;
    this.maxDevices = options.maxDevices ?? 1000;
    this.rebirthIntervalMs = options.rebirthIntervalMs ?? 5000;
  }

  /** Every message type the host reads: births and deaths describe, data is sequence-checked. */
  filters(): string[] {
    const ns = this.namespace;
    return [...['NBIRTH', 'NDEATH', 'NDATA'].map((t) => `${ns}/+/${t}/+`), ...['DBIRTH', 'DDEATH', 'DDATA'].map((t) => `${ns}/+/${t}/+/+`)];
  }

  feed(topic: string, payload: Uint8Array, now: number): SparkplugUpdate[] {
    const t = parseSparkplugTopic(topic);
    if (!t || t.namespace !== this.namespace || t.type === 'NCMD' || t.type === 'DCMD') return [];
    const nodeId = `${t.group}/${t.edge}`;
    const id = t.device === undefined ? nodeId : `${nodeId}/${t.device}`;
    const decoded = decodeSparkplug(payload);
    if (!decoded.ok) return [{ kind: 'rejected', hardwareId: id, code: 'not_sparkplug', message: `${t.type}: ${decoded.error.message}` }];
    const p = decoded.value;
    let node = this.nodes.get(nodeId);

    if (t.type === 'NBIRTH') {
      if (!node) {
        if (this.count >= this.maxDevices) return [{ kind: 'rejected', hardwareId: id, code: 'too_many_devices', message: `already tracking ${this.maxDevices} Sparkplug nodes and devices` }];
        this.nodes.set(nodeId, (node = { group: t.group, edge: t.edge, aliases: new Map(), devices: new Map() }));
        this.count += 1;
      }
      const bdSeq = p.metrics.find((m) => m.name === 'bdSeq')?.value;
      node.bdSeq = typeof bdSeq === 'number' || typeof bdSeq === 'string' ? bdSeq : undefined;
      node.next = ((p.seq ?? 0) + 1) % 256;
      node.aliases = aliasesOf(p.metrics);
      node.lastRebirth = undefined;
      // §7.3: after an NBIRTH every device must be born again before its data can be read.
      for (const d of node.devices.values()) {
        d.born = false;
        d.aliases.clear();
      }
      const description = this.describe(t, node, p.metrics);
      const mark = canonicalJson(description);
      if (mark === node.last) return [];
      node.last = mark;
      return [{ kind: 'device', description }];
    }

    if (t.type === 'NDEATH') {
      // §7.1: only the death of the current session counts (the bdSeq of the last NBIRTH).
      const bdSeq = p.metrics.find((m) => m.name === 'bdSeq')?.value;
      if (node && (node.bdSeq === undefined || bdSeq === node.bdSeq)) {
        node.next = undefined;
        for (const d of node.devices.values()) d.born = false;
      }
      return [];
    }

    // Everything else comes from a born node, in sequence.
    if (!node || node.next === undefined) return this.rebirth(t, node, now, `${t.type} from a node whose birth was not seen`);
    const expected = node.next;
    // Resynchronized on what arrived, so one lost message costs one request, not one per message after it.
    node.next = ((p.seq ?? expected) + 1) % 256;
    // A gap: something was lost (a birth, a death, data). The message itself is still read.
    const out: SparkplugUpdate[] = p.seq !== expected ? this.rebirth(t, node, now, `sequence gap: expected seq ${expected}, got ${p.seq ?? 'none'}`) : [];

    if (t.type === 'NDATA') {
      const unknown = unknownAlias(p.metrics, node.aliases);
      return unknown === undefined ? out : [...out, ...this.rebirth(t, node, now, `NDATA names metric alias ${unknown}, which the NBIRTH did not declare`)];
    }
    const deviceId = t.device!;
    let device = node.devices.get(deviceId);
    if (t.type === 'DBIRTH') {
      if (!device) {
        if (this.count >= this.maxDevices) return [...out, { kind: 'rejected', hardwareId: id, code: 'too_many_devices', message: `already tracking ${this.maxDevices} Sparkplug nodes and devices` }];
        node.devices.set(deviceId, (device = { born: false, aliases: new Map() }));
        this.count += 1;
      }
      device.born = true;
      device.aliases = aliasesOf(p.metrics);
      const description = this.describe(t, node, p.metrics);
      const mark = canonicalJson(description);
      if (mark === device.last) return out;
      device.last = mark;
      return [...out, { kind: 'device', description }];
    }
    if (t.type === 'DDEATH') {
      if (device) device.born = false;
      return out;
    }
    // DDATA
    if (!device?.born) return [...out, ...this.rebirth(t, node, now, `DDATA from device ${deviceId}, whose DBIRTH was not seen`)];
    const unknown = unknownAlias(p.metrics, device.aliases);
    return unknown === undefined ? out : [...out, ...this.rebirth(t, node, now, `DDATA names metric alias ${unknown}, which the DBIRTH did not declare`)];
  }

  /** Descriptions standing now are the last yielded; the feature keeps them. This forgets a node and its devices. */
  forget(group: string, edge: string): void {
    const node = this.nodes.get(`${group}/${edge}`);
    if (!node) return;
    this.count -= 1 + node.devices.size;
    this.nodes.delete(`${group}/${edge}`);
  }

  private rebirth(t: SparkplugTopic, node: NodeState | undefined, now: number, reason: string): SparkplugUpdate[] {
    if (node?.lastRebirth !== undefined && now - node.lastRebirth < this.rebirthIntervalMs) return [];
    if (node) node.lastRebirth = now;
    else if (!this.throttleUnknown(`${t.group}/${t.edge}`, now)) return [];
    return [{ kind: 'rebirth', node: `${t.group}/${t.edge}`, topic: `${this.namespace}/${t.group}/NCMD/${t.edge}`, payload: rebirthRequest(now), reason }];
  }

  /** Nodes never born are not tracked (no memory for them); their requests are throttled in a small bounded map. */
  private readonly unknownAsked = new Map<string, number>();
  private throttleUnknown(node: string, now: number): boolean {
    const last = this.unknownAsked.get(node);
    if (last !== undefined && now - last < this.rebirthIntervalMs) return false;
    if (this.unknownAsked.size >= 1024) this.unknownAsked.clear();
    this.unknownAsked.set(node, now);
    return true;
  }

  private describe(t: SparkplugTopic, node: NodeState, metrics: readonly SparkplugMetric[]): DeviceDescription {
    const ns = this.namespace;
    const nodeBase = `${ns}/${t.group}`;
    const isNode = t.device === undefined;
    const warnings: string[] = [];
    const properties: Property[] = [];
    const writable: MetricInfo[] = [];
    const seen = new Set<string>();
    for (const m of metrics) {
      if (m.name === undefined) {
        warnings.push(`a metric without a name (alias ${m.alias ?? '?'}) in the birth certificate; left out`);
        continue;
      }
      if (seen.has(m.name)) continue;
      seen.add(m.name);
      if (m.name === 'bdSeq' && isNode) continue;
      const type = propertyType(m.type);
      if (!type) {
        warnings.push(`metric "${m.name}": datatype ${m.type} is not read; left out`);
        continue;
      }
      const control = isNode && m.name.startsWith('Node Control/');
      const readOnly = m.properties['readOnly'] === true;
      const unit = m.properties['engUnit'];
      const range = INTEGER_BOUNDS[m.type];
      const description = m.properties['Documentation'] ?? m.properties['Tooltip'];
      properties.push({
        key: m.name,
        label: m.name,
        type,
        ...(typeof unit === 'string' && unit !== '' ? { unit } : {}),
        ...(range ? { minimum: range[0], maximum: range[1] } : {}),
        ...(typeof description === 'string' ? { description } : {}),
        readable: !control,
        settable: !readOnly,
        gettable: false,
        ...(m.name.startsWith('Properties/') ? { diagnostic: true } : {}),
      });
      if (!readOnly) writable.push({ name: m.name, type: m.type, ...(m.alias !== undefined ? { alias: m.alias } : {}) });
    }
    const aliases: Record<string, string> = {};
    for (const [alias, name] of (isNode ? node.aliases : node.devices.get(t.device)!.aliases)) Object.defineProperty(aliases, String(alias), { value: name, enumerable: true });
    const nodeDeath: AvailabilityTopic = {
      topic: `${nodeBase}/NDEATH/${t.edge}`,
      online: 'BIRTH',
      offline: 'DEATH',
      format: 'sparkplug',
      ...(node.bdSeq !== undefined ? { bdSeq: node.bdSeq } : {}),
    };
    const own = (type: string): AvailabilityTopic => ({
      topic: isNode ? `${nodeBase}/${type}/${t.edge}` : `${nodeBase}/${type}/${t.edge}/${t.device}`,
      online: 'BIRTH',
      offline: 'DEATH',
      format: 'sparkplug',
    });
    const prefix = isNode ? 'N' : 'D';
    const dataTopic = own(`${prefix}DATA`).topic;
    const commandTopic = isNode ? `${nodeBase}/NCMD/${t.edge}` : `${nodeBase}/DCMD/${t.edge}/${t.device}`;
    const commandProps = properties.filter((p) => p.settable);
    const commands: CommandDescription[] =
      commandProps.length === 0
        ? []
        : [
            {
              name: 'set',
              description: `Write metrics (${isNode ? 'NCMD' : 'DCMD'})`,
              topic: commandTopic,
              properties: commandProps.map((p) => ({ ...p, readable: false })),
              encoding: { kind: 'sparkplug', metrics: writable },
              qos: 0, // §7.6: NCMD and DCMD are published with QoS 0
              retain: false,
            },
          ];
    const modelKey = modelKeyOf('sparkplug', { properties, commands: commands.map((c) => ({ properties: c.properties, encoding: c.encoding })) });
    return {
      source: 'sparkplug',
      hardwareId: isNode ? `${t.group}/${t.edge}` : `${t.group}/${t.edge}/${t.device}`,
      name: isNode ? t.edge : t.device,
      model: isNode ? 'Sparkplug B edge node' : 'Sparkplug B device',
      modelKey,
      properties,
      state: [{ topic: dataTopic, format: 'sparkplug', aliases }],
      availability: {
        topics: isNode ? [own('NBIRTH'), own('NDATA'), nodeDeath] : [own('DBIRTH'), own('DDATA'), own('DDEATH'), nodeDeath],
        mode: 'latest',
      },
      commands,
      warnings,
    };
  }
}

function aliasesOf(metrics: readonly SparkplugMetric[]): Map<number, string> {
  const out = new Map<number, string>();
  for (const m of metrics) if (m.alias !== undefined && m.name !== undefined) out.set(m.alias, m.name);
  return out;
}

/** The first alias of a data message that no birth declared (a metric with a name needs none). */
function unknownAlias(metrics: readonly SparkplugMetric[], aliases: ReadonlyMap<number, string>): number | undefined {
  for (const m of metrics) if (m.name === undefined && (m.alias === undefined || !aliases.has(m.alias))) return m.alias ?? -1;
  return undefined;
}

function propertyType(type: string): PropertyType | undefined {
  const kind = sparkplugKind(type);
  return kind === 'bytes' ? 'string' : kind;
}

const INTEGER_BOUNDS: Readonly<Record<string, readonly [number, number]>> = {
  Int8: [-128, 127],
  Int16: [-32768, 32767],
  Int32: [-2147483648, 2147483647],
  UInt8: [0, 255],
  UInt16: [0, 65535],
  UInt32: [0, 4294967295],
};
