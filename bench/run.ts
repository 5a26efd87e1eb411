/**
 * `npm run bench [-- --quick] [--pin] [--scenario B,X,N,M,P] [--parts …] [--devices 1,100] [--qos 0,1] [--out DIR]`
 * `npm run bench -- --parts fleet [--fleet-repeats 3] [--fleet-window-s 36] [--fleet-configs chat,demo] [--fleet-devices 1000] [--fleet-online 10] [--fleet-compression 5]`
 * `npm run bench -- --cluster [--rate R] [--seconds S] [--devices D] [--instances 1,2]` (bench/cluster.ts)
 * `npm run bench -- --parts downlink [--downlink-ladder-only] [--downlink-null] [--downlink-cost N] [--pin]`
 * `npm run bench -- --parts memory [--memory-steps 0,2000,4000] [--memory-snapshots]` (then bench/heap-diff.ts)
 *
 * Runs, back to back on this machine, the five scenarios (B bridge, X XMPP ceiling, N null bridge, M MQTT ceiling,
 * P Prosody's mod_pubsub_mqtt) with the same device simulator and the same XMPP receiver, then the bridge's memory
 * per idle device, its most concurrent devices, its downlink, CPU profiles and the per-reading micro-benchmark.
 * Prints ratios, writes JSON + Markdown to bench/results/ (git-ignored). Every part is bounded in time.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmt, log, pinProcesses, ROOT, sleep } from './common.js';
import { runCapacity, type CapacityResult } from './capacity.js';
import { runClusterBench } from './cluster.js';
import { runCost, type CostResult, type CostSystem } from './cost.js';
import { runDownlink, type DownlinkResult } from './downlink.js';
import { FLEET_CONFIGS, runFleet, type FleetConfigId, type FleetPlan, type FleetResult } from './fleet.js';
import { machineInfo } from './machine.js';
import { runMemory, type MemoryResult } from './memory.js';
import { formatMicro, runMicro, type MicroResult } from './micro.js';
import { runProfiles, type ProfileResult } from './profile.js';
import { markdown, ratioLines, type RatioLine } from './report.js';
import { writeFigures } from './svg.js';
import { PROSODY_NAGLE, stopSharedServer, type Qos, type ScenarioId } from './rig.js';
import { benchSettings } from './scenarios/bridge.js';
import { ORDER, SCENARIOS } from './scenarios/index.js';
import { cleanStep, OTHER_CPU_LIMIT, latencyAt, setCleanAttempts, prepare, rigRunner, search, type SearchOptions, type SearchResult, type StepResult } from './search.js';

// ------------------------------------------------------------------------------------------------ options

type Part = 'cost' | 'throughput' | 'memory' | 'capacity' | 'downlink' | 'profile' | 'micro' | 'fleet';
const ALL_PARTS: Part[] = ['cost', 'throughput', 'memory', 'capacity', 'downlink', 'profile', 'micro', 'fleet'];

interface Plan {
  mode: 'quick' | 'full';
  /** --pin: the server measured gets a core of its own (see pinProcesses). */
  pin: boolean;
  devices: number[];
  qos: Qos[];
  /** Scenarios measured at QoS 0 only (quick mode keeps QoS 1 for B). */
  qos0Only: ScenarioId[];
  search: SearchOptions;
  warmMs: number;
  fractions: number[];
  /** Scenarios whose latency is measured at those fractions (X is always measured at B's 50 % rates). */
  latencyFor: ScenarioId[];
  latencyMs: number;
  memorySteps: number[];
  /** Write a heap snapshot of the bridge at each memory step, next to the results (--memory-snapshots). */
  memorySnapshots?: boolean;
  capacityCap: number;
  downlinkDevices: number;
  microMs: number;
  profileMs: number;
  /** CPU per message at one offered rate (cost.ts): systems, devices, rate, step length, steps per point. */
  cost: { systems: CostSystem[]; devices: number[]; rate: number; stepMs: number; repeats: number };
  /** Scenario F (fleet.ts): the fleet, time compression, window, configurations, repeats. */
  fleet: FleetPlan;
  /** The whole run: past it, remaining throughput runs are skipped (the other parts still run). */
  totalBudgetMs: number;
}

