/**
 * The device simulator process (forked by bench/sim.ts). Holds many raw MQTT devices and publishes open loop: message
 * k of a run is due at startAt + k/rate and carries that *intended* time, so a receiver measures latency from when the
 * message should have left — a generator that falls behind cannot hide the delay (no coordinated omission).
 */
import { emit, histogram, lagMs, nowUs, pace, recordUs, encodeHistogram, serve, sleep } from './common.js';
import { fleetPayload, fleetReading } from './fleet-model.js';
import { publishPacket, WireDevice } from './mqtt-wire.js';
import type { SimConnectArgs, SimConnectResult, SimRunArgs, SimRunResult, SimStats, CmdCollectResult } from './sim.js';

const devices: WireDevice[] = [];
let topics: Buffer[] = [];
let lost = 0;
const lostReasons: Record<string, number> = {};
let pingTimer: NodeJS.Timeout | undefined;
const PING_TICK_MS = 100;

// Commands (downlink) received by devices.
let cmdRun = -1;
let cmdSeen = new Uint8Array(0);
let cmdReceived = 0;
let cmdDup = 0;
let cmdStale = 0;
let cmdHist = histogram();

function fill(pattern: string, i: number): string {
  return pattern.replaceAll('{i}', String(i));
}

function onCommand(payload: Buffer): void {
  let m: { t?: number; s?: number; r?: number };
  try {
    m = JSON.parse(payload.toString('utf8')) as typeof m;
  } catch {
    return;
  }
  if (m.r !== cmdRun || typeof m.s !== 'number' || typeof m.t !== 'number') {
    cmdStale += 1;
    return;
  }
  if (cmdSeen[m.s]) {
    cmdDup += 1;
    return;
  }
  cmdSeen[m.s] = 1;
  cmdReceived += 1;
  recordUs(cmdHist, nowUs() - m.t);
}

async function connectAll(a: SimConnectArgs): Promise<SimConnectResult> {
  const t0 = Date.now();
  const errors: Record<string, number> = {};
  let connected = 0;
  let failed = 0;
  let next = 0;
  let stop = false;
  const newTopics: Buffer[] = [];
  const start = devices.length;
  const interval = a.rate > 0 ? 1000 / a.rate : 0;
  const worker = async (): Promise<void> => {
    while (!stop && next < a.count) {
      const n = next++;
      const i = a.first + n;
      if (interval > 0) {
        const due = t0 + n * interval;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
      }
      const d = new WireDevice(
        {
          host: a.host,
          port: a.port,
          localAddress: a.sources.length > 0 ? a.sources[i % a.sources.length] : undefined,
          clientId: fill(a.clientId, i),
          keepalive: a.keepalive,
          connectTimeoutMs: a.connectTimeoutMs,
        },
        {
          onPublish: (_topic, payload) => onCommand(payload),
          onLost: (reason) => {
            lost += 1;
            lostReasons[reason] = (lostReasons[reason] ?? 0) + 1;
            emit('lost', { reason });
          },
        },
      );
      try {
        await d.connect();
        if (a.subscribe) await d.subscribe(fill(a.subscribe, i), a.subscribeQos);
        devices[start + n] = d;
        newTopics[n] = Buffer.from(fill(a.topic, i), 'utf8');
        connected += 1;
      } catch (err) {
        failed += 1;
        const reason = (err as Error).message;
        errors[reason] = (errors[reason] ?? 0) + 1;
        if (a.stopOnFailure) stop = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, a.concurrency) }, worker));
  // Keep the arrays dense: failed slots are dropped.
  const added = devices.splice(start).filter((d): d is WireDevice => d !== undefined);
  const addedTopics = newTopics.filter((t): t is Buffer => t !== undefined);
  devices.push(...added);
  topics = [...topics, ...addedTopics];
  if (a.keepalive > 0 && !pingTimer) {
    // Each device pings every keepalive/2 seconds at its own phase, as a real fleet does: pinging thousands of
    // devices in one tick would stall the generator (and the broker) for tens of milliseconds every half keep-alive.
    const slots = Math.max(1, Math.round((a.keepalive * 1000) / 2 / PING_TICK_MS));
    let tick = 0;
    pingTimer = setInterval(() => {
      const slot = tick++ % slots;
      for (let i = slot; i < devices.length; i += slots) devices[i]!.ping();
    }, PING_TICK_MS);
  }
  return { connected, failed, errors, ms: Date.now() - t0, total: devices.length };
}

function payloadOf(kind: SimRunArgs['payload'], s: number, r: number, t: number): Buffer {
  if (kind === 'tiny') return Buffer.from(`{"t":${t},"s":${s},"r":${r}}`);
  const temperature = 18 + (s % 100) / 10;
  return Buffer.from(`{"temperature":${temperature},"humidity":${40 + (s % 20)},"battery":97,"t":${t},"s":${s},"r":${r}}`);
}

async function run(a: SimRunArgs): Promise<SimRunResult> {
  const first = a.firstDevice ?? 0;
  const n = a.devices === undefined ? devices.length - first : Math.min(a.devices, devices.length - first);
  if (n === 0) return { offered: a.total, sent: 0, notConnected: a.total, lagMaxMs: 0, lateOver10ms: 0, ms: 0 };
  let sent = 0;
  let notConnected = 0;
  const p = await pace(a, (k, due) => {
    const idx = first + (k % n);
    const d = devices[idx]!;
    const t = Math.round(due);
    const payload = a.payload === 'fleet' && a.fleet ? Buffer.from(fleetPayload(fleetReading(idx, a.fleet.roundBase + Math.floor(k / n), a.fleet.switchFrom), t, (a.seqBase ?? 0) + k, a.runId)) : payloadOf(a.payload, k, a.runId, t);
    if (d.write(publishPacket(topics[idx]!, payload, a.qos, a.qos > 0 ? d.packetId() : 0), a.qos)) sent += 1;
    else notConnected += 1;
  });
  return { offered: a.total, sent, notConnected, lagMaxMs: lagMs(p.lagMaxUs), lateOver10ms: p.lateOver10ms, ms: p.ms };
}

serve({
  connect: (a: SimConnectArgs) => connectAll(a),
  run: (a: SimRunArgs) => run(a),
  stats: (): SimStats => {
    let connected = 0;
    let inflight = 0;
    for (const d of devices) {
      if (d.connected) connected += 1;
      inflight += d.inflight;
    }
    return { devices: devices.length, connected, lost, lostReasons, inflight, rss: process.memoryUsage().rss };
  },
  cmdArm: (a: { runId: number; total: number }) => {
    cmdRun = a.runId;
    cmdSeen = new Uint8Array(a.total);
    cmdReceived = 0;
    cmdDup = 0;
    cmdStale = 0;
    cmdHist = histogram();
    return true;
  },
  cmdCollect: (): CmdCollectResult => ({ received: cmdReceived, dup: cmdDup, stale: cmdStale, hist: encodeHistogram(cmdHist) }),
  close: async () => {
    clearInterval(pingTimer);
    pingTimer = undefined;
    for (const d of devices) d.close();
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && devices.some((d) => d.socket && !d.socket.destroyed)) await sleep(20);
    for (const d of devices) d.socket?.destroy();
    devices.length = 0;
    topics = [];
    lost = 0;
    for (const k of Object.keys(lostReasons)) delete lostReasons[k];
    return true;
  },
  stop: () => {
    setImmediate(() => process.exit(0));
    return true;
  },
});
