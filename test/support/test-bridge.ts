/**
 * The whole bridge core — kernel and features, real SQLite in a temp directory — with in-memory edges: a FakeLink for
 * XMPP and a MemorySide for MQTT. No sockets: what the core does is observed on the edges.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Bridge } from '../../src/app.js';
import type { EmbeddedBroker } from '../../src/broker/embedded.js';
import { loadSetup } from '../../src/load.js';
import { createLogger } from '../../src/log.js';
import { packageRoot } from '../../src/version.js';
import { FakeLink } from './fake-link.js';
import { MemorySide } from './memory-side.js';

export const DOMAIN = 'iot.example.org';
export const SHIPPED_MAPPINGS = join(packageRoot(), 'mappings');
export const SHIPPED_SCHEMAS = join(packageRoot(), 'schemas');

export interface TestBridgeOptions {
  /** Mapping entries written to one extra mapping file (besides `mappingPaths`). */
  readonly mappings?: readonly Record<string, unknown>[];
  /** Default: the shipped mappings (climate, door, plug) when no inline mappings are given. */
  readonly mappingPaths?: readonly string[];
  /** Extra schema documents, written to files. */
  readonly schemas?: readonly Record<string, unknown>[];
  readonly config?: Record<string, unknown>;
  /** Start the link online (default true). */
  readonly online?: boolean;
  /** Use this directory (and the data a previous bridge left in it) instead of a new one. */
  readonly dir?: string;
  /** The MQTT edge: the in-memory side (default), or the real embedded broker reached over in-memory streams. */
  readonly broker?: 'memory' | 'aedes';
  /** The XMPP edge (default: a new FakeLink on DOMAIN). */
  readonly link?: FakeLink;
}

export interface TestBridge {
  readonly bridge: Bridge;
  readonly link: FakeLink;
  /** The in-memory side (with `broker: 'memory'`). */
  readonly side: MemorySide;
  /** The real broker (with `broker: 'aedes'`): connect clients with test/support/memory-broker.ts. */
  readonly broker: EmbeddedBroker | undefined;
  readonly dir: string;
  stop(): Promise<void>;
}

export async function startTestBridge(opts: TestBridgeOptions = {}): Promise<TestBridge> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'bridge-core-'));
  const mappingDir = join(dir, 'mappings');
  const schemaDir = join(dir, 'schemas');
  mkdirSync(mappingDir, { recursive: true });
  mkdirSync(schemaDir, { recursive: true });
  if (opts.mappings) writeFileSync(join(mappingDir, 'test.yaml'), stringify({ mappings: opts.mappings }));
  (opts.schemas ?? []).forEach((s, i) => writeFileSync(join(schemaDir, `s${i}.schema.json`), JSON.stringify(s)));
  const mappings = [...(opts.mappingPaths ?? (opts.mappings ? [] : [SHIPPED_MAPPINGS])), ...(opts.mappings ? [mappingDir] : [])];
  const configFile = join(dir, 'bridge.yaml');
  writeFileSync(
    configFile,
    stringify({
      dataDir: join(dir, 'data'),
      mappings,
      schemas: [SHIPPED_SCHEMAS, schemaDir],
      log: { level: 'silent' },
      xmpp: { domain: DOMAIN, secret: 'test-secret', serverDomain: 'example.org' },
      ...opts.config,
    }),
  );
  const setup = loadSetup(configFile, {});
  const link = opts.link ?? new FakeLink(DOMAIN);
  const side = new MemorySide();
  const aedes = opts.broker === 'aedes';
  const bridge = new Bridge(setup, createLogger({ level: 'silent' }), aedes ? { link, listen: false } : { link, sides: () => [side] });
  await bridge.start();
  if (opts.online === false) link.down();
  return {
    bridge,
    link,
    side,
    broker: aedes ? (bridge.kernel.mqtt.sides[0] as EmbeddedBroker) : undefined,
    dir,
    async stop(): Promise<void> {
      await bridge.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Resolves once the bridge has done what the last action started: the delivery engine is live with nothing waiting to
 * be committed, written or confirmed, and a few more turns have passed for handlers that answer a turn later.
 */
export async function settled(t: TestBridge, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  const idle = (): boolean => t.bridge.delivery.caughtUp && t.bridge.delivery.backlog.outbox === 0;
  for (let turns = 0; turns < 5 || !idle(); turns++) {
    if (Date.now() > until) throw new Error('the bridge did not settle');
    await new Promise((r) => (turns < 5 ? setImmediate(r) : setTimeout(r, 2)));
  }
}
