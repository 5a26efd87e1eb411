/**
 * Cluster mode refuses Prosody (docs/SCALING.md): Prosody accepts one connection per component domain, so a second
 * instance could never join. The first instance asks the server's domain what it is (XEP-0030 disco#info identity)
 * and stops with the reason — exit code 2, one line for the operator.
 */
import assert from 'node:assert/strict';
import { startRedis, type RedisInstance } from '../../src/servers/redis.js';
import { clusterConfig, requireRedis, spawnInstance, type ChildInstance } from './cluster-harness.js';
import { exitOf, removeDir, startTestServer, type ProsodyTestServer } from './harness.js';

describe('cluster mode on Prosody', function () {
  this.timeout(60_000);
  let server: ProsodyTestServer;
  let redis: RedisInstance;
  let instance: ChildInstance | undefined;

  before(async function () {
    requireRedis();
    redis = await startRedis();
    server = await startTestServer();
  });

  after(async function () {
    await instance?.stop();
    if (instance) removeDir(instance.dir);
    await server?.stop();
    await redis?.removeDir();
  });

  it('refuses to start and says why', async function () {
    instance = spawnInstance({ server, config: clusterConfig(redis) });
    const { code } = await exitOf(instance.child, 30_000);
    const output = instance.child.output();
    assert.equal(code, 2, output);
    assert.match(output, /cluster mode needs an XMPP server that accepts several connections for one component domain \(ejabberd\); localhost runs Prosody/);
  });
});
