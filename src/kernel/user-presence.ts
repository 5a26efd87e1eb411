/**
 * Which users the bridge last saw available, from the presence stanzas that reach the component: the probes a user's
 * server sends from the user's full JID at login (RFC 6121 §4.3), directed and broadcast presence (seen once a device
 * is subscribed to the user), and `unavailable` (RFC 6121 §4.5). What is not seen is not guessed: a user whose logout
 * the server never tells the component stays "available" until it is.
 *
 * Bounded: at most MAX_USERS users (the least recently heard of are forgotten first) and MAX_RESOURCES resources each.
 */
import type { Element } from '@xmpp/xml';
import { bareJid } from '../devices/device-jid.js';
import type { StanzaRouter } from './stanza-router.js';

const MAX_USERS = 100_000;
const MAX_RESOURCES = 16;

export class UserPresence {
  /** bare JID → available resources ('' for a bare-JID presence); insertion order = least recently heard first. */
  private readonly users = new Map<string, Set<string>>();

  constructor(router: StanzaRouter) {
    router.presence((el) => this.heard(el));
  }

  isOnline(bare: string): boolean {
    return this.users.has(bare);
  }

  /** How many of these users are online. */
  countOnline(users: Iterable<string>): number {
    let n = 0;
    for (const u of users) if (this.users.has(u)) n += 1;
    return n;
  }

  get size(): number {
    return this.users.size;
  }

  private heard(el: Element): void {
    const from = el.attrs['from'];
    if (!from) return;
    const type = el.attrs['type'];
    const bare = bareJid(from);
    const resource = from.length > bare.length ? from.slice(bare.length + 1) : '';
    if (type === undefined || type === 'probe') {
      let set = this.users.get(bare);
      if (set) this.users.delete(bare); // re-insert: most recently heard last
      else set = new Set();
      if (set.size < MAX_RESOURCES) set.add(resource);
      this.users.set(bare, set);
      if (this.users.size > MAX_USERS) this.users.delete(this.users.keys().next().value!);
    } else if (type === 'unavailable') {
      const set = this.users.get(bare);
      if (!set) return;
      // A bare-JID unavailable (or the last resource leaving) means the user is gone.
      if (resource === '') set.clear();
      else set.delete(resource);
      if (set.size === 0) this.users.delete(bare);
    }
  }
}
