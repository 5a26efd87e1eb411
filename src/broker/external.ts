/**
 * Attaching to a broker the devices already use (Mosquitto, EMQX, HiveMQ…), as an MQTT client (mqtt.js, MQTT 3.1.1
 * or 5). The bridge subscribes to the mapped topics and publishes commands; availability comes from availability
 * topics and Wills, since a broker does not tell its clients who is connected.
 *
 * Acknowledgement: mqtt.js writes the PUBACK (QoS 1) / PUBCOMP (QoS 2) only after `handleMessage` calls back, so a
 * reading is acknowledged once the bridge has taken it — the same promise as the embedded broker. The session is
 * persistent by default (fixed client id, clean session off), so the broker keeps QoS 1 messages while the bridge
 * is away.
 *
 * Cluster mode (docs/SCALING.md): each instance attaches twice. Its readings client (client id `<clientId>-<instance>`,
 * persistent session, the bridge's Will) takes readings and availability through shared subscriptions,
 * `$share/<group>/<filter>`: the broker hands each message to one instance of the group, round-robin (mosquitto,
 * EMQX, HiveMQ, VerneMQ). Its watch client (`<clientId>-<instance>-w`, clean session) sees every message of the
 * watched filters (confirmations, discovery): only the instance that waits for an echo acts on it. A survivor takes
 * over a lost instance's readings session (`takeOver`): what the broker queued or had in flight for it is delivered by
 * the survivor, and its share ends until it returns.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { BridgeConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { payloadBytes, type MqttSide, type MqttSideHandlers, type PublishOptions, type SubscriptionKind } from './mqtt-side.js';

type ExternalConfig = NonNullable<BridgeConfig['mqtt']['external']>;

const FIRST_CONNECT_WAIT_MS = 10_000;
/** CONNACK codes that mean "not you": 3.1.1 bad credentials / not authorized (4, 5), MQTT 5 (134, 135). */
const REFUSED = new Set([4, 5, 134, 135]);

export interface ExternalClusterOptions {
  /** This instance's id: its client ids are `<clientId>-<instance>` and `<clientId>-<instance>-w`. */
  readonly instance: string;
  /** The shared subscription group. */
  readonly group: string;
  /** Whether other instances are alive (at stop: they take this one's share from then on, so it leaves the group). */
  readonly others: () => boolean;
}

/** A lost instance's session is drained until it has been quiet this long (and every message it held is taken). */
const TAKEOVER_QUIET_MS = 500;
const TAKEOVER_MAX_MS = 30_000;
/** How long the takeover waits for the broker to confirm that the lost session left the shared group. */
const TAKEOVER_UNSUBSCRIBE_MS = 5000;

/** One connection to the broker and the filters subscribed through it (subscribed again after every reconnect). */
class Attachment {
  client: MqttClient | undefined;
  /** Filters with the kinds they are subscribed for. */
  readonly filters = new Map<string, Set<SubscriptionKind>>();

  constructor(
    /** The topic filter sent in SUBSCRIBE for a filter (a shared subscription in cluster mode). */
    readonly subscription: (filter: string) => string,
  ) {}

  async add(filter: string, kind: SubscriptionKind): Promise<void> {
    let kinds = this.filters.get(filter);
    if (!kinds) this.filters.set(filter, (kinds = new Set()));
    const first = kinds.size === 0;
    kinds.add(kind);
    // While disconnected, the filter is subscribed on the next CONNACK.
    if (first && this.client?.connected) await this.client.subscribeAsync(this.subscription(filter), { qos: 1 });
  }

  async remove(filter: string, kind: SubscriptionKind): Promise<void> {
    const kinds = this.filters.get(filter);
    if (!kinds?.delete(kind) || kinds.size > 0) return;
    this.filters.delete(filter);
    if (this.client?.connected) await this.client.unsubscribeAsync(this.subscription(filter));
  }

  /** Every filter again (after a CONNACK: harmless with a present session, required without one). */
  resubscribe(log: Logger): void {
    const topics = [...this.filters.keys()].map(this.subscription);
    if (topics.length === 0 || !this.client) return;
    this.client.subscribe(topics, { qos: 1 }, (err) => {
      if (err) log.error({ err: err.message }, 'subscription to the mapped topics failed');
    });
  }
}

export class ExternalBroker implements MqttSide {
  readonly name = 'external';
  /** The broker's own ACL decided who could publish: it does not tell the bridge who did. */
  readonly knowsPublishers = false;
  /** Readings (and, in cluster mode, availability, shared) — and the one that publishes. */
  private readonly main: Attachment;
  /** Cluster mode: every message of the watched filters. */
  private readonly watch: Attachment | undefined;
  private handlers: MqttSideHandlers | undefined;
  /** Closing for good: a connection closing now is not reconnected and is not worth a warning. */
  private stopping = false;

