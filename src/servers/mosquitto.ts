/**
 * Starts and controls a private Mosquitto (one per call) for the tests of "attach to an existing broker".
 *
 * Everything an instance owns lives in one directory (config, password file, log, pid file) and it has a
 * single listener on `listen`:`port`, so several instances — and a system Mosquitto — can run side by side.
 *
 * Mosquitto's defaults are kept, notably: max_inflight_messages 20 (per client, QoS 1/2; it caps a single
 * publisher's QoS 1 rate), max_queued_messages 1000 (per client, beyond which QoS 1/2 messages are dropped),
 * message_size_limit 0 and max_packet_size 0 (no limit below MQTT's 256 MB), max_keepalive 65535. Override
 * them with `extraConfig`. Persistence is off: restart() loses sessions and retained messages.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { freePort, listeningPorts, waitForPort } from './ports.js';

export interface MosquittoOptions {
  /** Working dir (config, password file, log). Default: a fresh mkdtemp(os.tmpdir()/mxb-mosquitto-). */
  dir?: string;
  /** Interface address, default '127.0.0.1'. */
  listen?: string;
  /** 0/undefined = pick a free port. */
  port?: number;
  /** username → password. When given: allow_anonymous false and a password_file made with mosquitto_passwd. */
  users?: Record<string, string>;
  /** Raw mosquitto.conf lines appended at the end. */
  extraConfig?: string;
  /** How long to wait for the broker to answer a CONNECT, default 15 s. */
  startTimeoutMs?: number;
}

export interface MosquittoInstance {
  readonly dir: string;
  readonly listen: string;
  /** mqtt://LISTEN:PORT */
  readonly url: string;
  readonly port: number;
  readonly pid: number | undefined;
  readonly configFile: string;
  readonly logFile: string;
  /** SIGTERM, wait for exit (bounded, then SIGKILL); idempotent. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /** Stop, then start again on the same port; resolves when ready. */
  restart(): Promise<void>;
  /** Stops the broker if needed, then deletes the dir (only if startMosquitto created it). */
  removeDir(): Promise<void>;
  /** Emitted when the process exits without stop()/kill()/restart() having asked it to. */
  on(event: 'exit', listener: (code: number | null, signal: string | null) => void): this;
}

export const MOSQUITTO_INSTALL_HINT = 'sudo apt-get install -y mosquitto';

const DEFAULT_START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const PASSWD_TIMEOUT_MS = 10_000;
const CONNECT_ATTEMPT_TIMEOUT_MS = 2_000;
const LOG_TAIL_LINES = 30;
// The kernel SIGKILLs Mosquitto when our process dies without cleaning up; setpriv execs it, so the
// child's pid is Mosquitto's own.
const SETPRIV = '/usr/bin/setpriv';

const execFileAsync = promisify(execFile);

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findExecutable(name: string, preferred: readonly string[]): string | undefined {
  const pathDirs = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d.startsWith('/'));
  return [...preferred, ...pathDirs.map((d) => join(d, name))].find(isExecutable);
}

/** Absolute path of the mosquitto binary, or undefined when it is not installed. */
export function mosquittoBinary(): string | undefined {
  return findExecutable('mosquitto', ['/usr/sbin/mosquitto']);
}

function mosquittoPasswdBinary(mosquitto: string): string | undefined {
  return findExecutable('mosquitto_passwd', ['/usr/bin/mosquitto_passwd', join(dirname(mosquitto), 'mosquitto_passwd')]);
}

/** Mosquitto's config has no quoting: a value is the rest of the line. */
function confValue(value: string, what: string): string {
  if (/[\r\n\0]/.test(value)) throw new Error(`${what} must not contain line breaks: ${JSON.stringify(value)}`);
  return value;
}

export interface MosquittoConfigInput {
  dir: string;
  listen: string;
  port: number;
  passwordFile?: string | undefined;
  runAsRoot: boolean;
  extraConfig?: string | undefined;
}

/** The text of mosquitto.conf for one private instance. */
export function renderMosquittoConfig(c: MosquittoConfigInput): string {
  const lines = [
    '# Private test instance (mqtt-xmpp-bridge); see src/servers/mosquitto.ts.',
    // Started as root, Mosquitto switches to user 'mosquitto' and then cannot write its pid file here.
    ...(c.runAsRoot ? ['user root'] : []),
    `pid_file ${confValue(join(c.dir, 'mosquitto.pid'), 'dir')}`,
    'persistence false',
    `log_dest file ${confValue(join(c.dir, 'mosquitto.log'), 'dir')}`,
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'log_timestamp_format %Y-%m-%dT%H:%M:%S',
    'connection_messages true',
    'per_listener_settings false',
    `listener ${c.port} ${confValue(c.listen, 'listen')}`,
  ];
  if (c.passwordFile) lines.push('allow_anonymous false', `password_file ${confValue(c.passwordFile, 'dir')}`);
  else lines.push('allow_anonymous true');
  if (c.extraConfig) lines.push('', c.extraConfig);
  return `${lines.join('\n')}\n`;
}

