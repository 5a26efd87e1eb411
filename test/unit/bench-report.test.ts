/**
 * The benchmark's ratio lines say why a missed target is missed: the S/M line gives what of the bridge's CPU lies
 * outside its own code (from the S profile at the same devices and QoS), and flags a target that the dependencies
 * alone exceed; the downlink line flags a miss its null bridge shares.
 */
import assert from 'node:assert/strict';
import type { CostReading } from '../../bench/cost.js';
import type { PairedLadder } from '../../bench/downlink.js';
import type { ProfileResult } from '../../bench/profile.js';
import { ratioLines } from '../../bench/report.js';
import type { BenchResults } from '../../bench/run.js';

function reading(system: 'S' | 'M' | 'N', median: number, qos: 0 | 1): CostReading {
  return { system, process: system, devices: 100, qos, rate: 10_000, steps: [], median, min: median, max: median };
}

function profile(qos: 0 | 1, categories: [string, number][]): ProfileResult {
  return {
    scenario: 'S',
    qos,
    devices: 100,
    rate: 10_000,
    file: 'x.cpuprofile',
    summary: { wallMs: 1000, busyPct: 80, functions: [], files: [], categories: categories.map(([name, selfPct]) => ({ name, selfPct, selfMs: 0 })) },
  };
}

function results(over: Partial<BenchResults>): BenchResults {
  return { version: 1, mode: 'full', startedAt: '', durationS: 0, machine: {}, command: '', criteria: '', notes: [], scenarios: {}, addedLatency: [], ratios: [], ...over };
}

describe('bench report: why a target is missed', () => {
  it('S/M: the share outside the bridge’s own code, and a miss the dependencies alone cause', () => {
    const r = results({
      cost: {
        rate: 10_000,
        stepMs: 3000,
        repeats: 3,
        readings: [reading('S', 90, 1), reading('M', 25, 1), reading('N', 40, 1), reading('S', 40, 0), reading('M', 20, 0)],
        ratios: [
          { devices: 100, qos: 1, bridge: 90, mosquitto: 25, nullBridge: 40, ratio: 3.6, nullRatio: 1.6, target: 2, met: false },
          { devices: 100, qos: 0, bridge: 40, mosquitto: 20, ratio: 2, target: 1.5, met: false },
        ],
      },
      // QoS 1: own code 30 % (src 24, GC 2, program 4) → 63 µs outside = 2.52 × Mosquitto, above the target of 2.
      // QoS 0: own code 50 % → 20 µs outside = 1.0 ×: the bridge's own work decides this miss.
      profiles: [
        profile(1, [['bridge src/', 24], ['node: internals', 20], ['(garbage collector)', 2], ['(program)', 4], ['ltx', 10]]),
        profile(0, [['bridge src/', 50], ['aedes', 50]]),
      ],
    });
    const [q1, q0] = ratioLines(r);
    assert.match(q1!.text, /; outside the bridge's own code 63 µs = 2\.52× \(profile: its own code 30 % of its samples\)\) — target ≤ 2 ✗ missed \(the dependencies alone exceed it\)$/);
    assert.match(q0!.text, /; outside the bridge's own code 20 µs = 1× \(profile: its own code 50 % of its samples\)\) — target ≤ 1\.5 ✗ missed$/);
  });

  it('S/M without a profile or null bridge at those devices says only what was measured', () => {
    const r = results({
      cost: { rate: 10_000, stepMs: 3000, repeats: 1, readings: [reading('S', 30, 0), reading('M', 10, 0)], ratios: [{ devices: 100, qos: 0, bridge: 30, mosquitto: 10, ratio: 3, target: 1.5, met: false }] },
    });
    assert.equal(ratioLines(r)[0]!.text, 'S/M CPU per message, 100 devices, QoS 0, 10,000/s: 3 (bridge 30 µs / Mosquitto 10 µs per message) — target ≤ 1.5 ✗ missed');
  });

  it('downlink: a miss is put on the MQTT side only when the null bridge stopped as low', () => {
    const paired = (bridge: number, nullBridge: number): PairedLadder => ({ command: 'set', qos: 1, bridge, ceiling: 4000, nullBridge, steps: [] });
    const text = (bridge: number, nullBridge: number): string =>
      ratioLines(results({ downlink: { devices: 100, runs: [], paired: [paired(bridge, nullBridge)] } })).find((l) => l.name === 'downlink/ceiling set')!.text;
    assert.match(text(3300, 3300), /✗ missed \(the null bridge, with none of the bridge's work, stopped at the same rate or lower\)$/);
    assert.match(text(3300, 4000), /✗ missed$/);
    assert.match(text(3800, 3300), /✓ met$/);
  });
});
