/**
 * Starts and controls a private Prosody (one per call) for the demo and the integration tests.
 *
 * Everything an instance owns lives in one directory (config, data, log), and every listener is bound to
 * `listen` on its own ports, so several instances — and a system Prosody — can run side by side.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { access, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort, listeningPorts, waitForPort } from './ports.js';

export interface ProsodyComponent {
  domain: string;
  secret: string;
}

export interface ProsodyOptions {
  /** Working dir (config, data, log). Default: a fresh mkdtemp(os.tmpdir()/mxb-prosody-). */
  dir?: string;
  /** Virtual host domain, default 'localhost'. */
  host?: string;
  /** Interface address, default '127.0.0.1'. */
  listen?: string;
  /** 0/undefined = pick a free port. */
  c2sPort?: number;
  /** 0/undefined = pick a free port. */
  componentPort?: number;
  /** 0/undefined = pick a free port; federation tests pass 5269. */
  s2sPort?: number;
  /** Port for mod_pubsub_mqtt when 'pubsub_mqtt' is in extraModules; 0/undefined = pick a free port. */
  mqttPort?: number;
  components?: ProsodyComponent[];
  /** Enable server-to-server links without TLS (dialback, /etc/hosts resolution). */
  federation?: boolean;
  /** Extra modules, e.g. ['pubsub'] or ['pubsub_mqtt'] (Debian prosody-modules). */
  extraModules?: string[];
  /** Raw Lua appended to the global section. */
  extraGlobalConfig?: string;
  /** Raw Lua appended inside the VirtualHost section. */
  extraHostConfig?: string;
  /** If set, load 'tls' and offer STARTTLS with this certificate; if not, no TLS at all. */
  tls?: { certFile: string; keyFile: string };
  /** Default 'info'; the log goes to DIR/prosody.log. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** How long to wait for the listeners, default 15 s. */
  startTimeoutMs?: number;
}

export interface ProsodyInstance {
  readonly dir: string;
  readonly host: string;
  readonly listen: string;
  readonly c2sPort: number;
  readonly componentPort: number;
  readonly s2sPort: number;
  /** mod_pubsub_mqtt's port, only when 'pubsub_mqtt' is loaded. */
  readonly mqttPort: number | undefined;
  readonly pid: number | undefined;
  readonly configFile: string;
  readonly logFile: string;
  /** Creates (or overwrites the password of) user@host; works while the server runs. */
  register(user: string, password: string): Promise<void>;
  /** SIGTERM, wait for exit (bounded, then SIGKILL); idempotent. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /** Stop, then start again on the same ports and data dir; resolves when ready. */
  restart(): Promise<void>;
  /** SIGSTOP: the server keeps its sockets but stops answering. */
  freeze(): void;
  /** SIGCONT. */
  resume(): void;
  /** Stops the server if needed, then deletes the dir (only if startProsody created it). */
  removeDir(): Promise<void>;
  /** Emitted when the process exits without stop()/kill()/restart() having asked it to. */
  on(event: 'exit', listener: (code: number | null, signal: string | null) => void): this;
}

export const PROSODY_INSTALL_HINT = 'sudo apt-get install -y prosody';

const DEFAULT_START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const REGISTER_TIMEOUT_MS = 15_000;
const LOG_TAIL_LINES = 30;
// Debian's prosody-modules currently installs into Prosody's own module dir, but older packages and
// hand-installed community modules use this one; it is only added when it exists.
const COMMUNITY_MODULES_DIR = '/usr/lib/prosody-modules';

// Used to have the kernel SIGKILL Prosody when our process dies without cleaning up (SIGKILL, a CI
// timeout): an orphan would keep its ports, and fixed ones such as 5269 would break the next run.
// setpriv execs Prosody, so the child's pid is Prosody's own.
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

/** Absolute path of the prosody binary, or undefined when it is not installed. */
export function prosodyBinary(): string | undefined {
  const pathDirs = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d.startsWith('/'));
  return ['/usr/bin/prosody', ...pathDirs.map((d) => join(d, 'prosody'))].find(isExecutable);
}

function prosodyctlBinary(prosody: string): string {
  const sibling = join(dirname(prosody), 'prosodyctl');
  return isExecutable(sibling) ? sibling : 'prosodyctl';
}

/** A Lua string literal. Decimal escapes keep control characters valid in every Lua version. */
function lua(value: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\x00-\x1f\x7f]/g, (c) => `\\${c.charCodeAt(0)}`)}"`;
}

function luaList(values: readonly string[]): string {
  return `{ ${values.map(lua).join(', ')} }`;
}

export interface ProsodyConfigInput {
  dir: string;
  host: string;
  listen: string;
  c2sPort: number;
  componentPort: number;
  s2sPort: number;
  mqttPort?: number | undefined;
  components: readonly ProsodyComponent[];
  federation: boolean;
  extraModules: readonly string[];
  extraGlobalConfig?: string | undefined;
  extraHostConfig?: string | undefined;
  tls?: { certFile: string; keyFile: string } | undefined;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  pluginPaths: readonly string[];
}

