/**
 * Secure by default: MQTT authentication and per-device authorization derived from the mappings, brute-force
 * slowdown, per-JID command rate limits, the audit log, the credential CLI, and secrets kept out of logs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import mqtt, { MqttClient } from 'mqtt';
import { openDatabase, type Db } from '../../src/store/db.js';
import { CredentialStore } from '../../src/store/credentials.js';
import { CONNACK_ACCEPTED, connectPacket, openSocket, publishPacket } from '../support/mqtt-bytes.js';
import { closeMqtt, exitOf, isMessageFrom, mqttClient, removeDir, spawnCli, startBridge, startTestServer, type RunningBridge, type TestServer, type XmppUser } from './harness.js';

/**
 * A CONNECT and its outcome: the CONNACK return code (0 = accepted) and the time it took. `from`: the local source
 * address (any of 127.0.0.0/8 reaches the broker on 127.0.0.1), to stand for clients on different hosts.
 */
async function tryConnect(url: string, opts: mqtt.IClientOptions, from?: string): Promise<{ code: number; ms: number; client?: MqttClient }> {
  const t0 = performance.now();
  const options = { reconnectPeriod: 0, connectTimeout: 20_000, ...opts };
  const u = new URL(url);
  const c = from === undefined ? mqtt.connect(url, options) : new MqttClient(() => connect({ host: u.hostname, port: Number(u.port), localAddress: from }), options);
  return new Promise((resolve) => {
    c.once('connect', () => resolve({ code: 0, ms: performance.now() - t0, client: c }));
    c.once('error', (err: Error & { code?: number }) => {
      c.end(true);
      resolve({ code: err.code ?? -1, ms: performance.now() - t0 });
    });
  });
}

/** `p`, or a rejection naming `what` once `ms` have passed. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** SUBSCRIBE and the SUBACK return codes, one per filter (0x80 = refused); mqtt.js rejects on any refusal. */
async function subackCodes(c: MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await c.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted?: (number | { reasonCode?: number })[] } }).packet;
    if (!packet?.granted) throw err;
    return packet.granted.map((g) => (typeof g === 'number' ? g : (g.reasonCode ?? -1)));
  }
}

