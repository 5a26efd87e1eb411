/**
 * Cluster mode on loopback (docs/SCALING.md): one private ejabberd (the only server that accepts several connections
 * for one component domain), one private redis-server, optionally a private mosquitto, and bridge instances on them —
 * in this process (their metrics and events can be read) or as child processes of the CLI (they can be killed -9).
 */
import { once } from 'node:events';
import { join } from 'node:path';
import type { Element } from '@xmpp/xml';
import Database from 'better-sqlite3';
import { startMosquitto, type MosquittoInstance } from '../../src/servers/mosquitto.js';
import { startRedis, type RedisInstance, redisBinary, REDIS_INSTALL_HINT } from '../../src/servers/redis.js';
import { instanceId } from '../../src/store/db.js';
import { startEjabberdTestServer, type EjabberdTestServer } from './ejabberd-harness.js';
import { eventually, logLines, removeDir, ROOT, spawnCli, startBridge, writeBridgeConfig, type BridgeDirOptions, type RunningBridge } from './harness.js';

// The cluster tests import these from here with the rest of the cluster harness.
export { eventually, logLines };

export const CLUSTER_MAPPINGS = join(ROOT, 'test/fixtures/cluster/mappings');

/** Fail loudly, with the command that fixes it, when redis-server is missing (no skipped tests). */
export function requireRedis(): void {
  if (!redisBinary()) throw new Error(`redis-server is not installed; install it with: ${REDIS_INSTALL_HINT}`);
}

export interface ClusterServers {
  readonly server: EjabberdTestServer;
  readonly redis: RedisInstance;
  stop(): Promise<void>;
}

export async function startClusterServers(domain: string): Promise<ClusterServers> {
  requireRedis();
  const redis = await startRedis();
  let server: EjabberdTestServer;
  try {
    server = await startEjabberdTestServer({ domain });
  } catch (err) {
    await redis.removeDir();
    throw err;
  }
  return {
    server,
    redis,
    async stop() {
      await server.stop();
      await redis.removeDir();
    },
  };
}

/** The config of one instance: cluster mode on the given Redis, heartbeats every second (a lost instance is seen in 3 s). */
export function clusterConfig(redis: RedisInstance, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...extra, cluster: { enabled: true, redis: { url: redis.url }, heartbeatSeconds: 1 } };
}

/** An instance in this process. */
export function startInstance(opts: BridgeDirOptions): Promise<RunningBridge> {
  return startBridge({ mappings: [CLUSTER_MAPPINGS], ...opts });
}

export interface ChildInstance {
  readonly dir: string;
  readonly configFile: string;
  /** The CLI process (replaced by `restart`). */
  child: ReturnType<typeof spawnCli>;
  /** Resolves once the instance's log says its component is online (after a start or restart). */
  online(timeoutMs?: number): Promise<void>;
  /** Its instance id (kept in its data directory: the same after a restart). */
  instanceId(): string;
  kill9(): Promise<void>;
  /** Start the CLI again on the same data directory. */
  restart(): void;
  stop(): Promise<void>;
}

/** An instance as a child process of the CLI (`mqtt-xmpp-bridge start`): it can be killed -9. */
export function spawnInstance(opts: BridgeDirOptions): ChildInstance {
  const { dir, configFile } = writeBridgeConfig({ mappings: [CLUSTER_MAPPINGS], ...opts });
  let onlineLines = 0;
  const countOnline = (): number => logLines(dir, 'component online');
  const inst: ChildInstance = {
    dir,
    configFile,
    child: spawnCli(['start', '--config', configFile]),
    async online(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      // The log file is the only window into the child: read until the next "component online" line appears.
      while (countOnline() <= onlineLines) {
        if (inst.child.exitCode !== null) throw new Error(`instance exited (${inst.child.exitCode}): ${inst.child.output()}`);
        if (Date.now() > deadline) throw new Error(`instance not online within ${timeoutMs} ms: ${inst.child.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      onlineLines = countOnline();
    },
    instanceId() {
      // Read-only: the id the instance created at its first start (instanceId() finds it and writes nothing).
      const db = new Database(join(dir, 'data', 'bridge.db'), { readonly: true, fileMustExist: true });
      try {
        return instanceId(db);
      } finally {
        db.close();
      }
    },
    async kill9() {
      if (inst.child.exitCode !== null || inst.child.signalCode !== null) return;
      const exited = once(inst.child, 'exit');
      inst.child.kill('SIGKILL');
      await exited;
    },
    restart() {
      inst.child = spawnCli(['start', '--config', configFile]);
    },
    async stop() {
      if (inst.child.exitCode !== null || inst.child.signalCode !== null) return;
      const exited = once(inst.child, 'exit');
      inst.child.kill('SIGTERM');
      const timer = setTimeout(() => inst.child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
  return inst;
}

/** The `seq` of a reading message (its JSON payload), or undefined. */
/** Two instances A and B in this process on ejabberd, Redis and a private mosquitto (`$share`: readings go to each in turn). */
export interface InstancePair {
  readonly servers: ClusterServers;
  readonly mosquitto: MosquittoInstance;
  readonly a: RunningBridge;
  readonly b: RunningBridge;
  /** Their configuration (for a third instance). */
  readonly config: Record<string, unknown>;
  /** `[['A', a], ['B', b]]`. */
  readonly instances: readonly (readonly [string, RunningBridge])[];
  /** Stops both instances and every server, and removes their directories. */
  stop(): Promise<void>;
}

/**
 * Starts a pair once both instances see each other. `extra`: more configuration for both (the MQTT side is the
 * private mosquitto). What was started is stopped again if a later part fails.
 */
export async function startInstancePair(domain: string, mappings: string[], extra: Record<string, unknown> = {}): Promise<InstancePair> {
  const servers = await startClusterServers(domain);
  const started: RunningBridge[] = [];
  let mosquitto: MosquittoInstance | undefined;
  const stop = async (): Promise<void> => {
    for (const run of started.reverse()) await run.stop();
    await mosquitto?.removeDir();
    await servers.stop();
    for (const run of started) removeDir(run.dir);
  };
  try {
    mosquitto = await startMosquitto({ extraConfig: 'max_queued_messages 0' });
    const config = clusterConfig(servers.redis, { ...extra, mqtt: { embedded: { enabled: false }, external: { url: mosquitto.url, clientId: 'bridge' } } });
    const a = await startInstance({ server: servers.server, config, mappings });
    started.push(a);
    const b = await startInstance({ server: servers.server, config, mappings });
    started.push(b);
    await eventually(() => !a.bridge.kernel.cluster.alone && !b.bridge.kernel.cluster.alone, 'the instances see each other');
    return { servers, mosquitto, a, b, config, instances: [['A', a], ['B', b]], stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export function seqOf(el: Element): number | undefined {
  const text = el.getChildText('json', 'urn:xmpp:json:0');
  if (text === null) return undefined;
  const v = (JSON.parse(text) as { seq?: unknown }).seq;
  return typeof v === 'number' ? v : undefined;
}

