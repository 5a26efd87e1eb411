/**
 * The status page's memory and hot-path cost: what its per-device history (features/http/history.ts) holds at 10,000
 * devices with every ring full, for a typical small reading and for the largest kept (MAX_KEPT_JSON characters, every
 * string distinct), and what recording one reading costs (µs) next to the counting the core does anyway.
 *
 *   node --expose-gc dist/bench/status-memory.js [--devices 10000]
 */
import { pathToFileURL } from 'node:url';
import { History, MAX_KEPT_JSON, SecondRate } from '../src/features/http/history.js';
import { Metrics } from '../src/observe/metrics.js';

const SIZES = { readings: 30, rejections: 5, commands: 5 };
const TYPICAL = '{"temperature":21.46,"humidity":40,"battery":97,"linkquality":120}';

function heap(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * Heap taken by a History of `devices` devices with full reading rings (`json(d, i)` is reading i of device d) and,
 * with `all`, full rejection (every one with the most schema errors kept) and command rings.
 */
function measure(devices: number, json: (d: number, i: number) => string, all: boolean): number {
  const before = heap();
  const h = new History(SIZES);
  const errors = Array.from({ length: 5 }, (_, i) => ({ path: `/field${i}`, message: 'must be number' }));
  for (let d = 0; d < devices; d++) {
    const jid = `device-${d}@iot.example.org`;
    for (let i = 0; i < SIZES.readings; i++) h.reading(jid, Date.now(), json(d, i));
    if (!all) continue;
    for (let i = 0; i < SIZES.rejections; i++) h.rejection(jid, true, { at: Date.now(), code: 'PAYLOAD_INVALID', message: `payload does not match urn:x:${d}: /field${i} must be number`, topic: `sensors/site/${d}/telemetry`, errors });
    for (let i = 0; i < SIZES.commands; i++) h.command(jid, { at: Date.now(), from: 'alice@example.org', command: 'set', origin: 'chat', code: 'OK', confirmed: true });
  }
  const after = heap();
  if (h.size !== devices) throw new Error('history lost devices');
  return after - before;
}

function perOp(fn: (i: number) => void, n = 2_000_000): number {
  for (let i = 0; i < 200_000; i++) fn(i);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return ((performance.now() - t0) * 1000) / n;
}

export function run(devices: number): void {
  const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MiB`;
  const line = (what: string, b: number): void => console.log(`  ${what.padEnd(72)} ${mib(b).padStart(10)}  (${Math.round(b / devices)} B/device)`);
  console.log(`status page history, ${devices} devices (rings: ${SIZES.readings} readings, ${SIZES.rejections} rejections, ${SIZES.commands} commands):`);
  line(`readings ring full, typical reading (${TYPICAL.length} chars)`, measure(devices, () => TYPICAL, false));
  line(`every ring full, typical reading`, measure(devices, () => TYPICAL, true));
  line(`every ring full, largest kept readings (${MAX_KEPT_JSON} chars, all distinct)`, measure(devices, (d, i) => `${d}-${i}-`.padEnd(MAX_KEPT_JSON, 'x'), true));

  const h = new History(SIZES);
  const rate = new SecondRate();
  const jids = Array.from({ length: 1000 }, (_, d) => `device-${d}@iot.example.org`);
  const changed = new Set<string>();
  const record = perOp((i) => {
    const jid = jids[i % 1000]!;
    h.reading(jid, 1_700_000_000_000 + i, TYPICAL);
    rate.add(1_700_000_000_000 + i);
    changed.add(jid);
  });
  const m = new Metrics();
  const count = perOp(() => m.inc('readings_total', 'climate'));
  const observe = perOp((i) => m.observe('uplink_latency_seconds', (i % 100) / 1000), 500_000);
  const parse = perOp(() => JSON.parse(TYPICAL) as unknown, 500_000);
  console.log('per reading (µs):');
  console.log(`  status page subscriber (ring slot, rates, change mark): ${record.toFixed(3)}`);
  console.log(`  readings_total{mapping} increment:                      ${count.toFixed(3)}`);
  console.log(`  uplink_latency_seconds observation (prom-client):       ${observe.toFixed(3)}`);
  console.log(`  reference: JSON.parse of the same reading:              ${parse.toFixed(3)}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--devices');
  run(i > 0 ? Number(process.argv[i + 1]) : 10_000);
}
