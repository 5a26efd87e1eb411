import assert from 'node:assert/strict';
import { TopicRouter } from '../../src/mapping/router.js';
import { parseTopicPattern, type TopicPattern } from '../../src/mapping/topic-pattern.js';
import { Throttle } from '../../src/observe/throttle.js';

describe('Throttle', () => {
  it('lets the first report per key through, with nothing suppressed', () => {
    const t = new Throttle(1000);
    assert.equal(t.admit('dev-a', 0), 0);
    assert.equal(t.admit('dev-b', 0), 0);
  });

  it('suppresses reports inside the window and counts them on the next admitted report', () => {
    const t = new Throttle(1000);
    assert.equal(t.admit('k', 0), 0);
    assert.equal(t.admit('k', 1), undefined);
    assert.equal(t.admit('k', 500), undefined);
    assert.equal(t.admit('k', 999), undefined);
    assert.equal(t.admit('k', 1000), 3); // the window is [0, 1000)
    assert.equal(t.admit('k', 1001), undefined);
    assert.equal(t.admit('k', 5000), 1);
    assert.equal(t.admit('k', 6000), 0);
  });

  it('keeps keys apart', () => {
    const t = new Throttle(1000);
    t.admit('a', 0);
    assert.equal(t.admit('a', 10), undefined);
    assert.equal(t.admit('b', 10), 0);
    assert.equal(t.admit('a', 1000), 1);
    assert.equal(t.admit('b', 1010), 0);
  });

  it('bounds the number of keys by starting over when full', () => {
    const t = new Throttle(1000, 2);
    assert.equal(t.admit('a', 0), 0);
    assert.equal(t.admit('b', 0), 0);
    assert.equal(t.admit('a', 1), undefined); // suppressed, counted
    // A third key while full: every window is forgotten, including a's count.
    assert.equal(t.admit('c', 2), 0);
    assert.equal(t.admit('a', 3), 0);
    assert.equal(t.admit('c', 4), undefined);
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

  it('bounds the cache: when full it starts over', () => {
    const a = countingPattern('t/{n}');
    const router = new TopicRouter([{ pattern: a.pattern, target: 't' }], 2);
    const t1 = router.route('t/1');
    router.route('t/2');
    let reads = a.reads();
    // Both cached.
    assert.equal(router.route('t/1'), t1);
    router.route('t/2');
    assert.equal(a.reads(), reads);
    // A third topic clears the cache before it is added.
    router.route('t/3');
    assert.ok(a.reads() > reads);
    reads = a.reads();
    assert.equal(router.route('t/3')?.segments['n'], '3');
    assert.equal(a.reads(), reads); // t/3 is cached
    const again = router.route('t/1'); // t/1 was dropped: scanned again, a new object with the same content
    assert.ok(a.reads() > reads);
    assert.notEqual(again, t1);
    assert.deepEqual(again, t1);
  });
});
