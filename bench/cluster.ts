/**
 * `npm run bench -- --cluster [--rate 2000] [--seconds 10] [--devices 200] [--instances 1,2] [--out DIR]`
 *
 * Cluster mode (docs/SCALING.md) at the same offered load with one and with two bridge instances: one private
 * ejabberd (the component domain, one receiver), redis-server, mosquitto (devices on an existing broker, readings
 * shared through `$share`), the bridges as child processes (bench/bridge-child.ts, cluster mode on). The devices
 * (mqtt.js, in this process) publish QoS 1 readings at a fixed rate; measured per run: readings delivered, each
 * instance's share, CPU of each bridge / ejabberd / Redis / mosquitto (from /proc) — per reading and in % of a core.
 *
 * On 2 cores everything competes for CPU; what the comparison shows is the bridge's CPU per reading (flat or not as
 * instances are added) and the split between instances, not a throughput gain.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { client as xmppClient } from '@xmpp/client';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { startEjabberd, type EjabberdInstance } from '../src/servers/ejabberd.js';
import { startMosquitto, type MosquittoInstance } from '../src/servers/mosquitto.js';
import { startRedis, type RedisInstance } from '../src/servers/redis.js';
import { Child, cpuSeconds, fmt, log, removeTempDir, ROOT, sleep, tempDir, until } from './common.js';
import { machineInfo } from './machine.js';

const DOMAIN = 'iot.localhost';
const RECEIVER = 'bench';

interface Options {
  rate: number;
  seconds: number;
  devices: number;
  instances: number[];
  out: string;
}

export interface ClusterRun {
  instances: number;
  offered: number;
  published: number;
  delivered: number;
  duplicates: number;
  seconds: number;
  /** Readings each instance took. */
  split: number[];
  /** CPU seconds over the run. */
  cpu: { bridges: number[]; ejabberd: number; redis: number; mosquitto: number };
  /** µs of CPU per delivered reading. */
  perReadingUs: { bridges: number; ejabberd: number; redis: number };
}

function parseOptions(argv: string[]): Options {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    rate: Number(get('--rate') ?? 2000),
    seconds: Number(get('--seconds') ?? 10),
    devices: Number(get('--devices') ?? 200),
    instances: (get('--instances') ?? '1,2').split(',').map(Number),
    out: get('--out') ?? join(ROOT, 'bench', 'results'),
  };
}

const MAPPING = {
  mappings: [
    {
      id: 'fleet',
      topic: 'fleet/{device}/reading',
      jid: 'fleet-{device}',
      schema: 'urn:mqtt-xmpp-bridge:example:climate',
      body: '{temperature|.1} °C',
      // Every reading to the receiver, which shares no presence (bench/fixtures/mappings/bench.yaml does the same).
      delivery: { mode: 'chat', offline: 'store', status: false },
      notify: { subscribers: false, jids: [`${RECEIVER}@localhost`] },
      access: { viewers: [`${RECEIVER}@{serverDomain}`] },
    },
  ],
};

/** The receiver: counts readings by seq (duplicates too). */
async function receiver(ejabberd: EjabberdInstance): Promise<{ seen: Map<number, number>; stop: () => Promise<void> }> {
  await ejabberd.register(RECEIVER, `pw-${RECEIVER}`);
  const c = xmppClient({ service: `xmpp://${ejabberd.listen}:${ejabberd.c2sPort}`, domain: 'localhost', username: RECEIVER, password: `pw-${RECEIVER}`, resource: 'r' });
  c.on('error', () => undefined);
  c.reconnect.stop();
  const seen = new Map<number, number>();
  c.on('stanza', (el: Element) => {
    if (el.name !== 'message') return;
    const text = el.getChildText('json', 'urn:xmpp:json:0');
    if (text === null) return;
    const s = (JSON.parse(text) as { seq?: number }).seq;
    if (typeof s === 'number') seen.set(s, (seen.get(s) ?? 0) + 1);
  });
  await c.start();
  await c.send(xml('presence'));
  return { seen, stop: () => c.stop().then(() => undefined, () => undefined) };
}

