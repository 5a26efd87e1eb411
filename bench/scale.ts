/**
 * Scale of the newer features (not part of `npm run bench`, minutes long): the bridge in its own process against the
 * sink of scenario S (no Prosody: what is measured is the bridge's own work).
 *
 *   node --expose-gc dist/bench/scale.js [--known 20000] [--connected 10000] [--repeats 3]
 *
 * 1. Start-up with N known devices (rows in the device store, none connected): fork → component online and
 *    ready, and RSS/heap after GC, against an empty store.
 * 2. With M devices connected (each subscribed to its command topic, each registered by one reading): a mapping
 *    reload that changes the mapping they all use (the body template) — the time the reload holds the event loop,
 *    the devices still connected after it, and a probe: every device publishes once more and every reading arrives.
 * 3. The status page at M devices while every device reads every 10 s: /api/overview, /api/devices and / timed,
 *    and the live feed (/api/events) counted for 5 s.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../src/store/db.js';
import { SqliteDeviceStore } from '../src/store/devices.js';
import { BENCH_SRC, log, nowMs, nowUs, removeTempDir, sleep, tempDir, until } from './common.js';
import type { MemorySample } from './memory-sample.js';
import { DEVICE, DOMAIN, SIM_SOURCES } from './rig.js';
import { startBridgeProcess } from './scenarios/bridge.js';
import { startSink, type Sink } from './scenarios/sink.js';
import { Simulator } from './sim.js';

const { values } = parseArgs({ options: { known: { type: 'string', default: '20000' }, connected: { type: 'string', default: '10000' }, repeats: { type: 'string', default: '3' }, skip: { type: 'string', default: '' } } });
const KNOWN = Number(values.known);
const CONNECTED = Number(values.connected);
const REPEATS = Number(values.repeats);
const TOKEN = 'bench-status-token-0123456789';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const spread = (xs: number[]): string => `median ${median(xs).toFixed(1)} [${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}]`;
const MiB = (b: number): number => Math.round((b / 1048576) * 10) / 10;

function seed(dataDir: string, n: number): void {
  const db = openDatabase(dataDir);
  const store = new SqliteDeviceStore(db);
  const now = Date.now();
  db.transaction(() => {
    for (let i = 0; i < n; i++) store.save({ jid: `bench-d${i}@${DOMAIN}`, mappingId: 'climate', segments: { site: 'bench', device: `d${i}` }, firstSeen: now, lastSeen: now });
  })();
  db.close();
}

async function startup(known: number): Promise<{ ms: number; mem: MemorySample }> {
  const dir = tempDir('scale');
  const dataDir = join(dir, 'data');
  if (known > 0) seed(dataDir, known);
  const sink = await startSink();
  try {
    const t0 = nowMs();
    const bridge = await startBridgeProcess(sink, { config: { dataDir } });
    const ms = nowMs() - t0;
    const mem = await bridge.child.call<MemorySample>('memory');
    await bridge.stop();
    return { ms, mem };
  } finally {
    await sink.stop();
    removeTempDir(dir);
  }
}

async function timedGet(url: string): Promise<{ ms: number; bytes: number; status: number }> {
  const t0 = nowMs();
  const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  const body = await res.arrayBuffer();
  return { ms: nowMs() - t0, bytes: body.byteLength, status: res.status };
}

async function liveEvents(url: string, ms: number): Promise<{ events: number; bytes: number }> {
  const ac = new AbortController();
  const res = await fetch(`${url}/api/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ac.signal });
  let events = 0;
  let bytes = 0;
  const reader = res.body!.getReader();
  const stop = setTimeout(() => ac.abort(), ms);
  try {
    for (;;) {
      const chunk = (await reader.read()) as { done: boolean; value?: Uint8Array };
      if (chunk.done || !chunk.value) break;
      bytes += chunk.value.byteLength;
      const text = Buffer.from(chunk.value).toString('utf8');
      events += text.split('\n\n').length - 1;
    }
  } catch {
    // aborted: the window is over
  } finally {
    clearTimeout(stop);
  }
  return { events, bytes };
}

let runId = 9_000_000;

/** Every device publishes once (QoS 1); resolves with how many readings reached the sink. */
async function everyDeviceOnce(sim: Simulator, sink: Sink, n: number, rate: number): Promise<number> {
  const id = runId++;
  sink.tally.arm(id, n);
  await sim.run({ runId: id, rate, total: n, startAtUs: nowUs() + 20_000, qos: 1, payload: 'climate' });
  await until(() => sink.tally.received >= n, 60_000, 50);
  return sink.tally.received;
}

