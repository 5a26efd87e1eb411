/**
 * Integration harness: real Prosody (private temp dir, loopback, free ports), the real bridge in-process or as a
 * child process, real MQTT clients (mqtt.js, mosquitto_pub) and real XMPP users (@xmpp/client).
 *
 * Waiting is always on an observable event (a stanza, an MQTT message, a log line), never on a sleep.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { client as xmppClient, type Client } from '@xmpp/client';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { Bridge } from '../../src/app.js';
import { loadSetup } from '../../src/load.js';
import { createLogger } from '../../src/log.js';
import { PROSODY_INSTALL_HINT, prosodyBinary, startProsody, type ProsodyInstance } from '../../src/servers/prosody.js';
import { packageRoot } from '../../src/version.js';

export const ROOT = packageRoot();
export const DOMAIN = 'iot.localhost';
export const FIXTURE_MAPPINGS = join(ROOT, 'test/fixtures/integration/mappings');
export const SHIPPED_SCHEMAS = join(ROOT, 'schemas');
export const FIXTURE_SCHEMAS = join(ROOT, 'test/fixtures/integration/schemas');

/** Fail loudly, with the command that fixes it, when a prerequisite is missing (no skipped tests). */
export function requireCommand(cmd: string, installHint: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${cmd} is not installed; install it with: ${installHint}`);
  }
}

export interface TestServer {
  readonly prosody: { listen: string; c2sPort: number; host: string; register(user: string, password: string): Promise<void> };
  readonly secret: string;
  readonly domain: string;
  readonly service: string;
  user(name: string): Promise<XmppUser>;
  stop(): Promise<void>;
}

/** A TestServer backed by a Prosody the test controls (restart, freeze…). */
export interface ProsodyTestServer extends TestServer {
  readonly prosody: ProsodyInstance;
}

/**
 * A private Prosody with the component domain declared and a fresh secret. `modules`: more Prosody modules, e.g.
 * `offline` (mod_offline keeps chat messages for users who are away, as every real server does). `fileShare`: an
 * XEP-0363 upload component (mod_http_file_share) on a loopback HTTP port.
 */
export async function startTestServer(opts: { domain?: string; modules?: string[]; fileShare?: { sizeLimit?: number; dailyQuota?: number } } = {}): Promise<ProsodyTestServer> {
  if (!prosodyBinary()) throw new Error(`Prosody is not installed; install it with: ${PROSODY_INSTALL_HINT}`);
  const domain = opts.domain ?? DOMAIN;
  const secret = randomBytes(12).toString('hex');
  const prosody = await startProsody({ components: [{ domain, secret }], ...(opts.modules ? { extraModules: opts.modules } : {}), ...(opts.fileShare ? { fileShare: opts.fileShare } : {}) });
  const users: XmppUser[] = [];
  return {
    prosody,
    secret,
    domain,
    service: `xmpp://${prosody.listen}:${prosody.componentPort}`,
    async user(name: string): Promise<XmppUser> {
      const password = `pw-${name}`;
      await prosody.register(name, password);
      const u = await XmppUser.connect(prosody, name, password);
      users.push(u);
      return u;
    },
    async stop(): Promise<void> {
      await Promise.all(users.map((u) => u.stop()));
      await prosody.removeDir();
    },
  };
}

type Predicate = (el: Element) => boolean;

/**
 * A real XMPP user (c2s) that records every stanza it receives. Like Conversations with the contacts one adds, it
 * approves the subscription requests it receives (`autoApprove`), so a device it subscribed to sees its presence.
 */
export class XmppUser {
  readonly stanzas: Element[] = [];
  autoApprove = true;
  private waiters: { pred: Predicate; resolve: (el: Element) => void }[] = [];

