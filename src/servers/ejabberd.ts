/**
 * Starts and controls a private ejabberd (one per call) for the integration tests.
 *
 * Everything an instance owns lives in one directory (config, Mnesia spool, logs), every XMPP listener is
 * bound to `listen` on its own ports, and the Erlang distribution uses a port of its own instead of epmd,
 * so several instances — and a system ejabberd — can run side by side.
 *
 * Process layout: `setpriv` (run as user 'ejabberd', parent-death signal) execs `ejabberdctl … foreground`
 * (bash), which forks `DIR/erl`, a wrapper that execs `setpriv --pdeathsig KILL /usr/bin/erl`, which execs
 * the Erlang VM (beam.smp). The chain of parent-death signals means that if Node dies without cleaning up,
 * the kernel kills ejabberdctl and then the VM. ejabberdctl runs in its own process group, so stop()/kill()
 * can reach every process of the instance with one signal.
 *
 * epmd: because ejabberdctl.cfg sets ERL_DIST_PORT, neither the server nor the ejabberdctl commands start or
 * use epmd (`-start_epmd false`). An epmd started by something else (a system ejabberd, RabbitMQ, …) is not
 * touched. If one were started for us it would outlive stop(): epmd is a daemon in its own session, shared by
 * all Erlang nodes of the machine, and holds nothing of the instance.
 *
 * Federation: ejabberd finds a peer by a DNS SRV query, then getaddrinfo() (so /etc/hosts) on port 5269; the
 * Erlang inetrc is not consulted. Give each server its own loopback address with s2sPort 5269 and put the
 * names in /etc/hosts, or use IP-literal domains (host '127.0.0.12'), which need no name resolution at all.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chown, lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { assertListening, freePort, pickPort } from './ports.js';
import { inInstanceDir, isExecutable, ManagedServer, SETPRIV, withParentDeathSignal, type Command, type ServerInstance } from './process.js';

export interface EjabberdComponent {
  domain: string;
  secret: string;
}

export interface EjabberdOptions {
  /**
   * Working dir (config, spool, logs). Default: a fresh mkdtemp(os.tmpdir()/mxb-ejabberd-). Made owned by user
   * 'ejabberd' (which must be able to reach it). A dir given here may be reused by a later call: the node
   * name is derived from its path, so the Mnesia spool (accounts, rosters) carries over.
   */
  dir?: string;
  /** Virtual host domain, default 'localhost'. */
  host?: string;
  /** Interface address of the XMPP listeners, default '127.0.0.1'. */
  listen?: string;
  /** 0/undefined = pick a free port. */
  c2sPort?: number;
  /** 0/undefined = pick a free port. The listener is opened even without components. */
  componentPort?: number;
  /** 0/undefined = pick a free port; federation tests pass 5269. */
  s2sPort?: number;
  components?: EjabberdComponent[];
  /** Server-to-server links without TLS: loads mod_s2s_dialback (s2s_use_starttls is false in any case). */
  federation?: boolean;
  /**
   * Direct TLS on the component listener (`tls: true` on ejabberd_service; components connect with xmpps://).
   * ejabberd wants certificate and key in one PEM file: they are copied, concatenated, into DIR/component.pem
   * (readable by the ejabberd user). Without keyFile, certFile must already hold both.
   */
  componentTls?: { certFile: string; keyFile?: string };
  /**
   * XEP-0363 uploads: mod_http_upload behind an ejabberd_http listener on the listen address (port 0/undefined: a free
   * one), files in DIR/upload. Its access rule is widened from `local` to the components' domains too, so a device
   * JID may request slots (docs/MEDIA.md).
   */
  httpUpload?: { port?: number; maxSize?: number };
  /**
   * Raw YAML for the top level of ejabberd.yml. It is merged into the generated config rather than pasted
   * after it (a repeated key would be ambiguous): maps such as `modules`, `acl`, `access_rules` or
   * `shaper_rules` are merged key by key, `listen` entries are added, anything else replaces the generated value.
   */
  extraConfig?: string;
  /** Default 'info'; logs go to DIR/logs/ejabberd.log (and error.log, crash.log). */
  logLevel?: 'info' | 'debug' | 'warning';
  /** How long to wait until ejabberd is up, default 60 s. */
  startTimeoutMs?: number;
}

