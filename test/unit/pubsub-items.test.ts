/**
 * The PubSub item history (features/pubsub/items.ts): the last N readings of each device, their ids (ISO 8601 receive
 * times, unique per device), the byte bound over all devices — and that adding an item, which every reading of a
 * device with PubSub does, formats no time.
 */
import assert from 'node:assert/strict';
import { ItemHistory } from '../../src/features/pubsub/items.js';

const T = Date.UTC(2026, 11, 1, 7, 0, 0, 0);
const iso = (ms: number): string => new Date(ms).toISOString();

describe('PubSub item history', () => {
  it('keeps the last N items per device, newest last, with ISO 8601 ids', () => {
    const h = new ItemHistory();
    for (let i = 0; i < 5; i++) h.add('a@iot', T + i, `{"v":${i}}`, 3);
    h.add('b@iot', T, '{"b":1}', 3);
    assert.deepEqual(
      h.last('a@iot', 10).map((i) => [i.id, i.json]),
      [
        [iso(T + 2), '{"v":2}'],
        [iso(T + 3), '{"v":3}'],
        [iso(T + 4), '{"v":4}'],
      ],
    );
    assert.deepEqual(
      h.last('a@iot', 2).map((i) => i.json),
      ['{"v":3}', '{"v":4}'],
    );
    assert.deepEqual(
      h.byIds('a@iot', [iso(T + 4), iso(T + 1), iso(T + 2)]).map((i) => i.json),
      ['{"v":4}', '{"v":2}'],
    );
    assert.deepEqual(
      h.last('b@iot', 3).map((i) => i.json),
      ['{"b":1}'],
    );
    h.forget('a@iot');
    assert.deepEqual(h.last('a@iot', 3), []);
  });

  it('makes ids unique per device: readings of one millisecond, and a clock set back', () => {
    const h = new ItemHistory();
    const ids = [T, T, T, T + 5, T, T + 5].map((at, k) => h.add('a@iot', at, `{"k":${k}}`, 10).id);
    assert.deepEqual(ids, [iso(T), `${iso(T)}-1`, `${iso(T)}-2`, iso(T + 5), `${iso(T)}-3`, `${iso(T + 5)}-1`]);
    // Another device has its own ids.
    assert.equal(h.add('b@iot', T, '{}', 10).id, iso(T));
    // An id whose item was dropped may be used again.
    const g = new ItemHistory();
    g.add('a@iot', T, '{"k":0}', 1);
    assert.equal(g.add('a@iot', T, '{"k":1}', 1).id, `${iso(T)}-1`);
    assert.equal(g.add('a@iot', T + 1, '{"k":2}', 1).id, iso(T + 1));
    assert.equal(g.add('a@iot', T + 1, '{"k":3}', 1).id, `${iso(T + 1)}-1`);
  });

  it('follows a change of the number of items kept', () => {
    const h = new ItemHistory();
    for (let i = 0; i < 5; i++) h.add('a@iot', T + i, `${i}`, 5);
    h.add('a@iot', T + 5, '5', 2);
    assert.deepEqual(
      h.last('a@iot', 10).map((i) => i.json),
      ['4', '5'],
    );
    h.add('a@iot', T + 6, '6', 4);
    assert.deepEqual(
      h.last('a@iot', 10).map((i) => i.json),
      ['4', '5', '6'],
    );
  });

  it('stays within its byte bound over all devices, also when one device’s items grow', () => {
    const mib = 'x'.repeat(1024 * 1024);
    const h = new ItemHistory();
    h.add('small@iot', T, '{}', 1);
    // One device whose items grow from 2 bytes to 40 MiB in all: more than the 32 MiB bound of the whole history.
    for (let i = 0; i < 40; i++) h.add('growing@iot', T + i, i === 0 ? '{}' : mib, 40);
    const kept = h.last('growing@iot', 40);
    assert.ok(kept.length < 33, `${kept.length} items of 1 MiB kept`);
    // Forty devices of 1 MiB each: the least recently updated ones leave.
    for (let d = 0; d < 40; d++) h.add(`d${d}@iot`, T, mib, 1);
    assert.deepEqual(h.last('small@iot', 1), []);
    assert.deepEqual(h.last('d0@iot', 1), []);
    assert.equal(h.last('d39@iot', 1).length, 1);
  });

  it('formats no time when it adds an item, only when the item’s id is read', () => {
    const h = new ItemHistory();
    const proto = Date.prototype as unknown as { toISOString: (this: Date) => string };
    const original = proto.toISOString;
    let formatted = 0;
    proto.toISOString = function (this: Date): string {
      formatted++;
      return original.call(this);
    };
    try {
      const items = [0, 1, 2].map((i) => h.add(`d${i}@iot`, T + 1000 + i, '{"v":1}', 5));
      assert.equal(formatted, 0);
      assert.deepEqual(
        items.map((i) => i.id),
        [iso(T + 1000), iso(T + 1001), iso(T + 1002)],
      );
      assert.ok(formatted > 0);
    } finally {
      proto.toISOString = original;
    }
  });
});
