/**
 * Fault injection: MQTT's delivery promise carried across XMPP server restarts and freezes and a bridge crash.
 * Each scenario counts exactly: every acknowledged QoS 1 reading must reach the XMPP user (duplicates are allowed by
 * the design and removed by stanza id, losses are not).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { waitForPort, freePort } from '../../src/servers/ports.js';
import type { ProsodyInstance } from '../../src/servers/prosody.js';
import type { FatalLinkError, ComponentLink } from '../../src/xmpp/component.js';
import { TcpRelay } from '../support/tcp-relay.js';
import {
  closeMqtt,
  eventually,
  exitOf,
  isMessageFrom,
  logLines,
  mqttClient,
  nextMqttMessage,
  removeDir,
  spawnCli,
  startBridge,
  startTestServer,
  writeBridgeConfig,
  XmppUser,
  type ProsodyTestServer,
  type RunningBridge,
} from './harness.js';

const N = 5000;
const DEVICE = 'lab-bench@iot.localhost';
const TOPIC = 'sensors/lab/bench/telemetry';

/** Readings received by any of the given logins of one user, by sequence number and by stanza id. */
class Tally {
  readonly seqs = new Set<number>();
  readonly ids = new Set<string>();
  messages = 0;
  delayed = 0;
  private waiter: { n: number; resolve: () => void } | undefined;

  watch(user: XmppUser): void {
    for (const el of user.stanzas) this.add(el);
    user.client.on('stanza', (el: Element) => this.add(el));
  }