const QUICK: Plan = {
  mode: 'quick',
  pin: false,
  devices: [100],
  qos: [0, 1],
  qos0Only: ['X', 'N', 'M', 'P'],
  search: { startRate: 4000, maxRate: 80_000, minRate: 50, rampMs: 500, stepMs: 500, graceMs: 200, factor: 1.25, maxRefine: 2, bisect: 1, budgetMs: 4000 },
  warmMs: 300,
  fractions: [0.5],
  latencyFor: ['B'],
  latencyMs: 600,
  memorySteps: [0, 800],
  capacityCap: 0,
  downlinkDevices: 0,
  microMs: 200,
  profileMs: 0,
  cost: { systems: ['S', 'M'], devices: [100], rate: 10_000, stepMs: 600, repeats: 1 },
  // A tenth of the fleet, 40× compressed (a reading every 0.25 s per device, minInterval 1.5 s), 1.5 s windows.
  fleet: { devices: 100, perDevice: 3, online: 2, compression: 40, windowMs: 1500, configs: ['old', 'demo'], repeats: 1, toleranceMs: 1000 },
  totalBudgetMs: 120_000,
};

const FULL: Plan = {
  mode: 'full',
  pin: false,
  devices: [1, 100, 1000, 5000],
  qos: [0, 1],
  qos0Only: ['X'],
  search: { startRate: 1000, maxRate: 160_000, minRate: 25, rampMs: 1500, stepMs: 8000, graceMs: 1000, factor: 1.25, maxRefine: 4, bisect: 2, budgetMs: 180_000 },
  warmMs: 1500,
  fractions: [0.25, 0.5, 0.75],
  latencyFor: ['B', 'X', 'N', 'M', 'P'],
  latencyMs: 5000,
  memorySteps: [0, 2000, 4000, 6000, 8000, 10_000],
  capacityCap: 20_000,
  downlinkDevices: 100,
  microMs: 2000,
  profileMs: 15_000,
  cost: { systems: ['S', 'M', 'N'], devices: [100, 1000], rate: 10_000, stepMs: 3000, repeats: 5 },
  // 1,000 devices, 5× compressed (a reading every 2 s per device, minInterval 12 s), 36 s windows = 3 fleet minutes.
  // 5×: the old behaviour then keeps Prosody about half busy (10× would saturate it and cap the ratio's reference).
  fleet: { devices: 1000, perDevice: 3, online: 10, compression: 5, windowMs: 36_000, configs: FLEET_CONFIGS, repeats: 3, toleranceMs: 1000 },
  totalBudgetMs: 75 * 60_000,
};

