/**
 * Devices as presence entities (RFC 6121), and the presence of the people who follow them.
 *
 * Devices: subscription requests approved or refused per the mapping's viewers, subscriptions stored durably, probes
 * answered, and presence broadcast to subscribers as devices come and go — with the latest reading as status text and
 * `xa` + XEP-0319 idle when no reading came for a while (device-presence.ts) — including when a mapping change removes
 * a device, and when the bridge stops.
 *
 * Users: after approving a subscription, the device asks for the user's presence in return (mutual subscription,
 * RFC 6121 §3.1, with its name as an XEP-0172 nick); a mapping's `invite` JIDs get that request unprompted, so the
 * device lands in their roster. What the users answer is kept (PresenceRequestStore): a declined request is not
 * repeated. The available resources of users who share their presence are tracked in the kernel's UserPresence, which
 * delivery reads; after a reconnect the bridge probes them again (§4.3). A user who shares no presence is never taken
 * as online, but the probe their server sends to a device at login announces their return for that device
 * (`user_available` with `tracked: false`).
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
import { NS_LAST, NS_NICK } from '../../xmpp/namespaces.js';
import { devicePresence, idleSince, statusText, type Shown } from './device-presence.js';
import { lastActivityHandler } from './last-activity.js';

/** How often idle devices are looked for, at most (smaller mapping `idleAfter` values make it more often). */
const IDLE_SWEEP_MS = 5000;

export class PresenceService implements Feature {
  readonly name = 'presence';
  readonly needs = ['xmpp-link'];
  private readonly unsubscribe: (() => void)[] = [];
  /** What each device's subscribers were last shown. */
  private readonly shown = new Map<string, Shown>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(private readonly k: Kernel) {
    k.router.presence((el) => this.handle(el));
    const startedAt = Date.now();
    k.router.iq(
      'get',
      NS_LAST,
      'query',
      lastActivityHandler({
        domain: k.config.xmpp.domain,
        access: k.access,
        startedAt,
        lastReading: (d) => ({ at: this.lastReading(d), text: this.current(d).text }),
      }),
    );
    k.disco.componentFeature(NS_LAST);
    k.disco.deviceFeatures(() => [NS_LAST]);
  }

  start(): void {
    const { bus, xmpp } = this.k;
    const online = (): void => this.linkOnline();
    const offline = (): void => this.k.users.clear();
    xmpp.on('online', online);
    xmpp.on('offline', offline);
    this.unsubscribe.push(
      () => xmpp.off('online', online),
      () => xmpp.off('offline', offline),
      bus.on('device_availability', ({ device, reason }) => this.deviceChanged(device, reason)),
      bus.on('device_removed', ({ device }) => this.deviceRemoved(device)),
      bus.on('device_added', ({ device }) => this.invite(device)),
      bus.on('mappings_changed', (change) => {
        for (const m of [...change.added, ...change.replaced.map((r) => r.after)]) for (const d of this.k.registry.ofMapping(m.id)) this.invite(d);
        this.scheduleSweep();
      }),
      bus.on('reading_sent', ({ reading }) => this.readingSent(reading.device, reading.value)),
    );
    // The devices whose users granted their presence before a restart still see it.
    for (const device of this.k.registry.all()) for (const [user, state] of this.k.stores.presenceRequests.of(device.jid)) if (state === 'granted') this.k.users.watch(device.jid, user);
    this.scheduleSweep();
    if (xmpp.online) this.linkOnline();
  }

