/**
 * The bridge under test, in its own process: `node --expose-gc dist/bench/bridge-child.js CONFIG`.
 * IPC commands: memory (GC, then process.memoryUsage()), metrics, profStart/profStop (V8 CPU profiler — the same
 * profiler and .cpuprofile format as `node --cpu-prof`, but bounded to the measured window), stop.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Bridge } from '../src/app.js';
import { loadSetup } from '../src/load.js';
import { createLogger } from '../src/log.js';
import { emit, serve } from './common.js';
import { gcAndMeasure, type MemorySample } from './memory-sample.js';

const configFile = process.argv[2];
if (!configFile) throw new Error('usage: bridge-child.js CONFIG');

const setup = loadSetup(configFile, {});
const log = createLogger({ level: setup.config.log.level, destination: setup.config.log.file ?? 2 });
const bridge = new Bridge(setup, log);
bridge.on('fatal', (err) => {
  emit('fatal', err.message);
  process.exit(2);
});

let session: Session | undefined;

serve({
  start: async () => {
    await bridge.start();
    await bridge.ready();
    return bridge.addresses();
  },
  memory: (): Promise<MemorySample> => gcAndMeasure(),
  metrics: () => ({ metrics: bridge.metrics.snapshot(), backlog: bridge.delivery.backlog }),
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
