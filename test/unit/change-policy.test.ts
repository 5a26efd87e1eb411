/**
 * The change policy (mapping `changes`): deadbands (absolute and %), per-field rules, state fields sent at once,
 * minInterval coalescing to the newest value, maxInterval heartbeats — on a clock the test moves.
 */
import assert from 'node:assert/strict';
import { ChangeGate, evaluate, type GateClock } from '../../src/features/uplink/change-policy.js';
import type { ChangePolicy } from '../../src/mapping/mapping.js';

class TestClock implements GateClock {
  t = 1_000_000;
  private timers: { at: number; fn: () => void; handle: NodeJS.Timeout }[] = [];
  now(): number {
    return this.t;
  }
  schedule(fn: () => void, ms: number): NodeJS.Timeout {
    const handle = {} as NodeJS.Timeout;
    this.timers.push({ at: this.t + ms, fn, handle });
    return handle;
  }
  cancel(handle: NodeJS.Timeout): void {
    this.timers = this.timers.filter((x) => x.handle !== handle);
  }
  /** Move time on, running the timers that come due. */
  advance(ms: number): void {
    this.t += ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= this.t).sort((a, b) => a.at - b.at)[0];
      if (!due) return;
      this.timers = this.timers.filter((x) => x !== due);
      due.fn();
    }
  }
}

const policy = (p: Partial<ChangePolicy> = {}): ChangePolicy => ({ minIntervalMs: 0, maxIntervalMs: 0, fields: new Map(), ...p });

