import assert from 'node:assert/strict';
import { PublishRateLimiter, RateLimitError } from '../../src/broker/publish-limiter.js';
import { TokenBucket } from '../../src/broker/token-bucket.js';

/** Takes tokens at one instant until the bucket refuses; returns how many it gave. */
function drainAt(bucket: TokenBucket, now: number): number {
  let n = 0;
  while (bucket.tryTake(now)) n += 1;
  return n;
}

describe('TokenBucket (pure, injected clock)', function () {
  it('starts full: `burst` tokens at once, then refuses', function () {
    const b = new TokenBucket(20, 5, 1000);
    assert.equal(drainAt(b, 1000), 5);
    assert.equal(b.tryTake(1000), false);
    assert.equal(b.available(1000), 0);
  });

  it('refills at `rate` tokens per second', function () {
    const b = new TokenBucket(20, 5, 0);
    drainAt(b, 0);
    assert.equal(b.tryTake(49), false, '49 ms at 20/s is 0.98 of a token');
    assert.equal(b.tryTake(50), true, '50 ms at 20/s is one token');
    assert.equal(b.tryTake(50), false);
    assert.equal(drainAt(b, 150), 2, '100 ms more is two tokens');
  });

  it('never holds more than `burst`, however long it was idle', function () {
    const b = new TokenBucket(20, 5, 0);
    drainAt(b, 0);
    assert.equal(b.available(3_600_000), 5);
    assert.equal(drainAt(b, 3_600_000), 5);
  });

  it('over a long run, admits rate × time + burst', function () {
    const b = new TokenBucket(20, 5, 0);
    let admitted = 0;
    for (let t = 0; t <= 10_000; t += 7) admitted += drainAt(b, t); // someone trying all the time, every 7 ms
    assert.equal(admitted, 5 + Math.floor((10_000 - (10_000 % 7)) / 50));
  });

  it('computes the waiting time until the next token', function () {
    const b = new TokenBucket(20, 5, 0);
    assert.equal(b.waitMs(0), 0, 'a token is available');
    drainAt(b, 0);
    assert.equal(b.waitMs(0), 50);
    assert.equal(b.waitMs(20), 30);
    assert.equal(b.waitMs(50), 0);
    // …and waiting exactly that long is enough, despite floating-point sums of refills.
    const odd = new TokenBucket(3, 1, 0);
    odd.tryTake(0);
    const wait = odd.waitMs(0);
    assert.equal(wait, 334, '1/3 s rounded up to a whole millisecond');
    assert.equal(odd.tryTake(wait - 1), false);
    assert.equal(odd.tryTake(wait), true);
  });

  it('takes fractional rates (one message every 2 s)', function () {
    const b = new TokenBucket(0.5, 1, 0);
    assert.equal(b.tryTake(0), true);
    assert.equal(b.waitMs(0), 2000);
    assert.equal(b.tryTake(1999), false);
    assert.equal(b.tryTake(2000), true);
  });

  it('ignores a clock that goes backwards instead of removing tokens', function () {
    const b = new TokenBucket(10, 2, 1000);
    assert.equal(b.tryTake(1000), true);
    assert.equal(b.available(500), 1);
    assert.equal(b.tryTake(900), true);
    assert.equal(b.tryTake(900), false);
  });

  it('refuses nonsensical parameters', function () {
    assert.throws(() => new TokenBucket(0, 5, 0), RangeError);
    assert.throws(() => new TokenBucket(-1, 5, 0), RangeError);
    assert.throws(() => new TokenBucket(Number.NaN, 5, 0), RangeError);
    assert.throws(() => new TokenBucket(10, 0, 0), RangeError);
  });
});

/**
 * The stateful side built on the bucket: per-client queues of held publishes. A fake clock decides how many tokens
 * there are; the limiter's own short timers (rate 1000/s: 1 ms) move the queue.
 */
describe('PublishRateLimiter (held publishes per client)', function () {
  const later = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  it('passes the burst at once, holds the rest and releases them in arrival order', async function () {
    let now = 0;
    const limiter = new PublishRateLimiter<object>({ messagesPerSecond: 1000, burst: 2, policy: 'delay' }, () => now);
    const client = {};
    const done: number[] = [];
    const verdicts = [0, 1, 2, 3, 4].map((i) => limiter.admit(client, () => done.push(i)));
    assert.deepEqual(verdicts, ['passed', 'passed', 'delayed', 'delayed', 'delayed']);
    assert.deepEqual(done, [0, 1]);
    assert.equal(limiter.held, 3);
    now = 2; // two tokens' worth of time (1 ms each at 1000/s)
    await later(20);
    assert.deepEqual(done, [0, 1, 2, 3]);
    assert.equal(limiter.held, 1);
    now = 3;
    await later(20);
    assert.deepEqual(done, [0, 1, 2, 3, 4]);
    assert.equal(limiter.held, 0);
    limiter.releaseAll();
  });

  it('a new publish waits behind held ones even when a token has just become free', function () {
    let now = 0;
    const limiter = new PublishRateLimiter<object>({ messagesPerSecond: 1000, burst: 1, policy: 'delay' }, () => now);
    const client = {};
    limiter.admit(client, () => undefined);
    assert.equal(limiter.admit(client, () => undefined), 'delayed');
    now = 5;
    assert.equal(limiter.admit(client, () => undefined), 'delayed', 'FIFO: the held one goes first');
    limiter.releaseAll();
  });

  it('keeps one bucket per client', function () {
    const limiter = new PublishRateLimiter<object>({ messagesPerSecond: 1000, burst: 1, policy: 'delay' }, () => 0);
    const a = {};
    const b = {};
    assert.equal(limiter.admit(a, () => undefined), 'passed');
    assert.equal(limiter.admit(b, () => undefined), 'passed');
    assert.equal(limiter.admit(a, () => undefined), 'delayed');
    assert.equal(limiter.clientCount, 2);
    limiter.releaseAll();
  });

  it('release drops held publishes and their timer: nothing is called afterwards, nothing is kept', async function () {
    let now = 0;
    const limiter = new PublishRateLimiter<object>({ messagesPerSecond: 1000, burst: 1, policy: 'delay' }, () => now);
    const client = {};
    let calls = 0;
    for (let i = 0; i < 4; i++) limiter.admit(client, () => (calls += 1));
    assert.equal(limiter.release(client), 3);
    assert.equal(limiter.held, 0);
    assert.equal(limiter.clientCount, 0);
    now = 100;
    await later(20);
    assert.equal(calls, 1, 'only the publish that passed at once');
  });

  it('policy disconnect refuses the publish over the rate with a RateLimitError', function () {
    const limiter = new PublishRateLimiter<object>({ messagesPerSecond: 10, burst: 1, policy: 'disconnect' }, () => 0);
    const client = {};
    const errors: (Error | undefined)[] = [];
    assert.equal(limiter.admit(client, (e) => errors.push(e)), 'passed');
    assert.equal(limiter.admit(client, (e) => errors.push(e)), 'refused');
    assert.equal(errors[0], undefined);
    assert.ok(errors[1] instanceof RateLimitError);
    assert.equal(limiter.held, 0);
    limiter.releaseAll();
  });

  it('is off when messagesPerSecond is 0', function () {
    assert.equal(PublishRateLimiter.enabled({ messagesPerSecond: 0, burst: 100, policy: 'delay' }), false);
    assert.equal(PublishRateLimiter.enabled({ messagesPerSecond: 0.5, burst: 1, policy: 'delay' }), true);
  });
});
