/**
 * `mqtt-xmpp-bridge demo`: a private Prosody, the bridge with the example mappings, simulated devices over real
 * MQTT, and a demo account whose roster already holds the devices — then instructions for logging in with any
 * XMPP client. Everything lives in one directory and stops on Ctrl-C.
 *
 * Prosody first runs without TLS so that the demo itself can log in as the demo user and subscribe to the devices
 * (xmpp.js would refuse the self-signed certificate); it is then restarted with STARTTLS for human clients, most of
 * which insist on encryption. "Running" is printed only once the bridge is connected to the restarted server, so a
 * client that logs in at once sees the devices.
 *
 * The example mappings are used as shipped, plus an invitation of the demo user: a device that appears later (a
 * sensor of your own) asks to be in the demo user's roster by itself. Next to them, a simulated Zigbee2MQTT network
 * and an ESPHome node are imported from what they publish about themselves (imported.ts), and the status page runs
 * on loopback.
 *
 * Listening: 127.0.0.1 by default; `--host ADDR` listens on that address, `--public` on every interface (a phone on
 * the same network can log in) — with a warning, since the demo account and anonymous MQTT are then open to the LAN.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { client as xmppClient } from '@xmpp/client';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { parse, stringify } from 'yaml';
import { Bridge } from '../app.js';
import { loadSetup } from '../load.js';
import { createLogger } from '../log.js';
import { freePort } from '../servers/ports.js';
import { PROSODY_INSTALL_HINT, prosodyBinary, startProsody, type ProsodyInstance, type ProsodyOptions } from '../servers/prosody.js';
import { packageRoot } from '../version.js';
import { demoImportConfig, startImportedDevices } from './imported.js';
import { startSimulator, UNPLUG_TOPIC, type SimulatedDevice, type Simulator } from './simulator.js';

const HOST = 'localhost';
const DOMAIN = 'iot.localhost';
const LOOPBACK = '127.0.0.1';
const DEMO_USER = `demo@${HOST}`;
/** Waiting for the bridge to reconnect after Prosody's restart, at most. */
const RECONNECT_TIMEOUT_MS = 30_000;

export interface DemoOptions {
  readonly dir?: string;
  /** Listen on this address instead of 127.0.0.1. */
  readonly host?: string;
  /** Listen on every interface and print the address of this machine on the network. */
  readonly public?: boolean;
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  if (!prosodyBinary()) {
    console.error(`The demo runs a private Prosody, which is not installed. Install it with:\n\n  ${PROSODY_INSTALL_HINT}\n`);
    return 1;
  }
  const listen = opts.public ? '0.0.0.0' : (opts.host ?? LOOPBACK);
  const shown = opts.public ? (lanAddress(networkInterfaces()) ?? LOOPBACK) : listen;
  const created = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'mxb-demo-'));
  mkdirSync(join(dir, 'prosody'), { recursive: true });
  const secret = randomBytes(16).toString('hex');
  const password = `demo-${randomBytes(3).toString('hex')}`;
  const statusToken = randomBytes(18).toString('base64url');

  let prosody: ProsodyInstance | undefined;
  let bridge: Bridge | undefined;
  let simulator: Simulator | undefined;
  let imported: Simulator | undefined;
  const cleanup = async (): Promise<void> => {
    await imported?.stop().catch(() => undefined);
    await simulator?.stop().catch(() => undefined);
    await bridge?.stop().catch(() => undefined);
    await prosody?.stop().catch(() => undefined);
    if (created) rmSync(dir, { recursive: true, force: true });
  };

  try {
    const ports = {
      c2sPort: await preferPort(5222, listen),
      componentPort: await freePort(LOOPBACK),
      s2sPort: await freePort(listen),
    };
    const prosodyOpts: ProsodyOptions = {
      dir: join(dir, 'prosody'),
      host: HOST,
      listen,
      ...ports,
      components: [{ domain: DOMAIN, secret }],
      // What a person's server does: keeps messages for them while they are away, archives, copies to every client.
      extraModules: ['offline', 'mam', 'carbons', 'smacks'],
      // The component port stays on loopback whatever the c2s listener is: only this bridge connects there.
      componentInterface: LOOPBACK,
    };
    console.log('Starting a private Prosody…');
    prosody = await startProsody(prosodyOpts);
    await prosody.register('demo', password);

    const mqttPort = await preferPort(1883, listen);
    const httpPort = await preferPort(8080, LOOPBACK);
    const wsPort = await preferPort(8083, listen);
    const configFile = join(dir, 'bridge.yaml');
    writeFileSync(
      configFile,
      stringify({
        dataDir: join(dir, 'bridge-data'),
        mappings: [demoMappings(dir)],
        schemas: [join(packageRoot(), 'schemas')],
        log: { level: 'info', file: join(dir, 'bridge.log') },
        // The simulated devices connect without credentials; a real deployment should not.
        mqtt: { embedded: { host: listen, port: mqttPort, websocket: { host: listen, port: wsPort }, allowAnonymous: true } },
        xmpp: { service: `xmpp://${LOOPBACK}:${ports.componentPort}`, domain: DOMAIN, secret },
        // The status page, on loopback whatever the demo listens on; commands sent from it go out as the demo user.
        http: { enabled: true, host: LOOPBACK, port: httpPort, token: statusToken },
        operator: { jid: DEMO_USER },
        // Devices that describe themselves (docs/IMPORT.md): no mapping names them.
        import: demoImportConfig(HOST),
      }),
      { mode: 0o600 },
    );
    const setup = loadSetup(configFile, {});
    const log = createLogger({ level: 'info', destination: join(dir, 'bridge.log') });
    const b = new Bridge(setup, log);
    bridge = b;
    console.log('Starting the bridge…');
    await b.start();
    await b.ready();
    const mqttUrl = b.addresses().mqtt!;

    console.log('Starting simulated devices…');
    simulator = await startSimulator(mqttUrl, DOMAIN);
    imported = await startImportedDevices(mqttUrl, DOMAIN);
    const devices = [...simulator.devices, ...imported.devices];
    await waitFor(() => devices.every((d) => b.registry.byJid(d.jid)?.online), 'the simulated devices did not come online');
    await subscribeDemoUser(prosody, password, devices);
    await waitFor(() => devices.every((d) => b.kernel.stores.presenceRequests.get(d.jid, DEMO_USER) === 'granted'), 'the demo user did not share presence with the devices');

    const tls = makeCertificate(join(dir, 'prosody', 'certs'));
    if (tls) {
      // Wait for the bridge to be back on the restarted server before saying it runs: until then Prosody answers
      // for the devices with remote-server-timeout.
      const back = reconnected(b);
      await prosody.stop();
      prosody = await startProsody({ ...prosodyOpts, tls });
      await back;
    }
    printInstructions({
      prosody,
      shown,
      password,
      tls: tls !== undefined,
      mqttUrl,
      ws: b.addresses().websocket ?? '',
      devices,
      dir,
      created,
      exposed: !isLoopback(listen),
      statusUrl: b.httpUrl ?? '',
      statusToken,
    });
  } catch (err) {
    console.error(`demo failed: ${(err as Error).message}`);
    await cleanup();
    return 3;
  }

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  console.log('\nStopping…');
  await cleanup();
  return 0;
}

