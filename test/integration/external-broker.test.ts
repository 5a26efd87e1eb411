/**
 * The bridge attached to an existing broker (a private Mosquitto 2.0) as an MQTT client, with the embedded broker
 * disabled — once over MQTT 3.1.1 and once over MQTT 5: readings, availability from retained availability topics and
 * Wills, commands and their confirmation, retained replay, a persistent session across a bridge outage, the bridge's
 * state topic, and broker authentication. Then both brokers side by side: commands go back the way a device came.
 *
 * Every wait is on an observable event: an XMPP stanza, an MQTT message, or one of the bridge's own
 * `<base>/bridge/event` messages, which the bridge publishes on Mosquitto as it handles device traffic. The bridge
 * reaches Mosquitto through a TCP relay, so one test can cut its connection as a network failure would.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import { Bridge } from '../../src/app.js';
import { loadSetup } from '../../src/load.js';
import { createLogger } from '../../src/log.js';
import { startMosquitto, type MosquittoInstance } from '../../src/servers/mosquitto.js';
import { freePort } from '../../src/servers/ports.js';
import {
  closeMqtt,
  isMessageFrom,
  isPresenceFrom,
  jsonOf,
  mqttClient,
  removeDir,
  ROOT,
  SHIPPED_SCHEMAS,
  startBridge,
  startTestServer,
  writeBridgeConfig,
  type RunningBridge,
  type TestServer,
  type XmppUser,
} from './harness.js';

const MAPPINGS = join(ROOT, 'test/fixtures/external/mappings');
const DOMAIN = 'iot.localhost';
const STATE = 'mqtt-xmpp-bridge/bridge/state';
const EVENT = 'mqtt-xmpp-bridge/bridge/event';
const NS_COMMAND = 'urn:mqtt-xmpp-bridge:command:0';
const NS_JSON = 'urn:xmpp:json:0';
const NS_ITEMS = 'http://jabber.org/protocol/disco#items';

type Version = 4 | 5;

interface Received {
  readonly topic: string;
  readonly payload: string;
  readonly retain: boolean;
  readonly qos: number;
}

/** An MQTT client that records every message, with waits for the next (or any) matching one. */
class Recorder {
  readonly messages: Received[] = [];
  private waiters: { pred: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];

