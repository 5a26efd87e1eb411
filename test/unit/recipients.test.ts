/**
 * What a returning follower missed (features/uplink/recipients.ts): judged by when the reading was received and how
 * it reads — including two readings received in the same millisecond.
 */
import assert from 'node:assert/strict';
import { Recipients } from '../../src/features/uplink/recipients.js';
import { UserPresence } from '../../src/kernel/user-presence.js';
import type { Device } from '../../src/devices/device.js';
import type { SubscriptionStore } from '../../src/kernel/stores.js';

const DEVICE = 'kitchen@bridge.example.org';
const ALICE = 'alice@example.org';
const device = { jid: DEVICE, segments: {}, mapping: { notify: { subscribers: true, jids: [] }, delivery: { offline: 'latest' } } } as unknown as Device;
const noSubscriptions = { of: () => new Set<string>(), has: () => false } as unknown as SubscriptionStore;

describe('recipients: what a follower missed', () => {
  it('nothing sent yet: missed', () => {
    const r = new Recipients(noSubscriptions, new UserPresence());
    assert.equal(r.missed(device, ALICE, 1000, '20 °C'), true);
  });

  it('a newer reading that reads differently is missed; one that reads the same, or an older one, is not', () => {
    const r = new Recipients(noSubscriptions, new UserPresence());
    r.delivered(device, [ALICE], 1000, '20 °C');
    assert.equal(r.missed(device, ALICE, 2000, '26 °C'), true);
    assert.equal(r.missed(device, ALICE, 2000, '20 °C'), false);
    assert.equal(r.missed(device, ALICE, 999, '26 °C'), false);
  });

  it('a second reading in the same millisecond that reads differently is missed; the same one again is not', () => {
    const r = new Recipients(noSubscriptions, new UserPresence());
    r.delivered(device, [ALICE], 1000, '20 °C');
    assert.equal(r.missed(device, ALICE, 1000, '26 °C'), true);
    assert.equal(r.missed(device, ALICE, 1000, '20 °C'), false);
  });

  it('of two readings sent in the same millisecond, the last is the one the follower has', () => {
    const r = new Recipients(noSubscriptions, new UserPresence());
    r.delivered(device, [ALICE], 1000, '20 °C');
    r.delivered(device, [ALICE], 1000, '26 °C');
    assert.equal(r.missed(device, ALICE, 1000, '26 °C'), false);
    assert.equal(r.forget(DEVICE, ALICE), undefined);
    assert.equal(r.missed(device, ALICE, 1000, '26 °C'), true, 'forgotten: missed again');
  });

  it('keeps each follower apart, from one to three and back: what one was sent says nothing about another', () => {
    const BOB = 'bob@example.org';
    const CAROL = 'carol@example.net';
    const r = new Recipients(noSubscriptions, new UserPresence());
    r.delivered(device, [ALICE], 1000, '20 °C');
    assert.equal(r.missed(device, BOB, 1000, '20 °C'), true, 'Bob was sent nothing');
    r.delivered(device, [BOB, CAROL], 2000, '21 °C');
    assert.deepEqual(
      [ALICE, BOB, CAROL].map((u) => r.missed(device, u, 2000, '21 °C')),
      [true, false, false],
    );
    r.delivered(device, [ALICE], 3000, '22 °C');
    assert.equal(r.missed(device, ALICE, 3000, '22 °C'), false);
    assert.equal(r.missed(device, BOB, 3000, '22 °C'), true);
    r.forget(DEVICE, BOB);
    assert.deepEqual(
      [ALICE, BOB, CAROL].map((u) => r.missed(device, u, 2000, '21 °C')),
      [false, true, false],
      'Bob forgotten, the others kept',
    );
    r.forget(DEVICE, 'dave@example.org');
    assert.equal(r.missed(device, CAROL, 2000, '21 °C'), false, 'forgetting someone never sent anything changes nothing');
    r.forget(DEVICE);
    assert.deepEqual(
      [ALICE, CAROL].map((u) => r.missed(device, u, 1000, '20 °C')),
      [true, true],
      'the device forgotten',
    );
  });

  it('forgetting another follower of a device with one keeps that one', () => {
    const r = new Recipients(noSubscriptions, new UserPresence());
    r.delivered(device, [ALICE], 1000, '20 °C');
    r.forget(DEVICE, 'bob@example.org');
    assert.equal(r.missed(device, ALICE, 1000, '20 °C'), false);
  });
});
