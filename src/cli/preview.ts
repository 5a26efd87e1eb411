/**
 * `mqtt-xmpp-bridge preview --config FILE --topic T (--payload P | --file F) [--json]`: what the bridge would do
 * with one publish — the mapping and device it hits, the validation errors, the exact stanza — without a broker, an
 * XMPP server or the bridge's database (features/preview/preview.ts). Exit 0 when it would be delivered, 1 when it is
 * rejected or no mapping takes the topic (or the configuration is invalid).
 *
 * Offline, the recipients are the mapping's listed JIDs only: who subscribed to a device is known to the running
 * bridge (the status page's preview shows them).
 */
import { readFileSync } from 'node:fs';
import { DeviceRegistry } from '../devices/registry.js';
import { LoadError, formatProblem } from '../errors.js';
import { EventBus } from '../kernel/events.js';
import { MappingSet } from '../kernel/mapping-set.js';
import type { DeviceRow, DeviceStore, SubscriptionStore } from '../kernel/stores.js';
import { loadSetup } from '../load.js';
import { createLogger } from '../log.js';
import { ChatDelivery } from '../features/uplink/chat-delivery.js';
import { Recipients } from '../features/uplink/recipients.js';
import { UserPresence } from '../kernel/user-presence.js';
import { preview, type PreviewResult } from '../features/preview/preview.js';

export interface PreviewOptions {
  readonly config: string;
  readonly topic: string | undefined;
  readonly payload: string | undefined;
  readonly file: string | undefined;
  readonly json: boolean;
}

const NONE: ReadonlySet<string> = new Set();

/** Nothing is remembered offline: no known devices, no subscribers. */
const memoryDevices: DeviceStore = { save: () => undefined, setLastSeen: () => undefined, byMapping: (): DeviceRow[] => [], delete: () => undefined, setName: () => undefined };
const noSubscriptions: SubscriptionStore = { add: () => false, delete: () => false, has: () => false, of: () => NONE };

export function previewCommand(o: PreviewOptions): number {
  if (o.topic === undefined || o.topic === '') {
    console.error('missing --topic T');
    return 1;
  }
  if ((o.payload === undefined) === (o.file === undefined)) {
    console.error('give the payload with exactly one of --payload P or --file F');
    return 1;
  }
  let payload: Buffer;
  try {
    payload = o.file !== undefined ? readFileSync(o.file) : Buffer.from(o.payload!, 'utf8');
  } catch (err) {
    console.error(`cannot read ${o.file}: ${(err as Error).message}`);
    return 1;
  }
  let result: PreviewResult;
  try {
    const setup = loadSetup(o.config);
    const log = createLogger({ level: 'silent' });
    const bus = new EventBus(log);
    const registry = new DeviceRegistry(setup.config.xmpp.domain, memoryDevices, Number.MAX_SAFE_INTEGER, bus);
    const mappings = new MappingSet(registry, bus);
    const applied = mappings.apply(setup.mappings);
    if (!applied.ok) throw new LoadError([...(applied.problems ?? [])]);
    const chat = new ChatDelivery({ domain: setup.config.xmpp.domain, send: () => false }, new Recipients(noSubscriptions, new UserPresence()), setup.config.xmpp);
    result = preview({ routes: mappings, registry, build: (d, json, value) => chat.build(d, json, value) }, o.topic, payload);
  } catch (err) {
    if (err instanceof LoadError) {
      for (const p of err.problems) console.error(formatProblem(p));
      console.error(`${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} found`);
      return 1;
    }
    throw err;
  }
  if (o.json) console.log(JSON.stringify(result, null, 2));
  else console.log(describe(result));
  return result.outcome === 'delivered' ? 0 : 1;
}

function describe(r: PreviewResult): string {
  const lines = [`topic      ${r.topic}`];
  if (r.outcome === 'unmapped') {
    lines.push('result     not mapped: no mapping takes this topic (the broker routes it as any broker does; nothing reaches XMPP)');
    return lines.join('\n');
  }
  lines.push(`mapping    ${r.mapping}`);
  if (r.device) lines.push(`device     ${r.device.jid} (${r.device.name})`);
  if (r.outcome === 'rejected') {
    lines.push(`result     rejected: ${r.code}: ${r.message}`);
    if (r.errors.length > 0) lines.push('errors', ...r.errors.map((e) => `  ${e.path === '' ? '/' : e.path}: ${e.message}`));
    return lines.join('\n');
  }
  lines.push(
    `result     delivered${r.recipients.length > 0 ? ` to ${r.recipients.join(', ')}` : ''} (and to the device's subscribers, known to the running bridge)`,
    'stanza',
    r.stanza,
  );
  return lines.join('\n');
}
