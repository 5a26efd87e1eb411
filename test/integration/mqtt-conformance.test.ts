/**
 * Packet-level conformance of the embedded broker, from MQTT 3.1.1 normative statements (OASIS Standard, 2014),
 * with raw bytes over a `net` socket: what a client library would never send, and the exact bytes that come back.
 *
 * Each test cites its statement. Where aedes 1.2.0 deviates, the bridge fixes it ahead of aedes (the frame guard:
 * src/broker/guard-core.ts and the rules beside it; [MQTT-3.1.3-8] in connect-rules.ts) and the test asserts the
 * bytes the statement asks for — and, where the guard closes the connection, the broker event naming the reason,
 * matched to the connection by its source address (each raw client connects from its own 127.0.x.y).
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import type { MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import {
  ackPacket,
  CONNACK_ACCEPTED,
  connectPacket,
  openSocket,
  packet,
  PINGREQ,
  PUBACK,
  PUBCOMP,
  publishPacket,
  PUBREC,
  PUBREL,
  subscribePacket,
  u16,
  unsubscribePacket,
  utf8,
  type ConnectOptions,
} from '../support/mqtt-bytes.js';
import { closeMqtt, mqttClient, removeDir, startBridge, startTestServer, type RunningBridge, type TestServer } from './harness.js';

const EVENT_TOPIC = 'mqtt-xmpp-bridge/bridge/event';

/** Each raw client gets its own loopback source address, so that the broker's events (throttled per address) name it. */
let sourceCount = 0;
function nextSourceAddress(): string {
  const n = sourceCount++;
  return `127.0.${1 + Math.floor(n / 250)}.${1 + (n % 250)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// A raw client: writes bytes, reads whole packets, and notices the server closing the connection.

class RawClient {
  private buffer = Buffer.alloc(0);
  private readonly packets: Buffer[] = [];
  private waiter: (() => void) | undefined;
  private closedAt: number | undefined;
  readonly openedAt = Date.now();
  readonly closed: Promise<void>;

  /** `address:port` of this end, as the broker sees it. */
  readonly remote: string;

  private constructor(readonly socket: Socket) {
    this.remote = `${socket.localAddress}:${socket.localPort}`;
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (let p = this.takePacket(); p; p = this.takePacket()) this.packets.push(p);
      this.waiter?.();
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAt = Date.now();
        this.waiter?.();
        resolve();
      }),
    );
  }

  /** A connection with nothing sent yet (openSocket ignores socket errors: a reset is how the server closes). */
  static async open(url: string): Promise<RawClient> {
    return new RawClient(await openSocket(url, nextSourceAddress()));
  }

  /** Connects and completes the CONNECT/CONNACK exchange. */
  static async connected(url: string, o: ConnectOptions = {}): Promise<RawClient> {
    const c = await RawClient.open(url);
    c.write(connectPacket(o));
    assert.equal(hex(await c.next()), CONNACK_ACCEPTED);
    return c;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next whole packet from the server; rejects if the connection closes or nothing arrives in time. */
  async next(timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = this.packets.shift();
      if (p) return p;
      if (this.closedAt !== undefined) throw new Error('connection closed before the expected packet');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  /** Resolves with the time the connection lived once the server has closed it; rejects after `timeoutMs`. */
  async closedWithin(timeoutMs = 5000): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the server did not close the connection within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return this.closedAt! - this.openedAt;
  }

  /** Packets received and not consumed with `next()`. */
  unread(): string[] {
    return this.packets.map(hex);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private takePacket(): Buffer | undefined {
    let length = 0;
    let multiplier = 1;
    for (let i = 1; i < 5 && i < this.buffer.length; i++) {
      const byte = this.buffer[i]!;
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if ((byte & 0x80) === 0) {
        const end = i + 1 + length;
        if (this.buffer.length < end) return undefined;
        const p = this.buffer.subarray(0, end);
        this.buffer = this.buffer.subarray(end);
        return p;
      }
    }
    return undefined;
  }
}

function hex(b: Buffer): string {
  return b.toString('hex');
}

interface BrokerEvent {
  readonly type: string;
  readonly data: Record<string, unknown>;
}

/** The bridge's events as they arrive on `<base>/bridge/event`; `about(c)` waits for the one about raw client `c`. */
class EventLog {
  private readonly events: BrokerEvent[] = [];
  private waiter: (() => void) | undefined;

  constructor(observer: MqttClient) {
    observer.on('message', (topic, payload) => {
      if (topic !== EVENT_TOPIC) return;
      this.events.push(JSON.parse(payload.toString()) as BrokerEvent);
      this.waiter?.();
    });
  }

  async about(c: RawClient, timeoutMs = 5000): Promise<BrokerEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.find((x) => x.data['remote'] === c.remote);
      if (e) return e;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no broker event about ${c.remote} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------

describe('MQTT 3.1.1 conformance of the embedded broker (raw bytes)', function () {
  this.timeout(30_000);
  let server: TestServer;
  const clients: RawClient[] = [];
  const track = (c: RawClient): RawClient => (clients.push(c), c);
  const open = async (url: string): Promise<RawClient> => track(await RawClient.open(url));
  const connected = async (url: string, o: ConnectOptions = {}): Promise<RawClient> => track(await RawClient.connected(url, o));

  before(async function () {
    server = await startTestServer();
  });

  afterEach(function () {
    for (const c of clients.splice(0)) c.destroy();
  });

  after(async function () {
    await server?.stop();
  });

  describe('with the default configuration', function () {
    let run: RunningBridge;
    let url: string;
    let observer: MqttClient;
    let events: EventLog;

    before(async function () {
      run = await startBridge({ server });
      url = run.mqttUrl;
      observer = await mqttClient(url, { clientId: 'event-observer' });
      events = new EventLog(observer);
      await observer.subscribeAsync(EVENT_TOPIC);
    });

    after(async function () {
      await closeMqtt(observer);
      await run?.stop();
      if (run) removeDir(run.dir);
    });

    /**
     * The server closed `c` without answering what it sent last, and reported why: a broker event of `type` about this
     * very connection with this `reason`.
     */
    async function closedFor(c: RawClient, reason: string, type = 'protocol_violation'): Promise<BrokerEvent> {
      await c.closedWithin();
      assert.deepEqual(c.unread(), [], 'nothing answered');
      const e = await events.about(c);
      assert.deepEqual([e.type, e.data['reason']], [type, reason]);
      return e;
    }

    /** The next PUBLISH `sub` receives that is not on the bridge's own topics (retained info, events). */
    async function nextOutsideBridge(sub: RawClient): Promise<Buffer> {
      for (;;) {
        const p = await sub.next();
        if (p[0]! >> 4 !== 3 || !topicOf(p).startsWith('mqtt-xmpp-bridge/')) return p;
      }
    }

    /** The topic of a PUBLISH packet. */
    function topicOf(p: Buffer): string {
      let at = 1;
      while (p[at]! & 0x80) at++; // the Remaining Length's bytes
      return p.subarray(at + 3, at + 3 + p.readUInt16BE(at + 1)).toString();
    }

    /** A raw subscriber to `filter` (QoS `qos`), SUBACK received. */
    async function subscriber(filter: string, qos = 0): Promise<RawClient> {
      const sub = await connected(url, { clientId: `sub-${sourceCount}` });
      sub.write(subscribePacket(1, [[filter, qos]]));
      assert.equal(hex(await sub.next()), `90030001${qos.toString(16).padStart(2, '0')}`);
      return sub;
    }

    it('[MQTT-3.1.0-1] closes the connection when the first packet is not CONNECT', async function () {
      const c = await open(url);
      c.write(PINGREQ);
      await closedFor(c, 'first-packet-not-connect');
    });

    it('[MQTT-3.1.0-2] closes the connection on a second CONNECT', async function () {
      const c = await connected(url, { clientId: 'twice' });
      c.write(connectPacket({ clientId: 'twice' }));
      await c.closedWithin();
      assert.deepEqual(c.unread(), [], 'no second CONNACK');
    });

    it('[MQTT-3.1.2-1] closes the connection when the protocol name is not "MQTT"', async function () {
      const c = await open(url);
      c.write(connectPacket({ protocolName: 'MQTX' }));
      await c.closedWithin();
      assert.deepEqual(c.unread(), [], 'no CONNACK');
    });

    it('[MQTT-3.1.2-2] answers protocol level 5 with CONNACK 0x01 (unacceptable protocol level), then closes', async function () {
      // An MQTT 5 client's CONNECT, as one would send it (with its Properties length). aedes parses it, refuses the
      // level in handleConnect and writes a 3.1.1 CONNACK.
      const c = await open(url);
      c.write(connectPacket({ level: 5, v5Properties: true }));
      assert.equal(hex(await c.next()), '20020001');
      await c.closedWithin();
    });

    it('[MQTT-3.1.2-2] answers protocol level 2 with CONNACK 0x01 too, then closes (aedes alone would only close)', async function () {
      // mqtt-packet (aedes' parser) rejects every level other than 3, 4 and 5 before any aedes hook runs, and aedes
      // closes on a parser error; the bridge reads the level ahead of aedes (src/broker/connect-level.ts).
      const c = await open(url);
      c.write(connectPacket({ level: 2 }));
      assert.equal(hex(await c.next()), '20020001');
      await c.closedWithin();
      assert.deepEqual(c.unread(), [], 'nothing after the CONNACK');
    });

    it('[MQTT-3.1.2-2] answers a level-2 CONNECT that arrives one byte at a time', async function () {
      const c = await open(url);
      for (const byte of connectPacket({ level: 2 })) c.write(Buffer.from([byte]));
      assert.equal(hex(await c.next()), '20020001');
      await c.closedWithin();
    });

    it('[MQTT-3.1.2-3] closes the connection when the reserved Connect Flags bit 0 is set', async function () {
      const c = await open(url);
      c.write(connectPacket({ extraFlags: 0x01 }));
      await closedFor(c, 'reserved-connect-flag');
    });

    it('[MQTT-3.1.3-8] answers a zero-length ClientId with CleanSession=0 with CONNACK 0x02, then closes', async function () {
      const refused = run.bridge.metrics.get('broker_events_total', 'connection_refused');
      const c = await open(url);
      c.write(connectPacket({ clientId: '', clean: false }));
      assert.equal(hex(await c.next()), '20020002');
      await c.closedWithin();
      assert.equal(run.bridge.metrics.get('broker_events_total', 'connection_refused'), refused + 1, 'reported as a bridge event');
    });

    it('[MQTT-3.1.3-6] [MQTT-3.1.3-7] accepts a zero-length ClientId with CleanSession=1 (CONNACK 0x00)', async function () {
      const c = await connected(url, { clientId: '', clean: true });
      // …and the session works: PINGREQ is answered.
      c.write(PINGREQ);
      assert.equal(hex(await c.next()), 'd000');
    });

    it('[MQTT-3.3.1-4] closes the connection on a PUBLISH with both QoS bits set', async function () {
      const c = await connected(url, { clientId: 'qos3' });
      c.write(packet(0x36, utf8('t/qos3'), u16(1), Buffer.from('x')));
      await c.closedWithin();
      assert.deepEqual(c.unread(), [], 'no PUBACK');
    });

    it('[MQTT-3.3.2-2] closes the connection on a PUBLISH whose topic name contains a wildcard', async function () {
      for (const topic of ['t/+/x', 't/#']) {
        const c = await connected(url, { clientId: 'wildcard' });
        c.write(publishPacket(topic, 'x', 1, 7));
        await c.closedWithin();
        assert.deepEqual(c.unread(), [], `no PUBACK for ${topic}`);
      }
    });

    it('[MQTT-3.8.3-4] closes the connection on a SUBSCRIBE asking for QoS 3', async function () {
      const c = await connected(url, { clientId: 'subqos3' });
      c.write(subscribePacket(1, [['t/x', 3]]));
      await c.closedWithin();
      assert.deepEqual(c.unread(), [], 'no SUBACK');
    });

    it('[MQTT-3.8.4-1] [MQTT-3.8.4-2] answers a SUBSCRIBE with a SUBACK carrying its Packet Identifier and the granted QoS', async function () {
      const c = await connected(url, { clientId: 'sub' });
      c.write(subscribePacket(0x0102, [['t/a', 1], ['t/b', 2]]));
      assert.equal(hex(await c.next()), '9004' + '0102' + '01' + '02');
    });

    it('[MQTT-3.12.4-1] answers PINGREQ with PINGRESP d0 00', async function () {
      const c = await connected(url, { clientId: 'ping' });
      c.write(PINGREQ);
      assert.equal(hex(await c.next()), 'd000');
    });

    it('[MQTT-4.3.2-2] answers a QoS 1 PUBLISH with a PUBACK carrying the same Packet Identifier', async function () {
      const c = await connected(url, { clientId: 'qos1' });
      c.write(publishPacket('t/qos1', 'hello', 1, 0xbeef));
      assert.equal(hex(await c.next()), '4002beef');
    });

    it(`refuses a topic with more than maxTopicLevels levels (32 by default): the connection is closed`, async function () {
      const deep = Array.from({ length: 33 }, (_, i) => `l${i}`).join('/');
      const atLimit = Array.from({ length: 32 }, (_, i) => `l${i}`).join('/');
      // 32 levels are fine…
      const ok = await connected(url, { clientId: 'levels-ok' });
      ok.write(publishPacket(atLimit, 'x', 1, 3));
      assert.equal(hex(await ok.next()), '40020003');
      // …33 close the connection, whether published to or subscribed to (MQTT 3.1.1 cannot refuse a PUBLISH).
      const pub = await connected(url, { clientId: 'levels-pub' });
      pub.write(publishPacket(deep, 'x', 1, 4));
      await pub.closedWithin();
      assert.deepEqual(pub.unread(), [], 'no PUBACK');
      const sub = await connected(url, { clientId: 'levels-sub' });
      sub.write(subscribePacket(5, [[deep, 0]]));
      await sub.closedWithin();
      assert.deepEqual(sub.unread(), [], 'no SUBACK');
    });

    it('§2.2.3 closes the connection on a Remaining Length with a fifth byte (at most four are allowed)', async function () {
      // No numbered statement covers it; §2.2.3 says the field is at most four bytes. The frame guard stops at the
      // fourth byte whose continuation bit is set, so the fifth is never needed.
      // The broker event names the reason: a malformed length, not a packet over the size limit.
      const c = await open(url);
      c.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]));
      await closedFor(c, 'malformed-length');
    });

    // -----------------------------------------------------------------------------------------------------------
    // Packets sent before the CONNACK: a client need not wait for it (§3.1.4, non-normative comment); the server
    // processes them only once it has accepted the connection [MQTT-3.1.4-5]. The guard holds what arrives while aedes
    // authenticates, and the socket stops reading until the CONNACK.

    describe('packets a client sends before its CONNACK', function () {
      /** Topics of the PUBLISH packets `sub` receives until it has `n`, outside the bridge's own topics. */
      async function topicsOf(sub: RawClient, n: number): Promise<string[]> {
        const out: string[] = [];
        while (out.length < n) {
          out.push(topicOf(await nextOutsideBridge(sub)));
        }
        return out;
      }

      it('acknowledges 300 QoS 1 publishes sent in 30 writes right behind the CONNECT, in order, and routes every one', async function () {
        const sub = await subscriber('early/#');
        const c = await open(url);
        const topics = Array.from({ length: 300 }, (_, i) => `early/${i}`);
        c.write(connectPacket({ clientId: 'early' }));
        for (let i = 0; i < 300; i += 10) c.write(Buffer.concat(topics.slice(i, i + 10).map((t, k) => publishPacket(t, 'x'.repeat(100), 1, i + k + 1))));
        assert.equal(hex(await c.next()), CONNACK_ACCEPTED);
        const acks: string[] = [];
        for (let i = 1; i <= 300; i++) acks.push(hex(await c.next()));
        assert.deepEqual(acks, topics.map((_, i) => `4002${(i + 1).toString(16).padStart(4, '0')}`));
        assert.deepEqual(await topicsOf(sub, 300), topics);
      });

      it('routes every QoS 0 publish sent with the CONNECT when the client closes its side in the same write', async function () {
        const sub = await subscriber('ended/#');
        const c = await open(url);
        const topics = Array.from({ length: 50 }, (_, i) => `ended/${i}`);
        c.socket.end(Buffer.concat([connectPacket({ clientId: 'ended' }), ...topics.map((t) => publishPacket(t, 'x', 0))]));
        assert.equal(hex(await c.next()), CONNACK_ACCEPTED);
        assert.deepEqual(await topicsOf(sub, 50), topics);
        await c.closedWithin();
      });
    });

    // -----------------------------------------------------------------------------------------------------------
    // UTF-8 encoded strings (§1.5.3) in every string field. Ill-formed: a surrogate (ED BF BF) and an overlong
    // form (C0 80). aedes decodes them to U+FFFD and goes on.

    describe('UTF-8 strings [MQTT-1.5.3-1] [MQTT-1.5.3-2]', function () {
      const SURROGATE = Buffer.from([0x64, 0x65, 0x76, 0xed, 0xbf, 0xbf]); // "dev" + U+DFFF
      const OVERLONG = Buffer.from([0x64, 0x65, 0x76, 0xc0, 0x80]); // "dev" + an overlong U+0000

      it('[MQTT-1.5.3-1] [MQTT-3.1.4-1] closes without CONNACK on ill-formed UTF-8 in the client id', async function () {
        for (const clientId of [SURROGATE, OVERLONG]) {
          const c = await open(url);
          c.write(connectPacket({ clientId }));
          const e = await closedFor(c, 'invalid-utf8');
          assert.equal(e.data['field'], 'client-id');
        }
      });

      it('[MQTT-1.5.3-2] closes without CONNACK on U+0000 in the client id', async function () {
        const c = await open(url);
        c.write(connectPacket({ clientId: 'dev\0' }));
        await closedFor(c, 'null-character');
      });

      it('[MQTT-1.5.3-1] [MQTT-1.5.3-2] closes without CONNACK on a bad Will Topic', async function () {
        for (const [topic, reason] of [[SURROGATE, 'invalid-utf8'], [Buffer.from('dev/\0'), 'null-character']] as const) {
          const c = await open(url);
          c.write(connectPacket({ will: { topic, payload: 'offline' } }));
          const e = await closedFor(c, reason);
          assert.equal(e.data['field'], 'will-topic');
        }
      });

      it('[MQTT-1.5.3-1] [MQTT-1.5.3-2] closes without CONNACK on a bad User Name', async function () {
        for (const [username, reason] of [[OVERLONG, 'invalid-utf8'], ['user\0', 'null-character']] as const) {
          const c = await open(url);
          c.write(connectPacket({ username, password: 'secret' }));
          const e = await closedFor(c, reason);
          assert.equal(e.data['field'], 'username');
        }
      });

      it('[MQTT-4.7.3-2] a PUBLISH on "top\\0\\0" closes its publisher and never reaches a "#" subscriber, which stays connected', async function () {
        const sub = await subscriber('#');
        const bad = await connected(url, { clientId: 'nul-publisher' });
        bad.write(publishPacket(Buffer.from('top\0\0'), 'x', 0));
        await closedFor(bad, 'null-character');
        // The next message the subscriber gets is one published after the close: the bad one was not routed.
        const good = await connected(url, { clientId: 'good-publisher' });
        good.write(publishPacket('after/nul', 'ok', 0));
        assert.equal(hex(await nextOutsideBridge(sub)), hex(publishPacket('after/nul', 'ok', 0)));
        sub.write(PINGREQ);
        assert.equal(hex(await nextOutsideBridge(sub)), 'd000', 'the subscriber is still connected');
      });

      it('[MQTT-1.5.3-1] [MQTT-3.3.2-1] closes a QoS 1 PUBLISH with an ill-formed topic without PUBACK', async function () {
        const c = await connected(url, { clientId: 'bad-topic' });
        c.write(publishPacket(SURROGATE, 'x', 1, 9));
        await closedFor(c, 'invalid-utf8');
      });

      it('[MQTT-1.5.3-1] [MQTT-3.8.3-1] closes a SUBSCRIBE with an ill-formed or U+0000 filter without SUBACK', async function () {
        for (const [filter, reason] of [[OVERLONG, 'invalid-utf8'], [Buffer.from('a/\0'), 'null-character']] as const) {
          const c = await connected(url, { clientId: 'bad-filter' });
          c.write(subscribePacket(3, [[filter, 0]]));
          const e = await closedFor(c, reason);
          assert.equal(e.data['field'], 'filter');
        }
      });

      it('[MQTT-1.5.3-1] [MQTT-3.10.3-1] closes an UNSUBSCRIBE with an ill-formed filter without UNSUBACK', async function () {
        const c = await connected(url, { clientId: 'bad-unsub' });
        c.write(unsubscribePacket(4, [SURROGATE]));
        await closedFor(c, 'invalid-utf8');
      });
    });

    // -----------------------------------------------------------------------------------------------------------
    // Control characters U+0001–U+001F, U+007F–U+009F: "SHOULD NOT" in §1.5.3, and a receiver MAY close. Closing
    // keeps one bad device from disconnecting every strict wildcard subscriber.

    describe('control characters (§1.5.3) and client ids the server rejects [MQTT-3.1.3-9]', function () {
      it('[MQTT-3.1.3-9] answers a client id with a control character with CONNACK 0x02, then closes', async function () {
        const c = await open(url);
        c.write(connectPacket({ clientId: 'dev\u0007' }));
        assert.equal(hex(await c.next()), '20020002');
        await c.closedWithin();
        const e = await events.about(c);
        assert.deepEqual([e.type, e.data['reason'], e.data['detail']], ['connection_refused', 'identifier-rejected', 'control-character']);
      });

      it('[MQTT-3.1.3-9] does so for a CONNECT that arrives one byte at a time', async function () {
        const c = await open(url);
        for (const byte of connectPacket({ clientId: 'dev\u0085' })) c.write(Buffer.from([byte]));
        assert.equal(hex(await c.next()), '20020002');
        await c.closedWithin();
      });

      it('closes a publisher whose topic holds U+0001 or U+0085; a "#" subscriber does not see it', async function () {
        const sub = await subscriber('#');
        for (const topic of ['t/\u0001', 't/\u0085']) {
          const c = await connected(url, { clientId: 'ctl-publisher' });
          c.write(publishPacket(topic, 'x', 1, 3));
          await closedFor(c, 'control-character');
        }
        const good = await connected(url, { clientId: 'good-publisher' });
        good.write(publishPacket('after/ctl', 'ok', 0));
        assert.equal(hex(await nextOutsideBridge(sub)), hex(publishPacket('after/ctl', 'ok', 0)));
      });

      it('closes on a control character in a topic filter, without SUBACK', async function () {
        const c = await connected(url, { clientId: 'ctl-filter' });
        c.write(subscribePacket(5, [['t/\u001b', 1]]));
        await closedFor(c, 'control-character');
      });
    });

    // -----------------------------------------------------------------------------------------------------------
    // CONNECT flags (§3.1.2.3): aedes answers CONNACK 0 where the statement says close.

    describe('CONNECT flags', function () {
      it('[MQTT-3.1.2-14] closes without CONNACK on Will QoS 3', async function () {
        const c = await open(url);
        c.write(connectPacket({ will: { topic: 'dev/status', qos: 3 } }));
        await closedFor(c, 'will-qos-3');
      });

      it('[MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15] closes without CONNACK on Will QoS or Retain without the Will Flag', async function () {
        for (const extraFlags of [0x08, 0x20]) {
          const c = await open(url);
          c.write(connectPacket({ extraFlags }));
          await closedFor(c, 'will-flags');
        }
      });

      it('[MQTT-3.1.2-18] closes without CONNACK on a user name present with the User Name Flag 0', async function () {
        const c = await open(url);
        c.write(connectPacket({ username: 'user', clearFlags: 0x80 }));
        await closedFor(c, 'username-not-flagged');
      });

      it('[MQTT-3.1.2-20] closes without CONNACK on a password present with the Password Flag 0', async function () {
        const c = await open(url);
        c.write(connectPacket({ username: 'user', password: 'secret', clearFlags: 0x40 }));
        await closedFor(c, 'password-not-flagged');
      });

      it('[MQTT-3.1.2-22] closes without CONNACK on the Password Flag without the User Name Flag', async function () {
        const c = await open(url);
        c.write(connectPacket({ password: 'secret' }));
        await closedFor(c, 'password-without-username');
      });

      it(`closes without CONNACK a CONNECT over 64 KiB, whatever maxPayloadBytes allows (here 256 KiB)`, async function () {
        const c = await open(url);
        c.write(connectPacket({ will: { topic: 'dev/status', payload: 'w'.repeat(40_000) }, username: 'user', password: Buffer.alloc(30_000, 0x70) }));
        const e = await closedFor(c, 'connect-too-large', 'packet_too_large');
        assert.equal(e.data['limit'], 65536);
      });
    });

    // -----------------------------------------------------------------------------------------------------------
    // Packet identifiers, DUP, empty UNSUBSCRIBE/SUBSCRIBE.

    describe('packet identifiers and payload rules', function () {
      it('[MQTT-2.3.1-1] closes a QoS 1 or QoS 2 PUBLISH with packet identifier 0: no PUBACK/PUBREC, not delivered', async function () {
        const sub = await subscriber('id0/#');
        for (const qos of [1, 2]) {
          const c = await connected(url, { clientId: `id0-${qos}` });
          c.write(publishPacket(`id0/q${qos}`, 'x', qos, 0));
          await closedFor(c, 'packet-id-zero');
        }
        const good = await connected(url, { clientId: 'good-publisher' });
        good.write(publishPacket('id0/after', 'ok', 0));
        assert.equal(hex(await sub.next()), hex(publishPacket('id0/after', 'ok', 0)));
      });

      it('[MQTT-2.3.1-1] closes a SUBSCRIBE or UNSUBSCRIBE with packet identifier 0', async function () {
        for (const p of [subscribePacket(0, [['a', 0]]), unsubscribePacket(0, ['a'])]) {
          const c = await connected(url, { clientId: 'id0-sub' });
          c.write(p);
          await closedFor(c, 'packet-id-zero');
        }
      });

      it('[MQTT-3.10.3-2] closes an UNSUBSCRIBE without a topic filter, without UNSUBACK', async function () {
        const c = await connected(url, { clientId: 'empty-unsub' });
        c.write(packet(0xa2, u16(7)));
        await closedFor(c, 'no-topic-filter');
      });

      it('[MQTT-3.8.3-3] closes a SUBSCRIBE without a topic filter, without SUBACK', async function () {
        const c = await connected(url, { clientId: 'empty-sub' });
        c.write(packet(0x82, u16(7)));
        await closedFor(c, 'no-topic-filter');
      });

      it('[MQTT-3.3.1-2] closes a QoS 0 PUBLISH with DUP=1; it is not delivered', async function () {
        const sub = await subscriber('dup/#');
        const c = await connected(url, { clientId: 'dup0' });
        c.write(publishPacket('dup/x', 'x', 0, 0, { dup: true }));
        await closedFor(c, 'dup-on-qos-0');
        const good = await connected(url, { clientId: 'good-publisher' });
        good.write(publishPacket('dup/after', 'ok', 0));
        assert.equal(hex(await sub.next()), hex(publishPacket('dup/after', 'ok', 0)));
      });

      it('[MQTT-4.7.1-2] [MQTT-4.7.1-3] closes a SUBSCRIBE with a misplaced wildcard ("a#", "+b", "a/+b"), without SUBACK', async function () {
        for (const filter of ['a#', '+b', 'a/+b']) {
          const c = await connected(url, { clientId: 'wild-sub' });
          c.write(subscribePacket(8, [[filter, 0]]));
          await closedFor(c, 'misplaced-wildcard');
        }
      });

      it('handles the packets before an offending one in the same write, then closes (a CONNECT and publishes in one write)', async function () {
        const sub = await subscriber('batch/#');
        const c = await open(url);
        c.write(Buffer.concat([connectPacket({ clientId: 'batch' }), publishPacket('batch/good', 'ok', 0), publishPacket(Buffer.from('batch/\0'), 'bad', 0)]));
        assert.equal(hex(await c.next()), CONNACK_ACCEPTED);
        await c.closedWithin();
        assert.deepEqual((await events.about(c)).data['reason'], 'null-character');
        assert.equal(hex(await sub.next()), hex(publishPacket('batch/good', 'ok', 0)));
        const good = await connected(url, { clientId: 'good-publisher' });
        good.write(publishPacket('batch/after', 'ok', 0));
        assert.equal(hex(await sub.next()), hex(publishPacket('batch/after', 'ok', 0)), 'the bad one was never routed');
      });
    });

    // -----------------------------------------------------------------------------------------------------------
    // Fixed headers: the Remaining Length of fixed-size packets, and flag bits.

    describe('fixed headers [MQTT-4.8.0-1] [MQTT-2.2.2-1] [MQTT-2.2.2-2]', function () {
      const wrongLengths: [string, Buffer][] = [
        ['PINGREQ with 1 byte', packet(0xc0, [0x00])],
        ['DISCONNECT with 1 byte', packet(0xe0, [0x00])],
        ...[PUBACK, PUBREC, PUBREL, PUBCOMP].flatMap((first): [string, Buffer][] => [
          [`${first.toString(16)} with 1 byte`, packet(first, [0x00])],
          [`${first.toString(16)} with 3 bytes`, packet(first, [0x00, 0x01, 0x00])],
        ]),
      ];
      for (const [what, bytes] of wrongLengths) {
        it(`[MQTT-4.8.0-1] closes on a ${what} (wrong Remaining Length), without an answer`, async function () {
          const c = await connected(url, { clientId: 'wrong-length' });
          c.write(Buffer.concat([bytes, PINGREQ]));
          await closedFor(c, 'wrong-remaining-length');
        });
      }

      it('[MQTT-2.2.2-2] closes on reserved flag bits that are not as Table 2.2 lists, and says so', async function () {
        for (const first of [0x41, 0x60, 0x80, 0xa0, 0xc1]) {
          const c = await connected(url, { clientId: 'flags' });
          c.write(Buffer.from([first, 0x00]));
          await closedFor(c, 'reserved-flags');
        }
      });

      it('[MQTT-4.8.0-1] closes on a packet only a server sends (CONNACK from a client), and says so', async function () {
        const c = await connected(url, { clientId: 'connack-from-client' });
        c.write(Buffer.from(CONNACK_ACCEPTED, 'hex'));
        await closedFor(c, 'server-packet-type');
      });
    });

    // -----------------------------------------------------------------------------------------------------------
    // Acknowledgements of the wrong type for a message the server sent.

    describe('acknowledgements [MQTT-4.3.2-2] [MQTT-4.3.3-2]', function () {
      /** A raw subscriber that has just received a message at `qos` from the server; returns it and the packet id. */
      async function receiving(qos: number): Promise<{ sub: RawClient; id: number }> {
        const topic = `ack/q${qos}/${sourceCount}`;
        const sub = await subscriber(topic, qos);
        const pub = await connected(url, { clientId: `ack-pub-${sourceCount}` });
        pub.write(publishPacket(topic, 'x', qos, 1));
        const p = await sub.next();
        assert.equal(p[0]! & 0xf6, 0x30 | (qos << 1), 'a PUBLISH at the QoS asked for');
        const id = p.readUInt16BE(2 + 2 + topic.length);
        return { sub, id };
      }

      it('[MQTT-4.3.2-2] closes a client that answers a QoS 1 PUBLISH with PUBREC: no PUBREL', async function () {
        const { sub, id } = await receiving(1);
        sub.write(ackPacket(PUBREC, id));
        await closedFor(sub, 'wrong-acknowledgement');
      });

      it('[MQTT-4.3.3-2] closes a client that answers a QoS 2 PUBLISH with PUBACK', async function () {
        const { sub, id } = await receiving(2);
        sub.write(Buffer.concat([ackPacket(PUBACK, id), PINGREQ]));
        await closedFor(sub, 'wrong-acknowledgement');
      });

      it('[MQTT-4.3.3-2] closes a client that sends PUBCOMP for a QoS 2 PUBLISH before the server sent PUBREL', async function () {
        const { sub, id } = await receiving(2);
        sub.write(Buffer.concat([ackPacket(PUBCOMP, id), PINGREQ]));
        await closedFor(sub, 'wrong-acknowledgement');
      });
    });
  });

  describe('over WebSocket', function () {
    let run: RunningBridge;

    before(async function () {
      run = await startBridge({ server });
    });

    after(async function () {
      await run?.stop();
      if (run) removeDir(run.dir);
    });

    /** Sends one CONNECT in one frame; resolves with the frames answered before the connection closed. */
    async function connectOverWebSocket(binary: boolean): Promise<{ answers: Buffer[]; closed: boolean }> {
      const ws = new WebSocket(run.wsUrl, 'mqtt');
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const answers: Buffer[] = [];
      ws.on('message', (data: Buffer) => answers.push(data));
      const closed = new Promise<boolean>((resolve) => ws.once('close', () => resolve(true)));
      // A binary CONNECT is answered (a CONNACK is 4 bytes, possibly over several frames); a text frame must close the
      // connection, unanswered.
      const answered = new Promise<boolean>((resolve) => ws.on('message', () => Buffer.concat(answers).length >= 4 && resolve(false)));
      ws.send(binary ? connectPacket() : connectPacket().toString('latin1'), { binary });
      const outcome = await Promise.race([closed, answered]);
      ws.terminate();
      return { answers: outcome ? answers : [Buffer.concat(answers)], closed: outcome };
    }

    it('[MQTT-6.0.0-1] closes a connection that sends an MQTT packet in a text frame, unanswered; a binary frame is answered', async function () {
      const text = await connectOverWebSocket(false);
      assert.deepEqual(text, { answers: [], closed: true });
      const binary = await connectOverWebSocket(true);
      assert.equal(binary.closed, false);
      assert.equal(binary.answers[0]?.toString('hex'), CONNACK_ACCEPTED);
    });
  });

  describe('with connectTimeoutMs 500', function () {
    let run: RunningBridge;

    before(async function () {
      run = await startBridge({ server, config: { mqtt: { embedded: { connectTimeoutMs: 500 } } } });
    });

    after(async function () {
      await run?.stop();
      if (run) removeDir(run.dir);
    });

    it('closes a connection that sends no CONNECT within connectTimeoutMs', async function () {
      // No numbered statement: the first packet MUST be CONNECT [MQTT-3.1.0-1], and a server that waits for it
      // forever can be exhausted by idle sockets (§5, Security). Waiting for the timer is the event here, bounded.
      const c = await open(run.mqttUrl);
      const lived = await c.closedWithin(5000);
      assert.ok(lived >= 450 && lived < 2000, `closed after ${lived} ms, expected ≈ 500 ms`);
      assert.deepEqual(c.unread(), []);
    });

    it('also closes a connection whose CONNECT stays incomplete', async function () {
      const c = await open(run.mqttUrl);
      c.write(connectPacket().subarray(0, 8));
      const lived = await c.closedWithin(5000);
      assert.ok(lived >= 450 && lived < 2000, `closed after ${lived} ms, expected ≈ 500 ms`);
    });
  });
});
