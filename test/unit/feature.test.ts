/** The feature runner: dependency order, reverse stop, cycles and unknown names refused, a failed start undone. */
import assert from 'node:assert/strict';
import { FeatureRunner, startOrder, type Feature } from '../../src/kernel/feature.js';

function feature(name: string, log: string[], needs: string[] = [], fail = false): Feature {
  return {
    name,
    needs,
    start: () => {
      if (fail) return Promise.reject(new Error(`${name} cannot start`));
      log.push(`start ${name}`);
      return Promise.resolve();
    },
    stop: () => {
      log.push(`stop ${name}`);
      return Promise.resolve();
    },
  };
}

describe('features', () => {
  it('start after what they need, in declared order otherwise, and stop in reverse', async () => {
    const log: string[] = [];
    const runner = new FeatureRunner([feature('topics', log, ['mqtt']), feature('mqtt', log, ['uplink']), feature('uplink', log), feature('audit', log)]);
    assert.deepEqual(runner.names, ['uplink', 'mqtt', 'topics', 'audit']);
    await runner.start();
    await runner.stop();
    assert.deepEqual(log, ['start uplink', 'start mqtt', 'start topics', 'start audit', 'stop audit', 'stop topics', 'stop mqtt', 'stop uplink']);
  });

  it('refuse cycles and unknown names', () => {
    assert.throws(() => startOrder([feature('a', [], ['b']), feature('b', [], ['a'])]), /cycle: a → b → a/);
    assert.throws(() => startOrder([feature('a', [], ['nope'])]), /needs "nope"/);
    assert.throws(() => startOrder([feature('a', []), feature('a', [])]), /declared twice/);
  });

  it('undo a failed start: what started is stopped, and the feature\'s own error is thrown', async () => {
    const log: string[] = [];
    const runner = new FeatureRunner([feature('a', log), feature('b', log, [], true), feature('c', log)]);
    await assert.rejects(runner.start(), /b cannot start/);
    assert.deepEqual(log, ['start a', 'stop a']);
  });

  it('stop during the start: the feature starting then finishes, no further one starts, and every started one stops', async () => {
    const log: string[] = [];
    let attached!: () => void;
    // A broker attachment still waiting for its CONNACK when the stop comes.
    const slow: Feature = {
      name: 'mqtt',
      start: () =>
        new Promise<void>((resolve) => {
          log.push('start mqtt (waiting)');
          attached = () => {
            log.push('mqtt attached');
            resolve();
          };
        }),
      stop: () => {
        log.push('stop mqtt');
      },
    };
    const runner = new FeatureRunner([feature('a', log), slow, feature('c', log)]);
    const started = runner.start();
    await Promise.resolve();
    await Promise.resolve();
    assert.deepEqual(log, ['start a', 'start mqtt (waiting)']);
    const stopped = runner.stop();
    attached();
    await started;
    await stopped;
    assert.deepEqual(log, ['start a', 'start mqtt (waiting)', 'mqtt attached', 'stop mqtt', 'stop a']);
    await runner.stop();
    assert.equal(log.length, 5, 'a second stop has nothing left to stop');
  });
});
