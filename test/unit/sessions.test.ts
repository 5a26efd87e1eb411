import assert from 'node:assert/strict';
import type { Identity } from '../../src/broker/access.js';
import { SessionTable, type Session } from '../../src/broker/sessions.js';

/** Stand-ins for aedes clients: the table only needs distinct objects. */
const conn = (): object => ({});
const lamp: Identity = { kind: 'device', name: 'plug-lamp', version: 1 };
const kettle: Identity = { kind: 'device', name: 'plug-kettle', version: 1 };
const anonymous: Identity = { kind: 'anonymous' };
const gateway: Identity = { kind: 'service', name: 'z2m', publish: ['zigbee2mqtt/#'], subscribe: ['zigbee2mqtt/+/set'], version: 1 };
const monitor: Identity = { kind: 'service', name: 'monitor', publish: [], subscribe: ['#'], version: 1 };
const isZ2m = (s: Session<object>): boolean => s.identity.kind === 'service' && s.identity.name === 'z2m';

describe('SessionTable: client ids bound to identities (pure)', function () {
  it('refuses a client id held by a live connection of another identity, and lets the same identity take over', function () {
    const t = new SessionTable<object>();
    const a = conn();
    assert.deepEqual(t.claim('plug-lamp', lamp, 'plug-lamp', a), { ok: true });
    t.ready(a, true, []);
    assert.deepEqual(t.claim('plug-lamp', kettle, 'plug-kettle', conn()), { ok: false, holder: 'device:plug-lamp' });
    assert.deepEqual(t.claim('plug-lamp', anonymous, undefined, conn()), { ok: false, holder: 'device:plug-lamp' });
    // The lamp reconnecting before its old connection is gone: MQTT's takeover [MQTT-3.1.4-2], same identity.
    const b = conn();
    assert.deepEqual(t.claim('plug-lamp', { ...lamp, version: 2 }, 'plug-lamp', b), { ok: true });
    t.closed(a);
    assert.deepEqual(t.claim('plug-lamp', kettle, 'plug-kettle', conn()), { ok: false, holder: 'device:plug-lamp' }, 'still held by the new connection');
    t.closed(b);
    assert.deepEqual(t.claim('plug-lamp', kettle, 'plug-kettle', conn()), { ok: true }, 'a clean session ends with its last connection');
  });

  it('keeps a persistent session held after its connection closed, until it is discarded', function () {
    const t = new SessionTable<object>();
    const a = conn();
    t.claim('lamp-1', lamp, 'plug-lamp', a);
    t.ready(a, false, []);
    t.subscribed(a, ['plugs/lamp/set']);
    t.closed(a);
    assert.deepEqual(t.claim('lamp-1', kettle, 'plug-kettle', conn()), { ok: false, holder: 'device:plug-lamp' });
    assert.equal(t.reaches('plug-lamp', 'plugs/lamp/set', () => false), true, 'its subscription still receives (queued by the broker)');
    assert.equal(t.discard('lamp-1')?.owner, 'device:plug-lamp');
    assert.equal(t.reaches('plug-lamp', 'plugs/lamp/set', () => false), false);
    assert.deepEqual(t.claim('lamp-1', kettle, 'plug-kettle', conn()), { ok: true });
  });

  it('a clean CONNECT by the holder ends its persistent session (subscriptions included)', function () {
    const t = new SessionTable<object>();
    const a = conn();
    t.claim('lamp-1', lamp, 'plug-lamp', a);
    t.ready(a, false, []);
    t.subscribed(a, ['plugs/lamp/set']);
    t.closed(a);
    const b = conn();
    t.claim('lamp-1', lamp, 'plug-lamp', b);
    t.ready(b, true, []);
    assert.equal(t.reaches('plug-lamp', 'plugs/lamp/set', () => false), false);
    t.closed(b);
    assert.equal(t.size, 0);
  });

  it('a closed connection of a discarded session does not remove the session claimed afresh under its id', function () {
    const t = new SessionTable<object>();
    const a = conn();
    t.claim('x', lamp, 'plug-lamp', a);
    t.discard('x');
    const b = conn();
    t.claim('x', kettle, 'plug-kettle', b);
    t.closed(a);
    assert.deepEqual(t.claim('x', lamp, 'plug-lamp', conn()), { ok: false, holder: 'device:plug-kettle' });
  });
});

