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
});