function parseArgs(argv: string[]): { plan: Plan; scenarios: ScenarioId[]; parts: Part[]; out: string } {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const base = argv.includes('--quick') ? QUICK : FULL;
  const plan: Plan = { ...base, search: { ...base.search }, pin: argv.includes('--pin') };
  const list = (s: string | undefined): string[] | undefined => s?.split(',').map((x) => x.trim()).filter(Boolean);
  const devices = list(get('--devices'));
  if (devices) plan.devices = devices.map(Number);
  const qos = list(get('--qos'));
  if (qos) {
    plan.qos = qos.map((q) => (q === '1' ? 1 : 0));
    if (!plan.qos.includes(0)) plan.qos0Only = [];
  }
  const budgetMin = get('--budget-min');
  if (budgetMin) plan.totalBudgetMs = Number(budgetMin) * 60_000;
  const profileS = get('--profile-s');
  if (profileS) plan.profileMs = Number(profileS) * 1000;
  const budget = get('--search-budget-s');
  if (budget) plan.search = { ...plan.search, budgetMs: Number(budget) * 1000 };
  const costDevices = list(get('--cost-devices'));
  if (costDevices) plan.cost = { ...plan.cost, devices: costDevices.map(Number) };
  const memorySteps = list(get('--memory-steps'));
  if (memorySteps) plan.memorySteps = memorySteps.map(Number);
  if (argv.includes('--memory-snapshots')) plan.memorySnapshots = true;
  const costRepeats = get('--cost-repeats');
  if (costRepeats) plan.cost = { ...plan.cost, repeats: Number(costRepeats) };
  const costRate = get('--cost-rate');
  if (costRate) plan.cost = { ...plan.cost, rate: Number(costRate) };
  const fleet = { ...plan.fleet };
  const fleetRepeats = get('--fleet-repeats');
  if (fleetRepeats) fleet.repeats = Number(fleetRepeats);
  const fleetWindow = get('--fleet-window-s');
  if (fleetWindow) fleet.windowMs = Number(fleetWindow) * 1000;
  const fleetDevices = get('--fleet-devices');
  if (fleetDevices) fleet.devices = Number(fleetDevices);
  const fleetOnline = get('--fleet-online');
  if (fleetOnline) fleet.online = Number(fleetOnline);
  const fleetCompression = get('--fleet-compression');
  if (fleetCompression) fleet.compression = Number(fleetCompression);
  const fleetConfigs = list(get('--fleet-configs'));
  if (fleetConfigs) {
    for (const c of fleetConfigs) if (!FLEET_CONFIGS.includes(c as FleetConfigId)) throw new Error(`unknown fleet configuration ${c} (${FLEET_CONFIGS.join(', ')})`);
    // The old behaviour is every ratio's reference.
    fleet.configs = FLEET_CONFIGS.filter((c) => c === 'old' || fleetConfigs.includes(c));
  }
  plan.fleet = fleet;
  const costSystems = list(get('--cost-systems'));
  if (costSystems) plan.cost = { ...plan.cost, systems: costSystems.map((x) => x.toUpperCase()) as CostSystem[] };
  // Quick mode (under a minute): B and X (the B/X and p99-added targets); S is measured by its CPU per message (the
  // cost part), and M there too; N and P (B/P) only in the full run or with --scenario.
  const scenarios = (list(get('--scenario')) ?? (argv.includes('--quick') ? ORDER.filter((x) => x === 'B' || x === 'X') : ORDER)).map((s) => s.toUpperCase()) as ScenarioId[];
  for (const s of scenarios) if (!ORDER.includes(s)) throw new Error(`unknown scenario ${s} (${ORDER.join(', ')})`);
  const parts = (list(get('--parts')) ?? (argv.includes('--quick') ? ['cost', 'throughput', 'memory', 'micro', 'fleet'] : ALL_PARTS)) as Part[];
  for (const p of parts) if (!ALL_PARTS.includes(p)) throw new Error(`unknown part ${p} (${ALL_PARTS.join(', ')})`);
  return { plan, scenarios: ORDER.filter((s) => scenarios.includes(s)), parts, out: get('--out') ?? join(ROOT, 'bench', 'results') };
}

// ------------------------------------------------------------------------------------------------ results

export interface RunResult {
  devices: number;
  qos: Qos;
  skipped?: string;
  error?: string;
  sustained?: number;
  at?: StepResult;
  latency: { fraction: number; step: StepResult }[];
  search?: Omit<SearchResult, 'at' | 'sustained'>;
  diagnostics?: unknown;
}

export interface AddedLatency {
  devices: number;
  qos: Qos;
  rate: number;
  bridgeP99: number;
  xmppP99: number;
  addedP99: number;
  bridgeP50: number;
  xmppP50: number;
}

