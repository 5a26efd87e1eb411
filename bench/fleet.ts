/**
 * Scenario F (issue 17, item 2): a realistic fleet on a real Prosody, the whole system's cost.
 *
 * 1,000 simulated devices (95 % climate sensors whose temperature and humidity drift slowly with noise, 5 % switches)
 * each read every 10 s of fleet time; 30 users follow 100 devices each (3 followers per device), 10 of them online
 * (exactly one online follower per device). Per delivery configuration — the old behaviour (chat to every follower,
 * every reading, stored offline for the absent) and each delivery mode with presence gating and the shipped change
 * policy — over one fixed window:
 *   - stanzas the bridge wrote, by kind (counted at its component link), per minute of fleet time;
 *   - Prosody CPU and bridge CPU (utime + stime from /proc/<pid>/stat over the window);
 *   - messages Prosody stored offline (its mod_offline files, counted before and after the window);
 *   - for the online follower of every device: every reading the policy counts as a change (against what that
 *     follower saw last) reached them, itself or a newer reading, within the policy's minInterval (a state change: at
 *     once) plus a tolerance; violations counted (fleet-model.ts judgeDevice).
 *
 * Time is compressed: the devices read `compression` times faster and the policy's intervals are `compression` times
 * shorter, as test/integration/delivery-figures.test.ts does; counts per minute are given per minute of fleet time.
 * Subscriptions are seeded, not negotiated: the bridge's stores (devices, presence subscriptions, granted presence
 * requests) and Prosody's rosters and accounts (its internal storage files) are written before either starts, so a
 * configuration is measured seconds after it starts. Each repeat gets a fresh Prosody, bridge, fleet and followers;
 * within it the configurations follow each other, switched by rewriting the mapping file and reloading it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { client as xmppClient, type Client } from '@xmpp/client';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { stringify } from 'yaml';
import { startProsody, type ProsodyInstance } from '../src/servers/prosody.js';
import { openDatabase } from '../src/store/db.js';
import { SqliteDeviceStore } from '../src/store/devices.js';
import { SqlitePresenceRequests } from '../src/store/presence-requests.js';
import { SqliteSubscriptions } from '../src/store/subscriptions.js';
import { cpuSeconds, log, nowMs, nowUs, removeTempDir, sleep, tempDir } from './common.js';
import {
  countOfflineItems,
  fleetLayout,
  fleetReading,
  judgeDevice,
  median,
  pairedRatios,
  perFleetMinute,
  prosodyAccount,
  prosodyRoster,
  sumJudgements,
  type FleetJudgement,
  type FleetLayout,
  type FleetValues,
  type PolicyModel,
  type ReadingAt,
  type Receipt,
} from './fleet-model.js';
import { DOMAIN, HOST, PROSODY_NAGLE, SIM_SOURCES } from './rig.js';
import { startBridgeProcess, type BridgeProcess } from './scenarios/bridge.js';
import { Simulator } from './sim.js';

// ------------------------------------------------------------------------------------------------ configurations

export type FleetConfigId = 'old' | 'chat' | 'headline' | 'demo' | 'drop';
export const FLEET_CONFIGS: FleetConfigId[] = ['old', 'chat', 'headline', 'demo', 'drop'];

interface Delivery {
  readonly mode: 'chat' | 'headline' | 'live';
  readonly offline: 'store' | 'latest' | 'drop';
  readonly status?: boolean;
}

interface ConfigSpec {
  readonly title: string;
  readonly climate: Delivery;
  readonly switch: Delivery;
  /** The shipped change policy (compressed), or none. */
  readonly changes: boolean;
}

