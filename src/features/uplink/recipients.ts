/**
 * Who a device's readings are for, and who gets them now (presence-gated fan-out).
 *
 * Followers of a device: its presence subscribers (when the mapping notifies them) and the mapping's `notify.jids`.
 * A reading goes now to the followers who are online (kernel/user-presence.ts); with `offline: store` it goes to every
 * follower, and their servers keep it for the ones away. Followers who are away get nothing now: with `offline: latest`
 * they get the current value once when they are back (uplink feature), with `drop` nothing.
 *
 * It also remembers, per (device, follower), the newest reading they were sent (when it was received, and its text),
 * so a returning follower is sent the current value only when they missed something: a newer reading that reads
 * differently (a plug reporting "OFF, 0.4 W" every 15 seconds has nothing new to tell).
 */
import type { Device } from '../../devices/device.js';
import type { SubscriptionStore } from '../../kernel/stores.js';
import type { UserPresence } from '../../kernel/user-presence.js';

export class Recipients {
  /**
   * device JID → the newest reading each follower was sent: the one follower's record itself while there is one (most
   * devices have one follower; a Map of one entry is ~180 bytes per device), a Map by follower from the second on.
   */
  private readonly sent = new Map<string, Sent | Map<string, Sent>>();

  constructor(
    private readonly subscriptions: SubscriptionStore,
    private readonly users: UserPresence,
  ) {}

  /** Everyone the device's readings are for, online or not. */
  followers(device: Device): string[] {
    const { mapping, jid } = device;
    const out = new Set<string>(mapping.notify.jids);
    if (mapping.notify.subscribers) for (const s of this.subscriptions.of(jid)) out.add(s);
    return [...out];
  }

  follows(device: Device, user: string): boolean {
    const { mapping } = device;
    return mapping.notify.jids.includes(user) || (mapping.notify.subscribers && this.subscriptions.has(device.jid, user));
  }

  /** The followers who get a reading now. */
  now(device: Device): string[] {
    const all = this.followers(device);
    if (device.mapping.delivery.offline === 'store') return all;
    return all.filter((u) => this.users.isOnline(u));
  }

  /**
   * These followers were sent the reading received at `receivedAt`, which reads `text`. Two readings can arrive in the
   * same millisecond: the one sent last is the one they see.
   */
  delivered(device: Device, users: readonly string[], receivedAt: number, text: string): void {
    for (const u of users) if ((this.last(device.jid, u)?.at ?? 0) <= receivedAt) this.record(device.jid, { user: u, at: receivedAt, text });
  }

  /**
   * Whether the follower missed the reading received at `receivedAt` reading `text`: nothing as new was sent to them
   * since, or what they got in that same millisecond reads differently (a newer reading, not the same one again).
   */
  missed(device: Device, user: string, receivedAt: number, text: string): boolean {
    const last = this.last(device.jid, user);
    return last === undefined || (receivedAt >= last.at && text !== last.text);
  }

  /** Forget a follower (unsubscribed), or every follower of a device (removed). */
  forget(deviceJid: string, user?: string): void {
    if (user === undefined) {
      this.sent.delete(deviceJid);
      return;
    }
    const entry = this.sent.get(deviceJid);
    if (entry instanceof Map) entry.delete(user);
    else if (entry?.user === user) this.sent.delete(deviceJid);
  }

  private last(deviceJid: string, user: string): Sent | undefined {
    const entry = this.sent.get(deviceJid);
    if (entry instanceof Map) return entry.get(user);
    return entry?.user === user ? entry : undefined;
  }

  private record(deviceJid: string, sent: Sent): void {
    const entry = this.sent.get(deviceJid);
    if (entry instanceof Map) entry.set(sent.user, sent);
    else if (entry === undefined || entry.user === sent.user) this.sent.set(deviceJid, sent);
    else this.sent.set(deviceJid, new Map([[entry.user, entry], [sent.user, sent]]));
  }
}

interface Sent {
  readonly user: string;
  readonly at: number;
  readonly text: string;
}
