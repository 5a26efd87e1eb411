/**
 * The bridge's own CPU per reading, in process: the whole core (kernel, features, SQLite outbox in a temp dir) with the
 * benchmark's mapping, fed device publishes through the in-memory MQTT side, its stanzas serialized as the component
 * link writes them (`el.toString()`) and dropped — no sockets, no broker, no XMPP server. What it measures is the work
 * scenario S's bridge does beyond aedes and the socket system calls: mapping, validation, latest value, PubSub items,
 * delivery, stanza build and serialization, metrics. CPU time of the process (`process.cpuUsage`, user + system) over
 * a fixed number of readings: a shared machine slows it down but changes it far less than a rate.
 *
 *   npm run build && node dist/bench/pipeline.js [--readings 100000] [--rounds 5] [--qos 0|1] [--devices 100]
 */
import { join } from 'node:path';
import type { Element } from '@xmpp/xml';
import { FakeLink } from '../test/support/fake-link.js';
import { startTestBridge } from '../test/support/test-bridge.js';
import { ROOT } from './common.js';

/** The component link as far as the bridge's CPU goes: each stanza serialized once, nothing kept. */
class SerializingLink extends FakeLink {
  stanzas = 0;
  chars = 0;
  override send(el: Element): boolean {
    if (!this.online) return false;
    this.chars += el.toString().length;
    this.stanzas += 1;
    return true;
  }
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function runPipeline(o: { readings: number; rounds: number; qos: 0 | 1; devices: number }): Promise<{ usPerReading: number[]; median: number }> {
  const link = new SerializingLink('iot.localhost');
  const t = await startTestBridge({
    mappingPaths: [join(ROOT, 'bench', 'fixtures', 'mappings')],
    link,
    config: {
      schemas: [join(ROOT, 'schemas'), join(ROOT, 'bench', 'fixtures', 'schemas')],
      xmpp: { domain: 'iot.localhost', secret: 'bench-secret', serverDomain: 'localhost', commandRate: { perMinute: 0 } },
    },
  });
  try {
    let seq = 0;
    const batch = async (n: number): Promise<void> => {
      // One publish per device per turn, as a busy broker hands them over.
      for (let done = 0; done < n; done += o.devices) {
        const k = Math.min(o.devices, n - done);
        const all: Promise<void>[] = [];
        for (let d = 0; d < k; d++) {
          const s = seq++;
          const payload = `{"temperature":${(20 + (s % 50) / 10).toFixed(1)},"humidity":${40 + (s % 20)},"battery":97,"t":${s * 100},"s":${s},"r":1}`;
          all.push(t.side.device(`sensors/bench/d${d}/telemetry`, payload, { qos: o.qos, clientId: `climate-bench-d${d}` }));
        }
        await Promise.all(all);
        await turn();
      }
    };
    await batch(Math.max(o.devices * 20, o.readings / 5)); // warm-up: every device known, the JIT warm
    const usPerReading: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const sent0 = link.stanzas;
      const c0 = process.cpuUsage();
      await batch(o.readings);
      const c = process.cpuUsage(c0);
      const stanzas = link.stanzas - sent0;
      if (stanzas < o.readings) throw new Error(`${stanzas} stanzas for ${o.readings} readings`);
      usPerReading.push(Math.round(((c.user + c.system) / o.readings) * 100) / 100);
    }
    const sorted = [...usPerReading].sort((a, b) => a - b);
    return { usPerReading, median: sorted[sorted.length >> 1]! };
  } finally {
    await t.stop();
  }
}

if (process.argv[1]?.endsWith('pipeline.js')) {
  const o = { readings: arg('--readings', 100_000), rounds: arg('--rounds', 5), qos: arg("--qos", 0) === 1 ? (1 as const) : (0 as const), devices: arg('--devices', 100) };
  const r = await runPipeline(o);
  console.log(`pipeline QoS ${o.qos}, ${o.devices} devices, ${o.readings} readings × ${o.rounds}: ${r.median} µs CPU per reading (median) [${r.usPerReading.join(', ')}]`);
}