export const CONFIG_SPECS: Record<FleetConfigId, ConfigSpec> = {
  old: { title: 'old: chat to every follower, every reading, stored offline', climate: { mode: 'chat', offline: 'store', status: false }, switch: { mode: 'chat', offline: 'store', status: false }, changes: false },
  chat: { title: 'chat, online followers only, change policy', climate: { mode: 'chat', offline: 'latest' }, switch: { mode: 'chat', offline: 'latest' }, changes: true },
  headline: { title: 'headline, online only, change policy', climate: { mode: 'headline', offline: 'latest' }, switch: { mode: 'headline', offline: 'latest' }, changes: true },
  demo: { title: 'the demo defaults: climate live, switches chat, online only, change policy', climate: { mode: 'live', offline: 'latest' }, switch: { mode: 'chat', offline: 'latest' }, changes: true },
  drop: { title: 'chat, offline: drop, change policy', climate: { mode: 'chat', offline: 'drop' }, switch: { mode: 'chat', offline: 'drop' }, changes: true },
};

/** The shipped climate mapping's policy (mappings/climate.yaml), in fleet seconds. */
const POLICY = { minInterval: 60, maxInterval: 900, deadband: { temperature: 0.2, humidity: 2, battery: 5 } };
/** The bench's own payload fields (intended time, sequence, run): never a change. */
const BENCH_FIELDS = { t: { ignore: true }, s: { ignore: true }, r: { ignore: true } };
const READING_EVERY_S = 10;

export interface FleetPlan {
  readonly devices: number;
  readonly perDevice: number;
  readonly online: number;
  /** Fleet time runs this many times faster (readings and the policy's intervals alike). */
  readonly compression: number;
  readonly windowMs: number;
  readonly configs: FleetConfigId[];
  readonly repeats: number;
  /** Added to the policy's interval when judging "within the configured interval": the way through the system. */
  readonly toleranceMs: number;
}

export interface FleetRun {
  config: FleetConfigId;
  repeat: number;
  windowMs: number;
  /** Readings the devices published in the window. */
  readings: number;
  stanzas: Record<string, number>;
  stanzasTotal: number;
  /** Per minute of fleet time. */
  stanzasPerMinute: number;
  messagesPerMinute: number;
  presencePerMinute: number;
  prosodyCpuS: number;
  bridgeCpuS: number;
  simCpuS: number;
  /** % of one core over the window. */
  prosodyPct: number;
  bridgePct: number;
  storedOffline: number;
  storedOfflinePerMinute: number;
  /** How long after the window's last reading Prosody was done with the window (the barrier's round trip). */
  drainMs: number;
  /** Messages the online followers received in the window (all devices). */
  received: number;
  judgement: FleetJudgement;
  setupMs: number;
  error?: string;
}

export interface FleetSummary {
  config: FleetConfigId;
  title: string;
  runs: number;
  prosodyCpuS?: number;
  prosodyCpuMin?: number;
  prosodyCpuMax?: number;
  bridgeCpuS?: number;
  stanzasPerMinute?: number;
  messagesPerMinute?: number;
  presencePerMinute?: number;
  storedOfflinePerMinute?: number;
  violations: number;
  changes: number;
  maxDelayMs: number;
  /** Prosody CPU against the old behaviour in the same repeat, median and range (not for `old`). */
  ratio?: { median: number | undefined; min: number | undefined; max: number | undefined; each: number[] };
  stanzas: Record<string, number>;
}

export interface FleetResult {
  plan: FleetPlan;
  minIntervalMs: number;
  target: number;
  runs: FleetRun[];
  summary: FleetSummary[];
}

export const FLEET_TARGET = 0.3;

// ------------------------------------------------------------------------------------------------ set-up

const userName = (u: number): string => `u${u}`;
const userJid = (u: number): string => `${userName(u)}@${HOST}`;
const deviceName = (l: FleetLayout, d: number): { mapping: string; segment: string; jid: string; topic: string } =>
  d < l.switchFrom
    ? { mapping: 'fleet-climate', segment: `d${d}`, jid: `climate-d${d}@${DOMAIN}`, topic: `fleet/climate/d${d}` }
    : { mapping: 'fleet-switch', segment: `d${d}`, jid: `switch-d${d}@${DOMAIN}`, topic: `fleet/switch/d${d}` };

