/**
 * Health and readiness, one definition for `/healthz`, `/readyz`, the `health` request and the status page.
 *
 * Ready means the bridge does its job now: the XMPP component stream is up, the brokers are listening (or attached),
 * and the database takes a write (the outbox must, before any QoS 1 publish is acknowledged).
 */
import type { Kernel } from '../../kernel/kernel.js';
import { PRODUCT } from '../../version.js';

export interface Readiness {
  readonly ready: boolean;
  readonly checks: { readonly xmpp: boolean; readonly broker: boolean; readonly database: boolean };
}

/** The database check writes; an open status page asks every second, so its answer is reused this long. */
const DATABASE_CHECK_MS = 5000;
const lastDatabaseCheck = new WeakMap<object, { at: number; ok: boolean }>();

function databaseWritable(stores: Kernel['stores']): boolean {
  const now = Date.now();
  const last = lastDatabaseCheck.get(stores);
  if (last && now - last.at < DATABASE_CHECK_MS) return last.ok;
  const ok = stores.writable();
  lastDatabaseCheck.set(stores, { at: now, ok });
  return ok;
}

export function readiness(k: Pick<Kernel, 'xmpp' | 'mqtt' | 'stores'>): Readiness {
  const checks = { xmpp: k.xmpp.online, broker: k.mqtt.listening, database: databaseWritable(k.stores) };
  return { ready: checks.xmpp && checks.broker && checks.database, checks };
}

/** Everything the `health` request answers (and the status page's overview starts from). */
export function health(k: Kernel, startedAt: number): Record<string, unknown> {
  const r = readiness(k);
  let online = 0;
  for (const d of k.registry.all()) if (d.online) online += 1;
  return {
    status: r.ready ? 'ok' : 'degraded',
    ...r.checks,
    version: PRODUCT.version,
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    domain: k.config.xmpp.domain,
    brokers: k.mqtt.addresses(),
    devices: { known: k.registry.size, online },
    mappings: k.mappings.all().length,
    outbox: k.stores.outbox.size,
  };
}