  constructor(
    private readonly cfg: ExternalConfig,
    private readonly log: Logger,
    /** The bridge's own state topic: `offline` as our Will, so a crashed bridge shows up as such. */
    private readonly stateTopic: string,
    private readonly cluster?: ExternalClusterOptions,
  ) {
    this.main = new Attachment(cluster ? (f) => `$share/${cluster.group}/${f}` : (f) => f);
    this.watch = cluster ? new Attachment((f) => f) : undefined;
  }

  async start(handlers: MqttSideHandlers): Promise<void> {
    this.handlers = handlers;
    const c = this.cfg;
    const cluster = this.cluster;
    const main = this.connect(this.main, this.options(cluster ? `${c.clientId}-${cluster.instance}` : c.clientId, !c.cleanSession, true), (packet, callback) => {
      // Every message passes here before it is acknowledged. The broker does not say which subscription a message
      // came through: the edge matches watched filters, and the uplink routes readings (unmapped topics are
      // acknowledged at once).
      const topic = packet.topic;
      const payload = payloadBytes(packet.payload);
      handlers.onWatched(undefined, topic, payload, undefined, cluster ? 'once' : undefined);
      handlers.onPublish({ topic, payload, qos: packet.qos, retain: packet.retain, clientId: undefined, replay: packet.retain }, (err) => callback(err));
    });
    main.on('connect', () => {
      // Its retained bridge topics may be stale (our Will said `offline`) or gone (a broker restarted without
      // persistence): whoever publishes them hears of the (re)attachment.
      handlers.onBrokerEvent('broker_attached', { url: c.url });
    });
    const waits = [this.firstConnack(main)];
    if (this.watch && cluster) {
      // Nothing to keep while away: a confirmation waited for is waited for by this process only.
      const watch = this.connect(this.watch, this.options(`${c.clientId}-${cluster.instance}-w`, false, false), (packet, callback) => {
        handlers.onWatched(undefined, packet.topic, payloadBytes(packet.payload), undefined, 'all');
        callback();
      });
      waits.push(this.firstConnack(watch));
    }
    await Promise.all(waits);
  }

  async subscribe(filter: string, kind: SubscriptionKind): Promise<void> {
    await this.attachmentFor(kind).add(filter, kind);
  }

