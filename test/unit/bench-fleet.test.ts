/**
 * The counting and judging code of the benchmark's scenario F (bench/fleet-model.ts): who follows which device, the
 * readings the fleet publishes, Prosody's storage files written and counted, "was every change seen in time", and the
 * paired CPU ratios.
 */
import assert from 'node:assert/strict';
import {
  changeKind,
  countOfflineItems,
  fleetLayout,
  fleetPayload,
  fleetReading,
  judgeDevice,
  pairedRatios,
  perFleetMinute,
  prosodyAccount,
  prosodyRoster,
  stanzaKind,
  sumJudgements,
  type ClimateValues,
  type PolicyModel,
  type ReadingAt,
} from '../../bench/fleet-model.js';

const POLICY: PolicyModel = { deadband: { temperature: 0.2, humidity: 2, battery: 5 }, minIntervalMs: 6000 };
const WINDOW = { start: 0, end: 100_000 };
const climate = (temperature: number, humidity = 40): { temperature: number; humidity: number; battery: number } => ({ temperature, humidity, battery: 90 });

describe('bench scenario F: the fleet model', function () {
  it('lays out 1,000 devices with 3 followers each, exactly one of them online, 100 devices per user', function () {
    const l = fleetLayout(1000, 3, 10);
    assert.equal(l.users, 30);
    assert.equal(l.switchFrom, 950);
    const perUser = new Map<number, number>();
    for (let d = 0; d < 1000; d++) {
      const f = l.followers(d);
      assert.equal(new Set(f).size, 3);
      assert.equal(f.filter((u) => u < l.online).length, 1, `device ${d}: one online follower`);
      for (const u of f) perUser.set(u, (perUser.get(u) ?? 0) + 1);
    }
    assert.equal(perUser.size, 30);
    for (let u = 0; u < 30; u++) {
      assert.equal(perUser.get(u), 100);
      assert.deepEqual(new Set(l.follows(u)), new Set(Array.from({ length: 1000 }, (_x, d) => d).filter((d) => l.followers(d).includes(u))));
    }
    assert.throws(() => fleetLayout(1001, 3, 10), /multiple/);
  });

  it('reads the same values for the same device and round; climate drifts slowly, switches hold their state', function () {
    assert.deepEqual(fleetReading(7, 123, 950), fleetReading(7, 123, 950));
    let changes = 0;
    for (let d = 0; d < 100; d++) {
      for (let r = 1; r < 60; r++) {
        const a = fleetReading(d, r - 1, 950) as ClimateValues;
        const b = fleetReading(d, r, 950) as ClimateValues;
        assert.ok(Math.abs(b.temperature - a.temperature) < 1.5, 'no jumps');
        assert.equal(Math.round(b.temperature * 10) / 10, b.temperature, '0.1 °C resolution');
        assert.ok(Number.isInteger(b.humidity));
        if (changeKind(POLICY, a, b)) changes += 1;
      }
    }
    // Some readings are changes against the one before, most are not.
    assert.ok(changes > 0 && changes < 0.5 * 100 * 59, `changes ${changes}`);
    const states = Array.from({ length: 400 }, (_x, r) => (fleetReading(960, r, 950) as { state: string }).state);
    assert.ok(states.includes('ON') && states.includes('OFF'));
    assert.ok(states.filter((s, r) => r > 0 && s !== states[r - 1]).length < 20, 'a switch holds its state for many readings');
    assert.deepEqual(JSON.parse(fleetPayload({ state: 'ON' }, 5, 6, 7)), { state: 'ON', t: 5, s: 6, r: 7 });
    assert.deepEqual(JSON.parse(fleetPayload(climate(21.5, 41), 5, 6, 7)), { temperature: 21.5, humidity: 41, battery: 90, t: 5, s: 6, r: 7 });
  });

  it('counts a change as the bridge does: |after − before| ≥ deadband for numbers, any difference otherwise', function () {
    assert.equal(changeKind(POLICY, climate(21.0), climate(21.5)), 'number');
    assert.equal(changeKind(POLICY, climate(21.0), climate(21.1)), undefined);
    // The same floating-point comparison as the policy: 19.2 − 19.0 is 0.1999…, below 0.2.
    assert.equal(changeKind(POLICY, climate(19.2), climate(19.0)), undefined);
    assert.equal(changeKind(POLICY, climate(21, 40), climate(21, 42)), 'number');
    assert.equal(changeKind(POLICY, { state: 'ON' }, { state: 'OFF' }), 'state');
    assert.equal(changeKind(POLICY, { state: 'ON' }, { state: 'ON' }), undefined);
  });

  it('judges each change by the follower’s first receipt of it or a newer reading, within the interval', function () {
    const readings: ReadingAt[] = [
      { s: 0, t: 0, values: climate(21.0) },
      { s: 1, t: 1000, values: climate(21.5) }, // a change, held by the interval …
      { s: 2, t: 2000, values: climate(21.6) },
      { s: 3, t: 3000, values: climate(21.6) },
    ];
    // … and coalesced: the newest, reading 3, arrives at 6,050 ms, 5,050 ms after the first change. Until then the
    // follower still sees 21.0, so readings 2 and 3 are changes too.
    const ok = judgeDevice(readings, [{ s: 0, at: 10 }, { s: 3, at: 6050 }], POLICY, WINDOW, 1000);
    assert.equal(ok.judged, 4 - 1);
    assert.equal(ok.changes, 3);
    assert.equal(ok.violations, 0);
    assert.equal(ok.maxDelayMs, 5050);
    // Later than interval + tolerance, or never: a violation.
    assert.equal(judgeDevice(readings, [{ s: 0, at: 10 }, { s: 3, at: 8100 }], POLICY, WINDOW, 1000).violations, 1);
    // Reading 2 went out (held, then sent): reading 3 is judged against it, whenever it arrived — no change, none late.
    const two = judgeDevice(readings, [{ s: 0, at: 10 }, { s: 2, at: 6050 }], POLICY, WINDOW, 1000);
    assert.deepEqual([two.changes, two.violations], [2, 0]);
    const never = judgeDevice(readings, [{ s: 0, at: 10 }], POLICY, WINDOW, 1000);
    assert.equal(never.violations, 3);
    assert.equal(never.maxDelayMs, Infinity);
    // Readings before the follower saw anything are not judged; nor readings outside the window.
    assert.equal(judgeDevice(readings, [], POLICY, WINDOW, 1000).judged, 0);
    // What the follower saw before the run (an earlier configuration) is their view until the first receipt.
    const carried = judgeDevice(readings.slice(1), [{ s: 3, at: 6050 }], POLICY, WINDOW, 1000, climate(21.0));
    assert.deepEqual([carried.judged, carried.changes, carried.violations], [3, 3, 0]);
    assert.equal(judgeDevice(readings, [{ s: 0, at: 10 }, { s: 3, at: 6050 }], POLICY, { start: 2500, end: 100_000 }, 1000).changes, 1);
  });

  it('a state change is due at once; a change that reverted within the interval is not a violation', function () {
    const states: ReadingAt[] = [
      { s: 0, t: 0, values: { state: 'OFF' } },
      { s: 1, t: 1000, values: { state: 'ON' } },
    ];
    assert.equal(judgeDevice(states, [{ s: 0, at: 5 }, { s: 1, at: 1020 }], POLICY, WINDOW, 1000).violations, 0);
    const late = judgeDevice(states, [{ s: 0, at: 5 }, { s: 1, at: 2500 }], POLICY, WINDOW, 1000);
    assert.equal(late.violations, 1);
    assert.equal(late.stateChanges, 1);
    const back: ReadingAt[] = [
      { s: 0, t: 0, values: climate(21.0) },
      { s: 1, t: 1000, values: climate(21.3) },
      { s: 2, t: 3000, values: climate(21.0) },
    ];
    const j = judgeDevice(back, [{ s: 0, at: 5 }], POLICY, WINDOW, 1000);
    assert.equal(j.violations, 0);
    assert.equal(j.reverted, 1);
    assert.equal(j.changes, 0);
    // Without a policy (the old behaviour) every difference is due at once.
    assert.equal(judgeDevice(back, [{ s: 0, at: 5 }, { s: 1, at: 1010 }, { s: 2, at: 3010 }], undefined, WINDOW, 1000).changes, 2);
    const sum = sumJudgements([j, late]);
    assert.deepEqual([sum.devices, sum.violations, sum.devicesViolating, sum.reverted], [2, 1, 1, 1]);
  });

  it('writes Prosody storage files and counts mod_offline items', function () {
    assert.equal(prosodyAccount('p"w'), 'return {\n\t["password"] = "p\\"w";\n};\n');
    const roster = prosodyRoster([{ jid: 'climate-d1@iot.localhost' }]);
    assert.match(roster, /\["climate-d1@iot\.localhost"\] = \{\n\t\t\["subscription"\] = "both";/);
    assert.match(roster, /\[false\] = \{/);
    assert.equal(countOfflineItems('item({\n\t["key"] = "a";\n});\nitem({\n});\n'), 2);
    assert.equal(countOfflineItems(''), 0);
  });

  it('per fleet minute, paired ratios, stanza kinds', function () {
    // 600 stanzas in a 6 s window compressed 10×: one fleet minute.
    assert.equal(perFleetMinute(600, 6000, 10), 600);
    assert.equal(perFleetMinute(600, 3000, 10), 1200);
    assert.deepEqual(pairedRatios([1, 2, 3], [10, 10, 10]), { median: 0.2, min: 0.1, max: 0.3, each: [0.1, 0.2, 0.3] });
    assert.deepEqual(pairedRatios([1], [0]).each, []);
    assert.equal(stanzaKind('message', 'chat', { replace: true }), 'message chat correction');
    assert.equal(stanzaKind('message', undefined), 'message normal');
    assert.equal(stanzaKind('presence', undefined, { status: true }), 'presence available+status');
    assert.equal(stanzaKind('presence', 'probe'), 'presence probe');
    assert.equal(stanzaKind('iq', 'result'), 'iq result');
  });
});