function mappingsYaml(spec: ConfigSpec, compression: number): string {
  const s = (v: number): number => v / compression;
  const changes = (fields: Record<string, unknown>, withMax: boolean): Record<string, unknown> =>
    spec.changes ? { changes: { minInterval: s(POLICY.minInterval), ...(withMax ? { maxInterval: s(POLICY.maxInterval) } : {}), fields } } : {};
  const common = { notify: { subscribers: true }, availability: { clientId: 'fleet-{device}' }, access: { viewers: ['*@{serverDomain}'] } };
  return stringify({
    mappings: [
      {
        id: 'fleet-climate',
        description: 'Climate sensors of the fleet',
        topic: 'fleet/climate/{device}',
        jid: 'climate-{device}',
        name: '{device} climate',
        schema: 'urn:mqtt-xmpp-bridge:bench:fleet-climate',
        body: '{temperature|.1} °C, {humidity|.0} % RH',
        delivery: spec.climate,
        ...changes({ temperature: { deadband: POLICY.deadband.temperature }, humidity: { deadband: POLICY.deadband.humidity }, battery: { deadband: POLICY.deadband.battery }, ...BENCH_FIELDS }, true),
        ...common,
      },
      {
        id: 'fleet-switch',
        description: 'Switches of the fleet',
        topic: 'fleet/switch/{device}',
        jid: 'switch-{device}',
        name: '{device} switch',
        schema: 'urn:mqtt-xmpp-bridge:bench:fleet-switch',
        body: '{state}',
        delivery: spec.switch,
        ...changes({ ...BENCH_FIELDS }, false),
        ...common,
      },
    ],
  });
}

/** The bridge's stores: every device known, every follower subscribed to its presence and sharing theirs (granted). */
function seedBridge(dataDir: string, l: FleetLayout): void {
  const db = openDatabase(dataDir);
  const devices = new SqliteDeviceStore(db);
  const subs = new SqliteSubscriptions(db);
  const requests = new SqlitePresenceRequests(db);
  const now = Date.now();
  db.transaction(() => {
    for (let d = 0; d < l.devices; d++) {
      const n = deviceName(l, d);
      devices.save({ jid: n.jid, mappingId: n.mapping, segments: { device: n.segment }, firstSeen: now, lastSeen: now });
      for (const u of l.followers(d)) {
        subs.add(n.jid, userJid(u));
        requests.set(n.jid, userJid(u), 'granted');
      }
    }
  })();
  db.close();
}

/** Prosody's internal storage: accounts, and rosters holding each followed device with subscription both. */
function seedProsody(dir: string, l: FleetLayout, password: string): void {
  // Prosody's datamanager escapes non-alphanumerics in host and user names as %xx; both are alphanumeric here.
  const host = join(dir, 'data', HOST);
  mkdirSync(join(host, 'accounts'), { recursive: true });
  mkdirSync(join(host, 'roster'), { recursive: true });
  for (let u = 0; u < l.users; u++) {
    writeFileSync(join(host, 'accounts', `${userName(u)}.dat`), prosodyAccount(password));
    writeFileSync(join(host, 'roster', `${userName(u)}.dat`), prosodyRoster(l.follows(u).map((d) => ({ jid: deviceName(l, d).jid }))));
  }
}

function storedOffline(prosody: ProsodyInstance): number {
  const dir = join(prosody.dir, 'data', HOST, 'offline');
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return 0;
  }
  return files.reduce((n, f) => n + countOfflineItems(readFileSync(join(dir, f), 'utf8')), 0);
}

/** An online follower: a c2s session with initial presence, noting every reading it receives (device, sequence, time). */
class Follower {
  /** Device index → receipts of the current run. */
  readonly receipts = new Map<number, Receipt[]>();
  /** Device index → the values of the last reading received, whatever the run (what the follower sees now). */
  readonly latest = new Map<number, FleetValues>();
  /** `latest` when the current run was armed. */
  before = new Map<number, FleetValues>();
  received = 0;
  private runId = -1;

