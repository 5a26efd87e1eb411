/**
 * TLS end to end: MQTT over TLS and WebSocket over TLS on the embedded broker (mqtt.js, mosquitto_pub), certificate
 * reload without restart, client certificates as device identities, and the XEP-0114 component over direct TLS
 * (xmpps://) to an ejabberd whose component listener requires it.
 *
 * Every certificate is made at test time with openssl in a temp dir (deleted afterwards): a CA, a server certificate
 * for 127.0.0.1/localhost, device certificates for plug-kettle and plug-lamp, a second CA with its own server
 * certificate (the reload), and a foreign CA whose client certificate also says CN=plug-kettle.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import xml from '@xmpp/xml';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { Bridge } from '../../src/app.js';
import { loadSetup } from '../../src/load.js';
import { createLogger } from '../../src/log.js';
import { ComponentLink } from '../../src/xmpp/component.js';
import { startEjabberdTestServer, type EjabberdTestServer } from './ejabberd-harness.js';
import {
  closeMqtt,
  isMessageFrom,
  jsonOf,
  mqttClient,
  nextMqttMessage,
  removeDir,
  requireCommand,
  startBridge,
  startTestServer,
  type RunningBridge,
  type TestServer,
  writeBridgeConfig,
  type XmppUser,
} from './harness.js';

const execFileAsync = promisify(execFile);
const KETTLE = 'plug-kettle@iot.localhost';
const LAMP = 'plug-lamp@iot.localhost';
const EVENT_TOPIC = 'mqtt-xmpp-bridge/bridge/event';

// ---------------------------------------------------------------------------------------------------------------
// Certificates

interface Pair {
  readonly cert: string;
  readonly key: string;
}

interface Pki {
  readonly dir: string;
  readonly ca: Pair;
  readonly server: Pair;
  readonly kettle: Pair;
  readonly lamp: Pair;
  /** Another CA and a server certificate signed by it: what the listener is switched to in the reload test. */
  readonly ca2: Pair;
  readonly server2: Pair;
  /** A CA the bridge does not trust, and a client certificate from it that claims CN=plug-kettle. */
  readonly foreignCa: Pair;
  readonly foreign: Pair;
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  await execFileAsync('openssl', args, { cwd });
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string): Promise<Pair> {
  await openssl(dir, [
    'req', '-x509', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name} (mqtt-xmpp-bridge tests)`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

async function issue(dir: string, ca: Pair, name: string, cn: string, kind: 'server' | 'client'): Promise<Pair> {
  await openssl(dir, ['req', '-new', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  const ext =
    kind === 'server'
      ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
      : 'extendedKeyUsage=clientAuth\n';
  writeFileSync(join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n${ext}`);
  await openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`,
  ]);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

async function makePki(): Promise<Pki> {
  const dir = mkdtempSync(join(tmpdir(), 'mxb-pki-'));
  const ca = await makeCa(dir, 'ca');
  const ca2 = await makeCa(dir, 'ca2');
  const foreignCa = await makeCa(dir, 'foreign-ca');
  return {
    dir,
    ca,
    server: await issue(dir, ca, 'server', 'localhost', 'server'),
    kettle: await issue(dir, ca, 'kettle', 'plug-kettle', 'client'),
    lamp: await issue(dir, ca, 'lamp', 'plug-lamp', 'client'),
    ca2,
    server2: await issue(dir, ca2, 'server2', 'localhost', 'server'),
    foreignCa,
    foreign: await issue(dir, foreignCa, 'foreign', 'plug-kettle', 'client'),
  };
}

function fingerprintOf(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}

/** Replace `file` the way editors and certbot do: write a new file, rename it over the old one. */
function replaceFile(file: string, content: Buffer | string): void {
  const tmp = `${file}.new-${randomBytes(3).toString('hex')}`;
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}

// ---------------------------------------------------------------------------------------------------------------
// Clients

/** A bare TLS handshake with the listener: the fingerprint of the certificate it presented, or the error. */
function tlsHandshake(port: number, ca: string): Promise<{ fingerprint256: string } | { error: Error }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(ca) });
    socket.once('secureConnect', () => {
      const fingerprint256 = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve({ fingerprint256 });
    });
    socket.once('error', (error: Error) => {
      socket.destroy();
      resolve({ error });
    });
  });
}

type Attempt = { connected: true; client: MqttClient } | { connected: false; error: (Error & { code?: unknown }) | undefined };

/** An MQTT connection attempt that may fail: at the TLS handshake, with a CONNACK refusal, or by a closed socket. */
function tryMqtt(url: string, opts: IClientOptions): Promise<Attempt> {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    let error: (Error & { code?: unknown }) | undefined;
    c.once('connect', () => {
      c.on('error', () => undefined);
      resolve({ connected: true, client: c });
    });
    c.on('error', (err) => {
      error ??= err;
    });
    c.once('close', () => {
      if (c.connected) return;
      c.end(true);
      resolve({ connected: false, error });
    });
  });
}

function tlsOptions(ca: string, client?: Pair): IClientOptions {
  return {
    ca: readFileSync(ca),
    rejectUnauthorized: true,
    ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
  };
}

/** Resolves once `client` has lost its connection. */
function closed(client: MqttClient, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!client.connected) return resolve();
    const timer = setTimeout(() => reject(new Error(`${client.options.clientId} still connected after ${timeoutMs} ms`)), timeoutMs);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Waits until `check` holds (checked every 50 ms), for counters updated after an event the test cannot see. */
async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const hasPower = (power: number) => (m: Parameters<typeof jsonOf>[0]) => (jsonOf(m) as { power?: unknown } | undefined)?.power === power;

function secureAddresses(run: RunningBridge): { mqtts: string; wss: string | undefined; port: number } {
  const a = run.bridge.addresses() as { mqtts?: string; wss?: string };
  assert.ok(a.mqtts, `no mqtts address in ${JSON.stringify(a)}`);
  return { mqtts: a.mqtts, wss: a.wss, port: Number(new URL(a.mqtts).port) };
}

/** A bridge whose TLS listener asks for client certificates (`required` or `optional`); anonymous access off. */
function startClientCertBridge(server: TestServer, pki: Pki, clientCertificates: 'required' | 'optional'): Promise<RunningBridge> {
  return startBridge({
    server,
    config: {
      mqtt: {
        embedded: {
          allowAnonymous: false,
          tls: { enabled: true, port: 0, certFile: pki.server.cert, keyFile: pki.server.key, caFile: pki.ca.cert, clientCertificates },
        },
      },
    },
  });
}

// ---------------------------------------------------------------------------------------------------------------

describe('TLS', function () {
  let pki: Pki;

  before(async function () {
    requireCommand('openssl', 'sudo apt-get install -y openssl');
    requireCommand('mosquitto_pub', 'sudo apt-get install -y mosquitto-clients');
    pki = await makePki();
  });

  after(function () {
    if (pki) removeDir(pki.dir);
  });

  describe('MQTT over TLS and WebSocket over TLS, certificate reload', function () {
    let server: TestServer;
    let run: RunningBridge;
    let alice: XmppUser;
    let observer: MqttClient;
    let device: MqttClient;
    /** The listener's files: copies, so the reload test can replace them. */
    let certFile: string;
    let keyFile: string;
    let mqtts: string;
    let wss: string;
    let tlsPort: number;

    before(async function () {
      certFile = join(pki.dir, 'listener.crt');
      keyFile = join(pki.dir, 'listener.key');
      writeFileSync(certFile, readFileSync(pki.server.cert));
      writeFileSync(keyFile, readFileSync(pki.server.key));
      server = await startTestServer();
      run = await startBridge({
        server,
        config: { mqtt: { embedded: { tls: { enabled: true, port: 0, websocketPort: 0, certFile, keyFile } } } },
      });
      const a = secureAddresses(run);
      mqtts = a.mqtts;
      tlsPort = a.port;
      assert.ok(a.wss, 'no wss address');
      wss = a.wss;
      assert.match(mqtts, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
      assert.match(wss, /^wss:\/\/127\.0\.0\.1:\d+\/mqtt$/);
      alice = await server.user('alice');
      observer = await mqttClient(run.mqttUrl, { clientId: 'observer' });
      await observer.subscribeAsync(EVENT_TOPIC);
      device = await mqttClient(mqtts, { clientId: 'tls-kettle', ...tlsOptions(pki.ca.cert) });
      // The first reading makes the device known (registered before the PUBACK); then alice subscribes to it.
      await device.publishAsync('plugs/kettle/state', '{"state":"OFF","power":0}', { qos: 1 });
      assert.equal((await alice.subscribe(KETTLE)).attrs['type'], 'subscribed');
    });

    after(async function () {
      await closeMqtt(device, observer);
      await run?.stop();
      await server?.stop();
      if (run) removeDir(run.dir);
    });

    it('(a) takes a reading from mqtt.js over mqtts:// (trusting the CA) to the XMPP user', async function () {
      await device.publishAsync('plugs/kettle/state', '{"state":"ON","power":11}', { qos: 1 });
      const msg = await alice.waitForAny(isMessageFrom(KETTLE, hasPower(11)), 'the mqtts reading');
      assert.equal(msg.getChildText('body'), 'ON, 11.0 W');
    });

    it('(b) takes a reading from mosquitto_pub --cafile', async function () {
      await execFileAsync('mosquitto_pub', [
        '--cafile', pki.ca.cert, '-h', '127.0.0.1', '-p', String(tlsPort), '-i', 'mosq-tls-pub', '-q', '1',
        '-t', 'plugs/kettle/state', '-m', '{"state":"ON","power":12}',
      ]);
      await alice.waitForAny(isMessageFrom(KETTLE, hasPower(12)), 'the mosquitto_pub reading');
    });

    it('(c) is really TLS: a client that does not trust the CA, and plain MQTT on the TLS port, get no CONNACK', async function () {
      const event = nextMqttMessage(observer, EVENT_TOPIC, (p) => p.toString().includes('"tls_handshake_failed"'));
      const untrusting = await tryMqtt(mqtts, { clientId: 'no-ca', rejectUnauthorized: true });
      assert.equal(untrusting.connected, false);
      assert.match(String(untrusting.connected ? '' : untrusting.error?.message), /certificate/i);
      const plain = await tryMqtt(`mqtt://127.0.0.1:${tlsPort}`, { clientId: 'plain-on-tls' });
      assert.equal(plain.connected, false);
      const e = JSON.parse((await event).toString()) as { type: string; data: { remote: string; reason: string } };
      assert.match(e.data.remote, /^127\.0\.0\.1:\d+$/);
    });

    it('(d) takes a reading from mqtt.js over wss://', async function () {
      const ws = await mqttClient(wss, { clientId: 'wss-kettle', ...tlsOptions(pki.ca.cert) });
      try {
        await ws.publishAsync('plugs/kettle/state', '{"state":"ON","power":13}', { qos: 1 });
        await alice.waitForAny(isMessageFrom(KETTLE, hasPower(13)), 'the wss reading');
      } finally {
        await closeMqtt(ws);
      }
    });

    it('(e) reloads a replaced certificate and key without a restart; connections made before keep working', async function () {
      const wssPort = Number(new URL(wss).port);
      const before = await tlsHandshake(tlsPort, pki.ca.cert);
      assert.deepEqual(before, { fingerprint256: fingerprintOf(pki.server.cert) });

      const reloaded = nextMqttMessage(observer, EVENT_TOPIC, (p) => p.toString().includes('"tls_reloaded"'));
      // Key first, then the certificate: in between the pair does not match, which must not break anything.
      replaceFile(keyFile, readFileSync(pki.server2.key));
      replaceFile(certFile, readFileSync(pki.server2.cert));
      const event = JSON.parse((await reloaded).toString()) as { data: { fingerprint256: string; previousFingerprint256: string } };
      assert.equal(event.data.fingerprint256, fingerprintOf(pki.server2.cert));
      assert.equal(event.data.previousFingerprint256, fingerprintOf(pki.server.cert));

      // New handshakes, on both listeners, present the new certificate; the old CA no longer verifies it.
      assert.deepEqual(await tlsHandshake(tlsPort, pki.ca2.cert), { fingerprint256: fingerprintOf(pki.server2.cert) });
      assert.deepEqual(await tlsHandshake(wssPort, pki.ca2.cert), { fingerprint256: fingerprintOf(pki.server2.cert) });
      assert.ok('error' in (await tlsHandshake(tlsPort, pki.ca.cert)), 'the old CA still verifies the listener');

      // The connection made before the reload is still up and delivers.
      assert.ok(device.connected);
      await device.publishAsync('plugs/kettle/state', '{"state":"ON","power":14}', { qos: 1 });
      await alice.waitForAny(isMessageFrom(KETTLE, hasPower(14)), 'the reading on the connection made before the reload');
      // A device trusting only the new CA connects, over TLS and over WSS.
      const fresh = await mqttClient(mqtts, { clientId: 'tls-kettle-2', ...tlsOptions(pki.ca2.cert) });
      const freshWs = await mqttClient(wss, { clientId: 'wss-kettle-2', ...tlsOptions(pki.ca2.cert) });
      try {
        await fresh.publishAsync('plugs/kettle/state', '{"state":"ON","power":15}', { qos: 1 });
        await alice.waitForAny(isMessageFrom(KETTLE, hasPower(15)), 'the reading from a device trusting the new CA');
      } finally {
        await closeMqtt(fresh, freshWs);
      }
    });

    it('(e) keeps the current certificate when the new files cannot be used', async function () {
      const failed = nextMqttMessage(observer, EVENT_TOPIC, (p) => p.toString().includes('"tls_reload_failed"'));
      replaceFile(certFile, 'not a certificate\n');
      const event = JSON.parse((await failed).toString()) as { data: { error: string } };
      assert.match(event.data.error, /listener\.crt/);
      assert.deepEqual(await tlsHandshake(tlsPort, pki.ca2.cert), { fingerprint256: fingerprintOf(pki.server2.cert) });
      // A usable pair again (the first one): reloaded.
      const reloaded = nextMqttMessage(observer, EVENT_TOPIC, (p) => p.toString().includes('"tls_reloaded"'));
      replaceFile(keyFile, readFileSync(pki.server.key));
      replaceFile(certFile, readFileSync(pki.server.cert));
      const again = JSON.parse((await reloaded).toString()) as { data: { fingerprint256: string; previousFingerprint256: string } };
      assert.equal(again.data.fingerprint256, fingerprintOf(pki.server.cert));
      assert.equal(again.data.previousFingerprint256, fingerprintOf(pki.server2.cert));
      assert.deepEqual(await tlsHandshake(tlsPort, pki.ca.cert), { fingerprint256: fingerprintOf(pki.server.cert) });
    });
  });

  describe('client certificates required (anonymous off)', function () {
    let server: TestServer;
    let run: RunningBridge;
    let alice: XmppUser;
    let kettle: MqttClient | undefined;
    let lamp: MqttClient | undefined;
    let mqtts: string;

    before(async function () {
      server = await startTestServer();
      run = await startClientCertBridge(server, pki, 'required');
      mqtts = secureAddresses(run).mqtts;
      alice = await server.user('alice');
    });

    after(async function () {
      await closeMqtt(kettle, lamp);
      await run?.stop();
      await server?.stop();
      if (run) removeDir(run.dir);
    });

    it('(f) identifies a device by its certificate (no password): it publishes its own topics, which reach XMPP', async function () {
      kettle = await mqttClient(mqtts, { clientId: 'plug-kettle', ...tlsOptions(pki.ca.cert, pki.kettle) });
      lamp = await mqttClient(mqtts, { clientId: 'plug-lamp', ...tlsOptions(pki.ca.cert, pki.lamp) });
      await kettle.publishAsync('plugs/kettle/availability', 'online', { qos: 1 });
      await kettle.publishAsync('plugs/kettle/state', '{"state":"OFF","power":0}', { qos: 1 });
      await lamp.publishAsync('plugs/lamp/state', '{"state":"OFF","power":0}', { qos: 1 });
      assert.equal((await alice.subscribe(KETTLE)).attrs['type'], 'subscribed');
      assert.equal((await alice.subscribe(LAMP)).attrs['type'], 'subscribed');
      await kettle.publishAsync('plugs/kettle/state', '{"state":"ON","power":21}', { qos: 1 });
      await alice.waitForAny(isMessageFrom(KETTLE, hasPower(21)), 'the reading of the certificate-identified kettle');
    });

    it('(f) closes the connection of a device publishing on another device\'s topic; nothing reaches XMPP as that device', async function () {
      assert.ok(kettle && lamp);
      const denied = run.bridge.metrics.get('broker_events_total', 'publish_denied');
      const gone = closed(kettle);
      kettle.publish('plugs/lamp/state', '{"state":"ON","power":999}', { qos: 1 });
      await gone;
      await eventually(() => run.bridge.metrics.get('broker_events_total', 'publish_denied') === denied + 1, 'publish_denied counted');
      // A reading of the lamp itself after the refused one: had the refused one been taken, it would have come first.
      await lamp.publishAsync('plugs/lamp/state', '{"state":"ON","power":22}', { qos: 1 });
      await alice.waitForAny(isMessageFrom(LAMP, hasPower(22)), 'the lamp\'s own reading');
      assert.equal(alice.received(isMessageFrom(LAMP, hasPower(999))).length, 0);
    });

    it('(f) refuses at the handshake a certificate from another CA (even with the right CN), and no certificate', async function () {
      const foreign = await tryMqtt(mqtts, { clientId: 'plug-kettle', ...tlsOptions(pki.ca.cert, pki.foreign) });
      assert.equal(foreign.connected, false);
      const none = await tryMqtt(mqtts, { clientId: 'plug-kettle', ...tlsOptions(pki.ca.cert) });
      assert.equal(none.connected, false);
      // Neither got as far as MQTT: no CONNACK return code.
      for (const a of [foreign, none]) assert.ok(!a.connected && a.error?.code !== 5 && a.error?.code !== 4, String(!a.connected && a.error));
    });

    it('(f) refuses (CONNACK 5) a username that differs from the certificate', async function () {
      const a = await tryMqtt(mqtts, { clientId: 'plug-kettle-2', username: 'plug-lamp', password: 'x', ...tlsOptions(pki.ca.cert, pki.kettle) });
      assert.equal(a.connected, false);
      assert.equal(!a.connected && a.error?.code, 5);
    });
  });

  describe('client certificates optional (anonymous off)', function () {
    let server: TestServer;
    let run: RunningBridge;
    let mqtts: string;

    before(async function () {
      server = await startTestServer();
      run = await startClientCertBridge(server, pki, 'optional');
      mqtts = secureAddresses(run).mqtts;
    });

    after(async function () {
      await run?.stop();
      await server?.stop();
      if (run) removeDir(run.dir);
    });

    it('(f) refuses with CONNACK 5 a client with neither certificate nor credentials', async function () {
      const a = await tryMqtt(mqtts, { clientId: 'nobody', ...tlsOptions(pki.ca.cert) });
      assert.equal(a.connected, false);
      assert.equal(!a.connected && a.error?.code, 5);
    });

    it('(f) ignores a certificate it cannot verify (CONNACK 5), and accepts a verified one', async function () {
      const foreign = await tryMqtt(mqtts, { clientId: 'plug-kettle', ...tlsOptions(pki.ca.cert, pki.foreign) });
      assert.equal(foreign.connected, false);
      assert.equal(!foreign.connected && foreign.error?.code, 5);
      const kettle = await mqttClient(mqtts, { clientId: 'plug-kettle', ...tlsOptions(pki.ca.cert, pki.kettle) });
      try {
        // The PUBACK comes only once the publish is authorized and taken.
        await kettle.publishAsync('plugs/kettle/state', '{"state":"ON","power":31}', { qos: 1 });
      } finally {
        await closeMqtt(kettle);
      }
    });
  });

  describe('component over direct TLS (xmpps://) to ejabberd', function () {
    let server: EjabberdTestServer;
    let xmpps: string;

    before(async function () {
      server = await startEjabberdTestServer({ componentTls: { certFile: pki.server.cert, keyFile: pki.server.key } });
      xmpps = `xmpps://${server.ejabberd.listen}:${server.ejabberd.componentPort}`;
    });

    after(async function () {
      await server?.stop();
    });

    it('(g) the component listener speaks TLS with the configured certificate', async function () {
      assert.deepEqual(await tlsHandshake(server.ejabberd.componentPort, pki.ca.cert), { fingerprint256: fingerprintOf(pki.server.cert) });
    });

    it('(g) a link without the CA does not connect (the server certificate is verified)', async function () {
      const lines: string[] = [];
      const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
      const link = new ComponentLink({ service: xmpps, domain: server.domain, secret: server.secret, log, initialDelayMs: 60_000 });
      void link.start().catch(() => undefined);
      try {
        await eventually(() => lines.some((l) => l.includes('XMPP server connection failed')), 'a failed connection attempt');
        const line = lines.find((l) => l.includes('XMPP server connection failed'))!;
        assert.match(line, /certificate/i);
        assert.equal(link.online, false);
      } finally {
        await link.stop();
      }
    });

    it('(g) a link with the CA goes online and its stanzas reach an ejabberd user', async function () {
      const alice = await server.user('alice');
      const link = new ComponentLink({ service: xmpps, domain: server.domain, secret: server.secret, log: pino({ level: 'silent' }), ca: readFileSync(pki.ca.cert) });
      try {
        await link.start();
        assert.equal(link.online, true);
        const got = alice.waitFor((s) => s.name === 'message' && s.getChildText('body') === 'over TLS', 'the message over the TLS component link');
        assert.equal(link.send(xml('message', { from: `probe@${server.domain}`, to: 'alice@localhost', type: 'chat' }, xml('body', {}, 'over TLS'))), true);
        await got;
      } finally {
        await link.stop();
      }
    });

    it('(g) the bridge with xmpp.service xmpps:// and xmpp.caFile delivers readings to an ejabberd user', async function () {
      // Built here rather than with startBridge(), which waits for the link without a limit: a bridge that never
      // gets online must still be stopped.
      const { dir, configFile } = writeBridgeConfig({ server, config: { xmpp: { service: xmpps, caFile: pki.ca.cert } } });
      const log = createLogger({ level: 'debug', destination: join(dir, 'bridge.log') });
      const bridge = new Bridge(loadSetup(configFile, {}), log);
      let device: MqttClient | undefined;
      try {
        await bridge.start();
        await withTimeout(bridge.ready(), 20_000, 'the component online over xmpps:// (is xmpp.caFile passed to the ComponentLink as `ca`?)');
        const alice = await server.user('alice2');
        device = await mqttClient(bridge.addresses().mqtt!, { clientId: 'kettle' });
        await device.publishAsync('plugs/kettle/state', '{"state":"OFF","power":0}', { qos: 1 });
        assert.equal((await alice.subscribe(KETTLE)).attrs['type'], 'subscribed');
        await device.publishAsync('plugs/kettle/state', '{"state":"ON","power":41}', { qos: 1 });
        await alice.waitForAny(isMessageFrom(KETTLE, hasPower(41)), 'the reading over the xmpps component link');
      } finally {
        await closeMqtt(device);
        await bridge.stop();
        log.flush();
        removeDir(dir);
      }
    });
  });
});
