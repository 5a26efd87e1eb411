/**
 * Starts and controls a private redis-server (one per call) for the cluster tests, the benchmark and the demo of
 * cluster mode.
 *
 * Everything an instance owns lives in one directory (config, append-only file, log, pid file) and it listens on
 * `listen`:`port` only, so several instances — and a system Redis — can run side by side. No persistence surprises:
 * RDB snapshots are off (`save ""`: no dump.rdb written, none loaded from the working directory); with
 * `persistence: 'aof'` (the default) every write goes to the append-only file, fsync'd once a second, and a restart
 * keeps the data as a production Redis would; with 'none' a restart starts empty (what an operator gets from a Redis
 * without persistence, which cluster mode must survive too: docs/SCALING.md).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertListening, pickPort, probeSocket } from './ports.js';
import { findExecutable, inInstanceDir, ManagedServer, withParentDeathSignal, type ServerInstance } from './process.js';

export interface RedisOptions {
  /** Working dir (config, AOF, log). Default: a fresh mkdtemp(os.tmpdir()/mxb-redis-). */
  dir?: string;
  /** Interface address, default '127.0.0.1'. */
  listen?: string;
  /** 0/undefined = pick a free port. */
  port?: number;
  /** 'aof' (default): writes survive a restart; 'none': a restart starts empty. */
  persistence?: 'aof' | 'none';
  /** Raw redis.conf lines appended at the end. */
  extraConfig?: string;
  /** How long to wait for PONG, default 15 s. */
  startTimeoutMs?: number;
}

export interface RedisInstance extends ServerInstance {
  readonly port: number;
  /** redis://LISTEN:PORT */
  readonly url: string;
  readonly logFile: string;
}

export const REDIS_INSTALL_HINT = 'sudo apt-get install -y redis-server';

const DEFAULT_START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const PING_TIMEOUT_MS = 1_000;

/** Absolute path of redis-server, or undefined when it is not installed. */
export function redisBinary(): string | undefined {
  return findExecutable('redis-server', ['/usr/bin/redis-server']);
}

/** redis.conf values are words; a path with a space or a quote would need quoting we do not need. */
function confWord(value: string, what: string): string {
  if (!/^[^\s"'\\]+$/.test(value)) throw new Error(`${what} must not contain spaces, quotes or backslashes: ${JSON.stringify(value)}`);
  return value;
}

export interface RedisConfigInput {
  dir: string;
  listen: string;
  port: number;
  persistence: 'aof' | 'none';
  extraConfig?: string | undefined;
}

/** The text of redis.conf for one private instance. */
export function renderRedisConfig(c: RedisConfigInput): string {
  const lines = [
    '# Private instance (mqtt-xmpp-bridge); see src/servers/redis.ts.',
    `bind ${confWord(c.listen, 'listen')}`,
    `port ${c.port}`,
    // Loopback only, no password: the tests' and the demo's clients are local.
    'protected-mode yes',
    'daemonize no',
    `dir ${confWord(c.dir, 'dir')}`,
    `pidfile ${confWord(join(c.dir, 'redis.pid'), 'dir')}`,
    `logfile ${confWord(join(c.dir, 'redis.log'), 'dir')}`,
    'loglevel notice',
    // No RDB snapshots: nothing is loaded from, or written to, a dump.rdb left in the directory.
    'save ""',
    `appendonly ${c.persistence === 'aof' ? 'yes' : 'no'}`,
    'appendfsync everysec',
    // Keyspace notifications, modules, replication: none.
    'databases 16',
  ];
  if (c.extraConfig) lines.push('', c.extraConfig);
  return `${lines.join('\n')}\n`;
}

/** One PING; true once the server answers +PONG (a server still loading its AOF answers -LOADING). */
function pong(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return probeSocket(host, port, timeoutMs, (socket, done) => {
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
    socket.once('connect', () => socket.write('PING\r\n'));
  });
}

class RedisServer extends ManagedServer implements RedisInstance {
  readonly configFile: string;
  readonly logFile: string;
  /** redis-server's own stdout/stderr: config errors are printed there before logging is set up. */
  readonly consoleFile: string;
  readonly url: string;

  constructor(
    private readonly binary: string,
    dir: string,
    createdDir: boolean,
    readonly listen: string,
    readonly port: number,
    private readonly startTimeoutMs: number,
  ) {
    super(dir, createdDir, STOP_TIMEOUT_MS);
    this.configFile = join(dir, 'redis.conf');
    this.logFile = join(dir, 'redis.log');
    this.consoleFile = join(dir, 'redis.console.log');
    this.url = `redis://${listen.includes(':') ? `[${listen}]` : listen}:${port}`;
  }

  /** Spawns redis-server and resolves once it answers PING; kills it on any failure. */
  async launch(): Promise<void> {
    const proc = await this.spawn({ ...withParentDeathSignal(this.binary, [this.configFile]), cwd: this.dir, consoleFile: this.consoleFile });
    await proc.confirmStart('redis-server', [this.logFile, this.consoleFile], async () => {
      await proc.waitUntilReady({
        host: this.listen,
        ports: [this.port],
        timeoutMs: this.startTimeoutMs,
        pollMs: 50,
        probe: async (remaining) => ((await pong(this.listen, this.port, Math.min(PING_TIMEOUT_MS, Math.max(100, remaining)))) ? undefined : `no PONG from ${this.url}`),
      });
      await assertListening(proc.pid, this.listen, [this.port]);
    });
  }
}

/** Writes DIR/redis.conf, starts redis-server and resolves once it answers PING. */
export async function startRedis(opts: RedisOptions = {}): Promise<RedisInstance> {
  const binary = redisBinary();
  if (!binary) throw new Error(`redis-server is not installed; install it with: ${REDIS_INSTALL_HINT}`);
  const listen = opts.listen ?? '127.0.0.1';
  return inInstanceDir(opts.dir, 'mxb-redis-', async (dir, createdDir) => {
    const port = await pickPort(opts.port, listen);
    const server = new RedisServer(binary, dir, createdDir, listen, port, opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    await writeFile(server.configFile, renderRedisConfig({ dir, listen, port, persistence: opts.persistence ?? 'aof', extraConfig: opts.extraConfig }));
    await server.launch();
    return server;
  });
}