describe('change policy', () => {
  describe('evaluate', () => {
    const last = (value: unknown) => ({ value, at: 0, fieldAt: new Map<string, number>() });

    it('counts a number beyond an absolute deadband, not within it', () => {
      const p = policy({ deadband: { kind: 'absolute', value: 0.5 } });
      assert.deepEqual(evaluate(p, last({ t: 20 }), { t: 20.4 }, 0), { state: false, numbers: [] });
      assert.deepEqual(evaluate(p, last({ t: 20 }), { t: 20.5 }, 0), { state: false, numbers: ['t'] });
      assert.deepEqual(evaluate(p, last({ t: 20 }), { t: 19.4 }, 0), { state: false, numbers: ['t'] });
    });

    it('counts a percentage of the value sent', () => {
      const p = policy({ deadband: { kind: 'percent', value: 10 } });
      assert.deepEqual(evaluate(p, last({ w: 200 }), { w: 215 }, 0).numbers, []);
      assert.deepEqual(evaluate(p, last({ w: 200 }), { w: 220 }, 0).numbers, ['w']);
      assert.deepEqual(evaluate(p, last({ w: 0 }), { w: 0.1 }, 0).numbers, ['w'], 'from zero any change counts');
    });

    it('applies per-field deadbands over the mapping one, and any change without a deadband', () => {
      const p = policy({ deadband: { kind: 'absolute', value: 5 }, fields: new Map([['t', { deadband: { kind: 'absolute', value: 0.2 } }]]) });
      assert.deepEqual(evaluate(p, last({ t: 20, h: 40 }), { t: 20.3, h: 43 }, 0).numbers, ['t']);
      assert.deepEqual(evaluate(policy(), last({ t: 20 }), { t: 20.01 }, 0).numbers, ['t']);
      assert.deepEqual(evaluate(policy(), last({ t: 20 }), { t: 20 }, 0), { state: false, numbers: [] });
    });

    it('treats enums, booleans and texts as state: any change counts', () => {
      const p = policy({ deadband: { kind: 'absolute', value: 100 } });
      assert.equal(evaluate(p, last({ state: 'ON', power: 5 }), { state: 'OFF', power: 5 }, 0).state, true);
      assert.equal(evaluate(p, last({ contact: true }), { contact: false }, 0).state, true);
      assert.equal(evaluate(p, last({ contact: true }), { contact: true }, 0).state, false);
    });

    it('ignores a field the reading does not carry, and compares dotted fields by path', () => {
      assert.deepEqual(evaluate(policy(), last({ t: 20, h: 40 }), { t: 20 }, 0), { state: false, numbers: [] });
      const p = policy({ fields: new Map([['battery.level', { deadband: { kind: 'absolute', value: 5 } }]]) });
      assert.deepEqual(evaluate(p, last({ battery: { level: 80, v: 3 } }), { battery: { level: 82, v: 2.9 } }, 0), { state: false, numbers: [] });
      assert.deepEqual(evaluate(p, last({ battery: { level: 80 } }), { battery: { level: 75 } }, 0).numbers, ['battery.level']);
    });

    it('ignores the changes of an ignored field', () => {
      const p = policy({ fields: new Map([['linkquality', { ignore: true }]]) });
      assert.deepEqual(evaluate(p, last({ contact: true, linkquality: 100 }), { contact: true, linkquality: 120 }, 0), { state: false, numbers: [] });
    });

    it('lets a field with its own minInterval count only that often', () => {
      const p = policy({ fields: new Map([['battery', { minIntervalMs: 60_000 }]]) });
      const sent = { value: { battery: 80 }, at: 0, fieldAt: new Map([['battery', 10_000]]) };
      assert.deepEqual(evaluate(p, sent, { battery: 79 }, 30_000).numbers, []);
      assert.deepEqual(evaluate(p, sent, { battery: 79 }, 70_000).numbers, ['battery']);
    });
  });

  describe('gate', () => {
    let clock: TestClock;
    let due: number[];
    let gate: ChangeGate<string, { value: { t: number; door?: boolean } }>;
    const r = (t: number, door?: boolean) => ({ value: { t, ...(door === undefined ? {} : { door }) } });

    beforeEach(() => {
      clock = new TestClock();
      due = [];
      gate = new ChangeGate((_k, reading) => due.push(reading.value.t), clock);
    });

    it('sends every reading when the mapping has no change policy', () => {
      assert.equal(gate.offer('d', undefined, r(1)).kind, 'send');
      assert.equal(gate.offer('d', undefined, r(1)).kind, 'send');
    });

    it('sends the first reading, holds the ones within the deadband, sends the one beyond it', () => {
      const p = policy({ deadband: { kind: 'absolute', value: 1 } });
      assert.deepEqual(gate.offer('d', p, r(20)), { kind: 'send', reason: 'first' });
      assert.deepEqual(gate.offer('d', p, r(20.5)), { kind: 'hold', reason: 'deadband' });
      assert.deepEqual(gate.offer('d', p, r(20.9)), { kind: 'hold', reason: 'deadband' });
      assert.deepEqual(gate.offer('d', p, r(21.1)), { kind: 'send', reason: 'change' }, 'measured against the value sent, not the last held');
    });

    it('coalesces changes within minInterval and sends the newest when it ends', () => {
      const p = policy({ minIntervalMs: 60_000 });
      gate.offer('d', p, r(1));
      clock.advance(10_000);
      assert.deepEqual(gate.offer('d', p, r(2)), { kind: 'hold', reason: 'min_interval' });
      clock.advance(10_000);
      assert.deepEqual(gate.offer('d', p, r(3)), { kind: 'hold', reason: 'min_interval' });
      assert.deepEqual(due, []);
      assert.equal(gate.waiting, 1, 'one device waits, however many readings it coalesces');
      clock.advance(40_000);
      assert.deepEqual(due, [3], 'the newest held reading, once');
      assert.equal(gate.waiting, 0);
      clock.advance(60_000);
      assert.deepEqual(due, [3]);
      assert.deepEqual(gate.offer('d', p, r(4)), { kind: 'send', reason: 'change' });
    });

    it('sends a state change at once, even within minInterval, superseding a held reading', () => {
      const p = policy({ minIntervalMs: 60_000 });
      gate.offer('d', p, r(1, false));
      clock.advance(1000);
      assert.equal(gate.offer('d', p, r(2, false)).kind, 'hold');
      assert.deepEqual(gate.offer('d', p, r(3, true)), { kind: 'send', reason: 'state' });
      assert.equal(gate.waiting, 0);
      clock.advance(120_000);
      assert.deepEqual(due, [], 'the held reading was superseded by the one sent');
    });

    it('sends a heartbeat after maxInterval even when nothing changed', () => {
      const p = policy({ deadband: { kind: 'absolute', value: 10 }, maxIntervalMs: 900_000 });
      gate.offer('d', p, r(20));
      clock.advance(899_000);
      assert.equal(gate.offer('d', p, r(20)).kind, 'hold');
      clock.advance(1000);
      assert.deepEqual(gate.offer('d', p, r(20)), { kind: 'send', reason: 'heartbeat' });
    });

    it('forgets a device and its held reading; stop counts what was held', () => {
      const p = policy({ minIntervalMs: 60_000 });
      gate.offer('a', p, r(1));
      gate.offer('b', p, r(1));
      gate.offer('a', p, r(2));
      gate.offer('b', p, r(2));
      assert.equal(gate.waiting, 2);
      assert.equal(gate.forget('a'), true);
      assert.equal(gate.waiting, 1);
      assert.equal(gate.stop(), 1);
      assert.equal(gate.waiting, 0);
      clock.advance(120_000);
      assert.deepEqual(due, []);
    });
  });
});
