/**
 * Ad-hoc measurement (not part of `npm run bench`): how long the bridge takes, and how much memory it keeps, to import
 * ONE Zigbee2MQTT `bridge/devices` message of N devices — from the publish to the last device imported (a mapping in
 * force and a device registered, `import_added`), through the real embedded broker, with a real Prosody attached.
 *
 *   node --expose-gc dist/bench/import-z2m.js [--devices 5000] [--models 40|all]
 *
 * The devices carry real definitions of zigbee-herdsman-converters (the pinned dev dependency), serialized as
 * Zigbee2MQTT does for bridge/devices (test/unit/importers-herdsman.test.ts explains how): `--models 40` spreads the
 * devices over 40 definitions (a household or an office floor: many devices of few models), `--models all` uses every
 * shipped definition in turn (thousands of models: the worst case for schema compilation). Then one device is renamed
 * (the list published again) and the time until the rename is applied is measured too.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { Bridge } from '../src/app.js';
import { loadSetup } from '../src/load.js';
import { createLogger } from '../src/log.js';
import { startProsody } from '../src/servers/prosody.js';
import { packageRoot } from '../src/version.js';

const { values } = parseArgs({ options: { devices: { type: 'string', default: '5000' }, models: { type: 'string', default: '40' } } });
const N = Number(values.devices);
const MODELS = values.models === 'all' ? Infinity : Number(values.models);

interface Herdsman {
  prepareDefinition(d: unknown): { model: string; vendor: string; description: string; exposes: unknown[] | ((device: unknown, options: unknown) => unknown[]) };
  setLogger(logger: Record<string, (message: string) => void>): void;
}

function definitions(limit: number): { model: string; vendor: string; description: string; exposes: unknown }[] {
  const require = createRequire(import.meta.url);
  const zhc = require('zigbee-herdsman-converters') as Herdsman;
  zhc.setLogger({ debug: () => {}, info: () => {}, warning: () => {}, error: () => {} });
  const dir = join(dirname(require.resolve('zigbee-herdsman-converters/package.json')), 'dist/devices');
  const out: { model: string; vendor: string; description: string; exposes: unknown }[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.js')).sort()) {
    for (const raw of (require(join(dir, file)) as { definitions?: unknown[] }).definitions ?? []) {
      if (out.length >= limit) return out;
      const d = zhc.prepareDefinition(raw);
      const exposes = typeof d.exposes === 'function' ? d.exposes({ isDummyDevice: true }, {}) : d.exposes;
      out.push({ model: d.model, vendor: d.vendor, description: d.description, exposes: JSON.parse(JSON.stringify(exposes)) as unknown });
    }
  }
  return out;
}

function bridgeDevices(defs: ReturnType<typeof definitions>, renamed = false): string {
  const entries = [];
  for (let i = 0; i < N; i++) {
    const d = defs[i % defs.length]!;
    entries.push({
      ieee_address: `0x${(i + 1).toString(16).padStart(16, '0')}`,
      type: 'Router',
      friendly_name: renamed && i === 0 ? 'floor 3/renamed lamp' : `floor ${Math.floor(i / 100)}/device ${i}`,
      disabled: false,
      supported: true,
      interview_state: 'SUCCESSFUL',
      definition: { source: 'native', model: d.model, vendor: d.vendor, description: d.description, exposes: d.exposes, options: [], supports_ota: false },
    });
  }
  return JSON.stringify(entries);
}

const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;
function memory(): { heap: number; rss: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

const dir = mkdtempSync(join(tmpdir(), 'mxb-import-bench-'));
const prosody = await startProsody({ components: [{ domain: 'iot.localhost', secret: 'bench' }] });
const configFile = join(dir, 'bridge.yaml');
writeFileSync(
  configFile,
  stringify({
    dataDir: join(dir, 'data'),
    mappings: [join(packageRoot(), 'mappings')],
    schemas: [join(packageRoot(), 'schemas')],
    log: { level: 'warn', file: join(dir, 'bridge.log') },
    // ~3 KB per device: the list of 5,000 is ~15 MB (docs/IMPORT.md, "Large networks").
    mqtt: { embedded: { port: 0, websocket: { enabled: false }, allowAnonymous: true, maxPayloadBytes: 64 * 1024 * 1024 } },
    xmpp: { service: `xmpp://${prosody.listen}:${prosody.componentPort}`, domain: 'iot.localhost', secret: 'bench' },
    import: { zigbee2mqtt: { mode: 'auto', maxDevices: 100_000 } },
  }),
);
const bridge = new Bridge(loadSetup(configFile, {}), createLogger({ level: 'warn', destination: join(dir, 'bridge.log') }));
await bridge.start();
await bridge.ready();

const defs = definitions(MODELS);
const payload = bridgeDevices(defs);
const renamedPayload = bridgeDevices(defs, true);
const client = await mqtt.connectAsync(bridge.addresses().mqtt!, { clientId: 'zigbee2mqtt' });

const before = memory();
let added = 0;
const imported = new Promise<void>((resolve) =>
  bridge.kernel.bus.on('import_added', () => {
    if (++added === N) resolve();
  }),
);
const t0 = performance.now();
await client.publishAsync('zigbee2mqtt/bridge/devices', payload, { qos: 1, retain: true });
await imported;
const t1 = performance.now();
const after = memory();

const renamed = new Promise<void>((resolve) => bridge.kernel.bus.on('import_renamed', () => resolve()));
const t2 = performance.now();
await client.publishAsync('zigbee2mqtt/bridge/devices', renamedPayload, { qos: 1, retain: true });
await renamed;
const t3 = performance.now();

const models = new Set(defs.map((d) => d.model)).size;
console.log(
  [
    `one bridge/devices message: ${N} devices, ${Math.min(models, N)} definitions, ${mb(Buffer.byteLength(payload))}`,
    `  imported (publish → last device imported): ${((t1 - t0) / 1000).toFixed(2)} s`,
    `  memory kept after GC: heap +${mb(after.heap - before.heap)}, RSS +${mb(after.rss - before.rss)} (${((after.heap - before.heap) / N / 1024).toFixed(1)} KiB heap per device)`,
    `  one rename in a republished list of ${N}: ${((t3 - t2) / 1000).toFixed(2)} s`,
    `  devices registered: ${bridge.registry.size}`,
  ].join('\n'),
);

await client.endAsync();
await bridge.stop();
await prosody.stop();
await prosody.removeDir();
rmSync(dir, { recursive: true, force: true });