  /** On shutdown: every online device goes unavailable for its subscribers. */
  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    clearInterval(this.sweepTimer);
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
    const resource = from.length > user.length ? from.slice(user.length + 1) : '';
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
        const added = subscriptions.add(device.jid, user);
        // RFC 6121 §3.1.5: approve, then send the contact's current presence.
        this.send(presence(device.jid, user, 'subscribed'));
        this.send(this.presenceOf(device, user));
        // Mutual subscription: the device asks for the user's presence, to send readings only while they are online.
        if (stores.presenceRequests.get(device.jid, user) !== 'granted') this.request(device, user);
        if (added) bus.emit('subscription_approved', { device, user });
        return;
      }
      case 'unsubscribe': {
        const device = this.k.registry.byJid(target);
        if (device && subscriptions.delete(device.jid, user)) bus.emit('subscription_removed', { device, user });
        // RFC 6121 §3.3.3: confirm with "unsubscribed" and an unavailable presence.
        this.send(presence(target, user, 'unsubscribed'));
        this.send(presence(target, user, 'unavailable'));
        if (device && stores.presenceRequests.get(device.jid, user) !== undefined) {
          // The device no longer wants the presence of someone who does not follow it (RFC 6121 §3.3.1). An invitation
          // is not repeated to someone who removed the device.
          this.send(presence(device.jid, user, 'unsubscribe'));
          if (device.mapping.invite.includes(user)) stores.presenceRequests.set(device.jid, user, 'declined');
          else stores.presenceRequests.delete(device.jid, user);
          this.unwatch(device, user);
        }
        return;
      }
      case 'probe': {
        // RFC 6121 §4.3.2: only subscribers learn the presence; others get "unsubscribed".
        const device = this.k.registry.byJid(target);
        if (device && subscriptions.has(device.jid, user)) {
          if (access.mayView(device, user)) {
            this.send(this.presenceOf(device, user));
            // The user's server probes at login (RFC 6121 §4.3.1). For a user whose presence the bridge cannot see, this
            // is the only sign of their return.
            if (!this.k.users.tracked(user)) bus.emit('user_available', { user, resource, tracked: false, device });
            return;
          }
          // The mapping no longer allows this user: revoke.
          subscriptions.delete(device.jid, user);
          bus.emit('subscription_removed', { device, user });
        }
        this.send(presence(target, user, 'unsubscribed'));
        return;
      }
      case 'subscribed': {
        // The user approved the device's request (RFC 6121 §3.1.5): their presence will reach the device.
        const device = this.k.registry.byJid(target);
        if (!device || stores.presenceRequests.get(device.jid, user) === undefined) return; // not asked: ignored (§3.1.6)
        const before = stores.presenceRequests.get(device.jid, user);
        stores.presenceRequests.set(device.jid, user, 'granted');
        this.k.users.watch(device.jid, user);
        if (before !== 'granted') bus.emit('presence_shared', { device, user, granted: true });
        return;
      }
      case 'unsubscribed': {
        // The user declined the request, or cancelled it later (RFC 6121 §3.2.2, §3.3): no more presence from them.
        const device = this.k.registry.byJid(target);
        const before = device ? stores.presenceRequests.get(device.jid, user) : undefined;
        if (!device || before === undefined) return;
        stores.presenceRequests.set(device.jid, user, 'declined');
        this.unwatch(device, user);
        if (before !== 'declined') bus.emit('presence_shared', { device, user, granted: false });
        return;
      }
      case 'available': {
        // RFC 6121 §4.2/§4.6: a resource of a user is online (broadcast to a device they share presence with, or
        // directed to it — either way their server sends the unavailable when it leaves).
        if (!this.k.registry.byJid(target)) return;
        if (this.k.users.available(user, resource)) bus.emit('user_available', { user, resource, tracked: this.k.users.tracked(user) });
        return;
      }
      case 'unavailable': {
        // From the bare JID: the answer to a probe when no resource is online (RFC 6121 §4.3.2).
        if (this.k.users.unavailable(user, resource === '' ? undefined : resource)) bus.emit('user_unavailable', { user });
        return;
      }
      default:
        // Errors (a remote server that cannot be reached): nothing to do.
        return;
    }
  }

  /** The device's current presence for one user. */
  presenceOf(device: Device, user: string, reason?: string): Element {
    return devicePresence(device, user, this.current(device), reason);
  }

  /**
   * After (re)connecting: the server forgot our presence and we forgot the users'. Also sends the requests that are
   * missing — subscribers the device never asked (they subscribed before devices asked anyone), invitations made while
   * the stream was down; a request already sent is not repeated.
   */
  private linkOnline(): void {
    for (const device of this.k.registry.all()) {
      const subscribers = this.k.stores.subscriptions.of(device.jid);
      if (device.online && subscribers.size > 0) {
        const shown = this.current(device);
        for (const user of subscribers) this.send(devicePresence(device, user, shown));
      }
      // RFC 6121 §4.3: probe the users who share their presence; their servers answer with it.
      for (const [user, state] of this.k.stores.presenceRequests.of(device.jid)) if (state === 'granted') this.send(presence(device.jid, user, 'probe'));
      for (const user of subscribers) if (this.k.stores.presenceRequests.get(device.jid, user) === undefined) this.request(device, user);
      this.invite(device);
    }
  }

  /** The device asks for the user's presence (RFC 6121 §3.1.1), naming itself (XEP-0172 §4.1). */
  private request(device: Device, user: string): void {
    if (!this.k.xmpp.online) return;
    this.k.stores.presenceRequests.set(device.jid, user, 'asked');
    this.send(presence(device.jid, user, 'subscribe', [xml('nick', { xmlns: NS_NICK }, device.name)]));
  }

  /** The mapping's invitations: each listed JID gets the device's request once; their answer is kept. */
  private invite(device: Device): void {
    for (const user of device.mapping.invite) if (this.k.stores.presenceRequests.get(device.jid, user) === undefined) this.request(device, user);
  }

  private unwatch(device: Device, user: string): void {
    if (this.k.users.unwatch(device.jid, user)) this.k.bus.emit('user_unavailable', { user });
  }

  /** Broadcast a device's current presence to its subscribers. */
  private deviceChanged(device: Device, reason: string): void {
    const shown = this.current(device);
    this.shown.set(device.jid, shown);
    for (const user of this.k.stores.subscriptions.of(device.jid)) this.send(devicePresence(device, user, shown, reason));
  }

  /** A new reading went out: its subscribers who may be online see it as the device's status, if the text changed. */
  private readingSent(device: Device, value: unknown): void {
    if (!device.online) return;
    const text = statusText(device, value);
    const before = this.shown.get(device.jid);
    if (text === undefined || (before?.text === text && before.idleSince === undefined)) return;
    const now: Shown = { text, idleSince: undefined };
    this.shown.set(device.jid, now);
    this.broadcast(device, now);
  }

  /** Devices that stopped (or resumed) reporting: `xa` with an idle time, or back to available. */
  private sweep(now: number): void {
    for (const device of this.k.registry.all()) {
      if (!device.online || device.mapping.idleAfter <= 0) continue;
      const idle = idleSince(device, this.lastReading(device), now);
      const before = this.shown.get(device.jid);
      if ((before?.idleSince === undefined) === (idle === undefined)) continue;
      const shown = { text: before?.text ?? this.current(device).text, idleSince: idle };
      this.shown.set(device.jid, shown);
      this.broadcast(device, shown);
    }
  }

  private scheduleSweep(): void {
    clearInterval(this.sweepTimer);
    let every = IDLE_SWEEP_MS;
    for (const m of this.k.mappings.all()) if (m.idleAfter > 0) every = Math.min(every, Math.max(100, (m.idleAfter * 1000) / 4));
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), every);
    this.sweepTimer.unref();
  }

  /** To the subscribers who may be online: the ones whose presence the bridge sees and who are online, and the others. */
  private broadcast(device: Device, shown: Shown): void {
    const { users } = this.k;
    for (const user of this.k.stores.subscriptions.of(device.jid)) {
      if (users.tracked(user) && !users.isOnline(user)) continue; // their server would drop it
      this.send(devicePresence(device, user, shown));
    }
  }

  /** What the device shows now: its latest reading and, when stale, since when it is idle. */
  private current(device: Device): Shown {
    const latest = this.k.stores.latest.get(device.jid);
    let text: string | undefined;
    if (latest) {
      try {
        text = statusText(device, JSON.parse(latest.json) as unknown);
      } catch {
        text = undefined;
      }
    }
    return { text, idleSince: idleSince(device, this.lastReading(device), Date.now()) };
  }

  private lastReading(device: Device): number {
    return this.k.stores.latest.get(device.jid)?.receivedAt ?? 0;
  }

  /** A device left the bridge (its mapping was removed or changed): its subscribers see it go. */
  private deviceRemoved(device: Device): void {
    this.shown.delete(device.jid);
    if (!device.online) return;
    device.online = false;
    for (const user of this.k.stores.subscriptions.of(device.jid)) this.send(presence(device.jid, user, 'unavailable', [xml('status', {}, 'removed from the bridge')]));
  }

  private send(el: Element): void {
    this.k.xmpp.send(el);
  }
}