  constructor(readonly client: MqttClient) {
    client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
      const m: Received = { topic, payload: payload.toString('utf8'), retain: packet.retain, qos: packet.qos };
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true));
    });
  }

  /** The first matching message from now on. Register it before the action that causes the message. */
  next(pred: (m: Received) => boolean, what: string, timeoutMs = 10_000): Promise<Received> {
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (m: Received): void => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        const seen = this.messages.slice(-10).map((m) => `${m.topic} ${m.payload}`);
        reject(new Error(`no MQTT message: ${what} within ${timeoutMs} ms; last seen:\n${seen.join('\n')}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** The next bridge event of a type whose data matches, e.g. device_availability of one JID. */
  nextEvent(type: string, data: Record<string, unknown>, timeoutMs = 10_000): Promise<Received> {
    return this.next(
      (m) => {
        if (m.topic !== EVENT) return false;
        const e = JSON.parse(m.payload) as { type: string; data: Record<string, unknown> };
        return e.type === type && Object.entries(data).every(([k, v]) => e.data[k] === v);
      },
      `bridge event ${type} ${JSON.stringify(data)}`,
      timeoutMs,
    );
  }

  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }
}

/** A device's view of one fresh subscription to `topic`: the retained message the broker replays, if any. */
async function retainedOn(url: string, topic: string, opts: IClientOptions = {}): Promise<Received> {
  const c = new Recorder(await mqttClient(url, { clean: true, ...opts }));
  try {
    const got = c.next((m) => m.topic === topic, `the retained message on ${topic}`);
    await c.client.subscribeAsync(topic, { qos: 1 });
    return await got;
  } finally {
    await c.client.endAsync();
  }
}

function iqCommand(to: string, name: string, json: string): Element {
  return xml('iq', { type: 'set', to }, xml('command', { xmlns: NS_COMMAND, name }, xml('json', { xmlns: NS_JSON }, json)));
}

function bodies(user: XmppUser, jid: string): (string | null)[] {
  return user.received(isMessageFrom(jid)).map((m) => m.getChildText('body'));
}

/** A plug as real ones behave: a Will on its availability topic, obeys `set` and reports its new state. */
interface Plug {
  readonly recorder: Recorder;
  readonly client: MqttClient;
  /** Publishes the retained `online` on its availability topic. */
  online(): Promise<void>;
}

async function plug(url: string, name: string, opts: IClientOptions = {}): Promise<Plug> {
  const availability = `plugs/${name}/availability`;
  const client = await mqttClient(url, {
    clientId: `plug-${name}`,
    will: { topic: availability, payload: Buffer.from('offline'), qos: 1, retain: true },
    ...opts,
  });
  const recorder = new Recorder(client);
  await client.subscribeAsync(`plugs/${name}/set`, { qos: 1 });
  client.on('message', (topic, payload) => {
    if (topic !== `plugs/${name}/set`) return;
    const cmd = JSON.parse(payload.toString()) as { state: string };
    void client.publishAsync(`plugs/${name}/state`, JSON.stringify({ state: cmd.state, power: cmd.state === 'ON' ? 1850 : 0 }), { qos: 1 }).catch(() => undefined);
  });
  return {
    recorder,
    client,
    online: async () => {
      await client.publishAsync(availability, 'online', { qos: 1, retain: true });
    },
  };
}

/**
 * A TCP relay between the bridge and Mosquitto, so a test can cut the bridge's connection the way a network failure
 * does (no DISCONNECT: Mosquitto publishes the bridge's Will) while both ends keep running.
 */
class TcpRelay {
  private readonly sockets = new Set<Socket>();
  private constructor(private readonly server: Server) {}

  static async start(host: string, port: number): Promise<TcpRelay> {
    const server = createServer();
    const relay = new TcpRelay(server);
    server.on('connection', (inbound) => {
      const outbound = connect({ host, port });
      for (const [a, b] of [[inbound, outbound], [outbound, inbound]] as const) {
        relay.sockets.add(a);
        a.pipe(b);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          relay.sockets.delete(a);
          b.destroy();
        });
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return relay;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Destroys every relayed connection; new ones are still accepted. */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function externalConfig(url: string, version: Version, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { mqtt: { embedded: { enabled: false }, external: { url, clientId: `bridge-v${version}`, protocolVersion: version, ...extra } } };
}

describe('external broker: the bridge attached to Mosquitto as an MQTT client', function () {
  this.timeout(60_000);
  let server: TestServer;
  let alice: XmppUser;
  let watcher: XmppUser;

  before(async function () {
    server = await startTestServer();
    alice = await server.user('alice');
    watcher = await server.user('watcher'); // listed in the climate mapping's notify.jids: receives every reading
  });

  after(async function () {
    await server?.stop();
  });

  for (const version of [4, 5] as const) {
    describe(`MQTT ${version === 4 ? '3.1.1' : '5.0'} (protocolVersion ${version}), embedded broker disabled`, function () {
      const KETTLE = `plug-kettle${version}@${DOMAIN}`;
      const LAMP = `plug-lamp${version}@${DOMAIN}`;
      const ATTIC = `v${version}-attic@${DOMAIN}`;
      const CELLAR = `v${version}-cellar@${DOMAIN}`;
      let mosquitto: MosquittoInstance;
      /** The bridge reaches Mosquitto through it; devices and probes connect directly. */
      let relay: TcpRelay;
      let run: RunningBridge | undefined;
      let dir: string | undefined;
      /** Sees the bridge's topics and every command published on Mosquitto. */
      let probe: Recorder;
      let lamp: Plug;
      let kettle: Plug;
      const clients: MqttClient[] = [];
      const device = async (clientId: string, opts: IClientOptions = {}): Promise<MqttClient> => {
        const c = await mqttClient(mosquitto.url, { clientId, protocolVersion: version, ...opts });
        clients.push(c);
        return c;
      };

      before(async function () {
        mosquitto = await startMosquitto();
        relay = await TcpRelay.start(mosquitto.listen, mosquitto.port);
        // Before the bridge exists: a retained reading (old state) and a plug whose retained availability says online.
        const early = await mqttClient(mosquitto.url, { clientId: `early-v${version}`, protocolVersion: version });
        await early.publishAsync(`sensors/v${version}/attic/telemetry`, '{"temperature":5.5,"humidity":61}', { qos: 1, retain: true });
        await early.endAsync();
        lamp = await plug(mosquitto.url, `lamp${version}`, { protocolVersion: version });
        clients.push(lamp.client);
        await lamp.online();

        probe = new Recorder(await device(`probe-v${version}`));
        await probe.client.subscribeAsync(['mqtt-xmpp-bridge/bridge/#', 'plugs/+/set'], { qos: 1 });
        const online = probe.next((m) => m.topic === STATE && m.payload === 'online', 'bridge state online');
        const atticKnown = probe.nextEvent('device_added', { jid: ATTIC });
        const lampOnline = probe.nextEvent('device_availability', { jid: LAMP, online: true });
        run = await startBridge({ server, mappings: [MAPPINGS], schemas: [SHIPPED_SCHEMAS], config: externalConfig(relay.url, version) });
        dir = run.dir;
        // The bridge subscribes right after its CONNACK and publishes its state after that, on the same connection:
        // once the state is seen, Mosquitto has the bridge's subscriptions.
        await online;
        await atticKnown;
        await lampOnline;
      });

      after(async function () {
        await closeMqtt(...clients);
        await run?.stop();
        await relay?.close();
        await mosquitto?.removeDir();
        if (dir) removeDir(dir);
      });

      it('delivers a device reading to a subscribed user: body and the JSON text byte for byte (XEP-0335)', async function () {
        kettle = await plug(mosquitto.url, `kettle${version}`, { protocolVersion: version });
        clients.push(kettle.client);
        const known = probe.nextEvent('device_availability', { jid: KETTLE, online: true, reason: 'availability-topic' });
        await kettle.online();
        await known;
        const available = alice.waitFor(isPresenceFrom(KETTLE, undefined), 'kettle available after approval');
        assert.equal((await alice.subscribe(KETTLE)).attrs['type'], 'subscribed');
        await available;

        const json = '{"state": "OFF",  "power": 12.5}';
        const reading = alice.waitFor(isMessageFrom(KETTLE), 'the kettle reading');
        await kettle.client.publishAsync(`plugs/kettle${version}/state`, json, { qos: 1 });
        const m = await reading;
        assert.equal(m.attrs['type'], 'chat');
        assert.equal(m.attrs['to']?.split('/')[0], 'alice@localhost');
        assert.equal(m.getChildText('body'), 'OFF, 12.5 W');
        assert.equal(m.getChildText('json', NS_JSON), json);
        assert.deepEqual(jsonOf(m), { state: 'OFF', power: 12.5 });
      });

      it('relays an IQ command to the device through Mosquitto and answers with the device\'s confirming state echo', async function () {
        const json = '{ "state" : "ON" }';
        const got = kettle.recorder.next((m) => m.topic === `plugs/kettle${version}/set`, 'the command at the kettle');
        const seen = probe.next((m) => m.topic === `plugs/kettle${version}/set`, 'the command on Mosquitto');
        const echoed = alice.waitFor(isMessageFrom(KETTLE, (m) => m.getChildText('body') === 'ON, 1850.0 W'), 'the state echo as a reading');
        const reply = await alice.iq(iqCommand(KETTLE, 'set', json));
        const atDevice = await got;
        assert.equal(atDevice.payload, json, 'the device receives the command text byte for byte');
        assert.equal(atDevice.qos, 1);
        assert.equal(atDevice.retain, false);
        assert.equal(reply.attrs['type'], 'result', reply.toString());
        const cmd = reply.getChild('command', NS_COMMAND)!;
        assert.deepEqual({ ...cmd.attrs }, { xmlns: NS_COMMAND, name: 'set', status: 'confirmed', topic: `plugs/kettle${version}/set` });
        assert.equal(cmd.getChildText('json', NS_JSON), '{"state":"ON","power":1850}');
        assert.equal((await seen).payload, json);
        await echoed;
        assert.deepEqual(probe.on(`plugs/kettle${version}/set`).map((m) => m.payload), [json], 'published exactly once');
      });

      it('shows a device online from its retained availability and offline through the Will Mosquitto publishes', async function () {
        // The lamp said `online` (retained) before the bridge started: the replay on subscribe made it known and online.
        const available = alice.waitFor(isPresenceFrom(LAMP, undefined), 'lamp available');
        assert.equal((await alice.subscribe(LAMP)).attrs['type'], 'subscribed');
        await available;

        const gone = alice.waitFor(isPresenceFrom(LAMP, 'unavailable'), 'lamp unavailable through its Will');
        const willSeen = probe.nextEvent('device_availability', { jid: LAMP, online: false, reason: 'availability-topic' });
        lamp.client.stream.destroy(); // no DISCONNECT: Mosquitto publishes the Will
        assert.equal((await gone).getChildText('status'), 'reported offline');
        await willSeen;
        const retained = await retainedOn(mosquitto.url, `plugs/lamp${version}/availability`, { protocolVersion: version });
        assert.deepEqual([retained.payload, retained.retain], ['offline', true], 'the Will was published retained');

        // Back again: a new connection publishes `online`.
        const back = alice.waitFor(isPresenceFrom(LAMP, undefined), 'lamp available again');
        lamp = await plug(mosquitto.url, `lamp${version}`, { protocolVersion: version });
        clients.push(lamp.client);
        await lamp.online();
        await back;
      });

      it('does not send a retained reading replayed on subscribe as a message, but knows the device (disco#items)', async function () {
        // The attic's retained reading was replayed when the bridge subscribed (before() waited for the device).
        assert.equal(run!.bridge.metrics.get('readings_replayed_total'), 1);
        const items = await alice.iq(xml('iq', { type: 'get', to: DOMAIN }, xml('query', { xmlns: NS_ITEMS })));
        const listed = items
          .getChild('query', NS_ITEMS)!
          .getChildren('item')
          .map((i) => [i.attrs['jid'], i.attrs['name']]);
        assert.deepEqual(
          listed.find(([jid]) => jid === ATTIC),
          [ATTIC, `attic climate (v${version})`],
        );
        // A live reading afterwards: Mosquitto replayed the retained one first, on the same connection, so had the
        // replay been delivered it would arrive before this one.
        const attic = await device(`attic-v${version}`);
        const live = watcher.waitFor(isMessageFrom(ATTIC), 'the live attic reading');
        await attic.publishAsync(`sensors/v${version}/attic/telemetry`, '{"temperature":6.25,"humidity":60}', { qos: 1 });
        assert.equal((await live).getChildText('body'), '6.3 °C, 60 % RH');
        assert.deepEqual(bodies(watcher, ATTIC), ['6.3 °C, 60 % RH'], 'the replayed 5.5 °C never became a message');
      });

      it('says `online` again on its state topic after reconnecting from a lost connection (its Will said `offline`)', async function () {
        const will = probe.next((m) => m.topic === STATE && m.payload === 'offline', 'the bridge\'s Will (offline)');
        const attached = probe.nextEvent('broker_attached', {});
        const online = probe.next((m) => m.topic === STATE && m.payload === 'online', 'bridge state online after the reconnect', 15_000);
        relay.cut(); // a network failure: Mosquitto publishes the bridge's Will
        await will;
        await attached; // the bridge is back (it retries every 2 s) and serving
        await online;
        const state = await retainedOn(mosquitto.url, STATE, { protocolVersion: version });
        assert.deepEqual([state.payload, state.retain], ['online', true]);
      });

      it('keeps QoS 1 readings in the persistent session while the bridge is away and delivers all of them, in order', async function () {
        const cellar = await device(`cellar-v${version}`);
        const first = watcher.waitFor(isMessageFrom(CELLAR), 'the first cellar reading');
        await cellar.publishAsync(`sensors/v${version}/cellar/telemetry`, '{"temperature":10,"humidity":50}', { qos: 1 });
        await first;
        assert.equal((await alice.subscribe(CELLAR)).attrs['type'], 'subscribed');

        const stopped = probe.next((m) => m.topic === STATE && m.payload === 'offline', 'bridge state offline');
        await run!.stop();
        run = undefined;
        await stopped;

        // Three QoS 1 readings while the bridge is away; the last one retained, as many devices publish their state.
        const topic = `sensors/v${version}/cellar/telemetry`;
        const sent = ['{"temperature":11,"humidity":51}', '{"temperature":12,"humidity":52}', '{"temperature":13,"humidity":53}'];
        await cellar.publishAsync(topic, sent[0]!, { qos: 1 });
        await cellar.publishAsync(topic, sent[1]!, { qos: 1 });
        await cellar.publishAsync(topic, sent[2]!, { qos: 1, retain: true });
        const before = alice.received(isMessageFrom(CELLAR)).length;
        const online = probe.next((m) => m.topic === STATE && m.payload === 'online', 'bridge state online again');

        run = await startBridge({ server, dir: dir!, mappings: [MAPPINGS], schemas: [SHIPPED_SCHEMAS], config: externalConfig(relay.url, version) });
        await online; // the bridge's subscriptions are in place (see before())
        // Mosquitto sends the queued messages, then — for the re-subscription — the retained one again, flagged
        // retained. A live reading after those closes the sequence: nothing before it may be missing or doubled.
        const live = '{"temperature":14,"humidity":54}';
        const last = alice.waitFor(isMessageFrom(CELLAR, (m) => m.getChildText('json', NS_JSON) === live), 'the live reading after the restart');
        await cellar.publishAsync(topic, live, { qos: 1 });
        await last;
        const after = alice.received(isMessageFrom(CELLAR)).slice(before);
        assert.deepEqual(
          after.map((m) => m.getChildText('json', NS_JSON)),
          [...sent, live],
        );
        assert.deepEqual(
          after.map((m) => m.getChildText('body')),
          ['11.0 °C, 51 % RH', '12.0 °C, 52 % RH', '13.0 °C, 53 % RH', '14.0 °C, 54 % RH'],
        );
        assert.equal(run.bridge.metrics.get('readings_total'), 4, 'the queued readings count as readings, not as replays');
      });

      it('keeps its state topic: `online` (retained) while it runs, `offline` (retained) after a clean stop', async function () {
        const running = await retainedOn(mosquitto.url, STATE, { protocolVersion: version });
        assert.deepEqual([running.payload, running.retain], ['online', true]);

        const offline = probe.next((m) => m.topic === STATE && m.payload === 'offline', 'bridge state offline on stop');
        await run!.stop();
        run = undefined;
        assert.equal((await offline).retain, false, 'a live message for an existing subscription');
        const stopped = await retainedOn(mosquitto.url, STATE, { protocolVersion: version });
        assert.deepEqual([stopped.payload, stopped.retain], ['offline', true]);
      });

      describe('Mosquitto with users', function () {
        let secured: MosquittoInstance;
        const USERS = { bridge: 'bridge-secret', sensor: 'sensor-secret' };
        const dirs: string[] = [];

        before(async function () {
          secured = await startMosquitto({ users: USERS });
        });

        after(async function () {
          await secured?.removeDir();
          for (const d of dirs) removeDir(d);
        });

        it('authenticates with mqtt.external.username / password', async function () {
          const GARAGE = `v${version}-garage@${DOMAIN}`;
          const secure = await startBridge({
            server,
            mappings: [MAPPINGS],
            schemas: [SHIPPED_SCHEMAS],
            config: externalConfig(secured.url, version, { username: 'bridge', password: USERS.bridge }),
          });
          dirs.push(secure.dir);
          try {
            const state = await retainedOn(secured.url, STATE, { protocolVersion: version, username: 'sensor', password: USERS.sensor });
            assert.equal(state.payload, 'online');
            const garage = await mqttClient(secured.url, { clientId: `garage-v${version}`, protocolVersion: version, username: 'sensor', password: USERS.sensor });
            clients.push(garage);
            const reading = watcher.waitFor(isMessageFrom(GARAGE), 'the garage reading over the secured broker');
            await garage.publishAsync(`sensors/v${version}/garage/telemetry`, '{"temperature":7,"humidity":70}', { qos: 1 });
            assert.equal((await reading).getChildText('body'), '7.0 °C, 70 % RH');
          } finally {
            await secure.stop();
          }
        });

        // Mosquitto 2.0.11 answers both with "not authorized": CONNACK return code 5 (3.1.1), reason code 135 (5.0) —
        // not 4 / 134 "bad user name or password".
        for (const [label, credentials] of [
          ['a wrong password', { username: 'bridge', password: 'not-the-password' }],
          ['no credentials', {}],
        ] as const) {
          it(`fails to start with a clear error given ${label}`, async function () {
            const { dir: d, configFile } = writeBridgeConfig({ server, mappings: [MAPPINGS], schemas: [SHIPPED_SCHEMAS], config: externalConfig(secured.url, version, credentials) });
            dirs.push(d);
            const setup = loadSetup(configFile, {});
            const log = createLogger({ level: 'debug', destination: join(d, 'bridge.log') });
            const bridge = new Bridge(setup, log);
            try {
              const t0 = Date.now();
              await assert.rejects(bridge.start(), { message: `the MQTT broker at ${secured.url} refused the bridge: Connection refused: Not authorized` });
              assert.ok(Date.now() - t0 < 5000, 'refused at the first CONNACK, not after retries');
            } finally {
              await bridge.stop();
              log.flush();
            }
          });
        }
      });
    });
  }

  describe('both brokers side by side: embedded (aedes) and external (Mosquitto)', function () {
    const INDOOR = `plug-indoor@${DOMAIN}`;
    const OUTDOOR = `plug-outdoor@${DOMAIN}`;
    let mosquitto: MosquittoInstance;
    let run: RunningBridge | undefined;
    let embeddedUrl: string;
    const clients: MqttClient[] = [];

    before(async function () {
      mosquitto = await startMosquitto();
      // The bridge's addresses() merges both sides, so the embedded broker's port is fixed here to be known.
      const port = await freePort('127.0.0.1');
      embeddedUrl = `mqtt://127.0.0.1:${port}`;
      run = await startBridge({
        server,
        mappings: [MAPPINGS],
        schemas: [SHIPPED_SCHEMAS],
        config: { mqtt: { embedded: { enabled: true, port, websocket: { enabled: false } }, external: { url: mosquitto.url, clientId: 'bridge-both' } } },
      });
    });

    after(async function () {
      await closeMqtt(...clients);
      await run?.stop();
      await mosquitto?.removeDir();
      if (run) removeDir(run.dir);
    });

    it('sends each device\'s commands back through the broker it came from, and only there', async function () {
      const probeOut = new Recorder(await mqttClient(mosquitto.url, { clientId: 'probe-outdoor' }));
      const probeIn = new Recorder(await mqttClient(embeddedUrl, { clientId: 'probe-indoor' }));
      clients.push(probeOut.client, probeIn.client);
      await probeOut.client.subscribeAsync(['plugs/+/set', EVENT], { qos: 1 });
      await probeIn.client.subscribeAsync(['plugs/+/set'], { qos: 1 });

      const indoor = await plug(embeddedUrl, 'indoor');
      const outdoor = await plug(mosquitto.url, 'outdoor');
      clients.push(indoor.client, outdoor.client);
      // The bridge publishes its events on both brokers; the Mosquitto probe sees both devices come online.
      const inOnline = probeOut.nextEvent('device_availability', { jid: INDOOR, online: true });
      const outOnline = probeOut.nextEvent('device_availability', { jid: OUTDOOR, online: true });
      await indoor.online();
      await outdoor.online();
      await inOnline;
      await outOnline;

      const command = async (jid: string, name: string, probe: Recorder, dev: Plug, json: string): Promise<void> => {
        const atDevice = dev.recorder.next((m) => m.topic === `plugs/${name}/set`, `the command at ${name}`);
        const atProbe = probe.next((m) => m.topic === `plugs/${name}/set`, `the command for ${name} on its broker`);
        const reply = await alice.iq(iqCommand(jid, 'set', json));
        assert.equal(reply.attrs['type'], 'result', reply.toString());
        assert.equal(reply.getChild('command', NS_COMMAND)!.attrs['status'], 'confirmed');
        assert.equal((await atDevice).payload, json);
        assert.equal((await atProbe).payload, json);
      };
      await command(INDOOR, 'indoor', probeIn, indoor, '{"state":"ON"}');
      await command(OUTDOOR, 'outdoor', probeOut, outdoor, '{"state":"OFF"}');
      // A last one on the embedded broker: each broker delivers a publisher's messages in order, so by now each probe
      // has seen anything the bridge might have published on the wrong broker before.
      await command(INDOOR, 'indoor', probeIn, indoor, '{"state":"OFF"}');

      assert.deepEqual(
        probeIn.messages.filter((m) => m.topic.endsWith('/set')).map((m) => `${m.topic} ${m.payload}`),
        ['plugs/indoor/set {"state":"ON"}', 'plugs/indoor/set {"state":"OFF"}'],
      );
      assert.deepEqual(
        probeOut.messages.filter((m) => m.topic.endsWith('/set')).map((m) => `${m.topic} ${m.payload}`),
        ['plugs/outdoor/set {"state":"OFF"}'],
      );
    });
  });
});
