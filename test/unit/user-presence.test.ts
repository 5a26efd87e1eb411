import assert from 'node:assert/strict';
import { UserPresence, type UserPresenceChange } from '../../src/kernel/user-presence.js';

describe('UserPresence shared between instances (cluster mode)', function () {
  it('hands on each change made here, once, and not the ones applied from another instance', function () {
    const changes: UserPresenceChange[] = [];
    const here = new UserPresence((c) => changes.push(c));
    assert.equal(here.available('u@x', 'r1'), true);
    assert.equal(here.available('u@x', 'r1'), false);
    here.available('u@x', 'r2');
    here.watch('d@iot', 'u@x');
    here.watch('d@iot', 'u@x');
    here.apply({ k: 'on', user: 'v@x', resource: 'r' });
    assert.equal(here.unavailable('u@x'), true);
    assert.deepEqual(changes, [
      { k: 'on', user: 'u@x', resource: 'r1' },
      { k: 'on', user: 'u@x', resource: 'r2' },
      { k: 'watch', device: 'd@iot', user: 'u@x', on: true },
      { k: 'off', user: 'u@x', resources: ['r1', 'r2'] },
    ]);
    assert.equal(here.isOnline('v@x'), true);
  });

  it('applied at another instance, the changes give the same state, without handing them on', function () {
    const changes: UserPresenceChange[] = [];
    const here = new UserPresence((c) => changes.push(c));
    const there = new UserPresence(() => assert.fail('an applied change is not handed on'));
    here.available('u@x', 'r1');
    here.available('u@x', 'r2');
    here.watch('d@iot', 'u@x');
    for (const c of changes) there.apply(c);
    assert.deepEqual([...there.resources('u@x')], ['r1', 'r2']);
    assert.equal(there.tracked('u@x'), true);
    here.unavailable('u@x', 'r1');
    here.unwatch('d@iot', 'u@x');
    for (const c of changes.splice(0)) there.apply(c);
    assert.equal(there.isOnline('u@x'), false);
    assert.equal(there.tracked('u@x'), false);
  });

  it('keeps its copy when its own stream is gone (the others keep it current), and clears it alone', function () {
    const shared = new UserPresence(() => undefined);
    shared.available('u@x', 'r');
    shared.clear();
    assert.equal(shared.isOnline('u@x'), true);
    const alone = new UserPresence();
    alone.available('u@x', 'r');
    alone.clear();
    assert.equal(alone.isOnline('u@x'), false);
  });

  it('replaces its copy with a snapshot, within the per-user bound', function () {
    const users = new UserPresence(() => assert.fail('a snapshot is not handed on'));
    users.replace(Array.from({ length: 20 }, (_v, i) => ['u@x', `r${i}`] as const));
    assert.equal(users.resources('u@x').size, 16);
    assert.deepEqual([...users.entries()].length, 16);
  });
});
