/**
 * Process management shared by the private-server launchers (Prosody, ejabberd, Mosquitto): spawning a server so
 * that it cannot outlive us, knowing whether an exit was asked for, a bounded start-up that fails fast with the log
 * tail, and a bounded stop. What is specific to a server (its config, its readiness probe, its admin commands)
 * stays in its own launcher.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForPort } from './ports.js';

// Used to have the kernel SIGKILL a server when our process dies without cleaning up (SIGKILL, a CI timeout): an
// orphan would keep its ports, and fixed ones such as 5269 would break the next run. setpriv execs its command, so
// the child's pid is the server's own.
export const SETPRIV = '/usr/bin/setpriv';

const LOG_TAIL_LINES = 30;

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable of `preferred`, then of NAME in the absolute directories of $PATH. */
export function findExecutable(name: string, preferred: readonly string[]): string | undefined {
  const pathDirs = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d.startsWith('/'));
  return [...preferred, ...pathDirs.map((d) => join(d, name))].find(isExecutable);
}

export interface Command {
  command: string;
  args: string[];
}

/**
 * `binary args…` run through setpriv with a parent-death signal (and `setprivOptions`, e.g. a user to switch to);
 * without setpriv, the command as it is.
 */
export function withParentDeathSignal(binary: string, args: readonly string[], setprivOptions: readonly string[] = []): Command {
  if (!isExecutable(SETPRIV)) return { command: binary, args: [...args] };
  return { command: SETPRIV, args: [...setprivOptions, '--pdeathsig', 'KILL', '--', binary, ...args] };
}

/** The last `lines` lines of a log file; '' when it cannot be read. */
export async function tail(file: string, lines = LOG_TAIL_LINES): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** What a failed execFile() printed (stderr, then stdout), or else its message. */
export function failureOutput(err: unknown): string {
  const e = err as { stderr?: string; stdout?: string; message?: string };
  return `${e.stderr ?? ''}${e.stdout ?? ''}`.trim() || e.message || String(err);
}

/**
 * Runs `setup` in `dir`, or in a fresh mkdtemp(os.tmpdir()/PREFIX) when none is given (`created` says which). A
 * directory made here is deleted again when `setup` fails: the error carries the log tail, and a temp dir nobody
 * can reach any more would only leak.
 */
export async function inInstanceDir<T>(
  dir: string | undefined,
  prefix: string,
  setup: (dir: string, created: boolean) => Promise<T>,
): Promise<T> {
  const created = dir === undefined;
  const path = dir ?? (await mkdtemp(join(tmpdir(), prefix)));
  try {
    return await setup(path, created);
  } catch (err) {
    if (created) await rm(path, { recursive: true, force: true });
    throw err;
  }
}

// Children still running when Node exits (a test that forgot stop(), an uncaught exception) are killed so they do
// not linger holding ports. The hook is installed only while there is something to kill.
const live = new Set<ManagedProcess>();
function killLive(): void {
  for (const p of live) p.signal('SIGKILL');
}
function track(p: ManagedProcess): void {
  if (live.size === 0) process.on('exit', killLive);
  live.add(p);
}
function untrack(p: ManagedProcess): void {
  live.delete(p);
  if (live.size === 0) process.off('exit', killLive);
}