  private constructor(
    readonly client: Client,
    readonly jid: string,
  ) {
    client.on('stanza', (el: Element) => {
      if (this.autoApprove && el.name === 'presence' && el.attrs['type'] === 'subscribe' && el.attrs['from']) {
        void client.send(xml('presence', { to: el.attrs['from'], type: 'subscribed' })).catch(() => undefined);
      }
      this.stanzas.push(el);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(el)) return true;
        w.resolve(el);
        return false;
      });
    });
  }

  static async connect(server: { listen: string; c2sPort: number; host: string }, username: string, password: string, domain = server.host): Promise<XmppUser> {
    const resource = `test-${randomBytes(3).toString('hex')}`; // distinct per login, or a second login would replace the first
    const c = xmppClient({ service: `xmpp://${server.listen}:${server.c2sPort}`, domain, username, password, resource });
    c.on('error', () => undefined); // connection errors surface through start() and the tests' waits
    c.reconnect.stop();
    await c.start();
    const user = new XmppUser(c, `${username}@${domain}`);
    // An "interested resource" (RFC 6121 §2.1.6) receives roster pushes and inbound subscription states.
    await c.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
    await c.send(xml('presence')); // available, so messages to the bare JID are delivered (RFC 6121 §8.5.2)
    return user;
  }

  /**
   * The first matching stanza that arrives from now on (within the timeout). Register the wait before the action
   * that causes the stanza; use `waitForAny` when an earlier stanza may already satisfy it.
   */
  waitFor(pred: Predicate, what: string, timeoutMs = 10_000): Promise<Element> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.pred !== pred);
        reject(new Error(`${this.jid}: no ${what} within ${timeoutMs} ms; received:\n${this.stanzas.slice(-10).map(String).join('\n')}`));
      }, timeoutMs);
      this.waiters.push({
        pred,
        resolve: (el) => {
          clearTimeout(timer);
          resolve(el);
        },
      });
    });
  }

  /** The first matching stanza, already received or arriving within the timeout. */
  waitForAny(pred: Predicate, what: string, timeoutMs = 10_000): Promise<Element> {
    const seen = this.stanzas.find(pred);
    return seen ? Promise.resolve(seen) : this.waitFor(pred, what, timeoutMs);
  }

  /** Stanzas received so far matching a predicate. */
  received(pred: Predicate): Element[] {
    return this.stanzas.filter(pred);
  }

  send(el: Element): Promise<void> {
    return this.client.send(el);
  }

  /** An IQ round trip; resolves with the reply whatever its type (tests assert on errors too). */
  async iq(el: Element, timeoutMs = 10_000): Promise<Element> {
    const id = `q${randomBytes(4).toString('hex')}`;
    el.attrs['id'] = id;
    const reply = this.waitFor((s) => s.name === 'iq' && s.attrs['id'] === id && (s.attrs['type'] === 'result' || s.attrs['type'] === 'error'), `reply to iq ${id}`, timeoutMs);
    await this.send(el);
    return reply;
  }

  /** Subscribe to a device's presence and wait for the answer (subscribed or unsubscribed). */
  async subscribe(deviceJid: string): Promise<Element> {
    const answer = this.waitFor(
      (s) => s.name === 'presence' && fromBare(s) === deviceJid && (s.attrs['type'] === 'subscribed' || s.attrs['type'] === 'unsubscribed'),
      `subscription answer from ${deviceJid}`,
    );
    await this.send(xml('presence', { to: deviceJid, type: 'subscribe' }));
    return answer;
  }

  /**
   * Subscribe to a device and share presence with it (approve its request), then wait until the bridge has seen this
   * user's presence: the user's server sends it to the device before it handles the ping that follows on this stream.
   */
  async follow(deviceJid: string): Promise<void> {
    const request = this.waitForAny((s) => s.name === 'presence' && fromBare(s) === deviceJid && s.attrs['type'] === 'subscribe', `a subscription request from ${deviceJid}`);
    const answer = await this.subscribe(deviceJid);
    if (answer.attrs['type'] !== 'subscribed') throw new Error(`${deviceJid} refused the subscription`);
    await request;
    await new Promise((r) => setImmediate(r)); // the approval is written before the ping
    await this.iq(xml('iq', { type: 'get', to: deviceJid }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
  }

  /**
   * Subscribe to a device that exists only once the bridge has seen it (a client id it is named after): aedes reports a
   * client ready only after CONNACK and its queued messages, so a request sent right after CONNACK may still meet an
   * unknown JID and be refused. Asks again after each refusal until the deadline.
   */
  async subscribeWhenKnown(deviceJid: string, timeoutMs = 10_000): Promise<Element> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await this.subscribe(deviceJid);
      if (answer.attrs['type'] === 'subscribed' || Date.now() > deadline) return answer;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    if (this.client.status === 'offline') return;
    await this.client.stop().catch(() => undefined);
  }
}

export function fromBare(el: Element): string {
  return (el.attrs['from'] ?? '').split('/')[0]!;
}

export const isMessageFrom =
  (jid: string, pred: (el: Element) => boolean = () => true): Predicate =>
  (el) =>
    el.name === 'message' && fromBare(el) === jid && el.attrs['type'] !== 'error' && pred(el);

export const isPresenceFrom =
  (jid: string, type: string | undefined): Predicate =>
  (el) =>
    el.name === 'presence' && fromBare(el) === jid && el.attrs['type'] === type;

export function jsonOf(el: Element): unknown {
  const text = el.getChildText('json', 'urn:xmpp:json:0');
  return text === null ? undefined : (JSON.parse(text) as unknown);
}

