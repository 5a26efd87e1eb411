/**
 * Devices as presence entities (RFC 6121): subscription requests approved or refused per the mapping's viewers,
 * subscriptions stored durably, probes answered, and presence broadcast to subscribers as devices come and go.
 */
import type { Element } from '@xmpp/xml';
import type { Device } from '../devices/device.js';
import { bareJid } from '../devices/device-jid.js';
import type { DeviceRegistry } from '../devices/registry.js';
import type { Logger } from '../log.js';
import { anyMatch } from '../mapping/jid-pattern.js';
import type { Metrics } from '../observe/metrics.js';
import type { SubscriptionStore } from '../store/subscriptions.js';
import type { ComponentLink } from './component.js';
import { presence } from './stanzas.js';
import xml from '@xmpp/xml';

export class PresenceService {
  constructor(
    private readonly link: ComponentLink,
    private readonly registry: DeviceRegistry,
    private readonly subscriptions: SubscriptionStore,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly onEvent: (type: string, data: Record<string, unknown>) => void,
  ) {}

  /** Whether a bare JID may see a device (subscribe, receive readings, discover it). */
  mayView(device: Device, bare: string): boolean {
    return anyMatch(device.mapping.access.viewers, bare) || anyMatch(device.mapping.access.operators, bare);
  }

  /** An incoming presence stanza addressed to the component or one of its devices. */
  handle(stanza: Element): void {
    const type = stanza.attrs['type'] ?? 'available';
    const from = stanza.attrs['from'];
    const to = stanza.attrs['to'];
    if (!from || !to) return;
    const user = bareJid(from);
    const target = bareJid(to);

    if (target === this.link.domain) {
      // The component itself: anyone may see that the bridge is up.
      if (type === 'subscribe') this.send(presence(target, user, 'subscribed'));
      if (type === 'subscribe' || type === 'probe') this.send(presence(target, user));
      return;
    }

    const device = this.registry.byJid(target);
    switch (type) {
      case 'subscribe': {
        if (!device || !this.mayView(device, user)) {
          // RFC 6121 §3.2.2: a refused request is answered with "unsubscribed".
          this.send(presence(target, user, 'unsubscribed'));
          this.metrics.inc('subscriptions_refused_total');
          this.log.info({ jid: target, user }, 'subscription refused');
          this.onEvent('subscription_refused', { jid: target, user });
          return;
        }
        if (this.subscriptions.add(device.jid, user)) {
          this.log.info({ deviceId: device.id, user }, 'subscription approved');
          this.onEvent('subscription_approved', { deviceId: device.id, jid: device.jid, user });
        }
        // RFC 6121 §3.1.5: approve, then send the contact's current presence.
        this.send(presence(device.jid, user, 'subscribed'));
        this.send(this.presenceOf(device, user));
        return;
      }
      case 'unsubscribe': {
        if (device && this.subscriptions.delete(device.jid, user)) this.log.info({ deviceId: device.id, user }, 'subscription removed');
        // RFC 6121 §3.3.3: confirm with "unsubscribed" and an unavailable presence.
        this.send(presence(target, user, 'unsubscribed'));
        this.send(presence(target, user, 'unavailable'));
        return;
      }
      case 'probe': {
        // RFC 6121 §4.3.2: only subscribers learn the presence; others get "unsubscribed".
        if (device && this.subscriptions.has(device.jid, user)) {
          if (this.mayView(device, user)) {
            this.send(this.presenceOf(device, user));
            return;
          }
          // The mapping no longer allows this user: revoke.
          this.subscriptions.delete(device.jid, user);
          this.log.info({ deviceId: device.id, user }, 'subscription revoked: no longer a viewer');
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
  deviceChanged(device: Device, reason: string): void {
    this.log.info({ deviceId: device.id, online: device.online, reason }, device.online ? 'device online' : 'device offline');
    this.onEvent('device_availability', { deviceId: device.id, jid: device.jid, online: device.online, reason });
    for (const user of this.subscriptions.of(device.jid)) this.send(this.presenceOf(device, user, reason));
  }

  /** After (re)connecting: the server forgot our presence, so announce every device's state to its subscribers. */
  announceAll(): void {
    for (const device of this.registry.all()) {
      if (!device.online) continue;
      for (const user of this.subscriptions.of(device.jid)) this.send(this.presenceOf(device, user));
    }
  }

  /** On shutdown: every online device goes unavailable for its subscribers. */
  unavailableAll(): void {
    for (const device of this.registry.all()) {
      if (!device.online) continue;
      for (const user of this.subscriptions.of(device.jid)) this.send(presence(device.jid, user, 'unavailable', [xml('status', {}, 'bridge stopped')]));
    }
  }

  presenceOf(device: Device, user: string, reason?: string): Element {
    if (device.online) return presence(device.jid, user);
    return presence(device.jid, user, 'unavailable', reason ? [xml('status', {}, reasonText(reason))] : []);
  }

  private send(el: Element): void {
    this.link.send(el);
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
