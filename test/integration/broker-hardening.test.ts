/**
 * Fault injection against the embedded broker, with the bridge running in this process: oversized and garbage
 * input, the connection limit, the publish rate limit and a frozen subscriber. Every figure is counted exactly and
 * printed, so a run documents what was measured.
 *
 * Memory is measured as this process' RSS (bridge, broker and the attacking sockets together), before and after.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import type { MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import { MAX_CONNECT_BYTES } from '../../src/broker/connect-packet.js';
import { PRE_AUTH_BUDGET_BYTES } from '../../src/broker/pre-auth-budget.js';
import { connectBody, connectPacket, fixedHeader, openSocket, subscribePacket } from '../support/mqtt-bytes.js';
import {
  closeMqtt,
  mqttClient,
  nextMqttMessage,
  removeDir,
  startBridge,
  startTestServer,
  type RunningBridge,
  type TestServer,
} from './harness.js';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;
const EVENT_TOPIC = 'mqtt-xmpp-bridge/bridge/event';

// ---------------------------------------------------------------------------------------------------------------
// Raw bytes (MQTT 3.1.1 §2–3), just what these tests need.

/** The start of a CONNECT whose fixed header declares `declared` bytes; the rest is meant to follow as a stream. */
function connectHeader(declared: number): Buffer {
  return Buffer.concat([fixedHeader(0x10, declared), connectBody({ clientId: 'big' })]);
}

/** The next `n` bytes the server sends (CONNACK, SUBACK…), within a bound. */
function readBytes(socket: Socket, n: number, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error(`fewer than ${n} bytes within ${timeoutMs} ms`)), timeoutMs);
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      if (got.length >= n) done();
    };
    const onClose = (): void => done(new Error('connection closed'));
    function done(err?: Error): void {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(got);
    }
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

function closedWithin(socket: Socket, timeoutMs: number): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not close the connection within ${timeoutMs} ms`)), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

interface StreamResult {
  /** Bytes the connection took (write completed without error) before it was closed. */
  readonly accepted: number;
  readonly closed: boolean;
  readonly ms: number;
}

/**
 * Writes `head` then chunks from `next` until the server closes the connection or `cap` bytes are written. One
 * chunk at a time, each after the previous one was taken (backpressure), yielding to the event loop in between so
 * the in-process server reads them as a remote one would.
 */
async function streamUntilClosed(url: string, head: Buffer, cap: number, next: () => Buffer): Promise<StreamResult> {
  const socket = await openSocket(url);
  socket.resume(); // read (and drop) whatever comes back, so the close is seen
  const t0 = Date.now();
  let closed = false;
  const closing = new Promise<void>((resolve) => socket.once('close', () => ((closed = true), resolve())));
  const write = (b: Buffer): Promise<boolean> => new Promise((resolve) => socket.write(b, (err) => resolve(!err)));
  let accepted = 0;
  let chunk = head;
  while (!closed && accepted < cap) {
    if (!(await write(chunk)) || closed) break;
    accepted += chunk.length;
    await new Promise((resolve) => setImmediate(resolve));
    chunk = next();
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closing, new Promise((resolve) => (timer = setTimeout(resolve, 5000)))]);
  clearTimeout(timer);
  const result = { accepted, closed, ms: Date.now() - t0 };
  socket.destroy();
  return result;
}

/** Deterministic garbage (xorshift32), so a failing seed can be replayed. */
function garbage(seed: number): () => Buffer {
  let x = seed >>> 0 || 1;
  return () => {
    const b = Buffer.allocUnsafe(CHUNK);
    for (let i = 0; i < CHUNK; i += 4) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      b.writeUInt32LE(x, i);
    }
    return b;
  };
}

/** A subscriber (QoS 0 on `filter`) that connects, subscribes and then never reads again. */
async function frozenSubscriber(url: string, clientId: string, filter: string): Promise<Socket> {
  const socket = await openSocket(url);
  socket.write(connectPacket({ clientId }));
  assert.equal((await readBytes(socket, 4)).toString('hex'), '20020000');
  socket.write(subscribePacket(1, [[filter, 0]]));
  assert.equal((await readBytes(socket, 5)).toString('hex'), '9003000100');
  socket.pause();
  return socket;
}

/** `p`, or a rejection naming `what` after `ms`. */
function bound<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms).unref())]);
}

function rssMiB(): number {
  return process.memoryUsage().rss / MiB;
}

interface BrokerEvent {
  readonly type: string;
  readonly data: Record<string, unknown>;
}

/** Collects bridge events of one type as they arrive on `<base>/bridge/event`. */
function collectEvents(observer: MqttClient, type: string): { events: BrokerEvent[]; next: (timeoutMs: number) => Promise<BrokerEvent> } {
  const events: BrokerEvent[] = [];
  let waiter: ((e: BrokerEvent) => void) | undefined;
  observer.on('message', (topic, payload) => {
    if (topic !== EVENT_TOPIC) return;
    const e = JSON.parse(payload.toString()) as BrokerEvent;
    if (e.type !== type) return;
    events.push(e);
    waiter?.(e);
  });
  const next = (timeoutMs: number): Promise<BrokerEvent> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} event within ${timeoutMs} ms`)), timeoutMs);
      waiter = (e) => {
        clearTimeout(timer);
        waiter = undefined;
        resolve(e);
      };
    });
  return { events, next };
}

