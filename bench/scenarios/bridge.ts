/**
 * Scenario B, the bridge end to end: simulated devices → MQTT (the bridge's embedded aedes) → mapping, validation,
 * (QoS 1: SQLite outbox + barriers) → XEP-0114 → Prosody → the receiver, a c2s client listed in the mapping's
 * notify.jids. The bridge runs in its own process (bridge-child.ts), configured like the integration tests but
 * with log level warn to a file.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { BENCH_SRC, Child, log, ROOT, sleep, tempDir, removeTempDir } from '../common.js';
import { DOMAIN, sharedServer, type BenchServer, type Rig } from '../rig.js';
import { Fleet, FleetRig } from './devices.js';

export interface BridgeProcess {
  readonly child: Child;
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  /** The status page's base URL, when http is enabled. */
  readonly http?: string;
  stop(): Promise<void>;
}

/** Whether the bridge's config schema (being extended while the bench is used) knows a key, e.g. xmpp.commandRate. */
function knows(path: string[]): boolean {
  let node: unknown = configSchema;
  for (const key of path) {
    node = (node as { properties?: Record<string, unknown> }).properties?.[key];
    if (node === undefined) return false;
  }
  return true;
}

/**
 * Settings the bench needs beyond the tests' config: anonymous devices (as in the integration tests: no credential
 * store to fill for 20,000 devices) and, where the bridge has a per-sender command rate limit, none (the downlink is
 * driven by one sender JID).
 */
export function benchSettings(): { embedded: Record<string, unknown>; xmpp: Record<string, unknown>; notes: string[] } {
  const embedded: Record<string, unknown> = {};
  const xmpp: Record<string, unknown> = {};
  const notes: string[] = [];
  if (knows(['mqtt', 'embedded', 'allowAnonymous'])) {
    embedded['allowAnonymous'] = true;
    notes.push('devices connect anonymously (mqtt.embedded.allowAnonymous: true, as in the integration tests)');
  }
  if (knows(['xmpp', 'commandRate'])) {
    xmpp['commandRate'] = { perMinute: 0 };
    notes.push('xmpp.commandRate.perMinute: 0 (the per-sender command limit is off: the downlink has one sender)');
  }
  return { embedded, xmpp, notes };
}

/** Write a config like the tests' and start the bridge in a child process (`--expose-gc`). */
export async function startBridgeProcess(server: Pick<BenchServer, 'service' | 'secret'>, extra: Record<string, unknown> = {}): Promise<BridgeProcess> {
  const dir = tempDir('bridge');
  const settings = benchSettings();
  const config = {
    dataDir: join(dir, 'data'),
    mappings: [join(BENCH_SRC, 'fixtures/mappings')],
    schemas: [join(ROOT, 'schemas'), join(BENCH_SRC, 'fixtures/schemas')],
    log: { level: 'warn', file: join(dir, 'bridge.log') },
    mqtt: { embedded: { host: '127.0.0.1', port: 0, websocket: { enabled: false }, ...settings.embedded, ...((extra['embedded'] as object | undefined) ?? {}) } },
    xmpp: { service: server.service, domain: DOMAIN, secret: server.secret, ...settings.xmpp },
    ...(extra['delivery'] ? { delivery: extra['delivery'] } : {}),
    // Whole sections replaced (e.g. dataDir, mappings, http).
    ...((extra['config'] as Record<string, unknown> | undefined) ?? {}),
  };
  const configFile = join(dir, 'bridge.yaml');
  writeFileSync(configFile, stringify(config));
  for (let attempt = 1; ; attempt++) {
    const child = Child.fork('bridge-child.js', { name: 'bridge', execArgv: ['--expose-gc'], args: [configFile] });
    try {
      const a = await child.call<{ mqtt?: string; http?: string }>('start', {}, 60_000);
      const url = new URL(a.mqtt ?? '');
      let stopping = false;
      // A bridge that dies in the middle of a run wrote why in its log: shown before the temp dir goes.
      void child.exited.then(() => {
        if (stopping) return;
        const file = join(dir, 'bridge.log');
        const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
        log(`bridge log, ${text.length} characters${text ? `, ending with:\n${text.slice(-3000)}` : ''}`);
      });
      return {
        child,
        dir,
        host: url.hostname,
        port: Number(url.port),
        ...(a.http ? { http: a.http } : {}),
        async stop() {
          stopping = true;
          await child.stop('stop', 15_000);
          removeTempDir(dir);
        },
      };
    } catch (err) {
      await child.stop('stop', 2000);
      // The previous scenario's component may still be registered with Prosody for a moment (conflict is fatal).
      if (attempt < 3 && /conflict|exited/.test((err as Error).message)) {
        await sleep(1000);
        continue;
      }
      removeTempDir(dir);
      throw err;
    }
  }
}

export class BridgeRig extends FleetRig implements Rig {
  readonly id = 'B' as const;
  readonly title = 'bridge: devices → MQTT → bridge → Prosody → receiver';
  protected readonly fleet: Fleet;

  private constructor(
    private readonly server: BenchServer,
    readonly bridge: BridgeProcess,
  ) {
    super();
    this.fleet = new Fleet(bridge.host, bridge.port);
  }

  static async open(): Promise<BridgeRig> {
    const server = await sharedServer();
    return new BridgeRig(server, await startBridgeProcess(server));
  }

  get pids(): Record<string, number | undefined> {
    return { bridge: this.bridge.child.pid, prosody: this.server.prosody.pid, generator: this.fleet.pid, receiver: process.pid };
  }

  get tally() {
    return this.server.receiver.tally;
  }

  /** The bridge's counters, and its event-loop delay and GC pauses since the previous call (was it ever stalled?). */
  async diagnostics(): Promise<unknown> {
    return { ...(await this.bridge.child.call<Record<string, unknown>>('metrics')), loop: await this.bridge.child.call('loop') };
  }

  async close(): Promise<void> {
    await this.fleet.stop();
    await this.bridge.stop();
  }
}