/**
 * `pid` is the ejabberdctl process, leader of the instance's process group (killing it also kills the VM); stop() asks
 * `ejabberdctl stop`, kill() sends SIGKILL to every process of the instance, and restart() keeps the node name and
 * spool, so accounts survive it.
 */
export interface EjabberdInstance extends ServerInstance {
  readonly host: string;
  readonly c2sPort: number;
  readonly componentPort: number;
  readonly s2sPort: number;
  /** The Erlang distribution port (ERL_DIST_PORT) on 127.0.0.1, used by ejabberdctl to reach the node. */
  readonly distPort: number;
  /** The Erlang node name, NAME@localhost. */
  readonly node: string;
  /** Pid of the Erlang VM (beam.smp) while it runs. */
  readonly beamPid: number | undefined;
  readonly logDir: string;
  /** Creates user@host, or sets the password of an existing one; works while the server runs. */
  register(user: string, password: string): Promise<void>;
}

export const EJABBERD_INSTALL_HINT = 'sudo apt-get install -y ejabberd';

const EJABBERDCTL = '/usr/sbin/ejabberdctl';
const SYSTEM_CTL_CONFIG = '/etc/ejabberd/ejabberdctl.cfg';
const ERL = '/usr/bin/erl';
const RUN_AS_USER = 'ejabberd';

const DEFAULT_START_TIMEOUT_MS = 60_000;
/** For `ejabberdctl stop` and then for the VM to exit, each. */
const STOP_TIMEOUT_MS = 15_000;
const CTL_TIMEOUT_MS = 30_000;
const STATUS_PROBE_TIMEOUT_MS = 10_000;
/** Stanza limit of every listener; Prosody's are 256 KiB (c2s) and 512 KiB (s2s, components). */
const MAX_STANZA_SIZE = 1024 * 1024;
/**
 * ejabberd kills a session whose process has more than this many messages queued (default 10,000); a
 * benchmark pushing stanzas faster than a test client reads them can reach that.
 */
const MAX_FSM_QUEUE = 100_000;

const execFileAsync = promisify(execFile);

/** Absolute path of ejabberdctl, or undefined when ejabberd is not installed. */
export function ejabberdBinary(): string | undefined {
  return isExecutable(EJABBERDCTL) && isExecutable(ERL) ? EJABBERDCTL : undefined;
}

