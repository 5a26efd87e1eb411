/**
 * Starts and controls a private Prosody (one per call) for the demo and the integration tests.
 *
 * Everything an instance owns lives in one directory (config, data, log), and every listener is bound to
 * `listen` on its own ports, so several instances — and a system Prosody — can run side by side.
 */
import { execFile } from 'node:child_process';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { assertListening, pickPort, probeSocket, waitForPort } from './ports.js';
import { failureOutput, findExecutable, inInstanceDir, isExecutable, ManagedServer, withParentDeathSignal, type ServerInstance } from './process.js';

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
  /** Interface of the component port; default `listen` (the demo keeps it on loopback when c2s is on the LAN). */
  componentInterface?: string;
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
  /**
   * XEP-0363 uploads: the component `upload.<host>` with mod_http_file_share, served over plain HTTP on the listen
   * address (port 0/undefined: a free one). Prosody grants slots to the JIDs of components on the server by default.
   */
  fileShare?: { port?: number; sizeLimit?: number; dailyQuota?: number; externalHost?: string };
  /** Default 'info'; the log goes to DIR/prosody.log. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** How long to wait for the listeners, default 15 s. */
  startTimeoutMs?: number;
}

export interface ProsodyInstance extends ServerInstance {
  readonly host: string;
  readonly c2sPort: number;
  readonly componentPort: number;
  readonly s2sPort: number;
  /** mod_pubsub_mqtt's port, only when 'pubsub_mqtt' is loaded. */
  readonly mqttPort: number | undefined;
  /** With `fileShare`: the HTTP port and the upload component's JID. */
  readonly httpPort?: number | undefined;
  readonly uploadJid?: string | undefined;
  readonly logFile: string;
  /** Creates (or overwrites the password of) user@host; works while the server runs. */
  register(user: string, password: string): Promise<void>;
  /** SIGSTOP: the server keeps its sockets but stops answering. */
  freeze(): void;
  /** SIGCONT. */
  resume(): void;
}

export const PROSODY_INSTALL_HINT = 'sudo apt-get install -y prosody';

const DEFAULT_START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const REGISTER_TIMEOUT_MS = 15_000;
// Debian's prosody-modules currently installs into Prosody's own module dir, but older packages and
// hand-installed community modules use this one; it is only added when it exists.
const COMMUNITY_MODULES_DIR = '/usr/lib/prosody-modules';

const execFileAsync = promisify(execFile);

