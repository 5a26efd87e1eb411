/**
 * The receivers: a real XMPP client (@xmpp/client, c2s, logged in to Prosody) for every XMPP path, and one MQTT
 * subscriber (mqtt.js) for the MQTT ceiling. Both hand each payload's {t, s, r} to the same tally: latency from the
 * message's intended send time, de-duplication by sequence number, stragglers from earlier runs ignored.
 */
import { randomBytes } from 'node:crypto';
import { client as xmppClient, type Client } from '@xmpp/client';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import mqtt, { type MqttClient } from 'mqtt';
import { histogram, nowMs, nowUs, recordUs, type Histogram } from './common.js';

export const NS_JSON = 'urn:xmpp:json:0';
const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';

export interface RunTally {
  received: number;
  dup: number;
  stale: number;
  hist: Histogram;
}

export class Tally {
  private run = -1;
  private seen = new Uint8Array(0);
  received = 0;
  dup = 0;
  stale = 0;
  hist: Histogram = histogram();
  /** Monotonic ms of the last message of any run (to wait for a quiet system). */
  lastMessageMs = 0;
  /** Payloads we could not read (unexpected stanzas). */
  unreadable = 0;

  arm(runId: number, total: number): void {
    this.run = runId;
    this.seen = new Uint8Array(total);
    this.received = 0;
    this.dup = 0;
    this.stale = 0;
    this.hist = histogram();
  }

  collect(): RunTally {
    return { received: this.received, dup: this.dup, stale: this.stale, hist: this.hist };
  }

  /** One payload text: JSON with t (intended send time, µs), s (sequence), r (run). */
  record(text: string): void {
    const now = nowUs();
    this.lastMessageMs = now / 1000;
    let m: { t?: unknown; s?: unknown; r?: unknown };
    try {
      m = JSON.parse(text) as typeof m;
    } catch {
      this.unreadable += 1;
      return;
    }
    if (typeof m.s !== 'number' || typeof m.t !== 'number') {
      this.stale += 1;
      return;
    }
    this.sample(m.r, m.s, now - m.t);
  }

  /** One reading already read elsewhere (the sink of scenario S): run, sequence number, latency in µs. */
  sample(r: unknown, s: number, latencyUs: number): void {
    if (r !== this.run || s >= this.seen.length) {
      this.stale += 1;
      return;
    }
    if (this.seen[s]) {
      this.dup += 1;
      return;
    }
    this.seen[s] = 1;
    this.received += 1;
    recordUs(this.hist, latencyUs);
  }

  /** Readings timestamped in another process (the sink): latencies arrive with them, the arrival time is theirs. */
  samples(r: number, s: readonly number[], lat: readonly number[]): void {
    this.lastMessageMs = nowMs();
    for (let i = 0; i < s.length; i++) this.sample(r, s[i]!, lat[i]!);
  }

  /** ms since the last message arrived. */
  quietForMs(): number {
    return nowMs() - this.lastMessageMs;
  }
}

/** The XEP-0335 JSON of a message: directly inside it (readings), or in a PubSub event item (XEP-0060). */
function jsonOf(el: Element): string | undefined {
  const direct = el.getChild('json', NS_JSON);
  if (direct) return direct.getText();
  const item = el.getChild('event')?.getChild('items')?.getChild('item');
  return item?.getChild('json', NS_JSON)?.getText();
}

export interface XmppServerAddress {
  readonly listen: string;
  readonly c2sPort: number;
  readonly host: string;
}

export class XmppReceiver {
  readonly tally = new Tally();
  /** Other stanzas: IQ results/errors and message errors, by kind, for diagnostics. */
  readonly others: Record<string, number> = {};
  private iqWaiters = new Map<string, (el: Element) => void>();

  private constructor(
    readonly client: Client,
    readonly jid: string,
  ) {
    client.on('stanza', (el: Element) => this.onStanza(el));
  }