async function runOnce(n: number, o: Options, servers: { ejabberd: EjabberdInstance; redis: RedisInstance; mosquitto: MosquittoInstance; secret: string }, seen: Map<number, number>, seqBase: number): Promise<ClusterRun> {
  const dir = tempDir('cluster');
  // A fresh key prefix per run, the same for its instances: nothing of the previous run's devices or members.
  const keyPrefix = `bench-${randomBytes(3).toString('hex')}:`;
  const mappingsDir = join(dir, 'mappings');
  mkdirSync(mappingsDir);
  writeFileSync(join(mappingsDir, 'fleet.yaml'), stringify(MAPPING));
  const bridges: Child[] = [];
  const devices: MqttClient[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const configFile = join(dir, `bridge-${i}.yaml`);
      writeFileSync(
        configFile,
        stringify({
          dataDir: join(dir, `data-${i}`),
          mappings: [mappingsDir],
          schemas: [join(ROOT, 'schemas')],
          log: { level: 'warn', file: join(dir, `bridge-${i}.log`) },
          mqtt: { embedded: { enabled: false }, external: { url: servers.mosquitto.url, clientId: 'bench-bridge' } },
          xmpp: { service: `xmpp://${servers.ejabberd.listen}:${servers.ejabberd.componentPort}`, domain: DOMAIN, secret: servers.secret },
          // A group of this run's own: the previous run's last instance kept its share of the readings (a session
          // on the broker that waits for it), as the last instance of a cluster does.
          cluster: { enabled: true, redis: { url: servers.redis.url, keyPrefix }, group: keyPrefix.slice(0, -1) },
        }),
      );
      bridges.push(Child.fork('bridge-child.js', { name: `bridge-${i}`, args: [configFile] }));
    }
    await Promise.all(bridges.map((b) => b.call('start', {}, 90_000)));
    for (let d = 0; d < o.devices; d++) devices.push(await mqtt.connectAsync(servers.mosquitto.url, { clientId: `fleet-d${d}`, reconnectPeriod: 0 }));
    await sleep(500);
    const total = o.rate * o.seconds;
    const cpu0 = snapshotCpu(bridges, servers);
    const t0 = Date.now();
    let published = 0;
    const tickMs = 10;
    const perTick = o.rate / (1000 / tickMs);
    let owed = 0;
    const acks: Promise<unknown>[] = [];
    while (published < total) {
      owed += perTick;
      while (owed >= 1 && published < total) {
        owed -= 1;
        const seq = seqBase + published;
        const d = devices[published % devices.length]!;
        acks.push(d.publishAsync(`fleet/d${published % devices.length}/reading`, JSON.stringify({ temperature: 20, seq }), { qos: 1 }));
        published += 1;
      }
      const due = t0 + (published / o.rate) * 1000;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
    }
    await Promise.all(acks);
    const deliveredAll = await until(() => countRange(seen, seqBase, total).distinct >= total, 60_000, 50);
    const seconds = (Date.now() - t0) / 1000;
    const cpu1 = snapshotCpu(bridges, servers);
    const { distinct, duplicates } = countRange(seen, seqBase, total);
    if (!deliveredAll) log(`  ${n} instance(s): only ${distinct} of ${total} delivered within 60 s`);
    // readings_total is counted per mapping (`readings_total{mapping="fleet"}`): the sum over its cells.
    const readingsOf = (m: Record<string, number>): number => Object.entries(m).reduce((sum, [k, v]) => (k === 'readings_total' || k.startsWith('readings_total{') ? sum + v : sum), 0);
    const split = await Promise.all(bridges.map(async (b) => readingsOf((await b.call<{ metrics: Record<string, number> }>('metrics')).metrics)));
    const cpu = {
      bridges: cpu1.bridges.map((c, i) => c - cpu0.bridges[i]!),
      ejabberd: cpu1.ejabberd - cpu0.ejabberd,
      redis: cpu1.redis - cpu0.redis,
      mosquitto: cpu1.mosquitto - cpu0.mosquitto,
    };
    const per = (s: number): number => (distinct > 0 ? (s * 1e6) / distinct : 0);
    return {
      instances: n,
      offered: o.rate,
      published: total,
      delivered: distinct,
      duplicates,
      seconds,
      split,
      cpu,
      perReadingUs: { bridges: per(cpu.bridges.reduce((a, b) => a + b, 0)), ejabberd: per(cpu.ejabberd), redis: per(cpu.redis) },
    };
  } finally {
    await Promise.all(devices.map((d) => d.endAsync().catch(() => undefined)));
    await Promise.all(bridges.map((b) => b.stop()));
    removeTempDir(dir);
  }
}