describe('SessionTable: would a command reach the device? (pure)', function () {
  it('counts only GRANTED subscriptions of a session that speaks for the device', function () {
    const t = new SessionTable<object>();
    const l = conn();
    t.claim('plug-lamp', lamp, 'plug-lamp', l);
    t.ready(l, true, []);
    // A SUBSCRIBE refused with 0x80 is never reported as granted: nothing recorded.
    t.subscribed(l, []);
    assert.equal(t.reaches('plug-lamp', 'plugs/lamp/set', () => false), false);
    t.subscribed(l, ['plugs/lamp/set']);
    assert.equal(t.reaches('plug-lamp', 'plugs/lamp/set', () => false), true);
    assert.equal(t.reaches('plug-kettle', 'plugs/kettle/set', () => false), false, "another device's session does not speak for the kettle");
    t.unsubscribed(l, ['plugs/lamp/set']);
    assert.equal(t.reaches('plug-lamp', 'plugs/lamp/set', () => false), false);
  });

  it('is not fooled by a monitoring account subscribed to "#"', function () {
    const t = new SessionTable<object>();
    const m = conn();
    t.claim('monitor', monitor, undefined, m);
    t.ready(m, true, []);
    t.subscribed(m, ['#']);
    const a = conn();
    t.claim('watcher', anonymous, undefined, a);
    t.ready(a, true, []);
    t.subscribed(a, ['#', 'plugs/+/set']);
    assert.equal(t.reaches('plug-lamp', 'plugs/lamp/set', isZ2m), false);
  });

  it('counts a gateway (a service account the predicate accepts), an anonymous client granted exactly the topic, and a client id standing for the device', function () {
    const t = new SessionTable<object>();
    const g = conn();
    t.claim('z2m', gateway, undefined, g);
    t.ready(g, true, []);
    t.subscribed(g, ['zigbee2mqtt/+/set']);
    assert.equal(t.reaches('lamp', 'zigbee2mqtt/lamp/set', isZ2m), true);
    assert.equal(t.reaches('lamp', 'zigbee2mqtt/lamp/set', () => false), false);

    const a = conn();
    t.claim('anything', anonymous, undefined, a);
    t.ready(a, true, []);
    t.subscribed(a, ['plugs/kettle/set']);
    assert.equal(t.reaches('plug-kettle', 'plugs/kettle/set', () => false), true);
    t.closed(a);
    assert.equal(t.reaches('plug-kettle', 'plugs/kettle/set', () => false), false);

    // Two anonymous clients granted the same topic, one granted it twice: it reaches until the last of them is gone.
    const a1 = conn();
    const a2 = conn();
    t.claim('anon-1', anonymous, undefined, a1);
    t.claim('anon-2', anonymous, undefined, a2);
    t.ready(a1, true, []);
    t.ready(a2, true, []);
    t.subscribed(a1, ['plugs/kettle/set', 'plugs/kettle/set']);
    t.subscribed(a2, ['plugs/kettle/set']);
    t.unsubscribed(a1, ['plugs/kettle/set']);
    assert.equal(t.reaches('plug-kettle', 'plugs/kettle/set', () => false), true, 'a2 still holds it');
    t.unsubscribed(a1, ['plugs/kettle/set']);
    assert.equal(t.reaches('plug-kettle', 'plugs/kettle/set', () => false), true, 'unsubscribing twice counts once');
    t.closed(a2);
    assert.equal(t.reaches('plug-kettle', 'plugs/kettle/set', () => false), false);

    const d = conn();
    t.claim('display-hall', anonymous, 'display-hall', d);
    t.ready(d, false, ['displays/+/show']); // restored with a persistent session
    assert.equal(t.reaches('display-hall', 'displays/hall/show', () => false), true);
  });
});