  static async connect(server: XmppServerAddress, username: string, password: string): Promise<XmppReceiver> {
    const c = xmppClient({
      service: `xmpp://${server.listen}:${server.c2sPort}`,
      domain: server.host,
      username,
      password,
      resource: `bench-${randomBytes(3).toString('hex')}`,
    });
    c.on('error', () => undefined);
    c.reconnect.stop();
    await c.start();
    const r = new XmppReceiver(c, `${username}@${server.host}`);
    await c.send(xml('presence')); // available: messages to the bare JID are delivered here
    return r;
  }

  private onStanza(el: Element): void {
    if (el.name === 'message') {
      if (el.attrs['type'] === 'error') {
        this.count('message-error');
        return;
      }
      const text = jsonOf(el);
      if (text === undefined) this.count('message-without-json');
      else this.tally.record(text);
      return;
    }
    if (el.name === 'iq' && (el.attrs['type'] === 'result' || el.attrs['type'] === 'error')) {
      const id = el.attrs['id'] ?? '';
      const w = this.iqWaiters.get(id);
      if (w) {
        this.iqWaiters.delete(id);
        w(el);
      }
    }
  }

  private count(kind: string): void {
    this.others[kind] = (this.others[kind] ?? 0) + 1;
  }

  /** An IQ round trip (raw, resolves with the reply whatever its type). */
  iq(el: Element, timeoutMs = 30_000): Promise<Element> {
    const id = `b${randomBytes(5).toString('hex')}`;
    el.attrs['id'] = id;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.iqWaiters.delete(id);
        reject(new Error(`no reply to IQ ${id}`));
      }, timeoutMs);
      this.iqWaiters.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.client.send(el).catch((err: unknown) => {
        clearTimeout(timer);
        this.iqWaiters.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  /**
   * Create PubSub nodes on `service` (persist_items off: the peer's best case, like QoS 0 in memory) and subscribe
   * this user's bare JID to them (XEP-0060 §6.1), `concurrency` IQs at a time.
   */
  async pubsubSetup(service: string, nodes: readonly string[], concurrency = 64): Promise<void> {
    const bare = this.jid;
    let next = 0;
    const one = async (node: string): Promise<void> => {
      const create = await this.iq(
        xml(
          'iq',
          { type: 'set', to: service },
          xml(
            'pubsub',
            { xmlns: NS_PUBSUB },
            xml('create', { node }),
            xml(
              'configure',
              {},
              xml(
                'x',
                { xmlns: 'jabber:x:data', type: 'submit' },
                xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, `${NS_PUBSUB}#node_config`)),
                xml('field', { var: 'pubsub#persist_items' }, xml('value', {}, '0')),
                xml('field', { var: 'pubsub#access_model' }, xml('value', {}, 'open')),
              ),
            ),
          ),
        ),
      );
      // A node left over from an earlier run of the same size is fine.
      if (create.attrs['type'] === 'error' && !create.getChild('error')?.getChild('conflict')) {
        throw new Error(`PubSub create ${node} failed: ${create.toString()}`);
      }
      const sub = await this.iq(xml('iq', { type: 'set', to: service }, xml('pubsub', { xmlns: NS_PUBSUB }, xml('subscribe', { node, jid: bare }))));
      if (sub.attrs['type'] !== 'result') throw new Error(`PubSub subscribe ${node} failed: ${sub.toString()}`);
    };
    const worker = async (): Promise<void> => {
      while (next < nodes.length) await one(nodes[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, nodes.length) }, worker));
  }

  async stop(): Promise<void> {
    await this.client.stop().catch(() => undefined);
  }
}

/** One MQTT subscriber (mqtt.js) for the MQTT ceiling. */
export class MqttReceiver {
  readonly tally = new Tally();

  private constructor(readonly client: MqttClient) {
    client.on('message', (_topic, payload) => this.tally.record(payload.toString('utf8')));
  }

  static async connect(url: string, filter: string, qos: 0 | 1): Promise<MqttReceiver> {
    const c = await mqtt.connectAsync(url, { clientId: `bench-sub-${randomBytes(3).toString('hex')}`, reconnectPeriod: 0, clean: true, keepalive: 60 });
    c.on('error', () => undefined);
    const r = new MqttReceiver(c);
    await c.subscribeAsync(filter, { qos });
    return r;
  }

  async stop(): Promise<void> {
    await this.client.endAsync(true).catch(() => undefined);
  }
}