/**
 * The shipped example mappings, each inviting the demo user: a device that appears while the demo runs asks to be in
 * the demo user's roster.
 */
function demoMappings(dir: string): string {
  const out = join(dir, 'mappings');
  mkdirSync(out, { recursive: true });
  const shipped = join(packageRoot(), 'mappings');
  for (const file of readdirSync(shipped).filter((f) => /\.ya?ml$/.test(f))) {
    const doc = parse(readFileSync(join(shipped, file), 'utf8')) as { mappings: Record<string, unknown>[] };
    for (const m of doc.mappings) m['invite'] = [DEMO_USER];
    writeFileSync(join(out, file), stringify(doc));
  }
  return out;
}

/** Resolves once the bridge's link has gone offline and come back online (after the server it is attached to restarted). */
function reconnected(bridge: Bridge): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the bridge did not reconnect to the restarted Prosody')), RECONNECT_TIMEOUT_MS);
    timer.unref();
    bridge.link.once('offline', () =>
      bridge.link.once('online', () => {
        clearTimeout(timer);
        resolve();
      }),
    );
  });
}

/** The well-known port if it is free (clients find the server without settings), else any free port. */
function preferPort(port: number, host: string): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(freePort(host)));
    s.listen(port, host, () => s.close(() => resolve(port)));
  });
}

async function waitFor(cond: () => boolean, failure: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(failure);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Log in as the demo user once, name the devices in the roster, subscribe to each (the bridge approves) and approve
 * each device's request for the demo user's presence, as a person's client would.
 */
async function subscribeDemoUser(prosody: ProsodyInstance, password: string, devices: readonly SimulatedDevice[]): Promise<void> {
  const at = prosody.listen === '0.0.0.0' ? LOOPBACK : prosody.listen;
  const c = xmppClient({ service: `xmpp://${at}:${prosody.c2sPort}`, domain: prosody.host, username: 'demo', password, resource: 'demo-setup' });
  c.on('error', () => undefined);
  c.reconnect.stop();
  await c.start();
  try {
    const pending = new Set(devices.map((d) => d.jid));
    const approved = new Promise<void>((resolve) => {
      c.on('stanza', (el: Element) => {
        if (el.name !== 'presence') return;
        const from = (el.attrs['from'] ?? '').split('/')[0]!;
        if (el.attrs['type'] === 'subscribe') void c.send(xml('presence', { to: from, type: 'subscribed' }));
        if (el.attrs['type'] === 'subscribed') pending.delete(from);
        if (pending.size === 0) resolve();
      });
    });
    await c.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
    await c.send(xml('presence'));
    for (const d of devices) {
      await c.iqCaller.request(xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:roster' }, xml('item', { jid: d.jid, name: d.name }, xml('group', {}, 'Devices')))));
      await c.send(xml('presence', { to: d.jid, type: 'subscribe' }));
    }
    await Promise.race([approved, new Promise((_, reject) => setTimeout(() => reject(new Error('subscriptions were not approved')), 10_000).unref())]);
  } finally {
    await c.stop().catch(() => undefined);
  }
}

/** A self-signed certificate for STARTTLS, or undefined (plain connections only) when openssl is missing. */
function makeCertificate(dir: string): { certFile: string; keyFile: string } | undefined {
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, 'localhost.crt');
  const keyFile = join(dir, 'localhost.key');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '30', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], {
      stdio: 'ignore',
    });
    return { certFile, keyFile };
  } catch {
    return undefined;
  }
}

