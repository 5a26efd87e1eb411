/**
 * The shared state of cluster mode (src/store/redis/) on a real redis-server: two instances' local copies kept in
 * step, a held command taken by exactly one, an availability change acted on by exactly one, and recovery when Redis
 * restarts — with its append-only file (nothing lost) and without persistence (the instances write their copies back).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ClusterConfig } from '../../src/config/schema.js';
import type { Device } from '../../src/devices/device.js';
import { Redis } from 'ioredis';
import { createLogger } from '../../src/log.js';
import { startRedis, type RedisInstance } from '../../src/servers/redis.js';
import { SharedState } from '../../src/store/redis/state.js';
import { eventually, requireRedis } from './cluster-harness.js';

const log = createLogger({ level: 'silent' });

function config(redis: RedisInstance): ClusterConfig {
  return { enabled: true, redis: { url: redis.url, keyPrefix: `test-${randomBytes(3).toString('hex')}:` }, group: 'g', heartbeatSeconds: 1 };
}

/** Just what the availability store reads of a device. */
function device(jid: string): Device {
  return { jid, id: jid, online: false } as unknown as Device;
}

function heldCommand(deviceJid: string): Parameters<SharedState['commandQueue']['add']>[0] {
  const now = Date.now();
  return { deviceJid, command: 'set', json: '{"state":"ON"}', sender: 'alice@localhost/r', origin: 'iq', replyId: 'x1', createdAt: now, expiresAt: now + 60_000 };
}