function countRange(seen: Map<number, number>, base: number, total: number): { distinct: number; duplicates: number } {
  let distinct = 0;
  let duplicates = 0;
  for (let s = base; s < base + total; s++) {
    const c = seen.get(s) ?? 0;
    if (c > 0) distinct += 1;
    duplicates += Math.max(0, c - 1);
  }
  return { distinct, duplicates };
}

function snapshotCpu(bridges: Child[], s: { ejabberd: EjabberdInstance; redis: RedisInstance; mosquitto: MosquittoInstance }): { bridges: number[]; ejabberd: number; redis: number; mosquitto: number } {
  const of = (pid: number | undefined): number => (pid === undefined ? 0 : (cpuSeconds(pid) ?? 0));
  return { bridges: bridges.map((b) => of(b.pid)), ejabberd: of(s.ejabberd.beamPid), redis: of(s.redis.pid), mosquitto: of(s.mosquitto.pid) };
}

export function clusterMarkdown(runs: ClusterRun[], o: Options, machine: Record<string, unknown>): string {
  const lines = [
    '# Cluster mode: one and two instances at the same offered load',
    '',
    `Command: \`npm run bench -- --cluster --rate ${o.rate} --seconds ${o.seconds} --devices ${o.devices}\`; machine: ${String(machine['cpus'])} cores (${typeof machine['cpuModel'] === 'string' ? machine['cpuModel'] : '?'}).`,
    `QoS 1 readings from ${o.devices} devices on mosquitto (\`$share\`), ejabberd 23.01, redis-server; CPU from /proc over the run.`,
    '',
    '| instances | offered /s | delivered | dup | split (readings per instance) | bridge CPU µs/reading | ejabberd µs/reading | Redis µs/reading | bridge CPU % (each) | ejabberd CPU % |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of runs) {
    const pct = (s: number): string => fmt((s / r.seconds) * 100);
    lines.push(
      `| ${r.instances} | ${r.offered} | ${r.delivered}/${r.published} | ${r.duplicates} | ${r.split.join(' / ')} | ${fmt(r.perReadingUs.bridges, 1)} | ${fmt(r.perReadingUs.ejabberd, 1)} | ${fmt(r.perReadingUs.redis, 2)} | ${r.cpu.bridges.map(pct).join(' / ')} | ${pct(r.cpu.ejabberd)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export async function runClusterBench(argv: string[]): Promise<void> {
  const o = parseOptions(argv);
  const machine = await machineInfo();
  const secret = randomBytes(12).toString('hex');
  log(`cluster bench: ${o.rate} readings/s for ${o.seconds} s from ${o.devices} devices, instances ${o.instances.join(', ')}`);
  const redis = await startRedis({ persistence: 'none' });
  const mosquitto = await startMosquitto({ extraConfig: 'max_queued_messages 0' });
  const ejabberd = await startEjabberd({ components: [{ domain: DOMAIN, secret }], logLevel: 'warning' });
  const rx = await receiver(ejabberd);
  const runs: ClusterRun[] = [];
  try {
    let base = 0;
    for (const n of o.instances) {
      const r = await runOnce(n, o, { ejabberd, redis, mosquitto, secret }, rx.seen, base);
      base += r.published;
      runs.push(r);
      log(
        `  ${n} instance(s): ${r.delivered}/${r.published} delivered (${r.duplicates} dup) in ${fmt(r.seconds, 1)} s; split ${r.split.join('/')}; bridge ${fmt(r.perReadingUs.bridges, 1)} µs/reading, ejabberd ${fmt(r.perReadingUs.ejabberd, 1)} µs/reading, Redis ${fmt(r.perReadingUs.redis, 2)} µs/reading`,
      );
    }
  } finally {
    await rx.stop();
    await ejabberd.removeDir();
    await mosquitto.removeDir();
    await redis.removeDir();
  }
  mkdirSync(o.out, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const md = clusterMarkdown(runs, o, machine);
  writeFileSync(join(o.out, `cluster-${stamp}.json`), JSON.stringify({ options: o, machine, runs }, null, 2));
  writeFileSync(join(o.out, `cluster-${stamp}.md`), md);
  console.log(`\n${md}`);
}
