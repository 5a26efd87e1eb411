import assert from 'node:assert/strict';
import { TopicRouter } from '../../src/mapping/router.js';
import { parseTopicPattern, type TopicPattern } from '../../src/mapping/topic-pattern.js';
import { ReportThrottle, type Schedule } from '../../src/observe/report-throttle.js';

/** A manual clock for ReportThrottle: windows end when the test says so. */
function manualClock(): { schedule: Schedule; advance(ms: number): void } {
  let now = 0;
  let timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  return {
    schedule: (fn, ms) => {
      const t = { at: now + ms, fn, cancelled: false };
      timers.push(t);
      return { cancel: () => (t.cancelled = true) };
    },
    advance(ms: number): void {
      now += ms;
      const due = timers.filter((t) => t.at <= now && !t.cancelled);
      timers = timers.filter((t) => t.at > now && !t.cancelled);
      for (const t of due) t.fn();
    },
  };
}

describe('ReportThrottle', () => {
  const collect = (): { out: [string, number][]; report: (d: string, n: number) => void } => {
    const out: [string, number][] = [];
    return { out, report: (d, n) => void out.push([d, n]) };
  };

  it('reports the first occurrence of a key at once, with count 1', () => {
    const clock = manualClock();
    const t = new ReportThrottle(1000, 100, clock.schedule);
    const { out, report } = collect();
    t.record('a', 'a1', report);
    t.record('b', 'b1', report);
    assert.deepEqual(out, [['a1', 1], ['b1', 1]]);
  });

  it('counts occurrences inside the window and reports them, with the latest data, when it ends', () => {
    const clock = manualClock();
    const t = new ReportThrottle(1000, 100, clock.schedule);
    const { out, report } = collect();
    t.record('k', 'k1', report);
    t.record('k', 'k2', report);
    t.record('k', 'k3', report);
    assert.deepEqual(out, [['k1', 1]]);
    clock.advance(1000);
    assert.deepEqual(out, [['k1', 1], ['k3', 2]]);
    // A new window opened with that report; nothing in it: it closes silently, and the next one is reported at once.
    clock.advance(1000);
    assert.equal(out.length, 2);
    t.record('k', 'k4', report);
    assert.deepEqual(out.at(-1), ['k4', 1]);
  });

  it('bounds its open windows (LRU): a window pushed out reports what it counted, so the sums stay exact', () => {
    const clock = manualClock();
    const t = new ReportThrottle(1000, 2, clock.schedule);
    const { out, report } = collect();
    t.record('a', 'a1', report);
    t.record('a', 'a2', report); // counted
    t.record('b', 'b1', report);
    t.record('c', 'c1', report); // a third key: the least recently used window (a) goes, reporting its count
    assert.deepEqual(out, [['a1', 1], ['b1', 1], ['c1', 1], ['a2', 1]]);
    assert.equal(t.size, 2);
    // Cycling through many keys never grows the table.
    for (let i = 0; i < 1000; i++) t.record(`x${i}`, 'x', report);
    assert.equal(t.size, 2);
  });

  it('flushAll reports every unreported count and closes the windows', () => {
    const clock = manualClock();
    const t = new ReportThrottle(1000, 100, clock.schedule);
    const { out, report } = collect();
    t.record('a', 'a1', report);
    t.record('a', 'a2', report);
    t.record('b', 'b1', report);
    t.flushAll();
    assert.deepEqual(out, [['a1', 1], ['b1', 1], ['a2', 1]]);
    assert.equal(t.size, 0);
    clock.advance(5000);
    assert.equal(out.length, 3);
  });
});

/** A pattern whose `levels` counts how often a router looks at it (each scan of the pattern reads it once). */
function countingPattern(source: string): { pattern: TopicPattern; reads: () => number } {
  const { pattern } = parseTopicPattern(source);
  assert.ok(pattern);
  let n = 0;
  const counted: TopicPattern = {
    ...pattern,
    get levels() {
      n += 1;
      return pattern.levels;
    },
  };
  return { pattern: counted, reads: () => n };
}

describe('TopicRouter', () => {
  it('routes to the first matching entry with its segments', () => {
    const a = countingPattern('sensors/{site}/{device}/telemetry');
    const b = countingPattern('plugs/{device}/state');
    const router = new TopicRouter([
      { pattern: a.pattern, target: 'climate' },
      { pattern: b.pattern, target: 'plug' },
    ]);
    assert.deepEqual(router.route('sensors/home/kitchen/telemetry'), { target: 'climate', segments: { site: 'home', device: 'kitchen' } });
    assert.deepEqual(router.route('plugs/lamp/state'), { target: 'plug', segments: { device: 'lamp' } });
    assert.equal(router.route('plugs/lamp/power'), undefined);
  });

  it('prefers the earlier entry when two match', () => {
    const router = new TopicRouter([
      { pattern: countingPattern('a/{x}').pattern, target: 1 },
      { pattern: countingPattern('a/{y}').pattern, target: 2 },
    ]);
    assert.deepEqual(router.route('a/b'), { target: 1, segments: { x: 'b' } });
  });

  it('matches each topic once and answers repeats from the cache, unmapped topics included', () => {
    const a = countingPattern('sensors/{site}/{device}/telemetry');
    const router = new TopicRouter([{ pattern: a.pattern, target: 'climate' }]);
    const first = router.route('sensors/home/kitchen/telemetry');
    const scans = a.reads();
    assert.ok(scans > 0);
    assert.equal(router.route('sensors/home/kitchen/telemetry'), first); // the same cached object
    assert.equal(a.reads(), scans);

    assert.equal(router.route('unmapped/topic'), undefined);
    const afterMiss = a.reads();
    assert.ok(afterMiss > scans);
    assert.equal(router.route('unmapped/topic'), undefined);
    assert.equal(a.reads(), afterMiss); // a cached miss costs no scan either
  });

  it('finds literal topics by lookup, without scanning the patterns', () => {
    const a = countingPattern('t/{n}');
    const literal = parseTopicPattern('zigbee2mqtt/Kitchen lamp').pattern!;
    const router = new TopicRouter([
      { pattern: a.pattern, target: 'pattern' },
      { pattern: literal, target: 'lamp' },
    ]);
    const reads = a.reads();
    assert.deepEqual(router.route('zigbee2mqtt/Kitchen lamp'), { target: 'lamp', segments: {} });
    assert.equal(a.reads(), reads);
    assert.equal(router.counts.literal, 1);
    assert.equal(router.counts.patterned, 1);
  });

  it('bounds the cache as an LRU: the least recently used topic is forgotten, active ones stay cached', () => {
    const a = countingPattern('t/{n}');
    const router = new TopicRouter([{ pattern: a.pattern, target: 't' }], 2);
    const t1 = router.route('t/1');
    const t2 = router.route('t/2');
    let reads = a.reads();
    assert.equal(router.route('t/1'), t1); // t/1 is now the most recently used
    assert.equal(a.reads(), reads);
    router.route('t/3'); // full: t/2, the least recently used, goes
    assert.ok(a.reads() > reads);
    reads = a.reads();
    assert.equal(router.route('t/1'), t1); // still cached
    assert.equal(router.route('t/3')?.segments['n'], '3');
    assert.equal(a.reads(), reads);
    const again = router.route('t/2'); // scanned again: a new object with the same content
    assert.ok(a.reads() > reads);
    assert.notEqual(again, t2);
    assert.deepEqual(again, t2);
    assert.equal(router.counts.cached, 2);
  });
});