export interface SpawnOptions extends Command {
  cwd: string;
  /** Default: ours. */
  env?: NodeJS.ProcessEnv;
  /** stdout and stderr are appended here: servers print config errors there before their logging is set up. */
  consoleFile: string;
  /**
   * A process group of its own (the leader being the child): every signal goes to the whole group, and what is
   * left of the group when the leader exits is killed.
   */
  processGroup?: boolean;
  /** The process exited without stop(), kill() or a failed start having asked it to. */
  onUnexpectedExit: (code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface Readiness {
  /** Interface address of the ports. */
  host: string;
  /** Ports that must accept TCP connections before `probe` is tried, in this order. */
  ports: readonly number[];
  timeoutMs: number;
  /** Pause between two probes. */
  pollMs: number;
  /**
   * One readiness check, bounded by `remainingMs`: undefined once the server is ready, else what is still missing
   * ("no CONNACK from …"), for the error message.
   */
  probe(remainingMs: number): Promise<string | undefined>;
}

/** One run of a server process, from spawn to exit. A restart is a new ManagedProcess. */
export class ManagedProcess {
  readonly exited: Promise<void>;
  /** Set before we signal the process, so its exit is not reported as unexpected. */
  private expected = false;
  private exitSeen = false;
  private error: Error | undefined;
  private stopping: Promise<void> | undefined;

  /** Use spawnManaged(), which attaches the listeners before anything else is awaited. */
  constructor(
    private readonly child: ChildProcess,
    private readonly processGroup: boolean,
    onUnexpectedExit: SpawnOptions['onUnexpectedExit'],
  ) {
    this.exited = new Promise((resolve) => {
      // 'on', not 'once': a later 'error' (a failed kill) without a listener would crash the process.
      child.on('error', (err) => {
        this.error = err;
        // A failed spawn emits no 'exit'.
        if (child.pid === undefined) {
          this.exitSeen = true;
          untrack(this);
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        // Helpers left in the group (e.g. a VM whose launcher alone was killed) go with it.
        if (this.processGroup) this.send('SIGKILL');
        this.exitSeen = true;
        untrack(this);
        if (!this.expected) onUnexpectedExit(code, signal);
        resolve();
      });
    });
    track(this);
  }

  /** The pid (of the group leader) until the process exits. */
  get pid(): number | undefined {
    return this.exitSeen ? undefined : this.child.pid;
  }

  /** Spawned without error and not exited. */
  get running(): boolean {
    return !this.exitSeen && this.child.exitCode === null && this.child.signalCode === null && !this.error;
  }

  /** Sends `signal` to the process (or its group) unless it has exited: its pid may belong to another by now. */
  signal(signal: NodeJS.Signals): void {
    if (!this.exitSeen) this.send(signal);
  }

  private send(signal: NodeJS.Signals): void {
    if (!this.processGroup) {
      this.child.kill(signal);
      return;
    }
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  }

  /** Resolves true when the process exits within `ms`, false otherwise; leaves no timer behind. */
  async exitsWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    try {
      return await Promise.race([this.exited.then(() => true), timedOut]);
    } finally {
      clearTimeout(timer); // otherwise the timer alone would hold the event loop open
    }
  }

  /**
   * Asks the process to exit with `ask` (default: SIGTERM), waits up to `timeoutMs`, then SIGKILLs it; resolves
   * once it has exited. Calls made while a stop is under way share it.
   */
  stop(timeoutMs: number, ask: () => void | Promise<void> = () => this.terminate()): Promise<void> {
    if (this.stopping) return this.stopping;
    if (this.exitSeen) return Promise.resolve();
    this.stopping = (async () => {
      this.expected = true;
      await ask();
      if (!(await this.exitsWithin(timeoutMs))) {
        this.signal('SIGKILL');
        await this.exited;
      }
    })();
    return this.stopping;
  }

  private terminate(): void {
    this.signal('SIGTERM');
    // A stopped (SIGSTOP) process would keep SIGTERM pending forever.
    this.signal('SIGCONT');
  }

  /** SIGKILL, and resolves once the process has exited. */
  async kill(): Promise<void> {
    if (this.exitSeen) return;
    this.expected = true;
    this.signal('SIGKILL');
    await this.exited;
  }

  /**
   * Waits until the server is ready: its ports accept connections, then `probe` says so. Rejects after
   * `timeoutMs`, or as soon as the process exits.
   */
  async waitUntilReady(r: Readiness): Promise<void> {
    const deadline = Date.now() + r.timeoutMs;
    const remaining = (): number => Math.max(0, deadline - Date.now());
    const isAlive = (): boolean => this.running;
    for (const port of r.ports) await waitForPort(r.host, port, remaining(), isAlive);
    for (;;) {
      const missing = await r.probe(remaining());
      if (missing === undefined) break;
      if (!this.running) throw new Error('process exited during start-up');
      if (remaining() === 0) throw new Error(`${missing} after ${r.timeoutMs} ms`);
      await sleep(r.pollMs);
    }
    if (!this.running) throw new Error('process exited during start-up');
  }

  /**
   * Runs the start-up checks `started`. On any failure the process is killed and the error thrown is
   * "NAME did not start (reason)" followed by the tails of `logFiles`.
   */
  async confirmStart(name: string, logFiles: readonly string[], started: () => Promise<void>): Promise<void> {
    try {
      await started();
    } catch (err) {
      await this.kill();
      const reason = this.error ?? err;
      const logs = (await Promise.all(logFiles.map((f) => tail(f)))).filter(Boolean).join('\n');
      throw new Error(`${name} did not start (${reason instanceof Error ? reason.message : String(reason)})${logs ? `:\n${logs}` : ''}`, { cause: reason });
    }
  }
}

/** Spawns a server with stdin closed and stdout/stderr appended to `consoleFile`. */
export async function spawnManaged(o: SpawnOptions): Promise<ManagedProcess> {
  const out = await open(o.consoleFile, 'a');
  try {
    // A file descriptor, not a pipe: pipes would keep our event loop busy and could fill up and block the server.
    const child = spawn(o.command, o.args, { cwd: o.cwd, env: o.env, stdio: ['ignore', out.fd, out.fd], detached: o.processGroup ?? false });
    // Listening before anything else is awaited, so neither a spawn error nor an early exit can be missed.
    return new ManagedProcess(child, o.processGroup ?? false, o.onUnexpectedExit);
  } finally {
    await out.close();
  }
}

type ServerEvents = { exit: [code: number | null, signal: string | null] };

/** What every launcher's instance offers, whatever the server: its directory, process, and lifecycle. */
export interface ServerInstance {
  readonly dir: string;
  readonly listen: string;
  readonly pid: number | undefined;
  readonly configFile: string;
  /** Stops gracefully, waits for exit (bounded, then SIGKILL); idempotent. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /** Stop, then start again on the same ports and directory; resolves when ready. */
  restart(): Promise<void>;
  /** Stops the server if needed, then deletes the dir (only if the launcher created it). */
  removeDir(): Promise<void>;
  /** Emitted when the process exits without stop()/kill()/restart() having asked it to. */
  on(event: 'exit', listener: (code: number | null, signal: string | null) => void): this;
}

/**
 * The part of a launcher's instance that does not depend on the server: one ManagedProcess at a time, stop, kill,
 * restart, the 'exit' event for exits nobody asked for, and removing its directory. A subclass starts the server
 * in launch() through spawn(), and may override stop() with a gentler way of asking it to exit.
 */
export abstract class ManagedServer extends EventEmitter<ServerEvents> {
  protected proc: ManagedProcess | undefined;

  protected constructor(
    readonly dir: string,
    /** Whether the launcher made `dir`; only then does removeDir() delete it. */
    private readonly createdDir: boolean,
    /** How long stop() waits for the exit before SIGKILL. */
    protected readonly stopTimeoutMs: number,
  ) {
    super();
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Spawns the server and resolves once it is ready; kills it on any failure. */
  abstract launch(): Promise<void>;

  /** Spawns the server process and makes it the current one. */
  protected async spawn(o: Omit<SpawnOptions, 'onUnexpectedExit'>): Promise<ManagedProcess> {
    this.proc = await spawnManaged({ ...o, onUnexpectedExit: (code, signal) => this.emit('exit', code, signal) });
    return this.proc;
  }

  stop(): Promise<void> {
    return this.proc?.stop(this.stopTimeoutMs) ?? Promise.resolve();
  }

  kill(): Promise<void> {
    return this.proc?.kill() ?? Promise.resolve();
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
