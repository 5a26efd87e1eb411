/**
 * The operator's operations on the bridge itself and its devices (kernel/operations.ts), for the request API and the
 * status page alike:
 *
 *   health          readiness checks and counts (operations/health.ts)
 *   device/list     every device: id, JID, name, mapping and origin, online, last seen, subscribers
 *   device/rename   {device, name}: the display name (persisted; `name: null` gives the mapping's name back)
 *   device/remove   {device}: the bridge forgets the device; its subscribers see it go; its next reading brings it
 *                   back under the same JID
 *
 * `device` is a bare JID or the device id (its JID local part).
 */
import type { Device } from '../../devices/device.js';
import { hasDisallowedXmlChars } from '../../convert/xml-safe.js';
import { describeOrigin } from '../../kernel/mapping-set.js';
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { OperationOutcome } from '../../kernel/operations.js';
import { health } from './health.js';

/** Longest display name an operator may give (it lands in disco, rosters and the page). */
export const MAX_NAME_CHARS = 100;

export interface DeviceSummary {
  readonly id: string;
  readonly jid: string;
  readonly name: string;
  readonly mapping: string;
  readonly origin: string;
  readonly online: boolean;
  readonly lastSeen: number | null;
  readonly subscribers: { readonly total: number; readonly online: number };
}

export function deviceSummary(k: Pick<Kernel, 'stores' | 'users'>, d: Device): DeviceSummary {
  const subs = k.stores.subscriptions.of(d.jid);
  return {
    id: d.id,
    jid: d.jid,
    name: d.name,
    mapping: d.mapping.id,
    origin: describeOrigin(d.mapping.origin),
    online: d.online,
    lastSeen: d.lastSeen > 0 ? d.lastSeen : null,
    subscribers: { total: subs.size, online: k.users.countOnline(subs) },
  };
}

/** The device a request names (bare JID or id), if the bridge knows it. */
export function namedDevice(k: Pick<Kernel, 'registry'>, ref: unknown): Device | undefined {
  if (typeof ref !== 'string' || ref === '') return undefined;
  const lower = ref.toLowerCase();
  return k.registry.byJid(lower.includes('@') ? lower : `${lower}@${k.registry.domain}`);
}

export class OperationsFeature implements Feature {
  readonly name = 'operations';
  private readonly release: (() => void)[] = [];
  private startedAt = Date.now();

  constructor(private readonly k: Kernel) {}

  start(): void {
    const { operations } = this.k;
    this.startedAt = Date.now();
    this.release.push(
      operations.provide('health', () => ({ ok: true, data: health(this.k, this.startedAt) })),
      operations.provide('device/list', () => ({ ok: true, data: { devices: [...this.k.registry.all()].map((d) => deviceSummary(this.k, d)) } })),
      operations.provide('device/rename', (p) => this.rename(p)),
      operations.provide('device/remove', (p) => this.remove(p)),
    );
  }

  stop(): void {
    for (const r of this.release.splice(0)) r();
  }

  private rename(p: Record<string, unknown>): OperationOutcome {
    const device = namedDevice(this.k, p['device']);
    if (!device) return unknown(p['device']);
    const name = p['name'];
    if (name !== null && name !== undefined && typeof name !== 'string') return { ok: false, code: 'REQUEST_INVALID', error: '"name" must be a string (or null for the mapping\'s name)' };
    const given = typeof name === 'string' ? name.trim() : '';
    if (given.length > MAX_NAME_CHARS) return { ok: false, code: 'REQUEST_INVALID', error: `"name" is longer than ${MAX_NAME_CHARS} characters` };
    // Names go into stanzas: a character XML 1.0 cannot carry would break the stream (convert/xml-safe.ts); a name
    // has no line breaks or tabs either.
    if (hasDisallowedXmlChars(given) || /[\t\n\r]/.test(given)) return { ok: false, code: 'REQUEST_INVALID', error: '"name" has characters a name cannot hold' };
    const before = device.name;
    this.k.registry.rename(device.jid, given === '' ? undefined : given);
    this.k.bus.emit('device_renamed', { device, before });
    return { ok: true, data: { device: device.jid, name: device.name, before } };
  }

  private remove(p: Record<string, unknown>): OperationOutcome {
    const device = namedDevice(this.k, p['device']);
    if (!device) return unknown(p['device']);
    this.k.registry.forget(device.jid);
    return { ok: true, data: { device: device.jid } };
  }
}

function unknown(ref: unknown): OperationOutcome {
  return { ok: false, code: 'DEVICE_UNKNOWN', error: typeof ref === 'string' && ref !== '' ? `no device ${ref}` : '"device" (a device JID or id) is required' };
}
