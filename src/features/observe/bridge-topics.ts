/**
 * The bridge's own retained MQTT topics, Zigbee2MQTT style, under `<baseTopic>/bridge/`, on every broker it serves:
 *   state    `online` / `offline` (and `offline` as the Will of the bridge's client on an existing broker)
 *   info     version, XMPP domain and link state, MQTT addresses, the mappings in force with their origin
 *   devices  the known devices (JID, name, mapping, online, last seen)
 * (`event`, the transient reports, is reports.ts.) They are published again when a broker reached as a client
 * (re)attaches: its copies may be stale (our Will said `offline`) or gone (restarted without persistence).
 */
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import { describeOrigin } from '../../kernel/mapping-set.js';
import { PRODUCT } from '../../version.js';

/** Bursts of device changes become one retained update per this interval. */
const DEVICES_COALESCE_MS = 1000;

export class BridgeTopicsFeature implements Feature {
  readonly name = 'bridge-topics';
  readonly needs = ['mqtt-listeners'];
  private readonly unsubscribe: (() => void)[] = [];
  private devicesTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly k: Kernel) {}

  async start(): Promise<void> {
    const { bus } = this.k;
    const devices = (): void => this.devicesChanged();
    const info = (): void => void this.info();
    this.unsubscribe.push(
      bus.on('device_added', devices),
      bus.on('device_removed', devices),
      bus.on('device_renamed', devices),
      bus.on('device_availability', devices),
      bus.on('mappings_changed', () => {
        info();
        devices();
      }),
      bus.on('xmpp_online', info),
      bus.on('xmpp_offline', info),
      bus.on('broker_attached', () => void this.announce()),
      // A lost instance's Will said `offline` on an existing broker; the bridge is still up.
      bus.on('cluster_member_lost', () => void this.announce()),
    );
    await this.announce();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const u of this.unsubscribe.splice(0)) u();
    clearTimeout(this.devicesTimer);
    // In a cluster the bridge is offline when its last instance stops.
    if (this.k.cluster.alone) await this.publish('state', 'offline');
  }

  private async announce(): Promise<void> {
    if (this.stopped) return;
    await this.publish('state', 'online');
    await this.info();
    this.devicesChanged();
  }

  private info(): Promise<void> {
    const { config, mappings, xmpp, mqtt } = this.k;
    return this.publish(
      'info',
      JSON.stringify({
        version: PRODUCT.version,
        xmpp: { domain: config.xmpp.domain, connected: xmpp.online },
        mqtt: mqtt.addresses(),
        mappings: mappings.all().map((m) => ({
          id: m.id,
          origin: describeOrigin(m.origin),
          topic: m.topic.source,
          jid: m.jid.source,
          schema: m.schema.id,
          commands: m.commands.map((c) => c.name),
        })),
      }),
    );
  }

  private devicesChanged(): void {
    if (this.devicesTimer || this.stopped) return;
    this.devicesTimer = setTimeout(() => {
      this.devicesTimer = undefined;
      const list = [...this.k.registry.all()].map((d) => ({ id: d.id, jid: d.jid, name: d.name, mapping: d.mapping.id, online: d.online, lastSeen: d.lastSeen || null }));
      void this.publish('devices', JSON.stringify(list));
    }, DEVICES_COALESCE_MS);
    this.devicesTimer.unref();
  }

  private publish(name: string, payload: string): Promise<void> {
    return this.k.mqtt.publishEverywhere(`${this.k.config.baseTopic}/bridge/${name}`, payload, { qos: 0, retain: true });
  }
}