/** The text of prosody.cfg.lua for one private instance. */
export function renderProsodyConfig(c: ProsodyConfigInput): string {
  // What a normal client login needs, nothing more. Deliberately absent: 'posix' (Prosody loads it on
  // its own; it writes the pidfile and turns SIGTERM into a clean shutdown), 'limits' (throttles c2s to 10 kB/s), 'tls' unless certificates are given (otherwise
  // @xmpp/client attempts STARTTLS and fails). presence/message/iq/c2s/s2s are loaded automatically.
  const modules = ['roster', 'saslauth', 'disco', 'ping', 'pep', 'blocklist'];
  if (c.tls) modules.push('tls');
  if (c.federation) modules.push('dialback');
  for (const m of c.extraModules) if (!modules.includes(m)) modules.push(m);

  const lines: string[] = [];
  // Prosody's resolver ignores /etc/hosts unless told so; federation on loopback relies on it.
  if (c.federation) lines.push('unbound = { hoststxt = true }');
  lines.push(
    'run_as_root = true',
    `pidfile = ${lua(join(c.dir, 'prosody.pid'))}`,
    `data_path = ${lua(join(c.dir, 'data'))}`,
  );
  if (c.pluginPaths.length > 0) lines.push(`plugin_paths = ${luaList(c.pluginPaths)}`);
  lines.push(
    // Explicit interfaces and ports for every listener, so nothing falls back to a default that another
    // instance (or the system service) already holds.
    `interfaces = ${luaList([c.listen])}`,
    `c2s_ports = { ${c.c2sPort} }`,
    `s2s_ports = { ${c.s2sPort} }`,
    `component_ports = { ${c.componentPort} }`,
    `component_interface = ${lua(c.listen)}`,
    'http_ports = {}',
    'https_ports = {}',
    `modules_enabled = ${luaList(modules)}`,
    'c2s_require_encryption = false',
    'allow_unencrypted_plain_auth = true',
    'authentication = "internal_plain"',
  );
  // mod_pubsub_mqtt listens on 1883 by default, the port of our own MQTT broker.
  if (c.mqttPort !== undefined) lines.push(`pubsub_mqtt_ports = { ${c.mqttPort} }`);
  if (c.federation) lines.push('s2s_require_encryption = false', 's2s_secure_auth = false');
  if (c.tls) lines.push(`ssl = { certificate = ${lua(c.tls.certFile)}, key = ${lua(c.tls.keyFile)} }`);
  lines.push(`log = { { levels = { min = ${lua(c.logLevel)} }, to = "file", filename = ${lua(join(c.dir, 'prosody.log'))} } }`);
  if (c.extraGlobalConfig) lines.push('', c.extraGlobalConfig);

  lines.push('', `VirtualHost ${lua(c.host)}`);
  if (c.extraHostConfig) lines.push(c.extraHostConfig);
  for (const comp of c.components) {
    lines.push('', `Component ${lua(comp.domain)}`, `  component_secret = ${lua(comp.secret)}`);
  }
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

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  /** Set before we signal the process, so its exit is not reported as unexpected. */
  expected: boolean;
}

/**
 * Whether Prosody answers an XMPP stream header on host:port. A TCP connect alone is not enough: the kernel
 * accepts connections as soon as a port is bound, while Prosody is still loading modules and binding its
 * other ports. An answer means the start-up sequence has finished and its event loop is running.
 */