/** A bridge on `server` with these embedded-broker options, and an observer subscribed to `topics`. */
async function startObserved(
  server: TestServer,
  embedded: Record<string, unknown>,
  topics: string | string[] = EVENT_TOPIC,
): Promise<{ run: RunningBridge; observer: MqttClient }> {
  const run = await startBridge({ server, config: { mqtt: { embedded } } });
  const observer = await mqttClient(run.mqttUrl, { clientId: 'observer' });
  await observer.subscribeAsync(topics);
  return { run, observer };
}

/** Closes the clients, stops the bridge and removes its directory; for after() hooks, so any of them may be missing. */
async function stopBridge(run: RunningBridge | undefined, ...clients: (MqttClient | undefined)[]): Promise<void> {
  await closeMqtt(...clients);
  await run?.stop();
  if (run) removeDir(run.dir);
}

// ---------------------------------------------------------------------------------------------------------------

describe('embedded broker hardening (fault injection)', function () {
  this.timeout(60_000);
  let server: TestServer;

  before(async function () {
    server = await startTestServer();
  });

  after(async function () {
    await server?.stop();
  });

  describe('oversized input, garbage and a frozen subscriber (drainTimeoutMs 1000)', function () {
    let run: RunningBridge;
    let observer: MqttClient;

    before(async function () {
      ({ run, observer } = await startObserved(server, { drainTimeoutMs: 1000 }));
    });

    after(async function () {
      await stopBridge(run, observer);
    });

    it('(1) a CONNECT declaring 150 MB is closed before 1 MiB more is accepted, and memory stays bounded', async function () {
      const declared = 150 * 1000 * 1000;
      const tooLarge = nextMqttMessage(observer, EVENT_TOPIC, (p) => (JSON.parse(p.toString()) as BrokerEvent).type === 'packet_too_large');
      const before = run.bridge.metrics.get('broker_events_total', 'packet_too_large');
      const rss0 = rssMiB();
      const zeros = Buffer.alloc(CHUNK);
      const r = await streamUntilClosed(run.mqttUrl, connectHeader(declared), declared, () => zeros);
      const growth = rssMiB() - rss0;
      console.log(`      150 MB CONNECT: closed=${r.closed} after ${r.ms} ms, ${r.accepted} bytes accepted, RSS growth ${growth.toFixed(1)} MiB`);
      assert.ok(r.closed, 'the server closed the connection');
      assert.ok(r.accepted < MiB, `${r.accepted} bytes accepted before the close (limit 1 MiB)`);
      assert.ok(growth < 50, `RSS grew by ${growth.toFixed(1)} MiB (limit 50)`);
      const event = JSON.parse((await tooLarge).toString()) as BrokerEvent;
      assert.equal(event.data['declared'], declared);
      // A CONNECT is capped on its own (MAX_CONNECT_BYTES), below the packet limit.
      assert.equal(event.data['reason'], 'connect-too-large');
      assert.equal(event.data['limit'], MAX_CONNECT_BYTES);
      assert.equal(run.bridge.metrics.get('broker_events_total', 'packet_too_large'), before + 1, 'counted exactly once');
    });

    it('(2) 100 MB of random garbage is closed at once, and memory stays bounded', async function () {
      for (const seed of [1, 2, 3, 4, 5]) {
        const rss0 = rssMiB();
        const r = await streamUntilClosed(run.mqttUrl, Buffer.alloc(0), 100 * 1000 * 1000, garbage(seed));
        const growth = rssMiB() - rss0;
        console.log(`      garbage seed ${seed}: closed=${r.closed} after ${r.ms} ms, ${r.accepted} bytes accepted, RSS growth ${growth.toFixed(1)} MiB`);
        assert.ok(r.closed, `seed ${seed}: the server closed the connection`);
        assert.ok(r.accepted < MiB, `seed ${seed}: ${r.accepted} bytes accepted before the close (limit 1 MiB)`);
        assert.ok(growth < 50, `seed ${seed}: RSS grew by ${growth.toFixed(1)} MiB (limit 50)`);
      }
    });

    it('(5) a frozen subscriber does not stall another one: all 2000 messages arrive and the frozen one is disconnected', async function () {
      const N = 2000;
      const frozen = await frozenSubscriber(run.mqttUrl, 'frozen', 't/#');

      const healthy = await mqttClient(run.mqttUrl, { clientId: 'healthy' });
      const publisher = await mqttClient(run.mqttUrl, { clientId: 'publisher' });
      try {
        await healthy.subscribeAsync('t/x', { qos: 1 });
        await healthy.subscribeAsync('$SYS/+/disconnect/clients');
        const seen = new Set<number>();
        let duplicates = 0;
        let allReceived!: () => void;
        const received = new Promise<void>((resolve) => (allReceived = resolve));
        let frozenGone!: (ms: number) => void;
        const disconnected = new Promise<number>((resolve) => (frozenGone = resolve));
        const t0 = Date.now();
        healthy.on('message', (topic, payload) => {
          if (topic.startsWith('$SYS/')) {
            if (payload.toString() === 'frozen') frozenGone(Date.now() - t0);
            return;
          }
          const i = payload.readUInt32BE(0);
          if (seen.has(i)) duplicates += 1;
          seen.add(i);
          if (seen.size === N) allReceived();
        });

        // 2000 × 1 KB is 2 MB, which loopback socket buffers absorb whole (measured: the frozen subscriber was
        // never blocked). 16 MB first, on a topic only the frozen one matches, fill its buffers for real.
        const fill = Buffer.alloc(CHUNK, 0x66);
        for (let i = 0; i < 256; i++) publisher.publish('t/fill', fill, { qos: 0 });
        const acks = Array.from({ length: N }, (_, i) => {
          const payload = Buffer.alloc(1024, 0x61);
          payload.writeUInt32BE(i, 0);
          return publisher.publishAsync('t/x', payload, { qos: 1 });
        });

        await bound(Promise.all(acks), 20_000, 'all PUBACKs');
        await bound(received, 20_000, `all ${N} messages (got ${seen.size})`);
        const deliveredMs = Date.now() - t0;
        const disconnectedMs = await bound(disconnected, 10_000, 'the frozen subscriber disconnected');
        console.log(`      frozen subscriber disconnected after ${disconnectedMs} ms; ${seen.size} messages delivered to the other in ${deliveredMs} ms`);
        assert.equal(seen.size, N);
        assert.equal(duplicates, 0);
        assert.ok(disconnectedMs >= 900, `disconnected after ${disconnectedMs} ms: not before drainTimeoutMs`);
        // Reading again, the frozen socket finds the connection closed by the server.
        frozen.resume();
        await closedWithin(frozen, 5000);
      } finally {
        frozen.destroy();
        await closeMqtt(healthy, publisher);
      }
    });

    it('(7) 20,000 messages the bridge publishes while a frozen subscriber holds deliveries: all go out once it is dropped, and the process lives', async function () {
      // Deliveries to a subscriber whose socket is full wait for it to drain (or for drainTimeoutMs). aedes' emitter
      // queued every message beyond 100 in delivery, and released the queue recursively: 20,000 queued messages with
      // no subscriber (event reports, commands to nobody) overflowed the stack when the frozen one was dropped.
      const frozen = await frozenSubscriber(run.mqttUrl, 'frozen-6', 'f6/#');
      const healthy = await mqttClient(run.mqttUrl, { clientId: 'healthy-6' });
      try {
        await healthy.subscribeAsync('h6/x', { qos: 1 });
        const mqtt = run.bridge.kernel.mqtt;
        const fill = Buffer.alloc(CHUNK, 0x66);
        // 16 MB fill the frozen subscriber's socket buffers; 200 more deliveries to it then wait for a drain.
        const held = Array.from({ length: 456 }, () => mqtt.publishEverywhere('f6/fill', fill, { qos: 0, retain: false }));
        const queued = Array.from({ length: 20_000 }, (_, i) => mqtt.publishEverywhere(`n6/${i % 10}`, Buffer.from(String(i)), { qos: 0, retain: false }));
        const t0 = Date.now();
        await bound(Promise.all([...held, ...queued]), 20_000, 'all 20,456 publishes done');
        const doneMs = Date.now() - t0;
        // The bridge still carries a device's message, after the frozen subscriber was dropped.
        const got = new Promise<string>((resolve) => healthy.once('message', (_t, payload) => resolve(payload.toString())));
        await mqtt.publishEverywhere('h6/x', 'after', { qos: 1, retain: false });
        assert.equal(await bound(got, 5000, 'the message after'), 'after');
        console.log(`      20,456 publishes done ${doneMs} ms after they were made (the frozen subscriber dropped after drainTimeoutMs)`);
        assert.ok(doneMs >= 900, `done after ${doneMs} ms: they waited for the frozen subscriber`);
        frozen.resume();
        await closedWithin(frozen, 5000);
      } finally {
        frozen.destroy();
        await closeMqtt(healthy);
      }
    });
  });

  describe('(3) connection limit (maxConnections 5)', function () {
    let run: RunningBridge;
    const clients: MqttClient[] = [];

    before(async function () {
      run = await startBridge({ server, config: { mqtt: { embedded: { maxConnections: 5 } } } });
    });

    after(async function () {
      await stopBridge(run, ...clients);
    });

    it('closes the 6th connection (TCP or WebSocket) at once; the 5 others keep working', async function () {
      for (let i = 0; i < 5; i++) clients.push(await mqttClient(run.mqttUrl, { clientId: `limit-${i}` }));
      const observer = clients[0]!;
      await observer.subscribeAsync([EVENT_TOPIC, 't/limit/#', '$SYS/+/disconnect/clients']);
      const refused = collectEvents(observer, 'connection_refused');
      const firstEvent = refused.next(5000);

      // The 6th over TCP: closed without a CONNACK.
      const sixth = await openSocket(run.mqttUrl);
      const got: Buffer[] = [];
      sixth.on('data', (d: Buffer) => got.push(d));
      sixth.write(connectPacket({ clientId: 'limit-6' }));
      await closedWithin(sixth, 5000);
      assert.equal(Buffer.concat(got).length, 0, 'no CONNACK');

      // The 6th over WebSocket: the limit counts both listeners together.
      const ws = new WebSocket(run.wsUrl, 'mqtt');
      let wsMessages = 0;
      ws.on('message', () => (wsMessages += 1));
      ws.on('error', () => undefined);
      ws.on('open', () => ws.send(connectPacket({ clientId: 'limit-ws' })));
      const code = await new Promise<number>((resolve) => ws.once('close', (c: number) => resolve(c)));
      assert.equal(wsMessages, 0, 'no CONNACK over WebSocket');
      console.log(`      6th TCP connection closed; 6th WebSocket closed with code ${code}`);

      const event = await firstEvent;
      assert.equal(event.data['reason'], 'limit');
      assert.equal(event.data['limit'], 5);
      assert.equal(event.data['count'], 1);
      // One event per 10 s window, but both refusals are counted.
      assert.equal(run.bridge.metrics.get('broker_events_total', 'connection_refused'), 1);

      // The 5 connected clients still work: each publish is acknowledged and routed.
      const routed = new Set<string>();
      const allRouted = new Promise<void>((resolve) =>
        observer.on('message', (topic) => {
          if (topic.startsWith('t/limit/')) routed.add(topic);
          if (routed.size === 5) resolve();
        }),
      );
      await Promise.all(clients.map((c, i) => c.publishAsync(`t/limit/${i}`, 'x', { qos: 1 })));
      await allRouted;

      // A slot freed is a slot usable again.
      const left = new Promise<void>((resolve) =>
        observer.on('message', (topic, payload) => {
          if (topic.endsWith('/disconnect/clients') && payload.toString() === 'limit-4') resolve();
        }),
      );
      await clients.pop()!.endAsync();
      await left;
      // …over WebSocket this time: the refusal above was the limit, not the listener.
      clients.push(await mqttClient(run.wsUrl, { clientId: 'limit-again' }));
    });
  });

  describe('(4) publish rate limit, policy delay (20/s, burst 5)', function () {
    let run: RunningBridge;
    let observer: MqttClient;
    let publisher: MqttClient;

    before(async function () {
      ({ run, observer } = await startObserved(server, { rateLimit: { messagesPerSecond: 20, burst: 5, policy: 'delay' } }, [EVENT_TOPIC, 't/rate']));
      publisher = await mqttClient(run.mqttUrl, { clientId: 'fast' });
    });

    after(async function () {
      await stopBridge(run, observer, publisher);
    });

    it('holds publishes over the rate: all 60 are acknowledged, in order, none lost, and every delay is counted', async function () {
      const N = 60;
      const limited = collectEvents(observer, 'rate_limited');
      const order: number[] = [];
      observer.on('message', (topic, payload) => topic === 't/rate' && order.push(Number(payload.toString())));
      const t0 = Date.now();
      await Promise.all(Array.from({ length: N }, (_, i) => publisher.publishAsync('t/rate', String(i), { qos: 1 })));
      const elapsed = Date.now() - t0;
      const afterAcks = limited.events.length;

      // 5 at once (the burst), then 20 per second: the 60th cannot be taken before (60 − 5) / 20 = 2.75 s.
      assert.ok(elapsed >= 2700, `60 publishes acknowledged after ${elapsed} ms (≥ 2750 expected)`);
      assert.ok(elapsed < 6000, `60 publishes acknowledged after ${elapsed} ms`);

      // Events: one at the first delay, then one when its 10 s window ends, carrying the rest. Their counts add
      // up to `total`, the broker's exact count.
      let last = limited.events.at(-1);
      const sum = (): number => limited.events.reduce((s, e) => s + Number(e.data['count']), 0);
      while (!(limited.events.length > afterAcks && last && sum() === Number(last.data['total']))) last = await limited.next(15_000);
      const delayed = Number(last.data['total']);
      console.log(`      60 QoS 1 publishes acknowledged in ${elapsed} ms; ${delayed} delayed, reported in ${limited.events.length} events`);
      assert.ok(delayed >= 50 && delayed <= N - 5, `${delayed} publishes delayed`);
      assert.equal(last.data['clientId'], 'fast');
      assert.equal(last.data['policy'], 'delay');
      assert.equal(run.bridge.metrics.get('broker_events_total', 'rate_limited'), delayed, 'the counter counts every delay, not the reports');

      // Held publishes were released in the order they were sent.
      await new Promise<void>((resolve) => (order.length === N ? resolve() : observer.on('message', () => order.length === N && resolve())));
      assert.deepEqual(order, Array.from({ length: N }, (_, i) => i));
    });
  });

  describe('(4) publish rate limit, policy disconnect (20/s, burst 5)', function () {
    let run: RunningBridge;
    let observer: MqttClient;

    before(async function () {
      ({ run, observer } = await startObserved(server, { rateLimit: { messagesPerSecond: 20, burst: 5, policy: 'disconnect' } }));
    });

    after(async function () {
      await stopBridge(run, observer);
    });

    it('closes a client that publishes over the rate', async function () {
      const limited = collectEvents(observer, 'rate_limited');
      const first = limited.next(5000);
      const publisher = await mqttClient(run.mqttUrl, { clientId: 'abuser' });
      try {
        let acked = 0;
        const closed = new Promise<void>((resolve) => publisher.once('close', () => resolve()));
        for (let i = 0; i < 20; i++) publisher.publish('t/rate', String(i), { qos: 1 }, (err) => (err ? undefined : (acked += 1)));
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([closed, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('client not closed within 5 s')), 5000)))]);
        clearTimeout(timer);
        const event = await first;
        console.log(`      publisher closed after ${acked} PUBACKs`);
        assert.ok(acked <= 5, `${acked} publishes acknowledged (the burst is 5)`);
        assert.equal(event.data['clientId'], 'abuser');
        assert.equal(event.data['policy'], 'disconnect');
        assert.equal(run.bridge.metrics.get('broker_events_total', 'rate_limited'), 1);
      } finally {
        await closeMqtt(publisher);
      }
    });
  });

  describe('(6) unfinished CONNECTs: the pre-authentication memory budget (connectTimeoutMs 30000)', function () {
    let run: RunningBridge;
    let observer: MqttClient;
    const sockets: Socket[] = [];

    before(async function () {
      ({ run, observer } = await startObserved(server, { connectTimeoutMs: 30_000 }));
    });

    after(async function () {
      for (const s of sockets) s.destroy();
      await stopBridge(run, observer);
    });

    it(`holds at most ${PRE_AUTH_BUDGET_BYTES / MiB} MiB for all unauthenticated connections together; the newest beyond it is closed`, async function () {
      // 2,000 connections, each sending 50,000 bytes of a CONNECT that declares 60,000 and never completes it. Before
      // the budget, aedes buffered every one of them whole: 100 MB for nobody.
      const N = 2000;
      const DECLARED = 60_000;
      const SENT = 50_000;
      const head = Buffer.concat([fixedHeader(0x10, DECLARED), connectBody({ clientId: 'unfinished' })]);
      const bytes = Buffer.concat([head, Buffer.alloc(SENT - head.length, 0x61)]);
      // Each connection that stays holds its CONNECT's full size once more than half of it has arrived (the buffer
      // doubles up to the declared size): at most this many fit in the budget.
      const fit = Math.floor(PRE_AUTH_BUDGET_BYTES / (DECLARED + 3));
      const budgetEvents = collectEvents(observer, 'pre_auth_budget_exceeded');
      const firstEvent = budgetEvents.next(20_000);
      const rss0 = rssMiB();
      let closed = 0;
      let enough!: () => void;
      const closedEnough = new Promise<void>((resolve) => (enough = resolve));
      for (let i = 0; i < N; i++) {
        const s = await openSocket(run.mqttUrl);
        sockets.push(s);
        s.once('close', () => {
          closed += 1;
          if (closed === N - fit) enough();
        });
        s.write(bytes);
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        closedEnough,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`only ${closed} of ${N} connections closed within 20 s`)), 20_000))),
      ]);
      clearTimeout(timer);
      const growth = rssMiB() - rss0;
      const open = N - closed;
      const event = await firstEvent;
      console.log(
        `      ${N} unfinished ${SENT}-byte CONNECTs: ${open} held, ${closed} closed; budget ${PRE_AUTH_BUDGET_BYTES} bytes, ` +
          `in use at the first refusal ${String(event.data['inUse'])}; RSS growth ${growth.toFixed(1)} MiB (without the budget: ≈ ${((N * SENT) / MiB).toFixed(0)} MiB)`,
      );
      assert.equal(event.data['limit'], PRE_AUTH_BUDGET_BYTES);
      assert.ok(Number(event.data['inUse']) <= PRE_AUTH_BUDGET_BYTES, 'the budget was never exceeded');
      assert.ok(open <= fit, `${open} connections still held (at most ${fit} fit)`);
      assert.ok(open >= fit / 2, `${open} connections still held: the budget is used, not refused wholesale`);
      assert.ok(growth < 64, `RSS grew by ${growth.toFixed(1)} MiB`);

      // Meanwhile a device with an ordinary CONNECT (one chunk: nothing held) connects and publishes.
      const device = await mqttClient(run.mqttUrl, { clientId: 'ordinary' });
      try {
        await device.publishAsync('t/ordinary', 'x', { qos: 1 });
      } finally {
        await closeMqtt(device);
      }
    });
  });
});
