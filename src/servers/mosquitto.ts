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
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { assertListening, pickPort } from './ports.js';
import { failureOutput, findExecutable, inInstanceDir, ManagedServer, withParentDeathSignal, type ServerInstance } from './process.js';

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

export interface MosquittoInstance extends ServerInstance {
  /** mqtt://LISTEN:PORT */
  readonly url: string;
  readonly port: number;
  readonly logFile: string;
}

export const MOSQUITTO_INSTALL_HINT = 'sudo apt-get install -y mosquitto';

const DEFAULT_START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const PASSWD_TIMEOUT_MS = 10_000;
const CONNECT_ATTEMPT_TIMEOUT_MS = 2_000;

const execFileAsync = promisify(execFile);

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

class MosquittoServer extends ManagedServer implements MosquittoInstance {
  readonly configFile: string;
  readonly logFile: string;
  /** Mosquitto's own stdout/stderr: config errors are printed there before logging is set up. */
  readonly consoleFile: string;
  readonly url: string;

  constructor(
    private readonly binary: string,
    dir: string,
    createdDir: boolean,
    readonly listen: string,
    readonly port: number,
    private readonly probeCredentials: { username: string; password: string } | undefined,
    private readonly startTimeoutMs: number,
  ) {
    super(dir, createdDir, STOP_TIMEOUT_MS);
    this.configFile = join(dir, 'mosquitto.conf');
    this.logFile = join(dir, 'mosquitto.log');
    this.consoleFile = join(dir, 'mosquitto.console.log');
    this.url = `mqtt://${listen.includes(':') ? `[${listen}]` : listen}:${port}`;
  }

  /** Spawns Mosquitto and resolves once it answers an MQTT CONNECT; kills it on any failure. */
  async launch(): Promise<void> {
    const proc = await this.spawn({
      ...withParentDeathSignal(this.binary, ['-c', this.configFile]),
      cwd: this.dir,
      consoleFile: this.consoleFile,
    });
    await proc.confirmStart('Mosquitto', [this.logFile, this.consoleFile], async () => {
      await proc.waitUntilReady({
        host: this.listen,
        ports: [this.port],
        timeoutMs: this.startTimeoutMs,
        pollMs: 50,
        probe: async () => ((await connackReceived(this.url, this.probeCredentials)) ? undefined : `no CONNACK from ${this.url}`),
      });
      // The probes may have reached another process holding our port (Mosquitto then exits, but maybe later).
      await assertListening(proc.pid, this.listen, [this.port]);
    });
  }
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
      throw new Error(`mosquitto_passwd failed for ${user}: ${failureOutput(err)}`, { cause: err });
    }
  }
}

/** Writes DIR/mosquitto.conf, starts Mosquitto and resolves once it answers an MQTT CONNECT. */
export async function startMosquitto(opts: MosquittoOptions = {}): Promise<MosquittoInstance> {
  const binary = mosquittoBinary();
  if (!binary) throw new Error(`Mosquitto is not installed; install it with: ${MOSQUITTO_INSTALL_HINT}`);

  const listen = opts.listen ?? '127.0.0.1';

  return inInstanceDir(opts.dir, 'mxb-mosquitto-', async (dir, createdDir) => {
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
  });
}
