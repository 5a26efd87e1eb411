/**
 * `mqtt-xmpp-bridge demo`: a private Prosody, the bridge with the example mappings, simulated devices over real
 * MQTT, and a demo account whose roster already holds the devices — then instructions for logging in with any
 * XMPP client. Everything lives in one directory and stops on Ctrl-C.
 *
 * Prosody first runs without TLS so that the demo itself can log in as the demo user and subscribe to the devices
 * (xmpp.js would refuse the self-signed certificate); it is then restarted with STARTTLS for human clients, most of
 * which insist on encryption.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { client as xmppClient } from '@xmpp/client';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { stringify } from 'yaml';
import { Bridge } from '../app.js';
import { loadSetup } from '../load.js';
import { createLogger } from '../log.js';
import { freePort } from '../servers/ports.js';
import { PROSODY_INSTALL_HINT, prosodyBinary, startProsody, type ProsodyInstance, type ProsodyOptions } from '../servers/prosody.js';
import { packageRoot } from '../version.js';
import { demoImportConfig, startImportedDevices } from './imported.js';
import { startSimulator, type SimulatedDevice, type Simulator } from './simulator.js';

const HOST = 'localhost';
const DOMAIN = 'iot.localhost';
const LISTEN = '127.0.0.1';

export async function runDemo(opts: { dir?: string }): Promise<number> {
  if (!prosodyBinary()) {
    console.error(`The demo runs a private Prosody, which is not installed. Install it with:\n\n  ${PROSODY_INSTALL_HINT}\n`);
    return 1;
  }
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
      c2sPort: await preferPort(5222),
      componentPort: await freePort(LISTEN),
      s2sPort: await freePort(LISTEN),
    };
    const prosodyOpts: ProsodyOptions = { dir: join(dir, 'prosody'), host: HOST, listen: LISTEN, ...ports, components: [{ domain: DOMAIN, secret }] };
    console.log('Starting a private Prosody…');
    prosody = await startProsody(prosodyOpts);
    await prosody.register('demo', password);

    const mqttPort = await preferPort(1883);
    const httpPort = await preferPort(8080);
    const wsPort = await preferPort(8083);
    const configFile = join(dir, 'bridge.yaml');
    writeFileSync(
      configFile,
      stringify({
        dataDir: join(dir, 'bridge-data'),
        mappings: [join(packageRoot(), 'mappings')],
        schemas: [join(packageRoot(), 'schemas')],
        log: { level: 'info', file: join(dir, 'bridge.log') },
        // The simulated devices connect without credentials; a real deployment should not.
        mqtt: { embedded: { host: LISTEN, port: mqttPort, websocket: { host: LISTEN, port: wsPort }, allowAnonymous: true } },
        xmpp: { service: `xmpp://${LISTEN}:${ports.componentPort}`, domain: DOMAIN, secret },
        // The status page, on loopback; commands sent from it go out as the demo user.
        http: { enabled: true, host: LISTEN, port: httpPort, token: statusToken },
        operator: { jid: `demo@${HOST}` },
        // Devices that describe themselves (docs/IMPORT.md): no mapping names them.
        import: demoImportConfig(HOST),
      }),
      { mode: 0o600 },
    );
    const setup = loadSetup(configFile, {});
    const log = createLogger({ level: 'info', destination: join(dir, 'bridge.log') });
    bridge = new Bridge(setup, log);
    console.log('Starting the bridge…');
    await bridge.start();
    await bridge.ready();
    const mqttUrl = bridge.addresses().mqtt!;

    console.log('Starting simulated devices…');
    simulator = await startSimulator(mqttUrl, DOMAIN);
    imported = await startImportedDevices(mqttUrl, DOMAIN);
    const devices = [...simulator.devices, ...imported.devices];
    await waitForDevices(bridge, devices);
    await subscribeDemoUser(prosody, password, devices);

    const tls = makeCertificate(join(dir, 'prosody', 'certs'));
    if (tls) {
      await prosody.stop();
      prosody = await startProsody({ ...prosodyOpts, tls });
      await bridge.ready(); // the component reconnects by itself
    }
    printInstructions({ prosody, password, tls: tls !== undefined, mqttUrl, ws: bridge.addresses().websocket ?? '', devices, dir, created, statusUrl: bridge.httpUrl ?? '', statusToken });
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

/** The well-known port if it is free (clients find the server without settings), else any free port. */
function preferPort(port: number): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(freePort(LISTEN)));
    s.listen(port, LISTEN, () => s.close(() => resolve(port)));
  });
}