  /** Resolves once `n` distinct sequence numbers have arrived. */
  reach(n: number, timeoutMs: number): Promise<void> {
    if (this.seqs.size >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.seqs.size} of ${n} readings arrived within ${timeoutMs} ms`)), timeoutMs);
      this.waiter = {
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  }

  private add(el: Element): void {
    if (!isMessageFrom(DEVICE)(el)) return;
    const json = el.getChildText('json', 'urn:xmpp:json:0');
    if (json === null) return;
    this.messages += 1;
    if (el.getChild('delay', 'urn:xmpp:delay')) this.delayed += 1;
    this.ids.add(el.attrs['id'] ?? '');
    this.seqs.add((JSON.parse(json) as { seq: number }).seq);
    if (this.waiter && this.seqs.size >= this.waiter.n) this.waiter.resolve();
  }
}

/** Publish N QoS 1 readings as fast as the broker takes them; `onAcked(k)` runs after the k-th PUBACK. */
function publishAll(device: MqttClient, acked: Set<number>, atAcked: number, onReached: () => void): Promise<void> {
  let fired = false;
  return new Promise((resolve) => {
    for (let seq = 0; seq < N; seq++) {
      device.publish(TOPIC, JSON.stringify({ temperature: 20 + (seq % 100) / 10, seq }), { qos: 1 }, (err) => {
        if (err) return;
        acked.add(seq);
        if (!fired && acked.size >= atAcked) {
          fired = true;
          onReached();
        }
        if (acked.size === N) resolve();
      });
    }
  });
}

/** A device publishing QoS 1 readings, one every `everyMs`, until stop(); remembers which were acknowledged. */
function steadyPublisher(device: MqttClient, everyMs: number): { acked: Set<number>; stop: () => Promise<void>; halt: () => void } {
  const acked = new Set<number>();
  let seq = 0;
  let pending = 0;
  let drained: (() => void) | undefined;
  const timer = setInterval(() => {
    const n = seq++;
    pending += 1;
    device.publish(TOPIC, JSON.stringify({ temperature: 20, seq: n }), { qos: 1 }, (err) => {
      if (!err) acked.add(n);
      pending -= 1;
      if (pending === 0) drained?.();
    });
  }, everyMs);
  return {
    acked,
    /** Stops publishing and resolves once every publish has been answered (acknowledged or failed). */
    stop: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        if (pending === 0) resolve();
        else drained = resolve;
      }),
    /** Stops publishing at once (cleanup after a failure). */
    halt: () => clearInterval(timer),
  };
}

/** Resolves when the link is online; rejects as soon as it gives up for good. */
function onlineOrFatal(link: ComponentLink, timeoutMs: number): Promise<void> {
  if (link.online) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`the link was not back online within ${timeoutMs} ms`)), timeoutMs);
    const onOnline = (): void => finish();
    const onFatal = (err: FatalLinkError): void => finish(new Error(`the bridge gave up: ${err.message}`));
    function finish(err?: Error): void {
      clearTimeout(timer);
      link.off('online', onOnline);
      link.off('fatal', onFatal);
      if (err) reject(err);
      else resolve();
    }
    link.on('online', onOnline);
    link.on('fatal', onFatal);
  });
}

/**
 * Resumes a frozen Prosody no earlier than `notBefore`, and only while a reconnect attempt of the link is open
 * (its TCP connection made, its handshake not yet answered): at `notBefore` if one is open then, else as soon as
 * the next one connects.
 */
function resumeInsideAttempt(link: ComponentLink, prosody: ProsodyInstance, notBefore: number): Promise<void> {
  return new Promise((resolve) => {
    let open = ['connect', 'opening', 'open'].includes(link.xmpp.status);
    const resume = (): void => {
      clearTimeout(timer);
      link.xmpp.off('status', onStatus);
      prosody.resume();
      resolve();
    };
    const onStatus = (status: string): void => {
      if (status === 'connect') {
        open = true;
        if (Date.now() >= notBefore) resume();
      } else if (status === 'disconnect' || status === 'online') {
        open = false;
      }
    };
    link.xmpp.on('status', onStatus);
    const timer = setTimeout(() => {
      if (open) resume();
    }, notBefore - Date.now());
  });
}

describe('reliability: no acknowledged reading is lost', function () {
  this.timeout(180_000);

  describe('XMPP server outages', function () {
    let server: ProsodyTestServer;
    let run: RunningBridge;
    let device: MqttClient;
    const users: XmppUser[] = [];

    beforeEach(async function () {
      server = await startTestServer();
      run = await startBridge({ server, config: { delivery: { barrierTimeoutMs: 3000 } } });
      const alice = await server.user('alice');
      users.push(alice);
      device = await mqttClient(run.mqttUrl, { clientId: 'climate-lab-bench' });
      assert.equal((await alice.subscribeWhenKnown(DEVICE)).attrs['type'], 'subscribed');
    });

    afterEach(async function () {
      await closeMqtt(device);
      await Promise.all(users.splice(0).map((u) => u.stop()));
      await run?.stop();
      await server?.stop();
      if (run) removeDir(run.dir);
    });

    it('(a) 5,000 QoS 1 readings while the XMPP server restarts mid-stream: all 5,000 arrive', async function () {
      const tally = new Tally();
      tally.watch(users[0]!);
      const acked = new Set<number>();
      let restarted: Promise<void> | undefined;
      const published = publishAll(device, acked, 1500, () => {
        restarted = (async () => {
          await server.prosody.restart();
          // The user's session ended with the server; she logs in again and gets what was stored for her.
          const again = await XmppUser.connect(server.prosody, 'alice', 'pw-alice');
          users.push(again);
          tally.watch(again);
        })();
      });
      await published;
      await restarted;
      await tally.reach(N, 90_000);
      assert.equal(acked.size, N);
      assert.equal(tally.seqs.size, N, 'every reading arrived');
      assert.equal(tally.ids.size, N, 'one stanza id per reading: duplicates are recognisable');
      console.log(`      (a) ${N} acknowledged, ${tally.seqs.size} distinct received, ${tally.messages - tally.ids.size} duplicates, ${tally.delayed} with a delay stamp; reconnects: ${run.bridge.metrics.get('xmpp_connects_total')}`);
      assert.ok(run.bridge.metrics.get('xmpp_connects_total') >= 2, 'the component reconnected');
    });

    it('(b) 5,000 QoS 1 readings while the XMPP server is frozen (SIGSTOP) for 20 s: all 5,000 arrive', async function () {
      const tally = new Tally();
      tally.watch(users[0]!);
      const acked = new Set<number>();
      let resumed: Promise<void> | undefined;
      const published = publishAll(device, acked, 1500, () => {
        server.prosody.freeze();
        resumed = new Promise<void>((resolve) =>
          setTimeout(() => {
            server.prosody.resume();
            resolve();
          }, 20_000),
        );
      });
      await published;
      await resumed;
      await tally.reach(N, 90_000);
      assert.equal(tally.seqs.size, N);
      assert.equal(tally.ids.size, N);
      console.log(`      (b) ${N} acknowledged, ${tally.seqs.size} distinct received, ${tally.messages - tally.ids.size} duplicates; barrier timeouts: ${run.bridge.metrics.get('barrier_timeouts_total')}, reconnects: ${run.bridge.metrics.get('xmpp_connects_total')}`);
    });
  });

  describe('the XMPP server still holds the previous stream when the bridge reconnects', function () {
    let server: ProsodyTestServer;
    let run: RunningBridge | undefined;
    let relay: TcpRelay | undefined;
    let device: MqttClient | undefined;
    let publisher: ReturnType<typeof steadyPublisher> | undefined;
    let alice: XmppUser;

    beforeEach(async function () {
      server = await startTestServer();
      alice = await server.user('alice');
    });

    afterEach(async function () {
      publisher?.halt();
      publisher = undefined;
      server.prosody.resume();
      await closeMqtt(device);
      await run?.stop();
      await relay?.close();
      await server?.stop();
      if (run) removeDir(run.dir);
      run = undefined;
      relay = undefined;
    });

    async function connect(config: Record<string, unknown>): Promise<{ link: ComponentLink; tally: Tally }> {
      run = await startBridge({ server, config });
      device = await mqttClient(run.mqttUrl, { clientId: 'climate-lab-bench' });
      assert.equal((await alice.subscribeWhenKnown(DEVICE)).attrs['type'], 'subscribed');
      const tally = new Tally();
      tally.watch(alice);
      return { link: run.bridge.link as ComponentLink, tally };
    }

    it('(h) Prosody frozen for 12 s and resumed inside a reconnect attempt: the bridge comes back and every acknowledged reading arrives', async function () {
      // The barrier timeout (11 s) notices the freeze and drops the stream, with what was written to it still unread by
      // Prosody (a reading every 2 ms); the resume comes about a second later, inside the next attempt.
      const { link, tally } = await connect({ delivery: { barrierTimeoutMs: 11_000 } });
      publisher = steadyPublisher(device!, 2);
      await tally.reach(50, 10_000);
      const offline = once(link, 'offline');
      server.prosody.freeze();
      const frozenAt = Date.now();
      await offline;
      await resumeInsideAttempt(link, server.prosody, frozenAt + 12_000);
      const resumedAfter = Date.now() - frozenAt;
      await onlineOrFatal(link, 60_000);
      await tally.reach(tally.seqs.size + 50, 30_000); // readings flow again
      await publisher.stop();
      await tally.reach(publisher.acked.size, 60_000);
      for (const seq of publisher.acked) assert.ok(tally.seqs.has(seq), `acknowledged reading ${seq} arrived`);
      console.log(
        `      (h) resumed ${resumedAfter} ms after the freeze, inside an attempt; conflicts retried: ${link.conflictsRetried}; ${publisher.acked.size} acknowledged, ${tally.seqs.size} distinct received`,
      );
    });

    it('(i) a cut Prosody never sees: conflicts are retried until Prosody lets the old stream go, then every acknowledged reading arrives', async function () {
      relay = await TcpRelay.start(server.prosody.listen, server.prosody.componentPort);
      const { link, tally } = await connect({ xmpp: { service: `xmpp://127.0.0.1:${relay.port}` } });
      for (let seq = 0; seq < 20; seq++) await device!.publishAsync(TOPIC, JSON.stringify({ temperature: 20, seq }), { qos: 1 });
      await tally.reach(20, 10_000);

      let conflicts = 0;
      const twoConflicts = new Promise<void>((resolve) =>
        link.on('conflict', () => {
          if (++conflicts === 2) resolve();
        }),
      );
      const failed = new Promise<never>((_resolve, reject) => link.once('fatal', (err) => reject(new Error(`the bridge gave up: ${err.message}`))));
      failed.catch(() => undefined);
      relay.cut(); // the bridge sees its stream close; Prosody still holds it
      // Acknowledged while the link is down: they wait in the outbox.
      for (let seq = 20; seq < 40; seq++) await device!.publishAsync(TOPIC, JSON.stringify({ temperature: 20, seq }), { qos: 1 });
      await Promise.race([twoConflicts, failed]);
      relay.release(); // Prosody sees the old stream end
      await onlineOrFatal(link, 30_000);
      await tally.reach(40, 30_000);
      assert.equal(tally.seqs.size, 40);
      assert.ok(link.conflictsRetried >= 2, `${link.conflictsRetried} conflicts retried`);
      console.log(`      (i) ${link.conflictsRetried} conflicts retried while Prosody held the cut stream; 40 of 40 readings delivered`);
    });

    it('(j) gives up after xmpp.conflictRetrySeconds when Prosody never lets the old stream go', async function () {
      relay = await TcpRelay.start(server.prosody.listen, server.prosody.componentPort);
      const { link } = await connect({ xmpp: { service: `xmpp://127.0.0.1:${relay.port}`, conflictRetrySeconds: 1 } });
      const fatal = once(link, 'fatal') as Promise<[FatalLinkError]>;
      relay.cut();
      const [err] = await fatal;
      assert.equal(err.condition, 'conflict');
      assert.match(err.message, /^another component is already connected as iot\.localhost \(refused for [1-9]\d* s while reconnecting\) \(stream error conflict: Component already connected\)$/);
      assert.ok(link.conflictsRetried >= 1);
    });
  });

  describe('bridge crash', function () {
    let server: ProsodyTestServer;
    let dir: string | undefined;
    let device: MqttClient | undefined;
    let alice: XmppUser;

    before(async function () {
      server = await startTestServer();
      alice = await server.user('alice');
    });

    /** The bridge process of the running test: killed in `after` whatever happened, so it never outlives the suite. */
    let child: ChildProcess | undefined;

    after(async function () {
      await closeMqtt(device);
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exitOf(child, 5000);
      }
      await server?.stop();
      if (dir) removeDir(dir);
    });

    it('(c) the bridge is SIGKILLed mid-stream and restarted: every acknowledged reading arrives', async function () {
      const port = await freePort();
      const cfg = writeBridgeConfig({ server, config: { mqtt: { embedded: { port, websocket: { enabled: false } } } } });
      dir = cfg.dir;
      const env = { BRIDGE_LOG_LEVEL: 'info' };
      let bridge = (child = spawnCli(['start', '--config', cfg.configFile], env));
      await waitForPort('127.0.0.1', port, 15_000);
      // The broker may listen before the component stream is up; a subscription sent before it is dropped by Prosody.
      await eventually(() => logLines(cfg.dir, 'component online') >= 1, 'the bridge online', 15_000);
      // The device session is persistent and mqtt.js re-sends unacknowledged publishes after reconnecting.
      device = await mqttClient(`mqtt://127.0.0.1:${port}`, { clientId: 'climate-lab-bench', clean: false, reconnectPeriod: 200 });
      device.on('error', () => undefined);
      const answer = await alice.subscribeWhenKnown(DEVICE);
      assert.equal(answer.attrs['type'], 'subscribed');
      const tally = new Tally();
      tally.watch(alice);

      const acked = new Set<number>();
      let restarted: Promise<void> | undefined;
      let ackedAtKill = 0;
      const published = publishAll(device, acked, 2000, () => {
        ackedAtKill = acked.size;
        bridge.kill('SIGKILL');
        restarted = (async () => {
          await exitOf(bridge, 5000);
          bridge = child = spawnCli(['start', '--config', cfg.configFile], env);
        })();
      });
      await published;
      await restarted;
      await tally.reach(N, 90_000);
      for (const seq of acked) assert.ok(tally.seqs.has(seq), `acknowledged reading ${seq} arrived`);
      console.log(`      (c) ${ackedAtKill} acknowledged before SIGKILL, ${acked.size} in all, ${tally.seqs.size} distinct received, ${tally.messages - tally.ids.size} duplicates, ${tally.delayed} with a delay stamp`);
      bridge.kill('SIGTERM');
      assert.equal((await exitOf(bridge, 15_000)).code, 0);
    });
  });

  describe('commands for offline devices', function () {
    let server: ProsodyTestServer;
    let run: RunningBridge | undefined;
    let alice: XmppUser;
    const clients: MqttClient[] = [];

    before(async function () {
      server = await startTestServer();
      alice = await server.user('alice');
    });

    after(async function () {
      await closeMqtt(...clients);
      await run?.stop();
      await server?.stop();
      if (run) removeDir(run.dir);
    });

    function showCommand(text: string): Element {
      return xml('iq', { type: 'set', to: 'display-hall@iot.localhost' }, xml('command', { xmlns: 'urn:mqtt-xmpp-bridge:command:0', name: 'show' }, xml('json', { xmlns: 'urn:xmpp:json:0' }, JSON.stringify({ text }))));
    }

    it('(d) a command for an offline device survives a bridge restart and is delivered exactly once when it returns', async function () {
      run = await startBridge({ server });
      // The display is known (it connected once) and now offline.
      const first = await mqttClient(run.mqttUrl, { clientId: 'display-hall' });
      await first.endAsync();

      const iq = showCommand('held for you');
      iq.attrs['id'] = 'queued-1';
      const answer = alice.waitFor((s) => s.name === 'iq' && s.attrs['id'] === 'queued-1', 'the late answer to the queued command', 30_000);
      await alice.send(iq);
      await alice.iq(xml('iq', { type: 'get', to: 'iot.localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' }))); // the command has been taken
      assert.equal(alice.received((s) => s.attrs['id'] === 'queued-1').length, 0, 'no answer while the device is offline');

      const dir = run.dir;
      await run.stop();
      run = await startBridge({ server, dir });

      // The device comes back: it connects (online), then subscribes; the command waits for the subscription.
      const received: string[] = [];
      const back = await mqttClient(run.mqttUrl, { clientId: 'display-hall' });
      clients.push(back);
      back.on('message', (_t, payload) => received.push(payload.toString()));
      await back.subscribeAsync('displays/hall/show', { qos: 1 });
      const result = await answer;
      assert.equal(result.attrs['type'], 'result');
      assert.equal(result.attrs['from'], 'display-hall@iot.localhost');
      assert.equal(result.getChild('command', 'urn:mqtt-xmpp-bridge:command:0')?.attrs['status'], 'published');

      // A second command now: the device receives it after the held one, and the held one exactly once.
      const now = await alice.iq(showCommand('live'));
      assert.equal(now.attrs['type'], 'result');
      await new Promise<void>((resolve) => (received.length >= 2 ? resolve() : back.once('message', () => resolve())));
      assert.deepEqual(received, ['{"text":"held for you"}', '{"text":"live"}']);
      console.log(`      (d) held command delivered ${received.filter((r) => r.includes('held')).length} time(s) after a restart; late IQ answer ${result.attrs['type']}`);
    });

    it('answers remote-server-timeout when the device does not come back within the TTL', async function () {
      const dir = run!.dir;
      await run!.stop();
      removeDir(dir);
      run = await startBridge({ server, config: { delivery: { commandTtlSeconds: 1 } } });
      const once = await mqttClient(run.mqttUrl, { clientId: 'display-hall' });
      await once.endAsync();
      const reply = await alice.iq(showCommand('too late'), 10_000);
      assert.equal(reply.attrs['type'], 'error');
      assert.equal(reply.getChild('error')?.getChildElements()[0]?.name, 'remote-server-timeout');
      assert.equal(reply.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas'), 'the device did not come back within 1 s');
    });
  });

  describe('bounds: a full outbox means backpressure, old readings expire', function () {
    let server: ProsodyTestServer;
    let run: RunningBridge | undefined;
    const users: XmppUser[] = [];
    const clients: MqttClient[] = [];

    beforeEach(async function () {
      server = await startTestServer();
    });

    afterEach(async function () {
      await closeMqtt(...clients.splice(0));
      await Promise.all(users.splice(0).map((u) => u.stop()));
      await run?.stop();
      await server?.stop();
      if (run) removeDir(run.dir);
      run = undefined;
    });

    async function setup(delivery: Record<string, number>): Promise<{ device: MqttClient; observer: MqttClient }> {
      run = await startBridge({ server, config: { delivery } });
      const alice = await server.user('alice');
      users.push(alice);
      const device = await mqttClient(run.mqttUrl, { clientId: 'climate-lab-bench' });
      const observer = await mqttClient(run.mqttUrl, { clientId: 'observer' });
      clients.push(device, observer);
      await observer.subscribeAsync('mqtt-xmpp-bridge/bridge/event');
      assert.equal((await alice.subscribeWhenKnown(DEVICE)).attrs['type'], 'subscribed');
      // The XMPP server goes away: readings can only wait in the outbox.
      const offline = new Promise<void>((resolve) => run!.bridge.link.once('offline', () => resolve()));
      await server.prosody.stop();
      await offline;
      return { device, observer };
    }

    it('stops acknowledging QoS 1 publishes when the outbox is full, and delivers every one once the server is back', async function () {
      const { device, observer } = await setup({ maxOutbox: 20 });
      const full = nextMqttMessage(observer, 'mqtt-xmpp-bridge/bridge/event', (p) => p.toString().includes('outbox_full'));
      const acked = new Set<number>();
      const all = new Promise<void>((resolve) => {
        for (let seq = 0; seq < 50; seq++) {
          device.publish(TOPIC, JSON.stringify({ temperature: 20, seq }), { qos: 1 }, (err) => {
            if (!err) acked.add(seq);
            if (acked.size === 50) resolve();
          });
        }
      });
      const event = JSON.parse((await full).toString()) as { data: { size: number; limit: number } };
      assert.deepEqual(event.data, { size: 20, limit: 20 });
      assert.equal(acked.size, 20, 'exactly the readings that fit were acknowledged; the rest wait');
      assert.equal(run!.bridge.delivery.backlog.outbox, 20);

      await server.prosody.restart();
      const tally = new Tally();
      const again = await XmppUser.connect(server.prosody, 'alice', 'pw-alice');
      users.push(again);
      tally.watch(again);
      await all;
      await tally.reach(50, 30_000);
      assert.equal(tally.seqs.size, 50);
      console.log(`      outbox limit 20: ${event.data.size} held while the server was away, then all ${tally.seqs.size} of 50 delivered; backpressure events: ${run!.bridge.metrics.get('uplink_backpressure_total')}`);
    });

    it('drops readings older than maxAgeSeconds from the outbox, counted and reported', async function () {
      const { device, observer } = await setup({ maxAgeSeconds: 1 });
      const expired = nextMqttMessage(observer, 'mqtt-xmpp-bridge/bridge/event', (p) => p.toString().includes('readings_expired'));
      for (let seq = 0; seq < 5; seq++) await device.publishAsync(TOPIC, JSON.stringify({ temperature: 20, seq }), { qos: 1 });
      const event = JSON.parse((await expired).toString()) as { data: { count: number } };
      assert.equal(event.data.count, 5);
      assert.equal(run!.bridge.metrics.get('readings_dropped_total', 'EXPIRED'), 5);
      assert.equal(run!.bridge.delivery.backlog.outbox, 0);
      // Back online, a fresh reading arrives and none of the expired ones do.
      await server.prosody.restart();
      const again = await XmppUser.connect(server.prosody, 'alice', 'pw-alice');
      users.push(again);
      const fresh = again.waitForAny(isMessageFrom(DEVICE, (m) => (m.getChildText('json', 'urn:xmpp:json:0') ?? '').includes('"seq":99')), 'the fresh reading', 30_000);
      // Once the link is back (a reading waiting longer than a second would expire too).
      if (!run!.bridge.link.online) await new Promise<void>((resolve) => run!.bridge.link.once('online', () => resolve()));
      await device.publishAsync(TOPIC, JSON.stringify({ temperature: 20, seq: 99 }), { qos: 1 });
      await fresh;
      assert.equal(again.received(isMessageFrom(DEVICE)).length, 1);
    });
  });
});
