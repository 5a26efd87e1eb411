/**
 * The embedded brokers of a cluster as one broker (cluster mode, variant "devices spread over the instances"): aedes'
 * message emitter on Redis pub/sub (mqemitter-redis: a message published at one instance reaches subscribers at
 * every instance — a command reaches a device connected elsewhere) and its persistence in Redis
 * (aedes-persistence-redis: retained messages, persistent sessions and their queued messages, Wills — a device may
 * reconnect through another instance and find its session; the Wills of a lost instance's clients are published by
 * the survivors).
 *
 * aedes-persistence-redis 11.2.x is used through its promise-based class (aedes 1.2 calls the promise API; the
 * package's main export wraps it in callbacks for aedes 0.x). One difference remains: aedes 1.2 pipes the retained
 * messages for a SUBSCRIBE (`createRetainedStreamCombi(…).pipe`), as its bundled in-memory persistence returns a
 * Readable, where this class returns an async generator — wrapped here in Readable.from. Its keys carry the cluster's key prefix; mqemitter-redis
 * uses the MQTT topics themselves as Redis channels, which Redis does not prefix: give each bridge cluster a Redis of
 * its own (docs/SCALING.md).
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import MQEmitterRedis from 'mqemitter-redis';
import type { BrokerBackend } from '../../broker/embedded.js';
import type { ClusterConfig } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import { connectRedis } from './connection.js';

interface AsyncPersistence {
  destroy(): Promise<void>;
  createRetainedStreamCombi(patterns: string[]): AsyncIterable<unknown>;
}
type PersistenceClass = new (opts: { conn: Redis }) => AsyncPersistence;

const require = createRequire(import.meta.url);

export function redisBrokerBackend(cfg: ClusterConfig, instance: string, log: Logger): BrokerBackend {
  const publisher = connectRedis(cfg.redis, `mqtt-pub-${instance}`, log);
  const subscriber = connectRedis(cfg.redis, `mqtt-sub-${instance}`, log);
  const mq = MQEmitterRedis({ pubConn: publisher, subConn: subscriber });
  const persistenceConn = connectRedis(cfg.redis, `mqtt-store-${instance}`, log, { keyPrefix: `${cfg.redis.keyPrefix}mqtt:` });
  const AsyncRedisPersistence = require('aedes-persistence-redis/asyncPersistence.js') as PersistenceClass;
  class RetainedAsStream extends AsyncRedisPersistence {
    override createRetainedStreamCombi(patterns: string[]): Readable {
      return Readable.from(super.createRetainedStreamCombi(patterns));
    }
  }
  const persistence = new RetainedAsStream({ conn: persistenceConn });
  for (const c of [publisher, subscriber, persistenceConn]) void c.connect().catch(() => undefined); // retried by ioredis
  return {
    mq,
    persistence,
    heartbeatIntervalMs: cfg.heartbeatSeconds * 1000,
    async close() {
      await persistence.destroy().catch(() => undefined);
      persistenceConn.disconnect();
    },
  };
}
