/**
 * `mqtt-xmpp-bridge devices list|approve|block`: imported devices (docs/IMPORT.md) in the data directory. Works while
 * the bridge runs: the bridge notices the decision within a second (it polls the store) and imports or removes the
 * device. Blocking a device not seen yet (with --source) keeps it out when it announces itself.
 *
 * In cluster mode the decisions are shared (docs/SCALING.md): the command reads and writes them in Redis, and every
 * running instance applies them at once; the data directory is not used.
 */
import { loadConfig } from '../config/load.js';
import type { ImportRow, ImportStatus, ImportStore } from '../kernel/stores.js';
import { createLogger } from '../log.js';
import { openDatabase } from '../store/db.js';
import { SqliteImportStore } from '../store/imports.js';
import { openSharedImports } from '../store/redis/imports.js';

export interface DevicesCommandArgs {
  readonly action: string | undefined;
  readonly id: string | undefined;
  readonly config: string;
  readonly source: string | undefined;
  readonly status: string | undefined;
  readonly json: boolean;
}

const SOURCES = ['zigbee2mqtt', 'homeassistant', 'tasmota', 'homie'];
const STATUSES = ['pending', 'approved', 'blocked'];

export async function devicesCommand(a: DevicesCommandArgs): Promise<number> {
  if (a.source !== undefined && !SOURCES.includes(a.source)) {
    console.error(`--source must be one of ${SOURCES.join(', ')}`);
    return 1;
  }
  if (a.status !== undefined && !STATUSES.includes(a.status)) {
    console.error(`--status must be one of ${STATUSES.join(', ')}`);
    return 1;
  }
  const { config } = loadConfig(a.config);
  let opened: { store: ImportStore; close(): Promise<void> };
  try {
    opened = await openStore(config);
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  }
  const { store } = opened;
  try {
    switch (a.action) {
      case 'list': {
        const rows = store.list({ ...(a.source ? { source: a.source } : {}), ...(a.status ? { status: a.status as ImportStatus } : {}) });
        if (a.json) {
          for (const r of rows) console.log(JSON.stringify(withoutDescription(r)));
          return 0;
        }
        if (rows.length === 0) console.log('No imported devices yet.');
        for (const r of rows) console.log(`${r.status.padEnd(9)} ${r.source.padEnd(14)} ${r.hardwareId.padEnd(24)} ${r.name}${r.jid ? `  <${r.jid}>` : ''}`);
        return 0;
      }
      case 'approve':
      case 'block': {
        if (!a.id) return usage();
        const matches = store.list(a.source ? { source: a.source } : {}).filter((r) => r.hardwareId.toLowerCase() === a.id!.toLowerCase());
        if (matches.length > 1) {
          console.error(`"${a.id}" names devices of ${matches.map((m) => m.source).join(' and ')}: add --source`);
          return 1;
        }
        const source = matches[0]?.source ?? a.source;
        if (source === undefined) {
          console.error(`no imported device "${a.id}"${a.action === 'block' ? ' (to block a device not seen yet, give its --source)' : ''}`);
          return 1;
        }
        if (a.action === 'approve' && !matches[0]) {
          console.error(`no imported device "${a.id}" in ${source}`);
          return 1;
        }
        const status: ImportStatus = a.action === 'approve' ? 'approved' : 'blocked';
        const changed = store.decide(source, matches[0]?.hardwareId ?? a.id, status, 'cli', Date.now());
        const row = store.get(source, a.id);
        console.log(`${changed ? (status === 'approved' ? 'Approved' : 'Blocked') : `Already ${status}:`} ${row?.name ?? a.id} (${source} ${a.id})${row?.jid ? ` <${row.jid}>` : ''}.`);
        console.log(config.cluster.enabled ? 'Every running instance applies it at once.' : 'A running bridge applies it within a second.');
        return 0;
      }
      default:
        return usage();
    }
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  } finally {
    await opened.close();
  }
}

/** The data directory's store, or in cluster mode the one every instance shares. */
async function openStore(config: ReturnType<typeof loadConfig>['config']): Promise<{ store: ImportStore; close(): Promise<void> }> {
  if (config.cluster.enabled) return openSharedImports(config.cluster, createLogger({ level: 'silent' }));
  const db = openDatabase(config.dataDir);
  return {
    store: new SqliteImportStore(db),
    close: () => {
      db.close();
      return Promise.resolve();
    },
  };
}

function withoutDescription(r: ImportRow): Omit<ImportRow, 'description'> {
  const { description: _d, ...rest } = r;
  return rest;
}

function usage(): number {
  console.error('usage: mqtt-xmpp-bridge devices list [--source S] [--status S] [--json] | approve ID | block ID [--source S] --config FILE');
  return 1;
}