export interface BridgeDirOptions {
  readonly server: TestServer;
  readonly mappings?: string[];
  readonly schemas?: string[];
  /** Extra config keys, merged at the top level (shallow per section). */
  readonly config?: Record<string, unknown>;
  readonly dir?: string;
}

/** A temp dir with a config file for a bridge attached to `server`; ports are picked by the OS (0). */
export function writeBridgeConfig(opts: BridgeDirOptions): { dir: string; configFile: string } {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'mxb-bridge-'));
  const extra = opts.config ?? {};
  const config = {
    dataDir: join(dir, 'data'),
    mappings: opts.mappings ?? [FIXTURE_MAPPINGS],
    schemas: opts.schemas ?? [SHIPPED_SCHEMAS, FIXTURE_SCHEMAS],
    log: { level: 'debug', file: join(dir, 'bridge.log') },
    ...extra,
    // Keys under mqtt (embedded, external) merge with the test defaults: free ports for the embedded broker.
    mqtt: {
      ...((extra['mqtt'] as object | undefined) ?? {}),
      // Most tests use anonymous devices; the security tests turn authentication back on.
      embedded: { port: 0, websocket: { port: 0 }, allowAnonymous: true, ...((extra['mqtt'] as { embedded?: object } | undefined)?.embedded ?? {}) },
    },
    xmpp: { service: opts.server.service, domain: opts.server.domain, secret: opts.server.secret, ...((extra['xmpp'] as object | undefined) ?? {}) },
  };
  const configFile = join(dir, 'bridge.yaml');
  writeFileSync(configFile, stringify(config));
  return { dir, configFile };
}

export interface RunningBridge {
  readonly bridge: Bridge;
  readonly dir: string;
  readonly configFile: string;
  readonly mqttUrl: string;
  readonly wsUrl: string;
  stop(): Promise<void>;
}

/** The bridge in this process, started and online. */
export async function startBridge(opts: BridgeDirOptions): Promise<RunningBridge> {
  const { dir, configFile } = writeBridgeConfig(opts);
  const setup = loadSetup(configFile, {});
  const log = createLogger({ level: setup.config.log.level, destination: setup.config.log.file ?? join(dir, 'bridge.log') });
  const bridge = await Bridge.open(setup, log);
  await bridge.start();
  await bridge.ready();
  const a = bridge.addresses();
  return {
    bridge,
    dir,
    configFile,
    mqttUrl: a.mqtt!,
    wsUrl: a.websocket!,
    async stop() {
      await bridge.stop();
      log.flush();
    },
  };
}

export function removeDir(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}

/** A connected mqtt.js client. */
export async function mqttClient(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  c.on('error', () => undefined); // later errors surface through the tests' waits
  return c;
}

/** Wait for the next MQTT message on `topic` whose payload matches. */
export function nextMqttMessage(c: MqttClient, topic: string, pred: (payload: Buffer) => boolean = () => true, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      c.off('message', onMessage);
      reject(new Error(`no MQTT message on ${topic} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (t: string, payload: Buffer): void => {
      if (t !== topic || !pred(payload)) return;
      clearTimeout(timer);
      c.off('message', onMessage);
      resolve(payload);
    };
    c.on('message', onMessage);
  });
}

export async function closeMqtt(...clients: (MqttClient | undefined)[]): Promise<void> {
  await Promise.all(clients.filter((c): c is MqttClient => c !== undefined).map((c) => c.endAsync(true).catch(() => undefined)));
}

/** CLI processes started by the tests and still running. */
const liveChildren = new Set<ChildProcess>();

// A root hook: a test that fails before it stops the bridge it spawned must not leave that process running — it would
// hold its ports and keep mocha waiting for it forever.
after(function () {
  for (const c of liveChildren) c.kill('SIGKILL');
});

/** Run the CLI as a child process (built output). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [join(ROOT, 'dist/src/cli.js'), ...args], {
    env: { PATH: process.env['PATH'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}

/** Wait for a child to exit; resolves with its code (and kills it after the timeout). */
export async function exitOf(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; ms: number }> {
  const t0 = Date.now();
  if (child.exitCode !== null) return { code: child.exitCode, ms: 0 };
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, ms: Date.now() - t0 };
}

export { eventually } from '../support/eventually.js';

/** Lines of a bridge's log (`bridge.log` in its directory, as writeBridgeConfig sets it) whose message is `msg`. */
export function logLines(dir: string, msg: string): number {
  let text = '';
  try {
    text = readFileSync(join(dir, 'bridge.log'), 'utf8');
  } catch {
    return 0;
  }
  const needle = `"msg":${JSON.stringify(msg)}`;
  return text.split('\n').filter((l) => l.includes(needle)).length;
}
