/**
 * Known devices, shared (cluster mode): a local copy for the registry's synchronous reads, written through to a Redis
 * hash. A device one instance registers is announced, and the others add it to their registries (cluster feature).
 */
import type { DeviceRow, DeviceStore } from '../../kernel/stores.js';
import type { Writer } from './writer.js';

export class RedisDeviceStore implements DeviceStore {
  private readonly rows = new Map<string, DeviceRow>();
  private readonly byMappingId = new Map<string, Map<string, DeviceRow>>();

  constructor(private readonly w: Writer) {}

  save(row: DeviceRow): void {
    this.put(row);
    this.w.write('device', (m) => m.hset(this.w.keys.devices, row.jid, JSON.stringify(row)), { k: 'device', row });
  }

  /** Batched at shutdown and periodically: stored, not announced (instances tell each other what they heard from with `seen`). */
  setLastSeen(jid: string, at: number): void {
    const row = this.rows.get(jid);
    if (!row || row.lastSeen >= at) return;
    const next = { ...row, lastSeen: at };
    this.put(next);
    this.w.write('last seen', (m) => m.hset(this.w.keys.devices, jid, JSON.stringify(next)), undefined);
  }

  byMapping(mappingId: string): DeviceRow[] {
    return [...(this.byMappingId.get(mappingId)?.values() ?? [])];
  }

  delete(jid: string): void {
    this.drop(jid);
    this.w.write('device removal', (m) => m.hdel(this.w.keys.devices, jid), { k: 'device-', jid });
  }

  setName(jid: string, name: string | undefined): void {
    const row = this.rows.get(jid);
    if (!row) return;
    const { name: _old, ...rest } = row;
    this.save(name === undefined ? rest : { ...rest, name });
  }

  get(jid: string): DeviceRow | undefined {
    return this.rows.get(jid);
  }

  all(): IterableIterator<DeviceRow> {
    return this.rows.values();
  }

  get size(): number {
    return this.rows.size;
  }

  /** Another instance's change, or the snapshot loaded from Redis. */
  put(row: DeviceRow): void {
    const before = this.rows.get(row.jid);
    if (before && before.mappingId !== row.mappingId) this.byMappingId.get(before.mappingId)?.delete(row.jid);
    this.rows.set(row.jid, row);
    let set = this.byMappingId.get(row.mappingId);
    if (!set) this.byMappingId.set(row.mappingId, (set = new Map<string, DeviceRow>()));
    set.set(row.jid, row);
  }

  drop(jid: string): void {
    const row = this.rows.get(jid);
    if (!row) return;
    this.rows.delete(jid);
    const set = this.byMappingId.get(row.mappingId);
    set?.delete(jid);
    if (set?.size === 0) this.byMappingId.delete(row.mappingId);
  }

  /** The whole local copy written back (Redis lost its data). */
  reseed(hset: (field: string, value: string) => void): void {
    for (const row of this.rows.values()) hset(row.jid, JSON.stringify(row));
  }
}

/** A stored device row, or undefined when the value is not one (written by another program or version). */
export function parseDeviceRow(text: string): DeviceRow | undefined {
  try {
    const v = JSON.parse(text) as Partial<DeviceRow>;
    if (typeof v.jid !== 'string' || typeof v.mappingId !== 'string' || typeof v.segments !== 'object' || v.segments === null) return undefined;
    return { jid: v.jid, mappingId: v.mappingId, segments: v.segments, firstSeen: Number(v.firstSeen) || 0, lastSeen: Number(v.lastSeen) || 0, ...(typeof v.name === 'string' ? { name: v.name } : {}) };
  } catch {
    return undefined;
  }
}