async function waitForDevices(bridge: Bridge, devices: readonly SimulatedDevice[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!devices.every((d) => bridge.registry.byJid(d.jid)?.online)) {
    if (Date.now() > deadline) throw new Error('the simulated devices did not come online');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Log in as the demo user once, name the devices in the roster and subscribe to each (the bridge approves). */
async function subscribeDemoUser(prosody: ProsodyInstance, password: string, devices: readonly SimulatedDevice[]): Promise<void> {
  const c = xmppClient({ service: `xmpp://${prosody.listen}:${prosody.c2sPort}`, domain: prosody.host, username: 'demo', password, resource: 'demo-setup' });
  c.on('error', () => undefined);
  c.reconnect.stop();
  await c.start();
  try {
    const pending = new Set(devices.map((d) => d.jid));
    const approved = new Promise<void>((resolve) => {
      c.on('stanza', (el: Element) => {
        if (el.name === 'presence' && el.attrs['type'] === 'subscribed') pending.delete((el.attrs['from'] ?? '').split('/')[0]!);
        if (pending.size === 0) resolve();
      });
    });
    await c.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
    for (const d of devices) {
      await c.iqCaller.request(xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:roster' }, xml('item', { jid: d.jid, name: d.name }, xml('group', {}, 'Devices')))));
      await c.send(xml('presence', { to: d.jid, type: 'subscribe' }));
    }
    await Promise.race([approved, new Promise((_, reject) => setTimeout(() => reject(new Error('subscriptions were not approved')), 10_000))]);
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

function printInstructions(o: {
  prosody: ProsodyInstance;
  password: string;
  tls: boolean;
  mqttUrl: string;
  ws: string;
  devices: readonly SimulatedDevice[];
  dir: string;
  created: boolean;
  statusUrl: string;
  statusToken: string;
}): void {
  const mqtt = new URL(o.mqttUrl);
  const port = o.prosody.c2sPort;
  console.log(`
mqtt-xmpp-bridge demo is running.

Log in with any XMPP client (Gajim, Dino, Conversations, Psi+, Profanity…):
  account   demo@${HOST}
  password  ${o.password}
  server    ${LISTEN}, port ${port}${port === 5222 ? ' (the standard port: most clients find it by themselves)' : ' (set it in the client\'s advanced/connection settings)'}
  ${o.tls ? 'security  STARTTLS with a self-signed certificate made for this demo: accept it when the client asks' : 'security  none (openssl was not found): allow plain-text connections in the client'}

Watch the bridge in a browser (live status page, metrics, preview):
  status    ${o.statusUrl}
  token     ${o.statusToken}   (the page asks for it once; scripts send it as "Authorization: Bearer …")

Your roster already holds the demo devices, each with its own JID and presence:
${o.devices.map((d) => `  ${d.jid.padEnd(30)} ${d.name}: ${d.what}`).join('\n')}

Things to try:
  - Watch readings arrive as chat messages from each device (the JSON payload rides along for programs).
  - Unplug a device: its presence goes offline when its MQTT Will fires:
      the plug's availability comes from plugs/kettle/availability
  - Add a sensor of your own (it appears as a new device; subscribe to home-garage@${DOMAIN}):
      mosquitto_pub -h ${mqtt.hostname} -p ${mqtt.port} -i climate-home-garage -t sensors/home/garage/telemetry -m '{"temperature":12.5,"humidity":80}'
  - Send an invalid reading and watch the bridge refuse it on its event topic:
      mosquitto_sub -h ${mqtt.hostname} -p ${mqtt.port} -t 'mqtt-xmpp-bridge/bridge/#' -v
      mosquitto_pub -h ${mqtt.hostname} -p ${mqtt.port} -t sensors/home/garage/telemetry -m '{"temperature":"warm"}'
  - Ask a device what it is: service discovery (disco#info) on any device JID.
  - The Zigbee2MQTT and ESPHome devices were imported from what they publish about themselves, without a mapping:
      mosquitto_sub -h ${mqtt.hostname} -p ${mqtt.port} -t 'zigbee2mqtt/bridge/devices' -t 'homeassistant/#' -v

MQTT broker: ${o.mqttUrl} (WebSocket: ${o.ws}); anonymous access is enabled for the simulated devices.
Logs: ${join(o.dir, 'bridge.log')}, ${o.prosody.logFile}${o.created ? ' (removed on exit)' : ''}
Press Ctrl-C to stop everything.`);
}