/** The address other machines on the network reach this one at: the first non-internal IPv4 address. */
export function lanAddress(interfaces: NodeJS.Dict<readonly { address: string; family: string | number; internal: boolean }[]>): string | undefined {
  for (const list of Object.values(interfaces)) {
    for (const a of list ?? []) if (!a.internal && (a.family === 'IPv4' || a.family === 4)) return a.address;
  }
  return undefined;
}

export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address === 'localhost';
}

function printInstructions(o: {
  prosody: ProsodyInstance;
  shown: string;
  password: string;
  tls: boolean;
  mqttUrl: string;
  ws: string;
  devices: readonly SimulatedDevice[];
  dir: string;
  created: boolean;
  exposed: boolean;
  statusUrl: string;
  statusToken: string;
}): void {
  const mqttPort = new URL(o.mqttUrl).port;
  const mqtt = `-h ${o.shown} -p ${mqttPort}`;
  const port = o.prosody.c2sPort;
  const warning = o.exposed
    ? `
WARNING: the demo listens on the network. Anyone who can reach ${o.shown} can log in as demo@${HOST} with the password
below and publish to the MQTT broker without credentials. Stop it (Ctrl-C) when you are done.
`
    : '';
  console.log(`
mqtt-xmpp-bridge demo is running.
${warning}
Log in with any XMPP client (Gajim, Dino, Conversations, Psi+, Profanity…):
  account   demo@${HOST}
  password  ${o.password}
  server    ${o.shown}, port ${port}${port === 5222 && !o.exposed ? ' (the standard port: most clients find it by themselves)' : ' (set it in the client\'s advanced/connection settings)'}
  ${o.tls ? 'security  STARTTLS with a self-signed certificate made for this demo: accept it when the client asks' : 'security  none (openssl was not found): allow plain-text connections in the client'}
${o.exposed ? `  Conversations on a phone: Settings → Expert settings → "Extended connection settings", then enter ${o.shown} and ${port} as host and port.\n` : ''}
Watch the bridge in a browser on this machine (live status page, metrics, preview):
  status    ${o.statusUrl}
  token     ${o.statusToken}   (the page asks for it once; scripts send it as "Authorization: Bearer …")

Your roster already holds the demo devices, each with its own JID; its status line shows its latest reading:
${o.devices.map((d) => `  ${d.jid.padEnd(30)} ${d.name}: ${d.what}`).join('\n')}

Things to try:
  - Watch the climate sensors: one message a day each, corrected in place as the values change (XEP-0308), so the
    chat stays one line; log out for a while and log in again: you get the current value, not a backlog.
  - Switch the kettle: write "on" or "off" to plug-kettle@${DOMAIN}; it answers when the plug confirms.
  - Unplug the kettle: its presence goes offline when the broker publishes its MQTT Will; then plug it back in:
      mosquitto_pub ${mqtt} -t ${UNPLUG_TOPIC} -m off
      mosquitto_pub ${mqtt} -t ${UNPLUG_TOPIC} -m on
  - Add a sensor of your own: it appears as a new device and asks to join your roster; accept, and it shows you
    its reading:
      mosquitto_pub ${mqtt} -i climate-home-garage -t sensors/home/garage/telemetry -m '{"temperature":12.5,"humidity":80}'
  - Send an invalid reading and watch the bridge refuse it on its event topic:
      mosquitto_sub ${mqtt} -t 'mqtt-xmpp-bridge/bridge/#' -v
      mosquitto_pub ${mqtt} -t sensors/home/garage/telemetry -m '{"temperature":"warm"}'
  - Ask a device what it is: service discovery (disco#info), its vCard, or its PubSub node "readings".
  - The Zigbee2MQTT and ESPHome devices were imported from what they publish about themselves, without a mapping:
      mosquitto_sub ${mqtt} -t 'zigbee2mqtt/bridge/devices' -t 'homeassistant/#' -v

MQTT broker: mqtt://${o.shown}:${mqttPort} (WebSocket: ${o.ws}); anonymous access is enabled for the simulated devices.
Logs: ${join(o.dir, 'bridge.log')}, ${o.prosody.logFile}${o.created ? ' (removed on exit)' : ''}
Press Ctrl-C to stop everything.`);
}