async function connectedFleet(): Promise<void> {
  const dir = tempDir('scale-map');
  const mappings = join(dir, 'mappings');
  cpSync(join(BENCH_SRC, 'fixtures/mappings'), mappings, { recursive: true });
  const sink = await startSink();
  const bridge = await startBridgeProcess(sink, { config: { mappings: [mappings], http: { enabled: true, host: '127.0.0.1', port: 0, token: TOKEN } } });
  const sim = Simulator.start('sim-scale');
  try {
    const c = await sim.connect({
      host: bridge.host,
      port: bridge.port,
      first: 0,
      count: CONNECTED,
      clientId: DEVICE.clientId,
      topic: DEVICE.topic,
      subscribe: DEVICE.commands,
      subscribeQos: 1,
      sources: SIM_SOURCES,
      keepalive: 60,
      concurrency: 200,
      rate: 0,
      stopOnFailure: false,
      connectTimeoutMs: 30_000,
    });
    log(`scale: ${c.connected} devices connected in ${(c.ms / 1000).toFixed(1)} s (${c.failed} failed)`);
    const registered = await everyDeviceOnce(sim, sink, CONNECTED, 2000);
    log(`scale: ${registered} of ${CONNECTED} devices registered (one reading each)`);

    // The status page, while every device reads every 10 s.
    const url = bridge.http!;
    const background = sim.run({ runId: runId++, rate: CONNECTED / 10, total: CONNECTED * 3, startAtUs: nowUs() + 20_000, qos: 0, payload: 'climate' });
    await sleep(1000);
    for (const path of ['/', '/api/overview', '/api/devices']) {
      const xs: number[] = [];
      let bytes = 0;
      for (let i = 0; i < 5; i++) {
        const r = await timedGet(`${url}${path}`);
        if (r.status !== 200) throw new Error(`GET ${path}: HTTP ${r.status}`);
        xs.push(r.ms);
        bytes = r.bytes;
      }
      log(`scale: status page GET ${path} at ${CONNECTED} devices, ${CONNECTED / 10} readings/s: ${spread(xs)} ms, ${bytes} bytes (5 requests)`);
    }
    const live = await liveEvents(url, 5000);
    log(`scale: status page live feed at ${CONNECTED / 10} readings/s: ${live.events} events in 5 s (${(live.events / 5).toFixed(1)}/s, ${Math.round(live.bytes / 5 / 1024)} KiB/s)`);
    await background;
    await sleep(2000);

    // The reload: change the body template of the mapping every device uses.
    for (let i = 0; i < REPEATS; i++) {
      const file = join(mappings, 'bench.yaml');
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, text.includes('{temperature|.1}') ? text.replace('{temperature|.1}', '{temperature|.2}') : text.replace('{temperature|.2}', '{temperature|.1}'));
      const before = await sim.stats();
      await bridge.child.call('loop');
      const t0 = nowMs();
      const r = await bridge.child.call<{ ms: number; outcome: { ok: boolean; replaced: string[]; problems: string[] } }>('reload');
      const wall = nowMs() - t0;
      const loop = await bridge.child.call<{ delayMaxMs: number }>('loop');
      const probe = await everyDeviceOnce(sim, sink, CONNECTED, 2000);
      const after = await sim.stats();
      log(
        `scale: reload ${i + 1} with ${before.connected} devices connected: ${r.ms} ms inside the bridge (IPC round trip ${wall.toFixed(1)} ms, event-loop delay max ${loop.delayMaxMs.toFixed(1)} ms), ` +
          `ok ${r.outcome.ok}, replaced ${JSON.stringify(r.outcome.replaced)}${r.outcome.problems.length ? ` problems ${JSON.stringify(r.outcome.problems)}` : ''}; ` +
          `connected after ${after.connected} (lost ${after.lost - before.lost}); probe: ${probe} of ${CONNECTED} readings arrived`,
      );
    }
    const mem = await bridge.child.call<MemorySample>('memory');
    log(`scale: bridge with ${CONNECTED} connected devices: RSS ${MiB(mem.rss)} MiB, heap ${MiB(mem.heapUsed)} MiB after GC`);
  } finally {
    await sim.stop();
    await bridge.stop();
    await sink.stop();
    removeTempDir(dir);
  }
}

async function main(): Promise<void> {
  if (!values.skip.includes('startup')) {
    const rows: Record<number, { ms: number[]; rss: number[]; heap: number[] }> = {};
    for (let i = 0; i < REPEATS; i++) {
      for (const known of [0, KNOWN]) {
        const r = await startup(known);
        const row = (rows[known] ??= { ms: [], rss: [], heap: [] });
        row.ms.push(r.ms);
        row.rss.push(r.mem.rss);
        row.heap.push(r.mem.heapUsed);
        log(`scale: start-up with ${known} known devices: ${r.ms.toFixed(0)} ms to online, RSS ${MiB(r.mem.rss)} MiB, heap ${MiB(r.mem.heapUsed)} MiB after GC`);
      }
    }
    const e = rows[0]!;
    const k = rows[KNOWN]!;
    log(`scale: start-up, ${REPEATS} runs: empty ${spread(e.ms)} ms; ${KNOWN} known ${spread(k.ms)} ms`);
    log(
      `scale: memory per known device: RSS ${((median(k.rss) - median(e.rss)) / KNOWN / 1024).toFixed(2)} KiB, heap ${((median(k.heap) - median(e.heap)) / KNOWN / 1024).toFixed(2)} KiB ` +
        `(RSS ${MiB(median(e.rss))} → ${MiB(median(k.rss))} MiB, heap ${MiB(median(e.heap))} → ${MiB(median(k.heap))} MiB)`,
    );
  }
  if (!values.skip.includes('fleet')) await connectedFleet();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
