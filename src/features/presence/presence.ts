/**
 * Devices as presence entities (RFC 6121): subscription requests approved or refused per the mapping's viewers,
 * subscriptions stored durably, probes answered, and presence broadcast to subscribers as devices come and go —
 * including when a mapping change removes a device, and when the bridge stops.
 *
 * A user who may not view a device gets exactly what a JID that names no device gets (access-policy.ts).
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { Device } from '../../devices/device.js';
import { bareJid } from '../../devices/device-jid.js';
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import { presence } from '../../xmpp/stanzas.js';

export class PresenceService implements Feature {
  readonly name = 'presence';
  readonly needs = ['xmpp-link'];
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly k: Kernel) {
    k.router.presence((el) => this.handle(el));
  }

  start(): void {
    const { bus, xmpp } = this.k;
    const announce = (): void => this.announceAll();
    xmpp.on('online', announce);
    this.unsubscribe.push(
      () => xmpp.off('online', announce),
      bus.on('device_availability', ({ device, reason }) => this.deviceChanged(device, reason)),
      bus.on('device_removed', ({ device }) => this.deviceRemoved(device)),
    );
    if (xmpp.online) this.announceAll();
  }

  /** On shutdown: every online device goes unavailable for its subscribers. */
  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    for (const device of this.k.registry.all()) {
      if (!device.online) continue;
      for (const user of this.k.stores.subscriptions.of(device.jid)) this.send(presence(device.jid, user, 'unavailable', [xml('status', {}, 'bridge stopped')]));
    }
  }

  /** An incoming presence stanza addressed to the component or one of its devices. */
  handle(stanza: Element): void {
    const type = stanza.attrs['type'] ?? 'available';
    const from = stanza.attrs['from'];
    const to = stanza.attrs['to'];
    if (!from || !to) return;
    const user = bareJid(from);
    const target = bareJid(to);
    const { access, stores, bus } = this.k;
    const subscriptions = stores.subscriptions;

    if (target === this.k.xmpp.domain) {
      // The component itself: anyone may see that the bridge is up.
      if (type === 'subscribe') this.send(presence(target, user, 'subscribed'));
      if (type === 'subscribe' || type === 'probe') this.send(presence(target, user));
      return;
    }

    switch (type) {
      case 'subscribe': {
        const device = access.visible(target, user);
        if (!device) {
          // RFC 6121 §3.2.2: a refused request is answered with "unsubscribed" — for hidden and unknown JIDs alike.
          this.send(presence(target, user, 'unsubscribed'));
          bus.emit('subscription_refused', { jid: target, user });
          return;
        }
        if (subscriptions.add(device.jid, user)) bus.emit('subscription_approved', { device, user });
        // RFC 6121 §3.1.5: approve, then send the contact's current presence.
        this.send(presence(device.jid, user, 'subscribed'));
        this.send(this.presenceOf(device, user));
        return;
      }
      case 'unsubscribe': {
        const device = this.k.registry.byJid(target);
        if (device && subscriptions.delete(device.jid, user)) bus.emit('subscription_removed', { device, user });
        // RFC 6121 §3.3.3: confirm with "unsubscribed" and an unavailable presence.
        this.send(presence(target, user, 'unsubscribed'));
        this.send(presence(target, user, 'unavailable'));
        return;
      }
      case 'probe': {
        // RFC 6121 §4.3.2: only subscribers learn the presence; others get "unsubscribed".
        const device = this.k.registry.byJid(target);
        if (device && subscriptions.has(device.jid, user)) {
          if (access.mayView(device, user)) {
            this.send(this.presenceOf(device, user));
            return;
          }
          // The mapping no longer allows this user: revoke.
          subscriptions.delete(device.jid, user);
          bus.emit('subscription_removed', { device, user });
        }
        this.send(presence(target, user, 'unsubscribed'));
        return;
      }
      default:
        // available/unavailable directed presence, subscribed/unsubscribed, errors: nothing to do.
        return;
    }
  }

  /** Broadcast a device's current presence to its subscribers. */
  private deviceChanged(device: Device, reason: string): void {
    for (const user of this.k.stores.subscriptions.of(device.jid)) this.send(this.presenceOf(device, user, reason));
  }

  /** A device left the bridge (its mapping was removed or changed): its subscribers see it go. */
  private deviceRemoved(device: Device): void {
    if (!device.online) return;
    device.online = false;
    for (const user of this.k.stores.subscriptions.of(device.jid)) this.send(presence(device.jid, user, 'unavailable', [xml('status', {}, 'removed from the bridge')]));
  }

  /** After (re)connecting: the server forgot our presence, so announce every device's state to its subscribers. */
  private announceAll(): void {
    for (const device of this.k.registry.all()) {
      if (!device.online) continue;
      for (const user of this.k.stores.subscriptions.of(device.jid)) this.send(this.presenceOf(device, user));
    }
  }

  private presenceOf(device: Device, user: string, reason?: string): Element {
    // RFC 6121 §4.7.2.1: "xa" — an asleep device (Homie `sleeping`) is away, not gone.
    if (device.online && device.asleep) return presence(device.jid, user, undefined, [xml('show', {}, 'xa'), xml('status', {}, 'asleep')]);
    if (device.online) return presence(device.jid, user);
    return presence(device.jid, user, 'unavailable', reason ? [xml('status', {}, reasonText(reason))] : []);
  }

  private send(el: Element): void {
    this.k.xmpp.send(el);
  }
}

function reasonText(reason: string): string {
  switch (reason) {
    case 'disconnected':
      return 'disconnected from MQTT';
    case 'availability-topic':
      return 'reported offline';
    case 'timeout':
      return 'not heard from';
    default:
      return reason;
  }
}