function streamAnswered(host: string, port: number, domain: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let received = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
    socket.once('connect', () => {
      const to = domain.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;');
      socket.write(
        `<?xml version='1.0'?><stream:stream to='${to}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('stream')) done(true);
    });
  });
}


type ProsodyEvents = { exit: [code: number | null, signal: string | null] };

class ProsodyServer extends EventEmitter<ProsodyEvents> implements ProsodyInstance {
  readonly configFile: string;
  readonly logFile: string;
  /** Prosody's own stdout/stderr: config errors are printed there before logging is set up. */
  readonly consoleFile: string;
  private running: Running | undefined;

  constructor(
    private readonly binary: string,
    readonly dir: string,
    private readonly createdDir: boolean,
    readonly host: string,
    readonly listen: string,
    readonly c2sPort: number,
    readonly componentPort: number,
    readonly s2sPort: number,
    readonly mqttPort: number | undefined,
    private readonly waitForComponentPort: boolean,
    private readonly startTimeoutMs: number,
  ) {
    super();
    this.configFile = join(dir, 'prosody.cfg.lua');
    this.logFile = join(dir, 'prosody.log');
    this.consoleFile = join(dir, 'prosody.console.log');
  }

  get pid(): number | undefined {
    return this.running?.child.pid;
  }

  /** Spawns Prosody and resolves once its listeners accept connections; kills it on any failure. */
  async launch(): Promise<void> {
    const out = await open(this.consoleFile, 'a');
    let child: ChildProcess;
    try {
      const args = ['--config', this.configFile, '-F'];
      const [command, argv] = isExecutable(SETPRIV)
        ? [SETPRIV, ['--pdeathsig', 'KILL', '--', this.binary, ...args]]
        : [this.binary, args];
      // A file descriptor, not a pipe: pipes would keep our event loop busy and could fill up and block Prosody.
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
      const ports = [this.s2sPort, this.c2sPort, ...(this.waitForComponentPort ? [this.componentPort] : [])];
      const remaining = (): number => Math.max(0, deadline - Date.now());
      for (const port of ports) await waitForPort(this.listen, port, remaining(), isAlive);
      while (!(await streamAnswered(this.listen, this.c2sPort, this.host, Math.max(100, Math.min(1000, remaining()))))) {
        if (!isAlive()) throw new Error('process exited during start-up');
        if (remaining() === 0) throw new Error(`no XMPP stream on ${this.listen}:${this.c2sPort} after ${this.startTimeoutMs} ms`);
        await sleep(50);
      }
      // The probes above may have reached another process holding one of our ports. If the stream answer
      // was ours, start-up is over and every port is bound; if not, a port is taken and can never be ours.
      const owned = child.pid === undefined ? undefined : await listeningPorts(child.pid);
      const missing = owned && [...ports, ...(this.mqttPort === undefined ? [] : [this.mqttPort])].filter((p) => !owned.has(p));
      if (missing && missing.length > 0) throw new Error(`port(s) ${missing.join(', ')} on ${this.listen} already in use by another process`);
    } catch (err) {
      run.expected = true;
      child.kill('SIGKILL');
      await run.exited;
      const reason = spawnError ?? err;
      const logs = [await tail(this.logFile, LOG_TAIL_LINES), await tail(this.consoleFile, LOG_TAIL_LINES)].filter(Boolean).join('\n');
      throw new Error(`Prosody did not start (${reason instanceof Error ? reason.message : String(reason)})${logs ? `:\n${logs}` : ''}`, { cause: reason });
    }
  }

  private async terminate(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const run = this.running;
    if (!run) return;
    run.expected = true;
    run.child.kill(signal);
    // A frozen process would keep SIGTERM pending forever.
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

  freeze(): void {
    this.running?.child.kill('SIGSTOP');
  }

  resume(): void {
    this.running?.child.kill('SIGCONT');
  }

  async register(user: string, password: string): Promise<void> {
    const ctl = prosodyctlBinary(this.binary);
    try {
      await execFileAsync(ctl, ['--config', this.configFile, 'register', user, this.host, password], {
        cwd: this.dir,
        timeout: REGISTER_TIMEOUT_MS,
      });
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message?: string };
      const detail = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim() || e.message || String(err);
      throw new Error(`prosodyctl register ${user}@${this.host} failed: ${detail}`, { cause: err });
    }
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

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes DIR/prosody.cfg.lua, starts Prosody and resolves once its listeners accept connections. */
export async function startProsody(opts: ProsodyOptions = {}): Promise<ProsodyInstance> {
  const binary = prosodyBinary();
  if (!binary) throw new Error(`Prosody is not installed; install it with: ${PROSODY_INSTALL_HINT}`);

  const host = opts.host ?? 'localhost';
  const listen = opts.listen ?? '127.0.0.1';
  const components = opts.components ?? [];
  const createdDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'mxb-prosody-')));

  try {
    await mkdir(join(dir, 'data'), { recursive: true });
    const c2sPort = await pickPort(opts.c2sPort, listen);
    const componentPort = await pickPort(opts.componentPort, listen);
    const s2sPort = await pickPort(opts.s2sPort, listen);
    const extraModules = opts.extraModules ?? [];
    const mqttPort = extraModules.includes('pubsub_mqtt') ? await pickPort(opts.mqttPort, listen) : undefined;
    // Prosody indexes DIR/certs (next to the config) at start-up and logs an error when it is missing.
    await mkdir(join(dir, 'certs'), { recursive: true });
    const server = new ProsodyServer(
      binary,
      dir,
      createdDir,
      host,
      listen,
      c2sPort,
      componentPort,
      s2sPort,
      mqttPort,
      // Prosody opens the component port only when some Component is configured.
      components.length > 0,
      opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
    );
    const config = renderProsodyConfig({
      dir,
      host,
      listen,
      c2sPort,
      componentPort,
      s2sPort,
      mqttPort,
      components,
      federation: opts.federation ?? false,
      extraModules,
      extraGlobalConfig: opts.extraGlobalConfig,
      extraHostConfig: opts.extraHostConfig,
      tls: opts.tls,
      logLevel: opts.logLevel ?? 'info',
      pluginPaths: (await exists(COMMUNITY_MODULES_DIR)) ? [COMMUNITY_MODULES_DIR] : [],
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