  private constructor(private readonly client: Client) {
    client.on('stanza', (el: Element) => this.onStanza(el));
  }

  static async connect(prosody: ProsodyInstance, username: string, password: string): Promise<Follower> {
    const c = xmppClient({ service: `xmpp://${prosody.listen}:${prosody.c2sPort}`, domain: prosody.host, username, password, resource: `fleet-${randomBytes(3).toString('hex')}` });
    c.on('error', () => undefined);
    c.reconnect.stop();
    await c.start();
    const f = new Follower(c);
    // Initial presence: Prosody broadcasts it to the roster's devices (subscription both) and probes them (RFC 6121 §4.2).
    await c.send(xml('presence'));
    return f;
  }

  arm(runId: number): void {
    this.runId = runId;
    this.before = new Map(this.latest);
    this.receipts.clear();
    this.received = 0;
  }

  private readonly waiters = new Map<string, () => void>();

  /**
   * A round trip through everything queued before it: an XEP-0199 ping to a device goes through Prosody to the bridge,
   * whose answer follows every stanza it wrote before on its component stream, and Prosody handles them in order — so
   * when the answer arrives, Prosody has routed (and stored offline) everything the bridge wrote until then.
   */
  barrier(to: string, timeoutMs = 60_000): Promise<void> {
    const id = `f${randomBytes(5).toString('hex')}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`no answer to a ping of ${to} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      this.client.send(xml('iq', { type: 'get', to, id }, xml('ping', { xmlns: 'urn:xmpp:ping' }))).catch((err: unknown) => {
        clearTimeout(timer);
        this.waiters.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  private onStanza(el: Element): void {
    if (el.name === 'iq') {
      const w = this.waiters.get(String(el.attrs['id']));
      if (w) {
        this.waiters.delete(String(el.attrs['id']));
        w();
      }
      return;
    }
    if (el.name !== 'message' || el.attrs['type'] === 'error') return;
    const json = el.getChild('json', 'urn:xmpp:json:0');
    if (!json) return;
    const at = nowMs();
    const m = /^(?:climate|switch)-d(\d+)@/.exec(String(el.attrs['from'] ?? ''));
    if (!m) return;
    let p: { s?: unknown; r?: unknown; temperature?: number; humidity?: number; battery?: number; state?: 'ON' | 'OFF' };
    try {
      p = JSON.parse(json.text()) as typeof p;
    } catch {
      return;
    }
    const d = Number(m[1]);
    if (p.state !== undefined) this.latest.set(d, { state: p.state });
    else if (p.temperature !== undefined) this.latest.set(d, { temperature: p.temperature, humidity: p.humidity ?? NaN, battery: p.battery ?? NaN });
    if (p.r !== this.runId || typeof p.s !== 'number') return;
    let list = this.receipts.get(d);
    if (!list) this.receipts.set(d, (list = []));
    list.push({ s: p.s, at });
    this.received += 1;
  }

  async stop(): Promise<void> {
    await this.client.stop().catch(() => undefined);
  }
}

// ------------------------------------------------------------------------------------------------ one measurement

let nextRun = 7_000_000;

/** Prosody, the bridge, the fleet and the online followers of one repeat; configurations are switched by a reload. */
interface FleetRig {
  readonly dir: string;
  readonly layout: FleetLayout;
  readonly prosody: ProsodyInstance;
  readonly bridge: BridgeProcess;
  readonly sim: Simulator;
  readonly followers: Follower[];
  readonly mappingsFile: string;
  /** The configuration the bridge runs now. */
  config: FleetConfigId;
  /** Rounds of readings already published (values continue across runs). */
  rounds: number;
  readonly setupMs: number;
}

async function openRig(plan: FleetPlan, first: FleetConfigId): Promise<FleetRig> {
  const l = fleetLayout(plan.devices, plan.perDevice, plan.online);
  const t0 = nowMs();
  const dir = tempDir('fleet');
  const password = 'pw-fleet';
  const secret = randomBytes(12).toString('hex');
  seedProsody(join(dir, 'prosody'), l, password);
  const prosody = await startProsody({
    dir: join(dir, 'prosody'),
    components: [{ domain: DOMAIN, secret }],
    extraModules: ['offline'],
    logLevel: 'warn',
    ...(PROSODY_NAGLE ? {} : { extraGlobalConfig: 'network_settings = { nagle = false }' }),
  });
  let bridge: BridgeProcess | undefined;
  let sim: Simulator | undefined;
  const followers: Follower[] = [];
  try {
    const dataDir = join(dir, 'data');
    const mappings = join(dir, 'mappings');
    mkdirSync(mappings, { recursive: true });
    const mappingsFile = join(mappings, 'fleet.yaml');
    writeFileSync(mappingsFile, mappingsYaml(CONFIG_SPECS[first], plan.compression));
    seedBridge(dataDir, l);
    bridge = await startBridgeProcess({ service: `xmpp://${prosody.listen}:${prosody.componentPort}`, secret }, { config: { dataDir, mappings: [mappings] } });
    sim = Simulator.start('sim-fleet');
    const connect = { host: bridge.host, port: bridge.port, clientId: 'fleet-d{i}', subscribeQos: 0 as const, sources: SIM_SOURCES, keepalive: 60, concurrency: 100, rate: 0, stopOnFailure: false, connectTimeoutMs: 20_000 };
    const a = await sim.connect({ ...connect, first: 0, count: l.switchFrom, topic: 'fleet/climate/d{i}' });
    const b = await sim.connect({ ...connect, first: l.switchFrom, count: l.devices - l.switchFrom, topic: 'fleet/switch/d{i}' });
    if (a.failed + b.failed > 0) throw new Error(`${a.failed + b.failed} devices could not connect: ${JSON.stringify({ ...a.errors, ...b.errors })}`);
    for (let u = 0; u < l.online; u++) followers.push(await Follower.connect(prosody, userName(u), password));
    let online = 0;
    const deadline = nowMs() + 20_000;
    while ((online = await bridge.child.call<number>('users')) < l.online && nowMs() < deadline) await sleep(50);
    if (online < l.online) throw new Error(`the bridge sees ${online} of ${l.online} followers online`);
    return { dir, layout: l, prosody, bridge, sim, followers, mappingsFile, config: first, rounds: 0, setupMs: Math.round(nowMs() - t0) };
  } catch (err) {
    for (const f of followers) await f.stop();
    await sim?.stop().catch(() => undefined);
    await bridge?.stop().catch(() => undefined);
    await prosody.stop().catch(() => undefined);
    removeTempDir(dir);
    throw err;
  }
}

async function closeRig(rig: FleetRig): Promise<void> {
  for (const f of rig.followers) await f.stop();
  await rig.sim.stop().catch(() => undefined);
  await rig.bridge.stop().catch(() => undefined);
  await rig.prosody.stop().catch(() => undefined);
  removeTempDir(rig.dir);
}

async function measure(rig: FleetRig, plan: FleetPlan, config: FleetConfigId, repeat: number): Promise<FleetRun> {
  const spec = CONFIG_SPECS[config];
  const { layout: l, prosody, bridge, sim, followers } = rig;
  if (rig.config !== config) {
    // The configuration is the mapping file: rewritten and reloaded, as an operator would (SIGHUP).
    writeFileSync(rig.mappingsFile, mappingsYaml(spec, plan.compression));
    const r = await bridge.child.call<{ outcome: { ok: boolean; problems: string[] } }>('reload');
    if (!r.outcome.ok) throw new Error(`reload to ${config} failed: ${JSON.stringify(r.outcome.problems)}`);
    rig.config = config;
  }

  // Two paced runs: a warm-up (every device reads twice: the first reading of each is sent, the follower's view is
  // set), a barrier, then the measured window, whose CPU is counted until a barrier after it: whatever Prosody had
  // queued from the warm-up is done before, and what the window caused is done within it, however loaded the
  // machine. After it no reading: held changes come out when their interval ends, which the judgement waits for.
  const periodMs = (READING_EVERY_S * 1000) / plan.compression;
  const minIntervalMs = spec.changes ? (POLICY.minInterval * 1000) / plan.compression : 0;
  const rate = (l.devices * 1000) / periodMs;
  const runId = nextRun++;
  for (const f of followers) f.arm(runId);
  const barrier = (): Promise<void> => followers[0]!.barrier(deviceName(l, 0).jid);
  const warmRounds = 2;
  const roundBase = rig.rounds;
  const warmStartUs = nowUs() + 50_000;
  await sim.run({ runId, rate, total: warmRounds * l.devices, startAtUs: warmStartUs, qos: 0, payload: 'fleet', fleet: { switchFrom: l.switchFrom, roundBase } });
  await barrier();

  const windowRounds = Math.max(1, Math.round(plan.windowMs / periodMs));
  const total = windowRounds * l.devices;
  rig.rounds += warmRounds + windowRounds;
  const pids = { prosody: prosody.pid ?? -1, bridge: bridge.child.pid, sim: sim.pid };
  await bridge.child.call('stanzas');
  const stored0 = storedOffline(prosody);
  const received0 = followers.reduce((n, f) => n + f.received, 0);
  const startUs = nowUs() + 20_000;
  const startMs = startUs / 1000;
  const cpu0 = { prosody: cpuSeconds(pids.prosody) ?? NaN, bridge: cpuSeconds(pids.bridge) ?? NaN, sim: cpuSeconds(pids.sim) ?? NaN };
  // Sequence numbers of the window follow the warm-up's: one run id, one sequence.
  await sim.run({ runId, rate, total, startAtUs: startUs, qos: 0, payload: 'fleet', fleet: { switchFrom: l.switchFrom, roundBase: roundBase + warmRounds }, seqBase: warmRounds * l.devices });
  const w1 = startMs + (total * 1000) / rate;
  await barrier();
  const cpu1 = { prosody: cpuSeconds(pids.prosody) ?? NaN, bridge: cpuSeconds(pids.bridge) ?? NaN, sim: cpuSeconds(pids.sim) ?? NaN };
  const drainedMs = nowMs();
  const stanzas = await bridge.child.call<Record<string, number>>('stanzas');
  const received = followers.reduce((n, f) => n + f.received, 0) - received0;
  const stored = storedOffline(prosody) - stored0;
  // Held changes of the window's end come out when their interval ends.
  await sleep(Math.max(0, w1 + minIntervalMs + plan.toleranceMs - nowMs()));
  const w0 = startMs;

  // The judgement: every reading of the run, recomputed; the follower's receipts of the whole run.
  // CPU and counts cover the window until Prosody was done with it; rates are per window of readings.
  const windowMs = w1 - w0;
  const cpuWindowMs = drainedMs - w0;
  const perMsgMs = 1000 / rate;
  const byDevice: ReadingAt[][] = Array.from({ length: l.devices }, () => []);
  const readings = total;
  for (let k = 0; k < warmRounds * l.devices; k++) {
    const d = k % l.devices;
    byDevice[d]!.push({ s: k, t: warmStartUs / 1000 + k * perMsgMs, values: fleetReading(d, roundBase + Math.floor(k / l.devices), l.switchFrom) });
  }
  for (let k = 0; k < total; k++) {
    const d = k % l.devices;
    byDevice[d]!.push({ s: warmRounds * l.devices + k, t: startMs + k * perMsgMs, values: fleetReading(d, roundBase + warmRounds + Math.floor(k / l.devices), l.switchFrom) });
  }
  const policy: PolicyModel | undefined = spec.changes ? { deadband: POLICY.deadband, minIntervalMs } : undefined;
  const judgement = sumJudgements(byDevice.map((rs, d) => judgeDevice(rs, followers[d % l.online]!.receipts.get(d) ?? [], policy, { start: w0, end: w1 }, plan.toleranceMs, followers[d % l.online]!.before.get(d))));
  if (process.env['FLEET_DEBUG'] && judgement.violations > 0) {
    byDevice.forEach((rs, d) => {
      const rc = followers[d % l.online]!.receipts.get(d) ?? [];
      const j = judgeDevice(rs, rc, policy, { start: w0, end: w1 }, plan.toleranceMs, followers[d % l.online]!.before.get(d));
      if (j.violations) log(`F debug d${d}: ${JSON.stringify(j)} before ${JSON.stringify(followers[d % l.online]!.before.get(d))} window ${w0 - startMs}–${w1 - startMs}; readings ${JSON.stringify(rs.map((r) => [r.s, Math.round(r.t - startMs), r.values]))}; receipts ${JSON.stringify(rc.map((r) => [r.s, Math.round(r.at - startMs)]))}`);
    });
  }
  const count = (pred: (k: string) => boolean): number => Object.entries(stanzas).reduce((n, [k, v]) => n + (pred(k) ? v : 0), 0);
  const stanzasTotal = count(() => true);
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    config,
    repeat,
    windowMs: Math.round(windowMs),
    readings,
    stanzas,
    stanzasTotal,
    stanzasPerMinute: perFleetMinute(stanzasTotal, windowMs, plan.compression),
    messagesPerMinute: perFleetMinute(count((k) => k.startsWith('message')), windowMs, plan.compression),
    presencePerMinute: perFleetMinute(count((k) => k.startsWith('presence')), windowMs, plan.compression),
    prosodyCpuS: r3(cpu1.prosody - cpu0.prosody),
    bridgeCpuS: r3(cpu1.bridge - cpu0.bridge),
    simCpuS: r3(cpu1.sim - cpu0.sim),
    prosodyPct: Math.round(((cpu1.prosody - cpu0.prosody) / (cpuWindowMs / 1000)) * 1000) / 10,
    bridgePct: Math.round(((cpu1.bridge - cpu0.bridge) / (cpuWindowMs / 1000)) * 1000) / 10,
    drainMs: Math.round(drainedMs - w1),
    storedOffline: stored,
    storedOfflinePerMinute: perFleetMinute(stored, windowMs, plan.compression),
    received,
    judgement,
    setupMs: rig.setupMs,
  };
}

// ------------------------------------------------------------------------------------------------ the part

export function summarize(plan: FleetPlan, runs: FleetRun[]): FleetSummary[] {
  const ok = runs.filter((r) => !r.error);
  const old = ok.filter((r) => r.config === 'old');
  return plan.configs.map((config) => {
    const mine = ok.filter((r) => r.config === config);
    const med = (f: (r: FleetRun) => number): number | undefined => {
      const m = median(mine.map(f));
      return m === undefined ? undefined : Math.round(m * 1000) / 1000;
    };
    const stanzas: Record<string, number> = {};
    for (const k of new Set(mine.flatMap((r) => Object.keys(r.stanzas)))) stanzas[k] = Math.round(median(mine.map((r) => perFleetMinute(r.stanzas[k] ?? 0, r.windowMs, plan.compression))) ?? 0);
    // Paired by repeat: repeat i of each configuration ran in the same round.
    const pair = (xs: FleetRun[]): number[] => Array.from({ length: plan.repeats }, (_x, i) => xs.find((r) => r.repeat === i)?.prosodyCpuS ?? NaN);
    const fresh = pair(mine);
    const before = pair(old);
    const keep = fresh.map((_x, i) => Number.isFinite(fresh[i]) && Number.isFinite(before[i]));
    return {
      config,
      title: CONFIG_SPECS[config].title,
      runs: mine.length,
      ...(mine.length ? { prosodyCpuS: med((r) => r.prosodyCpuS)!, prosodyCpuMin: Math.min(...mine.map((r) => r.prosodyCpuS)), prosodyCpuMax: Math.max(...mine.map((r) => r.prosodyCpuS)) } : {}),
      ...(mine.length ? { bridgeCpuS: med((r) => r.bridgeCpuS)!, stanzasPerMinute: med((r) => r.stanzasPerMinute)!, messagesPerMinute: med((r) => r.messagesPerMinute)!, presencePerMinute: med((r) => r.presencePerMinute)!, storedOfflinePerMinute: med((r) => r.storedOfflinePerMinute)! } : {}),
      violations: mine.reduce((n, r) => n + r.judgement.violations, 0),
      changes: mine.reduce((n, r) => n + r.judgement.changes, 0),
      maxDelayMs: Math.round(Math.max(0, ...mine.map((r) => r.judgement.maxDelayMs))),
      ...(config !== 'old' && old.length ? { ratio: pairedRatios(fresh.filter((_x, i) => keep[i]), before.filter((_x, i) => keep[i])) } : {}),
      stanzas,
    };
  });
}

export function runLine(r: FleetRun, plan: FleetPlan): string {
  if (r.error) return `F ${r.config} #${r.repeat + 1}: error: ${r.error}`;
  const j = r.judgement;
  const kinds = Object.entries(r.stanzas)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${Math.round(perFleetMinute(v, r.windowMs, plan.compression))}`)
    .join(', ');
  return (
    `F ${r.config.padEnd(8)} #${r.repeat + 1}: ${r.readings} readings in ${(r.windowMs / 1000).toFixed(1)} s; per fleet minute: ${r.stanzasPerMinute} stanzas (${kinds}), ` +
    `${r.storedOfflinePerMinute} stored offline; Prosody ${r.prosodyCpuS} s CPU (${r.prosodyPct} %), bridge ${r.bridgeCpuS} s (${r.bridgePct} %), drained ${r.drainMs} ms after; ` +
    `online followers: ${r.received} messages, ${j.changes} changes of ${j.judged} readings judged, ${j.violations} late (max ${Math.round(j.maxDelayMs)} ms; ${j.reverted} reverted within the interval` +
    `${j.stateChanges ? `; ${j.stateChanges} state changes, max ${Math.round(j.maxStateDelayMs)} ms` : ''})`
  );
}

export async function runFleet(plan: FleetPlan): Promise<FleetResult> {
  const minIntervalMs = (POLICY.minInterval * 1000) / plan.compression;
  log(
    `F: ${plan.devices} devices (${Math.round(plan.devices * 0.05)} switches) reading every ${READING_EVERY_S} s, ${plan.perDevice} followers each, ${plan.online} of ${plan.perDevice * plan.online} users online; ` +
      `time compressed ${plan.compression}× (a reading every ${READING_EVERY_S / plan.compression} s per device, minInterval ${minIntervalMs / 1000} s); window ${plan.windowMs / 1000} s; ${plan.repeats} repeat(s); tolerance ${plan.toleranceMs} ms`,
  );
  const runs: FleetRun[] = [];
  // Configurations alternate within each repeat, so other work on the machine hits all of them alike.
  // One rig per repeat (a fresh Prosody, bridge, fleet and followers); within it the configurations follow each other,
  // switched by a mapping reload, so other work on the machine hits all of them alike.
  for (let repeat = 0; repeat < plan.repeats; repeat++) {
    let rig: FleetRig;
    try {
      rig = await openRig(plan, plan.configs[0]!);
      log(`F #${repeat + 1}: set up in ${(rig.setupMs / 1000).toFixed(1)} s`);
    } catch (err) {
      for (const config of plan.configs) runs.push({ config, repeat, error: (err as Error).message } as FleetRun);
      log(`F #${repeat + 1}: could not set up: ${(err as Error).message}`);
      continue;
    }
    try {
      for (const config of plan.configs) {
        let r: FleetRun;
        try {
          r = await measure(rig, plan, config, repeat);
        } catch (err) {
          r = { config, repeat, error: (err as Error).message } as FleetRun;
        }
        runs.push(r);
        log(runLine(r, plan));
      }
    } finally {
      await closeRig(rig);
    }
  }
  return { plan, minIntervalMs, target: FLEET_TARGET, runs, summary: summarize(plan, runs) };
}
