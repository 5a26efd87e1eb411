/**
 * Attaching to a broker the devices already use (Mosquitto, EMQX, HiveMQ…), as an MQTT client (mqtt.js, MQTT 3.1.1
 * or 5). The bridge subscribes to the mapped topics and publishes commands; availability comes from availability
 * topics and Wills, since a broker does not tell its clients who is connected.
 *
 * Acknowledgement: mqtt.js writes the PUBACK (QoS 1) / PUBCOMP (QoS 2) only after `handleMessage` calls back, so a
 * reading is acknowledged once the bridge has taken it — the same promise as the embedded broker. The session is
 * persistent by default (fixed client id, clean session off), so the broker keeps QoS 1 messages while the bridge
 * is away.
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

export class ExternalBroker implements MqttSide {
  readonly name = 'external';
  /** The broker's own ACL decided who could publish: it does not tell the bridge who did. */
  readonly knowsPublishers = false;
  private client: MqttClient | undefined;
  /** Filters subscribed for any kind, with their kinds: subscribed again after every reconnect. */
  private readonly filters = new Map<string, Set<SubscriptionKind>>();

  constructor(
    private readonly cfg: ExternalConfig,
    private readonly log: Logger,
    /** The bridge's own state topic: `offline` as our Will, so a crashed bridge shows up as such. */
    private readonly stateTopic: string,
  ) {}

  async start(handlers: MqttSideHandlers): Promise<void> {
    const c = this.cfg;
    const opts: IClientOptions = {
      clientId: c.clientId,
      clean: c.cleanSession,
      protocolVersion: c.protocolVersion,
      keepalive: c.keepalive,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
      will: { topic: this.stateTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
      ...(c.username !== undefined ? { username: c.username } : {}),
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(c.caFile ? { ca: readFileSync(c.caFile) } : {}),
      ...(c.certFile ? { cert: readFileSync(c.certFile) } : {}),
      ...(c.keyFile ? { key: readFileSync(c.keyFile) } : {}),
      // MQTT 5: keep the session for an hour after a disconnect (3.1.1 keeps it until clean session).
      ...(c.protocolVersion === 5 && !c.cleanSession ? { properties: { sessionExpiryInterval: 3600 } } : {}),
    };
    const client = mqtt.connect(c.url, opts);
    this.client = client;

    // Every message passes here before it is acknowledged. The broker does not say which subscription a message
    // came through: the edge matches watched filters, and the uplink routes readings (unmapped topics are
    // acknowledged at once).
    client.handleMessage = (packet: IPublishPacket, callback: (err?: Error) => void): void => {
      const topic = packet.topic;
      const payload = payloadBytes(packet.payload);
      handlers.onWatched(undefined, topic, payload);
      handlers.onPublish({ topic, payload, qos: packet.qos, retain: packet.retain, clientId: undefined, replay: packet.retain }, (err) => callback(err));
    };
    client.on('connect', (connack) => {
      this.log.info({ url: c.url, sessionPresent: connack.sessionPresent }, 'attached to the MQTT broker');
      // Re-subscribing is harmless with a present session and required without one.
      const topics = [...this.filters.keys()];
      if (topics.length > 0) {
        client.subscribe(topics, { qos: 1 }, (err) => {
          if (err) this.log.error({ err: err.message }, 'subscription to the mapped topics failed');
        });
      }
      // Its retained bridge topics may be stale (our Will said `offline`) or gone (a broker restarted without
      // persistence): whoever publishes them hears of the (re)attachment.
      handlers.onBrokerEvent('broker_attached', { url: c.url });
    });
    client.on('close', () => this.log.warn({ url: c.url }, 'MQTT broker connection closed; reconnecting'));
    client.on('error', (err) => this.log.warn({ url: c.url, err: err.message }, 'MQTT broker error'));

    // Wait for the first CONNACK, but not forever: an unreachable broker is retried in the background (readings
    // flow once it answers); a refusal of our credentials will not heal by retrying, so it fails the start.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        this.log.warn({ url: c.url }, 'the MQTT broker does not answer yet; retrying in the background');
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
        reject(new Error(`the MQTT broker at ${c.url} refused the bridge: ${err.message}`));
      };
      client.on('connect', onConnect);
      client.on('error', onError);
    });
  }

  async subscribe(filter: string, kind: SubscriptionKind): Promise<void> {
    let kinds = this.filters.get(filter);
    if (!kinds) this.filters.set(filter, (kinds = new Set()));
    const first = kinds.size === 0;
    kinds.add(kind);
    const client = this.client;
    // While disconnected, the filter is subscribed on the next CONNACK.
    if (first && client?.connected) await client.subscribeAsync(filter, { qos: 1 });
  }

  async unsubscribe(filter: string, kind: SubscriptionKind): Promise<void> {
    const kinds = this.filters.get(filter);
    if (!kinds?.delete(kind) || kinds.size > 0) return;
    this.filters.delete(filter);
    const client = this.client;
    if (client?.connected) await client.unsubscribeAsync(filter);
  }

  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
    const client = this.client;
    if (!client?.connected) return Promise.reject(new Error('not connected to the MQTT broker'));
    // Resolves when the broker acknowledges (QoS 1 PUBACK, QoS 2 PUBCOMP), or at once for QoS 0.
    return client.publishAsync(topic, payload, { qos: opts.qos, retain: opts.retain }).then(() => undefined);
  }

  addresses(): { external: string } {
    return { external: this.cfg.url };
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    // Say goodbye explicitly: a clean DISCONNECT suppresses the Will.
    if (client.connected) await client.publishAsync(this.stateTopic, 'offline', { qos: 1, retain: true }).catch(() => undefined);
    await client.endAsync().catch(() => undefined);
  }
}
