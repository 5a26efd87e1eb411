/**
 * The bridge's own MQTT topics, Zigbee2MQTT style, under `<baseTopic>/bridge/`:
 *   state    retained  `online` / `offline`
 *   info     retained  version, XMPP domain and link state, mappings
 *   devices  retained  the known devices (JID, mapping, online)
 *   event    transient `{"type": …, "data": {…}}`: rejected payloads, availability changes, subscriptions…
 */
import type { MqttSide } from '../broker/mqtt-side.js';
import type { Logger } from '../log.js';

export class BridgeTopics {
  private devicesTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly base: string,
    /** Published on every broker the bridge serves, so whoever watches either sees the bridge. */
    private readonly sides: readonly MqttSide[],
    private readonly log: Logger,
  ) {}

  topic(name: string): string {
    return `${this.base}/bridge/${name}`;
  }

  state(online: boolean): Promise<void> {
    return this.publish('state', online ? 'online' : 'offline', true);
  }

  info(info: Record<string, unknown>): Promise<void> {
    return this.publish('info', JSON.stringify(info), true);
  }

  /** Coalesce bursts of device changes into one retained update per second. */
  devicesChanged(list: () => unknown[]): void {
    if (this.devicesTimer) return;
    this.devicesTimer = setTimeout(() => {
      this.devicesTimer = undefined;
      void this.publish('devices', JSON.stringify(list()), true);
    }, 1000);
    this.devicesTimer.unref();
  }

  event(type: string, data: Record<string, unknown>): void {
    void this.publish('event', JSON.stringify({ type, data }), false);
  }

  stop(): void {
    clearTimeout(this.devicesTimer);
  }

  private async publish(name: string, payload: string, retain: boolean): Promise<void> {
    await Promise.all(
      this.sides.map((side) =>
        side.publish(this.topic(name), payload, { qos: 0, retain }).catch((err: unknown) => {
          this.log.debug({ err: (err as Error).message, topic: this.topic(name), broker: side.name }, 'bridge topic not published');
        }),
      ),
    );
  }
}