/** A single-quoted shell word (ejabberdctl.cfg is sourced by bash). */
function sh(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export interface EjabberdConfigInput {
  host: string;
  listen: string;
  c2sPort: number;
  componentPort: number;
  s2sPort: number;
  components: readonly EjabberdComponent[];
  federation: boolean;
  logLevel: 'info' | 'debug' | 'warning';
  extraConfig?: string | undefined;
  /** PEM file with certificate and key: the component listener then speaks direct TLS only. */
  componentCertFile?: string | undefined;
  /** mod_http_upload on this HTTP port, storing in `docroot`. */
  httpUpload?: { port: number; docroot: string; maxSize?: number | undefined } | undefined;
}

type Yaml = Record<string, unknown>;

function isMap(v: unknown): v is Yaml {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mergeConfig(base: Yaml, extra: Yaml): Yaml {
  const out: Yaml = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    if (key === 'listen' && Array.isArray(current) && Array.isArray(value)) out[key] = [...(current as unknown[]), ...(value as unknown[])];
    else if (isMap(current) && isMap(value)) out[key] = { ...current, ...value };
    else out[key] = value;
  }
  return out;
}

/**
 * The text of ejabberd.yml for one private instance. Written from scratch rather than derived from Debian's
 * /etc/ejabberd/ejabberd.yml, which listens on the standard ports, requires STARTTLS, throttles clients and
 * runs mod_mqtt on 1883 (the port of our own broker).
 */
export function renderEjabberdConfig(c: EjabberdConfigInput): string {
  const hosts: Yaml = {};
  for (const comp of c.components) hosts[comp.domain] = { password: comp.secret };
  const modules: Yaml = {
    mod_roster: {},
    mod_disco: {},
    mod_ping: {},
    mod_version: { show_os: false },
    mod_offline: { access_max_user_messages: 'max_user_offline_messages' },
    // ejabberdctl change_password (used by register() for an existing account) and other admin commands.
    mod_admin_extra: {},
  };
  if (c.federation) modules['mod_s2s_dialback'] = {};

  const config: Yaml = {
    hosts: [c.host],
    loglevel: c.logLevel,
    // No rotation: the log lives as long as the directory. ejabberdctl also reads this key from the file.
    log_rotate_count: 0,
    listen: [
      {
        port: c.c2sPort,
        ip: c.listen,
        module: 'ejabberd_c2s',
        // No certificates: never offer STARTTLS (else @xmpp/client attempts it and fails) and do not require it.
        starttls: false,
        starttls_required: false,
        max_stanza_size: MAX_STANZA_SIZE,
        shaper: 'c2s_shaper',
        access: 'c2s',
      },
      {
        port: c.componentPort,
        ip: c.listen,
        module: 'ejabberd_service',
        max_stanza_size: MAX_STANZA_SIZE,
        hosts,
        // XEP-0114 has no STARTTLS: `tls: true` means TLS from the first byte (ejabberd_listener wraps the socket).
        ...(c.componentCertFile !== undefined ? { tls: true, certfile: c.componentCertFile } : {}),
      },
      {
        port: c.s2sPort,
        ip: c.listen,
        module: 'ejabberd_s2s_in',
        max_stanza_size: MAX_STANZA_SIZE,
        shaper: 's2s_shaper',
      },
    ],
    // Without TLS an s2s link can only be authenticated by dialback, so it is loaded with `federation`.
    s2s_use_starttls: false,
    auth_method: ['internal'],
    // Plain storage lets every SASL mechanism work, PLAIN over an unencrypted loopback connection included
    // (ejabberd offers PLAIN without TLS unless starttls_required is set).
    auth_password_format: 'plain',
    disable_sasl_mechanisms: ['digest-md5', 'x-oauth2'],
    max_fsm_queue: MAX_FSM_QUEUE,
    acl: {
      local: { user_regexp: '' },
      loopback: { ip: ['127.0.0.0/8', '::1/128'] },
    },
    access_rules: {
      local: { allow: 'local' },
      c2s: { allow: 'all' },
    },
    // Accounts are created with ejabberdctl; nothing else is administered.
    api_permissions: {
      'console commands': { from: ['ejabberd_ctl'], who: 'all', what: '*' },
    },
    // Debian's default throttles c2s to 3,000 B/s; tests send thousands of stanzas.
    shaper_rules: {
      c2s_shaper: 'none',
      s2s_shaper: 'none',
      max_user_sessions: 100,
      max_user_offline_messages: 10_000,
    },
    modules,
  };

  let merged = config;
  if (c.httpUpload) {
    const u = c.httpUpload;
    merged = mergeConfig(merged, {
      listen: [{ port: u.port, ip: c.listen, module: 'ejabberd_http', request_handlers: { '/upload': 'mod_http_upload' } }],
      // The devices of the components are not local users: `upload` lets them ask for slots (mod_http_upload's
      // default access rule is `local`).
      acl: { devices: { server: c.components.map((comp) => comp.domain) } },
      // One rule per ACL: a list under one `allow` would require all of them.
      access_rules: { upload: [{ allow: 'local' }, { allow: 'devices' }] },
      modules: {
        mod_http_upload: {
          put_url: `http://${c.listen}:${u.port}/upload`,
          docroot: u.docroot,
          access: 'upload',
          ...(u.maxSize !== undefined ? { max_size: u.maxSize } : {}),
        },
      },
    });
  }
  if (c.extraConfig?.trim()) {
    const extra: unknown = parseYaml(c.extraConfig);
    if (extra !== null && extra !== undefined) {
      if (!isMap(extra)) throw new Error('extraConfig must be a YAML mapping');
      merged = mergeConfig(config, extra);
    }
  }
  // No anchors/aliases: ejabberd's YAML loader does not resolve them everywhere.
  return stringifyYaml(merged, { aliasDuplicateObjects: false, lineWidth: 0 });
}

/** ejabberdctl.cfg: the system one (if any), with everything that matters pointed into `dir`. */
function renderCtlConfig(systemCfg: string, dir: string, distPort: number, cookie: string, erl: string | undefined): string {
  const overrides = [
    '',
    '# --- private instance (mqtt-xmpp-bridge test harness) ---',
    `EJABBERD_CONFIG_PATH=${sh(join(dir, 'ejabberd.yml'))}`,
    `EJABBERD_PID_PATH=${sh(join(dir, 'ejabberd.pid'))}`,
    `CONTRIB_MODULES_CONF_DIR=${sh(join(dir, 'modules.d'))}`,
    `CONTRIB_MODULES_PATH=${sh(join(dir, 'modules'))}`,
    // A fixed distribution port instead of epmd: no shared daemon, no name clashes, nothing left behind.
    `ERL_DIST_PORT=${distPort}`,
    // The cookie is the only secret between the node and ejabberdctl; both read it from here.
    `ERL_OPTIONS=${sh(`-env ERL_CRASH_DUMP_BYTES 0 -setcookie ${cookie} -kernel inet_dist_use_interface {127,0,0,1}`)}`,
    'INET_DIST_INTERFACE=""',
    'FIREWALL_WINDOW=""',
    'EJABBERD_BYPASS_WARNINGS=true',
  ];
  // ejabberdctl assigns ERL before it sources this file, so this replaces the VM launcher.
  if (erl) overrides.push(`ERL=${sh(erl)}`);
  return `${systemCfg.trimEnd()}\n${overrides.join('\n')}\n`;
}

/** uid and gid of `user`, or undefined when it does not exist. */
async function userIds(user: string): Promise<{ uid: number; gid: number } | undefined> {
  try {
    const uid = Number((await execFileAsync('id', ['-u', user])).stdout.trim());
    const gid = Number((await execFileAsync('id', ['-g', user])).stdout.trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  if (!(await lstat(path)).isDirectory()) return;
  for (const entry of await readdir(path)) await chownTree(join(path, entry), uid, gid);
}

interface CtlResult {
  code: number;
  output: string;
}

class EjabberdServer extends ManagedServer implements EjabberdInstance {
  readonly configFile: string;
  readonly ctlConfigFile: string;
  readonly logDir: string;
  readonly spoolDir: string;
  /** ejabberdctl's own stdout/stderr: start-up errors are printed there before logging is set up. */
  readonly consoleFile: string;
  readonly pidFile: string;

  constructor(
    private readonly binary: string,
    dir: string,
    createdDir: boolean,
    readonly host: string,
    readonly listen: string,
    readonly c2sPort: number,
    readonly componentPort: number,
    readonly s2sPort: number,
    readonly distPort: number,
    readonly node: string,
    /** Run as this user (we are root), else as ourselves. */
    private readonly runAs: { uid: number; gid: number } | undefined,
    private readonly startTimeoutMs: number,
  ) {
    super(dir, createdDir, STOP_TIMEOUT_MS);
    this.configFile = join(dir, 'ejabberd.yml');
    this.ctlConfigFile = join(dir, 'ejabberdctl.cfg');
    this.logDir = join(dir, 'logs');
    this.spoolDir = join(dir, 'spool');
    this.consoleFile = join(dir, 'ejabberd.console.log');
    this.pidFile = join(dir, 'ejabberd.pid');
  }

  private beam: number | undefined;
  get beamPid(): number | undefined {
    return this.proc?.pid === undefined ? undefined : this.beam;
  }

  /** setpriv arguments that run a command as the ejabberd user with a parent-death signal. */
  private command(args: string[]): Command {
    const ctlArgs = [
      '--config-dir', this.dir,
      '--ctl-config', this.ctlConfigFile,
      '--spool', this.spoolDir,
      '--logs', this.logDir,
      '--node', this.node,
      ...args,
    ];
    // As root, ejabberdctl would switch users with su, which forks and drops the parent-death signal; so
    // switch here. Not root: ejabberdctl itself insists on being run by root or by 'ejabberd'.
    const user = this.runAs ? ['--reuid', String(this.runAs.uid), '--regid', String(this.runAs.gid), '--init-groups'] : [];
    return withParentDeathSignal(this.binary, ctlArgs, user);
  }

  private get env(): NodeJS.ProcessEnv {
    // HOME: Erlang looks for ~/.erlang.cookie there (the cookie is set explicitly, but HOME must be usable).
    return { ...process.env, HOME: this.dir };
  }

  /** Runs `ejabberdctl … ARGS` to completion; never rejects for a non-zero exit. */
  private async ctl(args: string[], timeoutMs = CTL_TIMEOUT_MS): Promise<CtlResult> {
    const { command, args: argv } = this.command(args);
    try {
      const { stdout, stderr } = await execFileAsync(command, argv, { cwd: this.spoolDir, env: this.env, timeout: timeoutMs, killSignal: 'SIGKILL' });
      return { code: 0, output: `${stdout}${stderr}`.trim() };
    } catch (err) {
      const e = err as { code?: unknown; stdout?: string; stderr?: string; message?: string; killed?: boolean };
      const output = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() || (e.message ?? String(err));
      return { code: typeof e.code === 'number' ? e.code : -1, output: e.killed ? `timed out after ${timeoutMs} ms: ${output}` : output };
    }
  }

  /** Spawns ejabberd and resolves once it reports itself started; kills it on any failure. */
  async launch(): Promise<void> {
    this.beam = undefined;
    await rm(this.pidFile, { force: true });
    const proc = await this.spawn({
      ...this.command(['foreground']),
      cwd: this.spoolDir,
      env: this.env,
      consoleFile: this.consoleFile,
      // One signal reaches ejabberdctl, the VM and its helpers; helpers left in the group when ejabberdctl exits
      // (the VM if ejabberdctl alone was killed, erl_child_setup) go with it.
      processGroup: true,
    });
    const logs = [join(this.logDir, 'error.log'), join(this.logDir, 'ejabberd.log'), this.consoleFile];
    await proc.confirmStart('ejabberd', logs, async () => {
      const ports = [this.c2sPort, this.componentPort, this.s2sPort];
      // ejabberd binds its listeners while it is still starting: wait until it says it is running, which is
      // also what ejabberdctl register needs.
      await proc.waitUntilReady({
        host: this.listen,
        ports,
        timeoutMs: this.startTimeoutMs,
        pollMs: 200,
        probe: async (remainingMs) => {
          const status = await this.ctl(['status'], Math.max(1000, Math.min(STATUS_PROBE_TIMEOUT_MS, remainingMs)));
          return status.code === 0 ? undefined : `ejabberdctl status still says "${status.output}"`;
        },
      });
      const beam = Number.parseInt(await readFile(this.pidFile, 'utf8').catch(() => ''), 10);
      this.beam = Number.isInteger(beam) && beam > 0 ? beam : undefined;
      // The port probes may have reached another process holding one of our ports (ejabberd only logs a
      // failed listener and carries on).
      await assertListening(this.beam, this.listen, ports);
    });
  }

  /** `ejabberdctl stop` rather than SIGTERM, which would kill ejabberdctl and, through its death signal, the VM. */
  override stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return Promise.resolve();
    return proc.stop(STOP_TIMEOUT_MS, async () => {
      const result = await this.ctl(['stop'], STOP_TIMEOUT_MS);
      if (result.code !== 0 && this.beam !== undefined) {
        // The node did not take the command: SIGTERM makes the VM shut down cleanly (init:stop()). Sent to
        // the VM only: ejabberdctl (bash) would die of it, and its death signal would SIGKILL the VM.
        try {
          process.kill(this.beam, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    });
  }

  async register(user: string, password: string): Promise<void> {
    let result = await this.ctl(['register', user, this.host, password]);
    // Same contract as Prosody's `register`: an existing account gets the new password.
    if (result.code !== 0 && /already registered|conflict/i.test(result.output)) {
      result = await this.ctl(['change_password', user, this.host, password]);
    }
    if (result.code !== 0) throw new Error(`ejabberdctl register ${user}@${this.host} failed (exit ${result.code}): ${result.output}`);
  }
}

/** Writes DIR/ejabberd.yml and DIR/ejabberdctl.cfg, starts ejabberd and resolves once it runs. */
export async function startEjabberd(opts: EjabberdOptions = {}): Promise<EjabberdInstance> {
  const binary = ejabberdBinary();
  if (!binary) throw new Error(`ejabberd is not installed; install it with: ${EJABBERD_INSTALL_HINT}`);

  let runAs: { uid: number; gid: number } | undefined;
  if (process.getuid?.() === 0) {
    runAs = await userIds(RUN_AS_USER);
    if (!runAs) throw new Error(`user '${RUN_AS_USER}' does not exist; reinstall ejabberd: ${EJABBERD_INSTALL_HINT}`);
  }

  const host = opts.host ?? 'localhost';
  const listen = opts.listen ?? '127.0.0.1';

  return inInstanceDir(opts.dir, 'mxb-ejabberd-', async (dir, createdDir) => {
    for (const sub of ['spool', 'logs', 'modules.d', 'modules', 'upload']) await mkdir(join(dir, sub), { recursive: true });
    const c2sPort = await pickPort(opts.c2sPort, listen);
    const componentPort = await pickPort(opts.componentPort, listen);
    const s2sPort = await pickPort(opts.s2sPort, listen);
    const distPort = await freePort('127.0.0.1');
    let componentCertFile: string | undefined;
    if (opts.componentTls) {
      const { certFile, keyFile } = opts.componentTls;
      const cert = await readFile(certFile, 'utf8');
      const pem = keyFile === undefined ? [cert] : [cert, await readFile(keyFile, 'utf8')];
      componentCertFile = join(dir, 'component.pem');
      // Chowned with the rest of the dir below; the user 'ejabberd' may not be able to read the originals.
      await writeFile(componentCertFile, pem.map((p) => `${p.trimEnd()}\n`).join(''), { mode: 0o600 });
    }
    // Erlang short node name (letters, digits, '_'), derived from the dir: the Mnesia spool belongs to the
    // node name, so a dir reused by a later startEjabberd() keeps its accounts. Nothing else needs it to be
    // unique: with ERL_DIST_PORT no node registers with epmd.
    const node = `mxb_${createHash('sha256').update(resolvePath(dir)).digest('hex').slice(0, 12)}@localhost`;
    const server = new EjabberdServer(
      binary,
      dir,
      createdDir,
      host,
      listen,
      c2sPort,
      componentPort,
      s2sPort,
      distPort,
      node,
      runAs,
      opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
    );
    await writeFile(
      server.configFile,
      renderEjabberdConfig({
        host,
        listen,
        c2sPort,
        componentPort,
        s2sPort,
        components: opts.components ?? [],
        federation: opts.federation ?? false,
        logLevel: opts.logLevel ?? 'info',
        extraConfig: opts.extraConfig,
        componentCertFile,
        ...(opts.httpUpload ? { httpUpload: { port: await pickPort(opts.httpUpload.port, listen), docroot: join(dir, 'upload'), maxSize: opts.httpUpload.maxSize } } : {}),
      }),
    );
    const systemCfg = await readFile(SYSTEM_CTL_CONFIG, 'utf8').catch(() => '');
    let erl: string | undefined;
    if (isExecutable(SETPRIV)) {
      // The VM is forked by ejabberdctl (bash): give it a parent-death signal of its own.
      erl = join(dir, 'erl');
      await writeFile(erl, `#!/bin/sh\nexec ${SETPRIV} --pdeathsig KILL -- ${ERL} "$@"\n`, { mode: 0o755 });
    }
    await writeFile(server.ctlConfigFile, renderCtlConfig(systemCfg, dir, distPort, randomBytes(16).toString('hex'), erl));
    // Erlang's resolver config (ejabberdctl passes CONFIG_DIR/inetrc): /etc/hosts first, as Debian's.
    await writeFile(join(dir, 'inetrc'), '{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n{file, resolv, "/etc/resolv.conf"}.\n');
    if (runAs) await chownTree(dir, runAs.uid, runAs.gid);
    await server.launch();
    return server;
  });
}
