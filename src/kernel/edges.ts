/**
 * The two edges' lifecycles, as features, so the runner orders them with the rest:
 *
 *   xmpp-link       starts connecting at once (in the background: devices are accepted while the server is away)
 *                   and closes the stream last, after presence and delivery have said what they had to say;
 *   mqtt-listeners  opens the brokers once the features that take device traffic are ready, and closes them first
 *                   on the way down (no new readings while delivery commits what it accepted).
 */
import type { Feature } from './feature.js';
import type { Kernel } from './kernel.js';
import type { FatalRefusal } from './xmpp-link.js';

export class XmppLinkFeature implements Feature {
  readonly name = 'xmpp-link';
  private readonly onOnline = (): void => this.k.bus.emit('xmpp_online', {});
  private readonly onOffline = (): void => this.k.bus.emit('xmpp_offline', {});

  constructor(
    private readonly k: Kernel,
    private readonly onFatal: (err: FatalRefusal) => void,
  ) {}

  start(): void {
    const { xmpp } = this.k;
    xmpp.on('online', this.onOnline);
    xmpp.on('offline', this.onOffline);
    xmpp.on('fatal', this.onFatal);
    xmpp.start().catch(() => undefined); // a refusal for good arrives as 'fatal'
  }

  async stop(): Promise<void> {
    const { xmpp } = this.k;
    await xmpp.stop();
    xmpp.off('online', this.onOnline);
    xmpp.off('offline', this.onOffline);
    xmpp.off('fatal', this.onFatal);
  }
}

export class MqttListenersFeature implements Feature {
  readonly name = 'mqtt-listeners';

  constructor(
    private readonly k: Kernel,
    /** The features that take device traffic: they must be ready before the first device connects. */
    readonly needs: readonly string[],
  ) {}

  async start(): Promise<void> {
    await this.k.mqtt.start();
  }

  async stop(): Promise<void> {
    await this.k.mqtt.stop();
  }
}
