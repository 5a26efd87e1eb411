/**
 * `npm run build && node dist/bench/cluster-memory.js [--devices 10000]`
 *
 * Redis memory per device in cluster mode (docs/SCALING.md, capacity model): a private redis-server, one instance's
 * shared state (src/store/redis/state.ts) filling each key the way the bridge does — a device row, a presence
 * subscription, its availability, the latest reading, a PubSub subscription, a presence request, an import row with a
 * Zigbee2MQTT description from test/fixtures — and Redis' `used_memory` after each, divided by the devices.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Device } from '../src/devices/device.js';
import { createLogger } from '../src/log.js';
import { startRedis } from '../src/servers/redis.js';
import { SharedState } from '../src/store/redis/state.js';
import { log, ROOT } from './common.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) || fallback : fallback;
}

async function main(): Promise<void> {
  const n = arg('devices', 10_000);
  const redis = await startRedis({ persistence: 'none' });
  const probe = new Redis(redis.url, { lazyConnect: true });
  await probe.connect();
  const used = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await probe.info('memory'))?.[1] ?? 0);
  const state = await SharedState.open({ enabled: true, redis: { url: redis.url, keyPrefix: 'mqtt-xmpp-bridge:iot.example.org:' }, group: 'g', heartbeatSeconds: 2 }, '0a1b2c3d', createLogger({ level: 'silent' }));
  // A real description: one device of a Zigbee2MQTT bridge/devices message.
  const z2m = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/importers/zigbee2mqtt/bridge-devices-2.9.2.json'), 'utf8')) as Record<string, unknown>[];
  const description = JSON.stringify(z2m.find((d) => d['type'] === 'EndDevice') ?? z2m[1]);
  const jid = (i: number): string => `0x00158d00${i.toString(16).padStart(8, '0')}@iot.example.org`;
  const user = (i: number): string => `user${i % 500}@example.org`;
  const now = Date.now();
  const phases: [string, (i: number) => void][] = [
    ['device row', (i) => state.devices.save({ jid: jid(i), mappingId: 'z2m-sensor', segments: { device: jid(i).split('@')[0]! }, firstSeen: now, lastSeen: now })],
    ['presence subscription', (i) => state.subscriptions.add(jid(i), user(i))],
    ['availability', (i) => state.availability.change({ jid: jid(i), id: jid(i), online: false } as unknown as Device, true, 'message', () => undefined)],
    ['latest reading', (i) => state.latest.set({ deviceJid: jid(i), topic: `zigbee2mqtt/sensor-${i}`, json: `{"temperature":21.${i % 10},"humidity":48.2,"battery":97,"linkquality":120}`, receivedAt: now + i })],
    ['PubSub subscription', (i) => state.pubsub.add(jid(i), 'readings', `${user(i)}/phone`)],
    ['presence request', (i) => state.presenceRequests.set(jid(i), user(i), 'granted')],
    [`import row (description ${description.length} B)`, (i) => state.imports.saveMany([{ source: 'zigbee2mqtt', hardwareId: jid(i).split('@')[0]!, status: 'approved', name: `Sensor ${i}`, jid: jid(i), description, publisher: 'z2m', firstSeen: now, updatedAt: now, decidedBy: 'cli' }])],
  ];
  const rows: string[] = [];
  let before = await used();
  const start = before;
  for (const [what, write] of phases) {
    for (let i = 0; i < n; i++) {
      write(i);
      if (i % 1000 === 999) await probe.ping();
    }
    state.latest.flush();
    await state.availability.settled();
    // The state connection's writes are answered in order: one more round trip on it, then Redis holds them all.
    await state.isAlive('0a1b2c3d');
    const after = await used();
    rows.push(`| ${what} | ${((after - before) / n).toFixed(0)} |`);
    before = after;
  }
  rows.push(`| **all of the above** | **${((before - start) / n).toFixed(0)}** |`);
  log(`Redis used_memory per device, ${n} devices (redis-server ${(/redis_version:(\S+)/.exec(await probe.info('server')) ?? [])[1]}):`);
  console.log(['| key | bytes per device |', '|---|---|', ...rows].join('\n'));
  await state.close();
  probe.disconnect();
  await redis.removeDir();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