  async unsubscribe(filter: string, kind: SubscriptionKind): Promise<void> {
    await this.attachmentFor(kind).remove(filter, kind);
  }

  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
    const client = this.main.client;
    if (!client?.connected) return Promise.reject(new Error('not connected to the MQTT broker'));
    // Resolves when the broker acknowledges (QoS 1 PUBACK, QoS 2 PUBCOMP), or at once for QoS 0.
    return client.publishAsync(topic, payload, { qos: opts.qos, retain: opts.retain }).then(() => undefined);
  }

  addresses(): { external: string } {
    return { external: this.cfg.url };
  }

  /**
   * Cluster mode: resume a lost instance's readings session as a client of our own, take what the broker queued or
   * had in flight for it (readings of this instance from now on: our outbox, our stream), then end the session, so
   * the broker stops handing it a share of the readings until that instance returns.
   */
  async takeOver(instance: string, stillGone: () => Promise<boolean>): Promise<number> {
    const handlers = this.handlers;
    if (!this.cluster || !handlers) return 0;
    const clientId = `${this.cfg.clientId}-${instance}`;
    let taken = 0;
    let pending = 0;
    let last = Date.now();
    const client = mqtt.connect(this.cfg.url, { ...this.options(clientId, true, false), reconnectPeriod: 0 });
    client.handleMessage = (packet: IPublishPacket, callback: (err?: Error) => void): void => {
      taken += 1;
      pending += 1;
      last = Date.now();
      const payload = payloadBytes(packet.payload);
      handlers.onWatched(undefined, packet.topic, payload, undefined, 'once');
      handlers.onPublish({ topic: packet.topic, payload, qos: packet.qos, retain: packet.retain, clientId: undefined, replay: packet.retain }, (err) => {
        pending -= 1;
        callback(err);
      });
    };
    client.on('error', (err) => this.log.warn({ clientId, err: err.message }, 'taking over a lost instance\'s session failed'));
    try {
      const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('error', reject);
        client.once('close', () => reject(new Error('closed')));
      });
      const deadline = Date.now() + TAKEOVER_MAX_MS;
      const drained = async (quietMs: number): Promise<void> => {
        while (Date.now() < deadline && client.connected && (pending > 0 || Date.now() - last < quietMs)) await new Promise((r) => setTimeout(r, 50));
      };
      if (connack.sessionPresent) await drained(TAKEOVER_QUIET_MS);
      // The lost session leaves the shared group while we hold it: once we disconnect, the broker would otherwise go
      // on queueing its share of the readings for it — acknowledged to their devices, then discarded with the session
      // below (or, if it is left to a returning instance, held by a session nobody may resume). [MQTT-3.10.4-1]: the
      // subscription is deleted; [MQTT-3.10.4-3]: what the broker had started to send is still delivered — and taken
      // here. The instance subscribes again on its next CONNACK (Attachment#resubscribe).
      const filters = [...this.main.filters.keys()].map(this.main.subscription);
      if (client.connected && filters.length > 0) {
        await Promise.race([client.unsubscribeAsync(filters).catch(() => undefined), new Promise((r) => setTimeout(r, TAKEOVER_UNSUBSCRIBE_MS))]);
        await drained(0);
      }
    } catch {
      // Refused or replaced (the instance came back and took its session): nothing more to take.
    } finally {
      await client.endAsync().catch(() => undefined);
    }
    // Back meanwhile (its client took the session from ours): it keeps its session and its share.
    if (!(await stillGone().catch(() => false))) {
      this.log.info({ clientId, taken }, 'a lost instance came back during its takeover; its session is left to it');
      return taken;
    }
    // A clean session discards the old one: no subscriptions, nothing queued for it any more.
    const eraser = mqtt.connect(this.cfg.url, { ...this.options(clientId, false, false), reconnectPeriod: 0 });
    eraser.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      eraser.once('connect', () => resolve());
      eraser.once('close', () => resolve());
    });
    await eraser.endAsync().catch(() => undefined);
    this.log.info({ clientId, taken }, 'took over a lost instance\'s broker session');
    return taken;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const client = this.main.client;
    await this.watch?.client?.endAsync().catch(() => undefined);
    if (!client) return;
    // Say goodbye explicitly: a clean DISCONNECT suppresses the Will. In cluster mode the bridge stays online
    // through the other instances (bridge-topics decides what to say).
    if (client.connected && !this.cluster) await client.publishAsync(this.stateTopic, 'offline', { qos: 1, retain: true }).catch(() => undefined);
    // In cluster mode, leave the shared subscriptions first: the broker stops handing this instance a share it would
    // queue until the instance returns (what it queued already is taken over by another instance: state.ts#close).
    // The last instance keeps its share instead: the broker queues the readings for it while it is away.
    if (client.connected && this.cluster?.others() && this.main.filters.size > 0) {
      const filters = [...this.main.filters.keys()].map(this.main.subscription);
      await Promise.race([client.unsubscribeAsync(filters).catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
    }
    await client.endAsync().catch(() => undefined);
    this.log.info({ url: this.cfg.url, clientId: client.options.clientId }, 'detached from the MQTT broker');
  }

  private attachmentFor(kind: SubscriptionKind): Attachment {
    return kind === 'watched' && this.watch ? this.watch : this.main;
  }

  private options(clientId: string, persistent: boolean, will: boolean): IClientOptions {
    const c = this.cfg;
    return {
      clientId,
      clean: !persistent,
      protocolVersion: c.protocolVersion,
      keepalive: c.keepalive,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
      ...(will ? { will: { topic: this.stateTopic, payload: Buffer.from('offline'), qos: 1 as const, retain: true } } : {}),
      ...(c.username !== undefined ? { username: c.username } : {}),
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(c.caFile ? { ca: readFileSync(c.caFile) } : {}),
      ...(c.certFile ? { cert: readFileSync(c.certFile) } : {}),
      ...(c.keyFile ? { key: readFileSync(c.keyFile) } : {}),
      // MQTT 5: keep the session for an hour after a disconnect (3.1.1 keeps it until clean session).
      ...(c.protocolVersion === 5 && persistent ? { properties: { sessionExpiryInterval: 3600 } } : {}),
    };
  }

  private connect(a: Attachment, opts: IClientOptions, onMessage: (packet: IPublishPacket, callback: (err?: Error) => void) => void): MqttClient {
    const url = this.cfg.url;
    const client = mqtt.connect(url, opts);
    a.client = client;
    client.handleMessage = onMessage;
    client.on('connect', (connack) => {
      this.log.info({ url, clientId: opts.clientId, sessionPresent: connack.sessionPresent }, 'attached to the MQTT broker');
      a.resubscribe(this.log);
    });
    client.on('close', () => {
      if (!this.stopping) this.log.warn({ url, clientId: opts.clientId }, 'MQTT broker connection closed; reconnecting');
    });
    client.on('error', (err) => this.log.warn({ url, clientId: opts.clientId, err: err.message }, 'MQTT broker error'));
    return client;
  }

  /**
   * Wait for the first CONNACK, but not forever: an unreachable broker is retried in the background (readings flow
   * once it answers); a refusal of our credentials will not heal by retrying, so it fails the start.
   */
  private firstConnack(client: MqttClient): Promise<void> {
    const url = this.cfg.url;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        this.log.warn({ url }, 'the MQTT broker does not answer yet; retrying in the background');
        resolve();
      }, FIRST_CONNECT_WAIT_MS);
      const cleanup = (): void => {
        clearTimeout(timer);
        client.off('connect', onConnect);
        client.off('error', onError);
      };
      const onConnect = (): void => {
        cleanup();
        resolve();
      };
      const onError = (err: Error): void => {
        if (!REFUSED.has((err as { code?: number }).code ?? -1)) return;
        cleanup();
        client.end(true);
        reject(new Error(`the MQTT broker at ${url} refused the bridge: ${err.message}`));
      };
      client.on('connect', onConnect);
      client.on('error', onError);
    });
  }
}