// Children still running when Node exits (a test that forgot stop(), an uncaught exception) are killed so
// they do not linger holding ports. The hook is installed only while there is something to kill.
const liveChildren = new Set<ChildProcess>();
function killLiveChildren(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
}
function track(child: ChildProcess): void {
  if (liveChildren.size === 0) process.on('exit', killLiveChildren);
  liveChildren.add(child);
}
function untrack(child: ChildProcess): void {
  liveChildren.delete(child);
  if (liveChildren.size === 0) process.off('exit', killLiveChildren);
}

async function tail(file: string, lines: number): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}


/**
 * One MQTT CONNECT/CONNACK round trip. True when the broker answered — a refusal (e.g. not authorized)
 * counts, since it proves the broker is up; false when there was no MQTT answer (yet).
 */
async function connackReceived(url: string, credentials: { username: string; password: string } | undefined): Promise<boolean> {
  try {
    const client = await mqtt.connectAsync(
      url,
      { reconnectPeriod: 0, connectTimeout: CONNECT_ATTEMPT_TIMEOUT_MS, clean: true, ...credentials },
      false,
    );
    await client.endAsync(true);
    return true;
  } catch (err) {
    // A CONNACK with a refusal return code carries it as a numeric `code`; socket errors have string codes.
    return typeof (err as { code?: unknown }).code === 'number';
  }
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  /** Set before we signal the process, so its exit is not reported as unexpected. */
  expected: boolean;
}

type MosquittoEvents = { exit: [code: number | null, signal: string | null] };

class MosquittoServer extends EventEmitter<MosquittoEvents> implements MosquittoInstance {
  readonly configFile: string;
  readonly logFile: string;
  /** Mosquitto's own stdout/stderr: config errors are printed there before logging is set up. */
  readonly consoleFile: string;
  readonly url: string;
  private running: Running | undefined;

  constructor(
    private readonly binary: string,
    readonly dir: string,
    private readonly createdDir: boolean,
    readonly listen: string,
    readonly port: number,
    private readonly probeCredentials: { username: string; password: string } | undefined,
    private readonly startTimeoutMs: number,
  ) {
    super();
    this.configFile = join(dir, 'mosquitto.conf');
    this.logFile = join(dir, 'mosquitto.log');
    this.consoleFile = join(dir, 'mosquitto.console.log');
    this.url = `mqtt://${listen.includes(':') ? `[${listen}]` : listen}:${port}`;
  }

  get pid(): number | undefined {
    return this.running?.child.pid;
  }

  /** Spawns Mosquitto and resolves once it answers an MQTT CONNECT; kills it on any failure. */
  async launch(): Promise<void> {
    const out = await open(this.consoleFile, 'a');
    let child: ChildProcess;
    try {
      const args = ['-c', this.configFile];
      const [command, argv] = isExecutable(SETPRIV)
        ? [SETPRIV, ['--pdeathsig', 'KILL', '--', this.binary, ...args]]
        : [this.binary, args];
      // A file descriptor, not a pipe: pipes would keep our event loop busy and could fill up and block Mosquitto.
      child = spawn(command, argv, { cwd: this.dir, stdio: ['ignore', out.fd, out.fd] });
    } finally {
      await out.close();
    }
    let spawnError: Error | undefined;
    const run: Running = {
      child,
      expected: false,
      exited: new Promise((resolve) => {
        // 'on', not 'once': a later 'error' (a failed kill) without a listener would crash the process.
        child.on('error', (err) => {
          spawnError = err;
          // A failed spawn emits no 'exit'.
          if (child.pid === undefined) resolve();
        });
        child.once('exit', (code, signal) => {
          untrack(child);
          if (this.running === run) this.running = undefined;
          if (!run.expected) this.emit('exit', code, signal);
          resolve();
        });
      }),
    };
    this.running = run;
    track(child);

    try {
      const isAlive = (): boolean => this.running === run && child.exitCode === null && child.signalCode === null && !spawnError;
      const deadline = Date.now() + this.startTimeoutMs;
      const remaining = (): number => Math.max(0, deadline - Date.now());
      await waitForPort(this.listen, this.port, remaining(), isAlive);
      while (!(await connackReceived(this.url, this.probeCredentials))) {
        if (!isAlive()) throw new Error('process exited during start-up');
        if (remaining() === 0) throw new Error(`no CONNACK from ${this.url} after ${this.startTimeoutMs} ms`);
        await sleep(50);
      }
      if (!isAlive()) throw new Error('process exited during start-up');
      // The probes may have reached another process holding our port (Mosquitto then exits, but maybe later).
      const owned = child.pid === undefined ? undefined : await listeningPorts(child.pid);
      if (owned && !owned.has(this.port)) throw new Error(`port ${this.port} on ${this.listen} already in use by another process`);
    } catch (err) {
      run.expected = true;
      child.kill('SIGKILL');
      await run.exited;
      const reason = spawnError ?? err;
      const logs = [await tail(this.logFile, LOG_TAIL_LINES), await tail(this.consoleFile, LOG_TAIL_LINES)].filter(Boolean).join('\n');
      throw new Error(`Mosquitto did not start (${reason instanceof Error ? reason.message : String(reason)})${logs ? `:\n${logs}` : ''}`, { cause: reason });
    }
  }

