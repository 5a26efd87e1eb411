/**
 * The status page's pure parts: ring buffers and rates (history.ts), what is kept per device and its bounds, and the
 * admin token check with sessions and login throttling (auth.ts).
 */
import assert from 'node:assert/strict';
import { AdminAuth, SESSION_MS } from '../../src/features/http/auth.js';
import { History, MAX_KEPT_JSON, MinuteRate, Ring, SecondRate } from '../../src/features/http/history.js';

const sizes = { readings: 3, rejections: 2, commands: 2 };

describe('status page history', () => {
  it('keeps the last N items of a ring, oldest first', () => {
    const r = new Ring<number>(3);
    assert.deepEqual(r.toArray(), []);
    assert.equal(r.last(), undefined);
    for (let i = 1; i <= 5; i++) r.push(i);
    assert.deepEqual(r.toArray(), [3, 4, 5]);
    assert.equal(r.last(), 5);
    assert.equal(r.size, 3);
    const none = new Ring<number>(0);
    none.push(1);
    assert.deepEqual(none.toArray(), []);
  });

  it('counts events per minute across the minute boundary', () => {
    const r = new MinuteRate();
    const t0 = 60_000 * 1000;
    for (let i = 0; i < 30; i++) r.add(t0 + i * 1000);
    assert.equal(r.perMinute(t0 + 59_000), 30);
    // Half into the next minute, half of the previous minute's count still falls in the window.
    assert.equal(r.perMinute(t0 + 90_000), 15);
    assert.equal(r.perMinute(t0 + 200_000), 0);
  });

  it('averages events per second over the complete seconds of its window', () => {
    const r = new SecondRate();
    const t0 = 1_000_000_000;
    for (let s = 0; s < 9; s++) r.add(t0 + s * 1000, 10);
    assert.equal(r.perSecond(t0 + 9000), 10);
    assert.equal(r.perSecond(t0 + 60_000), 0);
  });

  it('keeps short readings, remembers long ones by size, and bounds rejections and commands', () => {
    const h = new History(sizes);
    const jid = 'a@iot';
    h.reading(jid, 1, '{"t":1}');
    h.reading(jid, 2, `{"x":"${'y'.repeat(MAX_KEPT_JSON)}"}`);
    const readings = h.get(jid)!.readings.toArray();
    assert.deepEqual(readings[0], { at: 1, json: '{"t":1}', size: 7 });
    assert.equal(readings[1]!.json, undefined);
    assert.equal(readings[1]!.size, MAX_KEPT_JSON + 8);
    for (let i = 0; i < 5; i++) h.rejection(jid, true, { at: i, code: 'PAYLOAD_INVALID', message: 'm'.repeat(1000), topic: 't', errors: Array.from({ length: 20 }, () => ({ path: '/a', message: 'bad' })) });
    const rejections = h.get(jid)!.rejections.toArray();
    assert.deepEqual(rejections.map((r) => r.at), [3, 4]);
    assert.equal(rejections[0]!.errors.length, 5, 'at most 5 schema errors each');
    assert.equal(rejections[0]!.message.length, 300, 'messages are cut');
  });

  it('keeps the rejections of a device that is not registered yet apart, bounded, and hands them over when it registers', () => {
    const h = new History(sizes);
    for (let i = 0; i < 1500; i++) h.rejection(`d${i}@iot`, false, { at: i, code: 'PAYLOAD_INVALID', message: 'm', topic: 't', errors: [] });
    assert.equal(h.size, 0, 'no registered device history was made');
    assert.equal(h.get('d0@iot'), undefined, 'the least recent are forgotten (1000 kept)');
    assert.equal(h.get('d1499@iot')!.rejections.size, 1);
    h.reading('d1499@iot', 2000, '{}');
    assert.equal(h.size, 1);
    assert.deepEqual(h.get('d1499@iot')!.rejections.toArray().map((r) => r.at), [1499]);
    h.forget('d1499@iot');
    assert.equal(h.get('d1499@iot'), undefined);
  });
});

describe('status page admin token', () => {
  const TOKEN = 'correct-horse-battery-staple';

  it('accepts the token as a bearer token only', () => {
    const a = new AdminAuth(TOKEN);
    assert.equal(a.allows(`Bearer ${TOKEN}`, undefined), true);
    assert.equal(a.allows(`bearer ${TOKEN}`, undefined), true);
    assert.equal(a.allows(`Bearer ${TOKEN}x`, undefined), false);
    assert.equal(a.allows(`Basic ${TOKEN}`, undefined), false);
    assert.equal(a.allows(undefined, undefined), false);
    assert.equal(a.allows(undefined, 'made-up-session'), false);
  });

  it('gives a session for the right token, which expires and ends at logout', () => {
    let now = 1000;
    const a = new AdminAuth(TOKEN, () => now);
    assert.deepEqual(a.login('wrong', '10.0.0.1'), { verdict: 'wrong' });
    const { verdict, session } = a.login(TOKEN, '10.0.0.1');
    assert.equal(verdict, 'ok');
    assert.match(session!, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(a.allows(undefined, session), true);
    now += SESSION_MS;
    assert.equal(a.allows(undefined, session), false, 'expired');
    const second = a.login(TOKEN, '10.0.0.1').session;
    a.logout(second);
    assert.equal(a.allows(undefined, second), false);
  });

  it('refuses an address after a burst of wrong tokens without comparing, while others may still log in', () => {
    let now = 0;
    const a = new AdminAuth(TOKEN, () => now);
    for (let i = 0; i < 5; i++) assert.equal(a.login('guess', '10.0.0.9').verdict, 'wrong');
    assert.equal(a.login(TOKEN, '10.0.0.9').verdict, 'throttled', 'even the right token waits');
    assert.equal(a.login(TOKEN, '10.0.0.10').verdict, 'ok');
    now += 10_000;
    assert.equal(a.login(TOKEN, '10.0.0.9').verdict, 'ok', 'one attempt every 10 s');
  });
});