export interface BenchResults {
  version: 1;
  mode: 'quick' | 'full';
  startedAt: string;
  durationS: number;
  machine: Record<string, unknown>;
  command: string;
  criteria: string;
  notes: string[];
  scenarios: Partial<Record<ScenarioId, { title: string; runs: RunResult[]; error?: string }>>;
  addedLatency: AddedLatency[];
  cost?: CostResult;
  memory?: MemoryResult;
  capacity?: CapacityResult;
  downlink?: DownlinkResult;
  profiles?: ProfileResult[];
  micro?: MicroResult;
  fleet?: FleetResult;
  ratios: RatioLine[];
}

function stepLine(id: string, devices: number, qos: Qos, s: StepResult, phase: string): string {
  const cpu = Object.entries(s.cpu)
    .map(([k, v]) => `${k} ${v}%`)
    .join(' ');
  return (
    `${id} d=${devices} q${qos} ${phase.padEnd(12)} ${fmt(s.rate).padStart(7)}/s ` +
    `delivered ${(s.delivered * 100).toFixed(2)}% p50 ${s.latency.p50} p99 ${s.latency.p99} max ${s.latency.max} ms ` +
    `${s.pass ? 'PASS' : `FAIL (${s.why})`} | cpu ${cpu}${s.generatorLagMs > 20 ? ` | generator lag ${s.generatorLagMs} ms` : ''}` +
    `${(s.attempts ?? 1) > 1 ? ` | attempt ${s.attempts}${s.contaminated ? ', still disturbed by other processes' : ''}` : ''}`
  );
}