  private async terminate(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const run = this.running;
    if (!run) return;
    run.expected = true;
    run.child.kill(signal);
    // A stopped (SIGSTOP) process would keep SIGTERM pending forever.
    if (signal === 'SIGTERM') run.child.kill('SIGCONT');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS);
    });
    try {
      if (await Promise.race([run.exited.then(() => false), timedOut])) {
        run.child.kill('SIGKILL');
        await run.exited;
      }
    } finally {
      clearTimeout(timer); // otherwise the timer alone would hold the event loop open
    }
  }

  stop(): Promise<void> {
    return this.terminate('SIGTERM');
  }

  kill(): Promise<void> {
    return this.terminate('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  async removeDir(): Promise<void> {
    await this.stop();
    if (this.createdDir) await rm(this.dir, { recursive: true, force: true });
  }
}

async function pickPort(requested: number | undefined, listen: string): Promise<number> {
  if (requested === undefined || requested === 0) return freePort(listen);
  if (!Number.isInteger(requested) || requested < 0 || requested > 65535) throw new Error(`invalid port: ${requested}`);
  return requested;
}

/** Writes DIR/passwd with mosquitto_passwd (hashed entries). */
async function writePasswordFile(passwd: string, file: string, users: Record<string, string>): Promise<void> {
  await writeFile(file, '', { mode: 0o600 });
  for (const [user, password] of Object.entries(users)) {
    if (user === '' || /[:\r\n\0]/.test(user)) throw new Error(`invalid MQTT username for a password file: ${JSON.stringify(user)}`);
    if (/[\r\n\0]/.test(password)) throw new Error(`the password of ${user} must not contain line breaks`);
    try {
      await execFileAsync(passwd, ['-b', file, user, password], { timeout: PASSWD_TIMEOUT_MS });
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message?: string };
      const detail = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim() || e.message || String(err);
      throw new Error(`mosquitto_passwd failed for ${user}: ${detail}`, { cause: err });
    }
  }
}

/** Writes DIR/mosquitto.conf, starts Mosquitto and resolves once it answers an MQTT CONNECT. */
export async function startMosquitto(opts: MosquittoOptions = {}): Promise<MosquittoInstance> {
  const binary = mosquittoBinary();
  if (!binary) throw new Error(`Mosquitto is not installed; install it with: ${MOSQUITTO_INSTALL_HINT}`);

  const listen = opts.listen ?? '127.0.0.1';
  const createdDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'mxb-mosquitto-')));

  try {
    const port = await pickPort(opts.port, listen);
    const users = opts.users && Object.keys(opts.users).length > 0 ? opts.users : undefined;
    let passwordFile: string | undefined;
    let probeCredentials: { username: string; password: string } | undefined;
    if (users) {
      const passwd = mosquittoPasswdBinary(binary);
      if (!passwd) throw new Error(`mosquitto_passwd is not installed; install it with: ${MOSQUITTO_INSTALL_HINT}`);
      passwordFile = join(dir, 'passwd');
      await writePasswordFile(passwd, passwordFile, users);
      const [username, password] = Object.entries(users)[0] ?? [];
      if (username !== undefined && password !== undefined) probeCredentials = { username, password };
    }
    const server = new MosquittoServer(
      binary,
      dir,
      createdDir,
      listen,
      port,
      probeCredentials,
      opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
    );
    const config = renderMosquittoConfig({
      dir,
      listen,
      port,
      passwordFile,
      runAsRoot: process.getuid?.() === 0,
      extraConfig: opts.extraConfig,
    });
    await writeFile(server.configFile, config);
    await server.launch();
    return server;
  } catch (err) {
    // The error carries the log tail; a temp dir nobody can reach any more would only leak.
    if (createdDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