describe('security: devices authenticate, and each may speak only as itself', function () {
  this.timeout(60_000);
  let server: TestServer;
  let run: RunningBridge;
  let db: Db;
  let creds: CredentialStore;
  let alice: XmppUser;
  const passwords: Record<string, string> = {};
  const clients: MqttClient[] = [];

  before(async function () {
    server = await startTestServer();
    run = await startBridge({
      server,
      config: {
        // Every client of this suite comes from 127.0.0.1: the brute-force limit is exercised in its own suite below.
        mqtt: { embedded: { allowAnonymous: false, auth: { failureBurst: 100 } } },
        xmpp: { commandRate: { perMinute: 6, burst: 3 } },
        log: { level: 'trace' },
      },
    });
    // The credential store lives in the bridge's database; the CLI uses it the same way while the bridge runs.
    db = openDatabase(join(run.dir, 'data'));
    creds = new CredentialStore(db);
    for (const name of ['plug-kettle', 'plug-lamp']) passwords[name] = await creds.add(name, 'device');
    passwords['z2m'] = await creds.add('z2m', 'service', { publish: ['zigbee2mqtt/#'], subscribe: ['zigbee2mqtt/+/set'] });
    passwords['ops'] = await creds.add('ops', 'service', { publish: ['plugs/+/set'] });
    alice = await server.user('alice');
  });

  after(async function () {
    await closeMqtt(...clients);
    db?.close();
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  async function device(name: string, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
    const c = await mqttClient(run.mqttUrl, { clientId: name, username: name, password: passwords[name]!, ...extra });
    clients.push(c);
    return c;
  }

  it('refuses anonymous clients (CONNACK 5) and wrong passwords (CONNACK 4)', async function () {
    assert.equal((await tryConnect(run.mqttUrl, { clientId: 'anon' })).code, 5);
    assert.equal((await tryConnect(run.mqttUrl, { clientId: 'plug-kettle', username: 'plug-kettle', password: 'guess' })).code, 4);
    assert.equal((await tryConnect(run.mqttUrl, { clientId: 'x', username: 'nobody', password: 'guess' })).code, 4);
  });

  it('lets a device publish its own readings, and closes one that publishes as another device: nothing reaches XMPP as it', async function () {
    const lamp = await device('plug-lamp');
    await lamp.publishAsync('plugs/lamp/availability', 'online', { qos: 1, retain: true });
    assert.equal((await alice.subscribe('plug-lamp@iot.localhost')).attrs['type'], 'subscribed');
    const kettle = await device('plug-kettle');
    await kettle.publishAsync('plugs/kettle/state', '{"state":"ON","power":1}', { qos: 1 });

    const closed = new Promise<void>((resolve) => kettle.once('close', () => resolve()));
    kettle.publish('plugs/lamp/state', '{"state":"OFF","power":666}', { qos: 1 });
    await closed;
    // The lamp's own reading afterwards arrives; the forged one never did.
    await lamp.publishAsync('plugs/lamp/state', '{"state":"ON","power":7}', { qos: 1 });
    await alice.waitForAny(isMessageFrom('plug-lamp@iot.localhost', (m) => m.getChildText('body') === 'ON, 7.0 W'), "the lamp's own reading");
    assert.equal(alice.received(isMessageFrom('plug-lamp@iot.localhost', (m) => (m.getChildText('body') ?? '').includes('666'))).length, 0);
    assert.ok(run.bridge.metrics.get('broker_events_total', 'publish_denied') >= 1);
  });

  it('grants a device its own command topic and refuses another device\'s (SUBACK 0x80)', async function () {
    const lamp = await device('plug-lamp', { clientId: 'plug-lamp-2' });
    // Its own command topic; another device's; a wildcard that would cover both.
    assert.deepEqual(await subackCodes(lamp, ['plugs/lamp/set', 'plugs/kettle/set', 'plugs/+/set']), [1, 128, 128]);
  });

  it('refuses a device that takes the client id standing for another device (CONNACK 2, identifier rejected)', async function () {
    // climate-home-kitchen is the MQTT connection of home-kitchen (availability by client id).
    const r = await tryConnect(run.mqttUrl, { clientId: 'climate-home-kitchen', username: 'plug-kettle', password: passwords['plug-kettle']! });
    assert.equal(r.code, 2);
  });

  it("refuses another identity the client id of a live connection: the holder stays connected and its Will does not fire", async function () {
    const will = { topic: 'plugs/lamp/availability', payload: Buffer.from('offline'), qos: 1 as const, retain: true };
    const lamp = await device('plug-lamp', { clientId: 'lamp-live', will });
    let lampClosed = false;
    lamp.on('close', () => (lampClosed = true));
    await lamp.publishAsync('plugs/lamp/availability', 'online', { qos: 1, retain: true });
    const refused = run.bridge.metrics.get('broker_events_total', 'connection_refused');
    // plug-kettle's own, valid credentials; the lamp's client id.
    for (const clean of [false, true]) {
      const r = await tryConnect(run.mqttUrl, { clientId: 'lamp-live', clean, username: 'plug-kettle', password: passwords['plug-kettle']! });
      assert.equal(r.code, 2, `clean=${clean}: CONNACK 2 (identifier rejected)`);
    }
    // Reported as a bridge event (one per client id and 10 s window; the event's `count` carries both).
    assert.equal(run.bridge.metrics.get('broker_events_total', 'connection_refused'), refused + 1);
    // The lamp's connection was never touched: it still publishes, and its reading reaches alice.
    await lamp.publishAsync('plugs/lamp/state', '{"state":"ON","power":42}', { qos: 1 });
    await alice.waitForAny(isMessageFrom('plug-lamp@iot.localhost', (m) => m.getChildText('body') === 'ON, 42.0 W'), "the lamp's reading after the attempt");
    assert.equal(lampClosed, false, 'the holder was not disconnected');
    await closeMqtt(lamp);
  });

  it("refuses another identity the client id of a persistent session: its queued commands stay for the device", async function () {
    const first = await device('plug-lamp', { clientId: 'lamp-persistent', clean: false });
    assert.deepEqual(await subackCodes(first, ['plugs/lamp/set']), [1]);
    await first.endAsync();
    // A command published while the lamp is away is queued in its session (QoS 1).
    const ops = await device('ops');
    await ops.publishAsync('plugs/lamp/set', '{"state":"OFF"}', { qos: 1 });
    for (const clean of [false, true]) {
      const r = await tryConnect(run.mqttUrl, { clientId: 'lamp-persistent', clean, username: 'plug-kettle', password: passwords['plug-kettle']! });
      assert.equal(r.code, 2, `clean=${clean}: CONNACK 2 (identifier rejected)`);
    }
    // The lamp comes back: its session is there, with the command in it.
    const back = mqtt.connect(run.mqttUrl, { clientId: 'lamp-persistent', clean: false, username: 'plug-lamp', password: passwords['plug-lamp']!, reconnectPeriod: 0 });
    clients.push(back);
    const [sessionPresent, message] = await Promise.all([
      new Promise<boolean>((resolve) => back.once('connect', (connack) => resolve(connack.sessionPresent))),
      new Promise<string>((resolve) => back.once('message', (topic, payload) => resolve(`${topic} ${payload.toString()}`))),
    ]);
    assert.equal(sessionPresent, true);
    assert.equal(message, 'plugs/lamp/set {"state":"OFF"}');
  });

  it('gives service accounts the topic filters stored with them', async function () {
    const z2m = await device('z2m');
    await z2m.publishAsync('zigbee2mqtt/door/front/availability', '{"state":"online"}', { qos: 1 });
    assert.deepEqual(await subackCodes(z2m, ['zigbee2mqtt/lamp/set', 'plugs/kettle/set']), [1, 128]);
    const closed = new Promise<void>((resolve) => z2m.once('close', () => resolve()));
    z2m.publish('plugs/kettle/state', '{"state":"ON"}', { qos: 1 });
    await closed;
  });

  it('takes a new password at once when a credential is rotated', async function () {
    const old = passwords['plug-kettle']!;
    passwords['plug-kettle'] = await creds.rotate('plug-kettle');
    assert.equal((await tryConnect(run.mqttUrl, { clientId: 'plug-kettle', username: 'plug-kettle', password: old })).code, 4);
    const ok = await tryConnect(run.mqttUrl, { clientId: 'plug-kettle', username: 'plug-kettle', password: passwords['plug-kettle'] });
    assert.equal(ok.code, 0);
    await closeMqtt(ok.client);
  });

  it('holds what a client sends behind its CONNECT while its password is checked, and then routes all of it, even after the client has closed its side', async function () {
    // A client need not wait for the CONNACK (MQTT 3.1.1 §3.1.4); the publishes arrive while the password is hashed,
    // and the client's FIN right behind them must not cut them off [MQTT-3.1.4-5: processed once accepted].
    const watcher = await device('z2m', { clientId: 'z2m-watch' });
    const got: string[] = [];
    const topics = Array.from({ length: 100 }, (_, i) => `zigbee2mqtt/early-${i}/set`);
    const all = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${got.length} of ${topics.length} publishes routed within 10 s`)), 10_000);
      watcher.on('message', (topic) => {
        if (topic.includes('/early-')) got.push(topic);
        if (got.length === topics.length) resolve(clearTimeout(timer));
      });
    });
    await watcher.subscribeAsync('zigbee2mqtt/+/set');
    // A credential never used: its password is hashed (scrypt, off the event loop), not found among known ones.
    const password = await creds.add('z2m-early', 'service', { publish: ['zigbee2mqtt/#'] });
    const raw = await openSocket(run.mqttUrl);
    const answer = new Promise<string>((resolve) => {
      raw.once('data', (b: Buffer) => resolve(b.subarray(0, 4).toString('hex')));
      raw.once('close', () => resolve('closed without an answer'));
    });
    // One write and the FIN: the guard holds the publishes, the socket reads the end while the password is hashed.
    raw.end(Buffer.concat([connectPacket({ clientId: 'z2m-early', username: 'z2m-early', password }), ...topics.map((t) => publishPacket(t, '{"state":"ON"}', 0))]));
    assert.equal(await answer, CONNACK_ACCEPTED);
    await all;
    assert.deepEqual(got, topics);
  });

  it('limits commands per sender JID and records every command in the audit log', async function () {
    const send = (state: string) =>
      alice.iq(xml('iq', { type: 'set', to: 'plug-lamp@iot.localhost' }, xml('command', { xmlns: 'urn:mqtt-xmpp-bridge:command:0', name: 'set' }, xml('json', { xmlns: 'urn:xmpp:json:0' }, JSON.stringify({ state })))));
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await send(i % 2 ? 'ON' : 'OFF'));
    const conditions = replies.map((r) => (r.attrs['type'] === 'result' ? 'ok' : r.getChild('error')?.getChildElements()[0]?.name));
    // The burst of 3 passes the rate limit (the lamp is not connected: refused as offline); the 4th is refused at once
    // by the rate limit.
    assert.deepEqual(conditions, ['recipient-unavailable', 'recipient-unavailable', 'recipient-unavailable', 'resource-constraint']);
    type Entry = { sender: string; command: string; outcome: string; origin: string; count?: number };
    // The bridge commits audit entries in groups (at most 50 ms after the first): read until all 4 are there (bounded).
    let entries: Entry[] = [];
    for (const deadline = Date.now() + 10_000; entries.reduce((n, e) => n + (e.count ?? 1), 0) < 4 && Date.now() < deadline; ) {
      const cli = spawnCli(['audit', '--config', run.configFile, '--device', 'plug-lamp@iot.localhost', '--json']);
      assert.equal((await exitOf(cli, 10_000)).code, 0, cli.output());
      entries = cli
        .output()
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Entry);
    }
    // Every command is recorded; identical refusals share one entry with their count (a flood is one row).
    assert.deepEqual(
      entries.map((e) => [e.outcome, e.count ?? 1]),
      [
        ['RATE_LIMITED', 1],
        ['DEVICE_OFFLINE', 3],
      ],
    );
    assert.ok(entries.every((e) => e.sender === 'alice@localhost' && e.command === 'set' && e.origin === 'iq'));
  });

  it('keeps the component secret and device passwords out of the log, even at trace level', function () {
    const log = readFileSync(join(run.dir, 'bridge.log'), 'utf8');
    assert.ok(log.length > 1000, 'the log has content');
    assert.ok(!log.includes(server.secret), 'component secret in the log');
    for (const [name, pw] of Object.entries(passwords)) assert.ok(!log.includes(pw), `password of ${name} in the log`);
  });
});

describe('a held command waits for the device\'s own granted subscription', function () {
  this.timeout(60_000);
  let server: TestServer;
  let run: RunningBridge;
  let db: Db;
  let alice: XmppUser;
  const passwords: Record<string, string> = {};
  const clients: MqttClient[] = [];

  before(async function () {
    server = await startTestServer();
    run = await startBridge({ server, config: { mqtt: { embedded: { allowAnonymous: false } } } });
    db = openDatabase(join(run.dir, 'data'));
    const creds = new CredentialStore(db);
    passwords['display-hall'] = await creds.add('display-hall', 'device');
    // A monitoring account: it may read everything, and speaks for no device.
    passwords['monitor'] = await creds.add('monitor', 'service', { subscribe: ['#'] });
    alice = await server.user('alice');
  });

  after(async function () {
    await closeMqtt(...clients);
    db?.close();
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  it('is not released by a "#" subscriber nor by a refused SUBSCRIBE, and reaches the device once it subscribes', async function () {
    const monitor = await mqttClient(run.mqttUrl, { clientId: 'monitor', username: 'monitor', password: passwords['monitor']! });
    clients.push(monitor);
    assert.deepEqual(await subackCodes(monitor, ['#']), [1]);
    const login = { clientId: 'display-hall', username: 'display-hall', password: passwords['display-hall']! };
    // The display is known (it connected once) and now offline.
    await (await mqttClient(run.mqttUrl, login)).endAsync();

    const iq = xml('iq', { type: 'set', to: 'display-hall@iot.localhost', id: 'held-1' }, xml('command', { xmlns: 'urn:mqtt-xmpp-bridge:command:0', name: 'show' }, xml('json', { xmlns: 'urn:xmpp:json:0' }, '{"text":"held"}')));
    const answer = alice.waitFor((s) => s.name === 'iq' && s.attrs['id'] === 'held-1', 'the answer to the held command', 30_000);
    await alice.send(iq);
    await alice.iq(xml('iq', { type: 'get', to: 'iot.localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' }))); // the command has been taken

    // The display comes back (online by its client id) and first asks for a wildcard it may not have: refused.
    const display = await mqttClient(run.mqttUrl, login);
    clients.push(display);
    const received: string[] = [];
    display.on('message', (topic, payload) => received.push(`${topic} ${payload.toString()}`));
    assert.deepEqual(await subackCodes(display, ['displays/+/show']), [128]);
    assert.equal(alice.received((s) => s.attrs['id'] === 'held-1').length, 0, 'still held: nothing would reach the display');
    // Its own command topic, granted: the held command is published now, and the display receives it.
    const arrived = new Promise<void>((resolve) => display.once('message', () => resolve()));
    assert.deepEqual(await subackCodes(display, ['displays/hall/show']), [1]);
    await within(arrived, 10_000, 'held command at the display');
    assert.deepEqual(received, ['displays/hall/show {"text":"held"}']);
    assert.equal((await answer).attrs['type'], 'result');
  });
});

describe('brute-force logins', function () {
  this.timeout(60_000);
  const config = { mqtt: { embedded: { allowAnonymous: false, auth: { failureBurst: 3, failuresPerMinute: 1, maxDelayMs: 2000 } } } };
  let server: TestServer;
  let run: RunningBridge;
  let db: Db;
  const passwords: Record<string, string> = {};

  before(async function () {
    server = await startTestServer();
    run = await startBridge({ server, config });
    db = openDatabase(join(run.dir, 'data'));
    const creds = new CredentialStore(db);
    for (const name of ['plug-lamp', 'plug-kettle', 'target-a', 'target-b', 'home-dev', ...Array.from({ length: 10 }, (_, i) => `spray-${i}`)]) {
      passwords[name] = await creds.add(name, 'device');
    }
  });
  after(async function () {
    db?.close();
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  /** 50 CONNECTs at once; `pick(i)` gives the source address and username of the i-th. Returns the CONNACK codes. */
  async function burst(pick: (i: number) => { from: string; username: string }): Promise<number[]> {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => {
        const { from, username } = pick(i);
        return tryConnect(run.mqttUrl, { clientId: `guess-${i}`, username, password: `guess-${i}` }, from);
      }),
    );
    return results.map((r) => r.code);
  }
  const count = (codes: number[], c: number): number => codes.filter((x) => x === c).length;

  it('are slowed per source address and refused without hashing; a device known to be right still gets in', async function () {
    // plug-lamp logs in once, so its password is known to be right.
    const first = await tryConnect(run.mqttUrl, { clientId: 'plug-lamp', username: 'plug-lamp', password: passwords['plug-lamp'] });
    assert.equal(first.code, 0);
    await closeMqtt(first.client);
    const before = run.bridge.metrics.get('broker_events_total', 'login_failed');
    const times: number[] = [];
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await tryConnect(run.mqttUrl, { clientId: `guess-${i}`, username: 'plug-kettle', password: `guess-${i}` });
      times.push(r.ms);
      codes.push(r.code);
    }
    console.log(`      answers to 6 wrong guesses (ms): ${times.map((t) => Math.round(t)).join(', ')}; codes ${codes.join(', ')}`);
    // The burst of 3 is answered "bad credentials"; then the address is throttled: refused after a growing delay.
    assert.deepEqual(codes, [4, 4, 4, 5, 5, 5]);
    // Deliberate delays (not a performance measure): 250, 500, 1000 ms once the burst is used up.
    assert.ok(times[5]! >= 500, `the 6th guess was answered after ${times[5]} ms`);
    assert.equal(run.bridge.metrics.get('broker_events_total', 'login_failed'), before + 6);
    // A password that succeeded before still works from the throttled address (devices behind one NAT).
    const known = await tryConnect(run.mqttUrl, { clientId: 'plug-lamp', username: 'plug-lamp', password: passwords['plug-lamp'] });
    assert.equal(known.code, 0);
    await closeMqtt(known.client);
  });

  it('count each of 50 parallel guesses when it arrives: the burst is hashed, per address and per username', async function () {
    // One username from one address.
    const one = await burst(() => ({ from: '127.0.1.1', username: 'target-a' }));
    // One username from 50 addresses: the username's budget holds.
    const spread = await burst((i) => ({ from: `127.0.2.${i + 1}`, username: 'target-b' }));
    // Ten usernames from one address: the address's budget holds.
    const sprayed = await burst((i) => ({ from: '127.0.3.1', username: `spray-${i % 10}` }));
    console.log(
      `      hashed (CONNACK 4) of 50 parallel guesses: one username, one address ${count(one, 4)}; ` +
        `one username, 50 addresses ${count(spread, 4)}; 10 usernames, one address ${count(sprayed, 4)}; the rest refused unhashed (CONNACK 5)`,
    );
    for (const codes of [one, spread, sprayed]) {
      assert.equal(count(codes, 4), 3);
      assert.equal(count(codes, 5), 47);
    }
  });

  it("let a device in from the address it last logged in from, after someone else's bursts and a bridge restart", async function () {
    const login = { clientId: 'home-dev', username: 'home-dev', password: passwords['home-dev'] };
    const first = await tryConnect(run.mqttUrl, login, '127.0.4.1');
    assert.equal(first.code, 0);
    await closeMqtt(first.client);
    // A restart: nothing is remembered in memory, not even the password that worked.
    await run.stop();
    run = await startBridge({ server, config, dir: run.dir });
    // Bursts against the device's username from elsewhere, and against other usernames from its own address.
    await burst(() => ({ from: '127.0.4.2', username: 'home-dev' }));
    await burst((i) => ({ from: '127.0.4.1', username: `spray-${i % 10}` }));
    assert.equal((await tryConnect(run.mqttUrl, login, '127.0.4.3')).code, 5, 'from a new address the username is throttled');
    const home = await tryConnect(run.mqttUrl, login, '127.0.4.1');
    assert.equal(home.code, 0, 'from its own address the device gets in');
    await closeMqtt(home.client);
  });
});

describe('credential CLI', function () {
  this.timeout(60_000);
  let server: TestServer;
  let run: RunningBridge;

  before(async function () {
    server = await startTestServer();
    run = await startBridge({ server, config: { mqtt: { embedded: { allowAnonymous: false } } } });
  });
  after(async function () {
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  async function cli(...args: string[]): Promise<string> {
    const c = spawnCli([...args, '--config', run.configFile]);
    const { code } = await exitOf(c, 15_000);
    assert.equal(code, 0, c.output());
    return c.output();
  }

  it('adds, lists, rotates and removes credentials while the bridge runs', async function () {
    const added = await cli('device', 'add', 'plug-kettle');
    const password = /MQTT password: (\S+)/.exec(added)?.[1];
    assert.ok(password, added);
    const ok = await tryConnect(run.mqttUrl, { clientId: 'plug-kettle', username: 'plug-kettle', password });
    assert.equal(ok.code, 0);
    await closeMqtt(ok.client);
    await cli('device', 'add', 'gateway', '--service', '--publish', 'zigbee2mqtt/#');
    const list = await cli('device', 'list');
    assert.match(list, /^plug-kettle\s+device /m);
    assert.match(list, /^gateway\s+service .*publish: zigbee2mqtt\/#/m);
    assert.ok(!list.includes(password), 'list never shows passwords');
    const rotated = /New password for plug-kettle: (\S+)/.exec(await cli('device', 'rotate', 'plug-kettle'))?.[1];
    assert.ok(rotated && rotated !== password);
    assert.equal((await tryConnect(run.mqttUrl, { clientId: 'plug-kettle', username: 'plug-kettle', password })).code, 4);
    await cli('device', 'remove', 'plug-kettle');
    assert.equal((await tryConnect(run.mqttUrl, { clientId: 'plug-kettle', username: 'plug-kettle', password: rotated })).code, 4);
  });

  it('ends the sessions of a device whose credential the CLI rotates or removes, at once and for good', async function () {
    const password = /MQTT password: (\S+)/.exec(await cli('device', 'add', 'plug-lamp'))?.[1];
    assert.ok(password);
    const session = { clientId: 'lamp-cli', username: 'plug-lamp', clean: false };
    const connected = await tryConnect(run.mqttUrl, { ...session, password });
    assert.equal(connected.code, 0);
    const lamp = connected.client!;
    assert.deepEqual(await subackCodes(lamp, ['plugs/lamp/set']), [1]);
    const revoked = run.bridge.metrics.get('broker_events_total', 'session_revoked');

    // The CLI, another process, rotates the password: the connected lamp is disconnected.
    const closed = new Promise<void>((resolve) => lamp.once('close', () => resolve()));
    const rotated = /New password for plug-lamp: (\S+)/.exec(await cli('device', 'rotate', 'plug-lamp'))?.[1];
    assert.ok(rotated);
    await within(closed, 10_000, 'the lamp disconnected after "device rotate"');
    assert.equal(run.bridge.metrics.get('broker_events_total', 'session_revoked'), revoked + 1);
    assert.equal((await tryConnect(run.mqttUrl, { ...session, password })).code, 4, 'the old password is refused');
    // Its persistent session went with it: no subscription survives into the new login.
    const again = mqtt.connect(run.mqttUrl, { ...session, password: rotated, reconnectPeriod: 0 });
    const sessionPresent = await new Promise<boolean>((resolve, reject) => {
      again.once('connect', (connack) => resolve(connack.sessionPresent));
      again.once('error', reject);
    });
    assert.equal(sessionPresent, false, 'the revoked session was discarded');

    // Removing the credential ends the new connection too, and nobody logs in with it any more.
    const closedAgain = new Promise<void>((resolve) => again.once('close', () => resolve()));
    await cli('device', 'remove', 'plug-lamp');
    await within(closedAgain, 10_000, 'the lamp disconnected after "device remove"');
    assert.equal((await tryConnect(run.mqttUrl, { ...session, password: rotated })).code, 4);
    await closeMqtt(again);
  });
});