// ------------------------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  // Cluster mode is its own comparison (one and two instances on ejabberd, Redis, mosquitto): bench/cluster.ts.
  if (process.argv.includes('--cluster')) return runClusterBench(process.argv.slice(2));
  const { plan, scenarios, parts, out } = parseArgs(process.argv.slice(2));
  if (plan.mode === 'quick') setCleanAttempts(1);
  const t0 = Date.now();
  const machine = await machineInfo();
  const results: BenchResults = {
    version: 1,
    mode: plan.mode,
    startedAt: new Date().toISOString(),
    durationS: 0,
    machine,
    command: process.argv.length > 2 ? `npm run bench -- ${process.argv.slice(2).join(' ')}` : 'npm run bench',
    criteria: 'sustained = highest offered rate (open loop, intended-time stamps) with ≥ 99.9 % delivered and p99 < 100 ms',
    notes: [
      `${String(machine['cpus'])} cores shared by everything: the load generator, the system under test, Prosody and the receiver compete for CPU (per-step CPU % of one core is recorded).`,
      `A step during which processes outside the bench used > ${OTHER_CPU_LIMIT} % of a core ("other" in the CPU columns) is retried after the machine quiets down (failures, and every latency step), up to 3 times${plan.mode === 'quick' ? ' (quick mode: not retried, only flagged)' : ''}.`,
      'Latency is measured from each message\'s intended send time (open loop, CLOCK_MONOTONIC shared by all processes), HDR histogram.',
      'X has no QoS: its figures serve both the QoS 0 and the QoS 1 ratios. P runs at QoS 0 only (mod_pubsub_mqtt sends no PUBACK).',
      PROSODY_NAGLE ? 'Prosody runs with its default Nagle setting (BENCH_PROSODY_NAGLE=1).' : 'Prosody runs with network_settings = { nagle = false } (its default leaves Nagle on, adding up to ~40 ms to a stanza); limits module off.',
      ...benchSettings().notes.map((n) => `Bridge config: ${n}.`),
      ...(plan.pin ? ['--pin: the measured server (Prosody; Mosquitto in M) ran alone on the last core, every other process of the bench on the other core(s).'] : []),
    ],
    scenarios: {},
    addedLatency: [],
    ratios: [],
  };
  log(`mqtt-xmpp-bridge benchmark (${plan.mode}): scenarios ${scenarios.join(',')}; parts ${parts.join(',')}`);
  log(`machine: ${String(machine['cpuModel'])}, ${String(machine['cpus'])} cores, Node ${process.version}, Prosody ${String(machine['prosody'])}, Mosquitto ${String(machine['mosquitto'])}`);
  log(`note: ${results.notes[0]}`);

  if (parts.includes('micro')) {
    const r = runMicro(plan.microMs);
    results.micro = r;
    for (const line of formatMicro(r)) log(`micro: ${line}`);
  }

  if (parts.includes('cost')) {
    try {
      // Quick mode measures one short step: half a second at the measured rate first, so that it is not the JIT's
      // first second that is measured (the full run warms up for 1.5 s and takes the median of five 3 s steps).
      const warm = plan.mode === 'quick' ? { warmMs: 500, warmRate: plan.cost.rate } : { warmMs: plan.warmMs };
      results.cost = await runCost({ ...plan.cost, qos: plan.qos, ...warm });
    } catch (err) {
      log(`cost: error: ${(err as Error).message}`);
    }
  }

  if (parts.includes('throughput')) {
    for (const id of scenarios) {
      const title = SCENARIOS[id].title;
      const entry: { title: string; runs: RunResult[]; error?: string } = { title, runs: [] };
      results.scenarios[id] = entry;
      log(`── ${id}: ${title}`);
      let rig;
      try {
        rig = await SCENARIOS[id].open();
      } catch (err) {
        entry.error = (err as Error).message;
        log(`${id}: could not start: ${entry.error}`);
        continue;
      }
      try {
        for (const devices of plan.devices) {
          // X has no QoS; one run serves both.
          for (const qos of plan.qos0Only.includes(id) ? plan.qos.filter((q) => q === 0) : plan.qos) {
            const run: RunResult = { devices, qos, latency: [] };
            entry.runs.push(run);
            const supported = rig.supports(qos);
            if (Date.now() - t0 > plan.totalBudgetMs) {
              run.skipped = 'time budget of the run exhausted';
              log(`${id} d=${devices} q${qos}: skipped (${run.skipped})`);
              continue;
            }
            if (supported !== true) {
              run.skipped = typeof supported === 'string' ? supported : 'not supported';
              log(`${id} d=${devices} q${qos}: skipped (${run.skipped})`);
              continue;
            }
            try {
              if (plan.pin) log(`${id}: pinned ${JSON.stringify(pinProcesses(rig.pids, Number(machine['cpus'])))}`);
              const warm = await prepare(rig, devices, qos, plan.warmMs);
              log(stepLine(id, devices, qos, warm, 'warm-up'));
              const r = await search(rigRunner(rig), plan.search, (s, phase) => log(stepLine(id, devices, qos, s, phase)));
              run.sustained = r.sustained;
              run.at = r.at;
              run.search = { steps: r.steps, stoppedBy: r.stoppedBy, ms: r.ms };
              log(`${id} d=${devices} q${qos}: sustained ${fmt(r.sustained)} msg/s (${r.stoppedBy}, ${Math.round(r.ms / 1000)} s)`);
              if (r.sustained !== undefined && plan.latencyFor.includes(id)) {
                run.latency = await latencyAt(rigRunner(rig), r.sustained, plan.fractions, plan.latencyMs, plan.search.graceMs, (s, phase) => log(stepLine(id, devices, qos, s, phase)));
              }
              if (id === 'X') await xmppAtBridgeRates(rig, devices, results, plan);
              run.diagnostics = await rig.diagnostics?.();
            } catch (err) {
              run.error = (err as Error).message;
              log(`${id} d=${devices} q${qos}: error: ${run.error}`);
            } finally {
              await rig.unprepare().catch(() => undefined);
            }
          }
        }
      } finally {
        await rig.close().catch((err: unknown) => log(`${id}: close failed: ${(err as Error).message}`));
        await sleep(300); // let Prosody see the component go before the next scenario connects one
      }
    }
  }

  if (parts.includes('memory')) {
    try {
      results.memory = await runMemory(plan.memorySteps, plan.memorySnapshots ? out : undefined);
    } catch (err) {
      log(`memory: error: ${(err as Error).message}`);
    }
  }
  if (parts.includes('capacity') && plan.capacityCap > 0) {
    try {
      results.capacity = await runCapacity(plan.capacityCap);
    } catch (err) {
      log(`capacity: error: ${(err as Error).message}`);
    }
  }
  if (parts.includes('downlink') && plan.downlinkDevices > 0) {
    try {
      const stamp = results.startedAt.replace(/[:.]/g, '-').slice(0, 19);
      results.downlink = await runDownlink(plan.downlinkDevices, plan.search, { profileMs: plan.profileMs, outDir: out, stamp, pin: plan.pin, nullBridge: process.argv.includes('--downlink-null'), search: !process.argv.includes('--downlink-ladder-only'),
        ...(process.argv.includes('--downlink-cost')
          ? { costRepeats: Number(process.argv[process.argv.indexOf('--downlink-cost') + 1]) || 3, costRate: plan.cost.rate === 10_000 ? 1000 : plan.cost.rate }
          : {}),
      });
    } catch (err) {
      log(`downlink: error: ${(err as Error).message}`);
    }
  }
  if (parts.includes('profile') && plan.profileMs > 0) {
    try {
      results.profiles = await runProfiles(results, plan.profileMs, out, process.argv.includes('--profile-b') ? 'B' : 'S');
    } catch (err) {
      log(`profile: error: ${(err as Error).message}`);
    }
  }

  if (parts.includes('fleet')) {
    await stopSharedServer(); // its own Prosody per configuration: nothing else on the machine's XMPP server
    try {
      results.fleet = await runFleet(plan.fleet);
    } catch (err) {
      log(`fleet: error: ${(err as Error).message}`);
    }
  }

  await stopSharedServer();
  results.durationS = Math.round((Date.now() - t0) / 1000);
  results.ratios = ratioLines(results);
  console.log('');
  console.log(`Ratios (${plan.mode} mode, ${results.durationS} s${plan.mode === 'quick' ? '; 0.5 s steps, 100 devices: indicative only — the full run uses 8 s steps' : ''}):`);
  for (const r of results.ratios) console.log(`  ${r.text}`);

  mkdirSync(out, { recursive: true });
  const stamp = results.startedAt.replace(/[:.]/g, '-').slice(0, 19);
  const base = join(out, `${stamp}-${plan.mode}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdown(results));
  writeFileSync(join(out, `latest-${plan.mode}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(out, `latest-${plan.mode}.md`), markdown(results));
  log(`results: ${base}.json, ${base}.md`);
  const svgs = writeFigures(results, join(out, `${stamp}-${plan.mode}-figures`));
  if (svgs.length) log(`figures: ${join(out, `${stamp}-${plan.mode}-figures`)} (${svgs.length} SVG)`);
}

/** X at B's 50 % rates (same device count), so the latency the bridge adds is compared at equal load. */
async function xmppAtBridgeRates(rig: Awaited<ReturnType<(typeof SCENARIOS)['X']['open']>>, devices: number, results: BenchResults, plan: Plan): Promise<void> {
  for (const b of results.scenarios.B?.runs ?? []) {
    if (b.devices !== devices || b.sustained === undefined) continue;
    const half = b.latency.find((l) => l.fraction === 0.5);
    if (!half) continue;
    const s = await cleanStep(rigRunner(rig), half.step.rate, plan.latencyMs, plan.search.graceMs, true);
    log(stepLine('X', devices, b.qos, s, `at B q${b.qos} 50%`));
    results.addedLatency.push({
      devices,
      qos: b.qos,
      rate: half.step.rate,
      bridgeP99: half.step.latency.p99,
      xmppP99: s.latency.p99,
      addedP99: Math.round((half.step.latency.p99 - s.latency.p99) * 100) / 100,
      bridgeP50: half.step.latency.p50,
      xmppP50: s.latency.p50,
    });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