for (const persistence of ['aof', 'none'] as const) {
  describe(`cluster shared state on redis-server (persistence: ${persistence})`, function () {
    this.timeout(60_000);
    let redis: RedisInstance;
    let a: SharedState;
    let b: SharedState;

    before(async function () {
      requireRedis();
      redis = await startRedis({ persistence });
      const cfg = config(redis);
      a = await SharedState.open(cfg, 'aaaaaaaa', log);
      b = await SharedState.open(cfg, 'bbbbbbbb', log);
    });

    after(async function () {
      await a?.close();
      await b?.close();
      await redis?.removeDir();
    });

    it('keeps the local copies in step: a subscription, a device and a held command made at one instance are seen at the other', async function () {
      assert.equal(a.subscriptions.add('d1@iot.localhost', 'alice@localhost'), true);
      a.devices.save({ jid: 'd1@iot.localhost', mappingId: 'fleet', segments: { device: 'd1' }, firstSeen: 1, lastSeen: 1 });
      const id = a.commandQueue.add(heldCommand('d1@iot.localhost'));
      await eventually(() => b.subscriptions.has('d1@iot.localhost', 'alice@localhost'), 'subscription at B');
      await eventually(() => b.devices.get('d1@iot.localhost') !== undefined, 'device at B');
      await eventually(() => b.commandQueue.forDevice('d1@iot.localhost').some((r) => r.id === id), 'held command at B');
      assert.equal(b.commandQueue.forDevice('d1@iot.localhost')[0]!.holder, 'aaaaaaaa', 'the row names the instance holding the request');
      assert.equal(b.subscriptions.delete('d1@iot.localhost', 'alice@localhost'), true);
      await eventually(() => !a.subscriptions.has('d1@iot.localhost', 'alice@localhost'), 'unsubscription at A');
    });

    it('gives a held command to exactly one of two instances that claim it at once', async function () {
      const ids = [1, 2, 3, 4, 5].map(() => a.commandQueue.add(heldCommand('d2@iot.localhost')));
      await eventually(() => b.commandQueue.forDevice('d2@iot.localhost').length === 5, 'five rows at B');
      const claims = await Promise.all(ids.flatMap((id) => [a.commandQueue.claim(id), b.commandQueue.claim(id)]));
      assert.equal(claims.filter(Boolean).length, 5, 'one claim per row');
      await eventually(() => a.commandQueue.forDevice('d2@iot.localhost').length === 0 && b.commandQueue.forDevice('d2@iot.localhost').length === 0, 'rows gone everywhere');
    });

    it('acts on an availability change once when both instances observe it', async function () {
      let applied = 0;
      const da = device('d3@iot.localhost');
      const db = device('d3@iot.localhost');
      a.availability.change(da, true, 'message', () => (applied += 1));
      b.availability.change(db, true, 'message', () => (applied += 1));
      await Promise.all([a.availability.settled(), b.availability.settled()]);
      assert.equal(applied, 1);
      await eventually(() => a.availability.get('d3@iot.localhost')?.online === true && b.availability.get('d3@iot.localhost')?.online === true, 'online at both');
    });

    it('leaves a takeover to the survivors when the instance that claimed it stops before finishing it', async function () {
      const d = await SharedState.open({ ...a.cfg }, 'dddddddd', log);
      assert.equal(await d.claimTakeover('eeeeeeee'), true, 'claimed by the instance about to stop');
      assert.equal(await a.claimTakeover('eeeeeeee'), false, 'held while it is under way');
      await d.close();
      assert.equal(await a.claimTakeover('eeeeeeee'), true, 'a survivor takes it over once that instance has stopped');
    });

    it('takes over an instance whose claiming survivor was lost too (killed mid-takeover: its lock is void)', async function () {
      // A survivor claimed the takeover of gggggggg, then was killed -9: it never released the lock, and its own
      // member key has expired (here: never written).
      const raw = new Redis(redis.url);
      try {
        await raw.set(`${a.keys.takeover('gggggggg')}`, 'hhhhhhhh', 'PX', 60_000);
      } finally {
        raw.disconnect();
      }
      assert.equal(await a.isAlive('hhhhhhhh'), false);
      const claims = await Promise.all([a.claimTakeover('gggggggg'), b.claimTakeover('gggggggg')]);
      assert.equal(claims.filter(Boolean).length, 1, `one survivor takes it over at once (${claims.join(', ')})`);
      // A live holder's claim stands.
      const c = await SharedState.open({ ...a.cfg }, 'iiiiiiii', log);
      try {
        assert.equal(await c.claimTakeover('jjjjjjjj'), true);
        assert.equal(await a.claimTakeover('jjjjjjjj'), false, 'held while its holder is alive');
      } finally {
        await c.close();
      }
    });

    it('takes over an instance lost again soon after its restart (the takeover lock of its previous loss is its own)', async function () {
      // Lost (here: stopped), taken over by A, restarted on the same instance id (its data directory), lost again.
      let d = await SharedState.open({ ...a.cfg }, 'ffffffff', log);
      await d.close();
      assert.equal(await a.claimTakeover('ffffffff'), true, 'the first loss taken over');
      await a.forget('ffffffff');
      d = await SharedState.open({ ...a.cfg }, 'ffffffff', log);
      await d.close();
      // Within the minute the first takeover's lock lasts: the new loss is taken over too, by exactly one survivor.
      const claims = await Promise.all([a.claimTakeover('ffffffff'), b.claimTakeover('ffffffff')]);
      assert.equal(claims.filter(Boolean).length, 1, `one survivor takes over the second loss (${claims.join(', ')})`);
    });

    it(`recovers when Redis restarts (${persistence === 'aof' ? 'its append-only file keeps the state' : 'empty: the instances write their copies back'})`, async function () {
      a.subscriptions.add('d4@iot.localhost', 'alice@localhost');
      const id = a.commandQueue.add(heldCommand('d4@iot.localhost'));
      await eventually(() => b.subscriptions.has('d4@iot.localhost', 'alice@localhost') && b.commandQueue.forDevice('d4@iot.localhost').length === 1, 'state at B');
      const resynced = Promise.all([new Promise((r) => a.once('resynced', r)), new Promise((r) => b.once('resynced', r))]);
      await redis.restart();
      await resynced;
      // Made after the restart at one instance: seen at the other.
      b.subscriptions.add('d5@iot.localhost', 'alice@localhost');
      await eventually(() => a.subscriptions.has('d5@iot.localhost', 'alice@localhost'), 'a subscription made after the restart');
      // What was acknowledged before the restart is still there, in Redis too (a third instance would load it).
      const c = await SharedState.open({ ...a.cfg }, 'cccccccc', log);
      try {
        assert.equal(c.subscriptions.has('d4@iot.localhost', 'alice@localhost'), true);
        assert.deepEqual(
          c.commandQueue.forDevice('d4@iot.localhost').map((r) => r.id),
          [id],
        );
      } finally {
        await c.close();
      }
    });
  });
}