/** Absolute path of the prosody binary, or undefined when it is not installed. */
export function prosodyBinary(): string | undefined {
  return findExecutable('prosody', ['/usr/bin/prosody']);
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
  componentInterface?: string | undefined;
  s2sPort: number;
  mqttPort?: number | undefined;
  httpPort?: number | undefined;
  fileShare?: { sizeLimit?: number; dailyQuota?: number; externalHost?: string } | undefined;
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
    `component_interface = ${lua(c.componentInterface ?? c.listen)}`,
    c.httpPort !== undefined ? `http_ports = { ${c.httpPort} }` : 'http_ports = {}',
    'https_ports = {}',
    // Requests name the address, not a host: the upload component answers them (Prosody routes HTTP by Host).
    ...(c.httpPort !== undefined
      ? [`http_interfaces = ${luaList([c.listen])}`, `http_external_url = ${lua(`http://${c.fileShare?.externalHost ?? c.listen}:${c.httpPort}/`)}`, ...(c.fileShare ? [`http_default_host = ${lua(`upload.${c.host}`)}`] : [])]
      : []),
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
  if (c.fileShare && c.httpPort !== undefined) {
    lines.push('', `Component ${lua(`upload.${c.host}`)} "http_file_share"`);
    if (c.fileShare.sizeLimit !== undefined) lines.push(`  http_file_share_size_limit = ${c.fileShare.sizeLimit}`);
    if (c.fileShare.dailyQuota !== undefined) lines.push(`  http_file_share_daily_quota = ${c.fileShare.dailyQuota}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Whether Prosody answers an XMPP stream header on host:port. A TCP connect alone is not enough: the kernel
 * accepts connections as soon as a port is bound, while Prosody is still loading modules and binding its
 * other ports. An answer means the start-up sequence has finished and its event loop is running.
 */
function streamAnswered(host: string, port: number, domain: string, timeoutMs: number): Promise<boolean> {
  return probeSocket(host, port, timeoutMs, (socket, done) => {
    let received = '';
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

/** Where an instance lives and listens: the part of its config that ProsodyInstance shows. */
type ProsodyPlace = Pick<ProsodyConfigInput, 'dir' | 'host' | 'listen' | 'c2sPort' | 'componentPort' | 'componentInterface' | 's2sPort' | 'mqttPort' | 'httpPort'> & {
  uploadJid?: string | undefined;
};

class ProsodyServer extends ManagedServer implements ProsodyInstance {
  readonly host: string;
  readonly listen: string;
  readonly c2sPort: number;
  readonly componentPort: number;
  private readonly componentInterface: string;
  readonly s2sPort: number;
  readonly mqttPort: number | undefined;
  readonly httpPort: number | undefined;
  readonly uploadJid: string | undefined;
  readonly configFile: string;
  readonly logFile: string;
  /** Prosody's own stdout/stderr: config errors are printed there before logging is set up. */
  readonly consoleFile: string;

  constructor(
    private readonly binary: string,
    at: ProsodyPlace,
    createdDir: boolean,
    private readonly waitForComponentPort: boolean,
    private readonly startTimeoutMs: number,
  ) {
    super(at.dir, createdDir, STOP_TIMEOUT_MS);
    this.host = at.host;
    this.listen = at.listen;
    this.c2sPort = at.c2sPort;
    this.componentPort = at.componentPort;
    this.componentInterface = at.componentInterface ?? at.listen;
    this.s2sPort = at.s2sPort;
    this.mqttPort = at.mqttPort;
    this.httpPort = at.httpPort;
    this.uploadJid = at.uploadJid;
    this.configFile = join(at.dir, 'prosody.cfg.lua');
    this.logFile = join(at.dir, 'prosody.log');
    this.consoleFile = join(at.dir, 'prosody.console.log');
  }

  /** Spawns Prosody and resolves once its listeners accept connections; kills it on any failure. */
  async launch(): Promise<void> {
    const proc = await this.spawn({
      ...withParentDeathSignal(this.binary, ['--config', this.configFile, '-F']),
      cwd: this.dir,
      consoleFile: this.consoleFile,
    });
    await proc.confirmStart('Prosody', [this.logFile, this.consoleFile], async () => {
      const ports = [this.s2sPort, this.c2sPort, ...(this.waitForComponentPort ? [this.componentPort] : [])];
      const separate = this.componentInterface !== this.listen;
      if (separate && this.waitForComponentPort) await waitForPort(this.componentInterface, this.componentPort, this.startTimeoutMs, () => proc.running);
      await proc.waitUntilReady({
        host: this.listen,
        ports: separate ? ports.filter((p) => p !== this.componentPort) : ports,
        timeoutMs: this.startTimeoutMs,
        pollMs: 50,
        probe: async (remainingMs) =>
          (await streamAnswered(this.listen, this.c2sPort, this.host, Math.max(100, Math.min(1000, remainingMs))))
            ? undefined
            : `no XMPP stream on ${this.listen}:${this.c2sPort}`,
      });
      // The probes above may have reached another process holding one of our ports. If the stream answer
      // was ours, start-up is over and every port is bound; if not, a port is taken and can never be ours.
      await assertListening(proc.pid, this.listen, [...ports, ...(this.mqttPort === undefined ? [] : [this.mqttPort])]);
    });
  }

  freeze(): void {
    this.proc?.signal('SIGSTOP');
  }

  resume(): void {
    this.proc?.signal('SIGCONT');
  }

  async register(user: string, password: string): Promise<void> {
    const ctl = prosodyctlBinary(this.binary);
    try {
      await execFileAsync(ctl, ['--config', this.configFile, 'register', user, this.host, password], {
        cwd: this.dir,
        timeout: REGISTER_TIMEOUT_MS,
      });
    } catch (err) {
      throw new Error(`prosodyctl register ${user}@${this.host} failed: ${failureOutput(err)}`, { cause: err });
    }
  }
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

  return inInstanceDir(opts.dir, 'mxb-prosody-', async (dir, createdDir) => {
    await mkdir(join(dir, 'data'), { recursive: true });
    const extraModules = opts.extraModules ?? [];
    const place: ProsodyPlace = {
      dir,
      host,
      listen,
      c2sPort: await pickPort(opts.c2sPort, listen),
      componentPort: await pickPort(opts.componentPort, opts.componentInterface ?? listen),
      componentInterface: opts.componentInterface,
      s2sPort: await pickPort(opts.s2sPort, listen),
      mqttPort: extraModules.includes('pubsub_mqtt') ? await pickPort(opts.mqttPort, listen) : undefined,
      httpPort: opts.fileShare ? await pickPort(opts.fileShare.port, listen) : undefined,
      uploadJid: opts.fileShare ? `upload.${host}` : undefined,
    };
    // Prosody indexes DIR/certs (next to the config) at start-up and logs an error when it is missing.
    await mkdir(join(dir, 'certs'), { recursive: true });
    // Prosody opens the component port only when some Component is configured.
    const server = new ProsodyServer(binary, place, createdDir, components.length > 0, opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    const config = renderProsodyConfig({
      ...place,
      components,
      federation: opts.federation ?? false,
      extraModules,
      fileShare: opts.fileShare,
      extraGlobalConfig: opts.extraGlobalConfig,
      extraHostConfig: opts.extraHostConfig,
      tls: opts.tls,
      logLevel: opts.logLevel ?? 'info',
      pluginPaths: (await exists(COMMUNITY_MODULES_DIR)) ? [COMMUNITY_MODULES_DIR] : [],
    });
    await writeFile(server.configFile, config);
    await server.launch();
    return server;
  });
}
