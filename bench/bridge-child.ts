/**
 * The bridge under test, in its own process: `node --expose-gc dist/bench/bridge-child.js CONFIG`.
 * IPC commands: start, reload, memory (GC, then process.memoryUsage()), heapSnapshot, metrics, loop (event-loop delay and GC pauses since the
 * last call), profStart/profStop (V8 CPU profiler — the same
 * profiler and .cpuprofile format as `node --cpu-prof`, but bounded to the measured window), stanzas (every stanza
 * the bridge wrote since the last call, by kind — scenario F), users (how many users the bridge sees online), stop.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { Bridge } from '../src/app.js';
import { loadSetup } from '../src/load.js';
import { createLogger } from '../src/log.js';
import { emit, serve } from './common.js';
import { stanzaKind } from './fleet-model.js';
import { gcAndMeasure, type MemorySample } from './memory-sample.js';

const configFile = process.argv[2];
if (!configFile) throw new Error('usage: bridge-child.js CONFIG');

const setup = loadSetup(configFile, {});
const log = createLogger({ level: setup.config.log.level, destination: setup.config.log.file ?? 2 });
const bridge = await Bridge.open(setup, log);
bridge.on('fatal', (err) => {
  emit('fatal', err.message);
  process.exit(2);
});

let session: Session | undefined;

// Every stanza the bridge writes, by kind (scenario F): counted where every feature sends, the component link.
const written = new Map<string, number>();
const link = bridge.link;
const send = link.send.bind(link);
link.send = (el): boolean => {
  const kind = stanzaKind(el.name, el.attrs['type'], { replace: el.getChild('replace') !== undefined, status: el.getChild('status') !== undefined });
  written.set(kind, (written.get(kind) ?? 0) + 1);
  return send(el);
};

// Where a latency tail comes from: the event loop's delay and the garbage collector's pauses since the last `loop`.
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
const gc = { count: 0, totalMs: 0, maxMs: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.count += 1;
    gc.totalMs += e.duration;
    gc.maxMs = Math.max(gc.maxMs, e.duration);
  }
}).observe({ entryTypes: ['gc'] });

serve({
  start: async () => {
    await bridge.start();
    await bridge.ready();
    return { ...bridge.addresses(), ...(bridge.httpUrl ? { http: bridge.httpUrl } : {}) };
  },
  /** Re-read the configuration and mappings (as SIGHUP does): how long the event loop was held, and the outcome. */
  reload: () => {
    const t0 = performance.now();
    const outcome = bridge.reload();
    return { ms: Math.round((performance.now() - t0) * 10) / 10, outcome };
  },
  memory: (): Promise<MemorySample> => gcAndMeasure(),
  /** A V8 heap snapshot (for Chrome DevTools' Memory tab, or bench/heap-diff.ts): what each device's bytes are. */
  heapSnapshot: (a: { file: string }) => writeHeapSnapshot(a.file),
  metrics: () => ({ metrics: bridge.metrics.snapshot(), backlog: bridge.delivery.backlog }),
  loop: () => {
    const out = {
      delayP99Ms: loopDelay.percentile(99) / 1e6,
      delayMaxMs: loopDelay.max / 1e6,
      gcCount: gc.count,
      gcTotalMs: Math.round(gc.totalMs * 10) / 10,
      gcMaxMs: Math.round(gc.maxMs * 10) / 10,
    };
    loopDelay.reset();
    Object.assign(gc, { count: 0, totalMs: 0, maxMs: 0 });
    return out;
  },
  stanzas: () => {
    const out = Object.fromEntries(written);
    written.clear();
    return out;
  },
  users: () => bridge.kernel.users.size,
  profStart: async (a: { intervalUs?: number }) => {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: a.intervalUs ?? 250 });
    await session.post('Profiler.start');
    return true;
  },
  profStop: async (a: { file: string }) => {
    if (!session) throw new Error('profiler not started');
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(a.file, JSON.stringify(profile));
    session.disconnect();
    session = undefined;
    return a.file;
  },
  stop: async () => {
    await bridge.stop();
    log.flush();
    setImmediate(() => process.exit(0));
    return true;
  },
});
