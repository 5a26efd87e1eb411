/**
 * Which users the bridge sees online, for presence-gated delivery: readings go to recipients who are online, and a
 * recipient who comes back gets the current value once (features/uplink/recipients.ts).
 *
 * The presence feature writes it from what reaches the component: available and unavailable presence of a user's
 * resources (RFC 6121 §4.2, §4.5) — broadcast to a device the user shares presence with, or directed to it (the
 * user's server then also sends the unavailable at logoff, RFC 6121 §4.6.3) — and the answers to the bridge's own
 * probes after a reconnect (§4.3: an `unavailable` from the bare JID when no resource is online). Everyone else reads.
 *
 * "Tracked" users share their presence with at least one device (they approved its subscription request): the
 * bridge hears of their logouts. A probe alone never makes a user online — the bridge would not learn when they
 * leave — though the probes an untracked user's server sends at login still announce their return (presence.ts).
 *
 * Bounded: at most MAX_USERS online users and MAX_RESOURCES resources each.
 */

const MAX_USERS = 100_000;
const MAX_RESOURCES = 16;

export class UserPresence {
  /** Bare JID → available resources ('' for a presence from the bare JID). */
  private readonly online = new Map<string, Set<string>>();
  /** Bare JID → the devices that see this user's presence. */
  private readonly watchers = new Map<string, Set<string>>();

  isOnline(user: string): boolean {
    return this.online.has(user);
  }

  /** How many of these users are online. */
  countOnline(users: Iterable<string>): number {
    let n = 0;
    for (const u of users) if (this.online.has(u)) n += 1;
    return n;
  }

  /** Users online now. */
  get size(): number {
    return this.online.size;
  }

  resources(user: string): ReadonlySet<string> {
    return this.online.get(user) ?? EMPTY;
  }

  /** Whether some device sees this user's presence, so their logouts are known. */
  tracked(user: string): boolean {
    return this.watchers.has(user);
  }

  /** A resource is available; true when the user was offline until now. */
  available(user: string, resource: string): boolean {
    let set = this.online.get(user);
    const first = set === undefined;
    if (!set) {
      if (this.online.size >= MAX_USERS) return false;
      this.online.set(user, (set = new Set()));
    }
    if (set.size < MAX_RESOURCES || set.has(resource)) set.add(resource);
    return first;
  }

  /** A resource left (undefined: every resource, e.g. an `unavailable` from the bare JID); true when the user is now offline. */
  unavailable(user: string, resource?: string): boolean {
    const set = this.online.get(user);
    if (!set) return false;
    if (resource === undefined || resource === '') set.clear();
    else set.delete(resource);
    if (set.size > 0) return false;
    this.online.delete(user);
    return true;
  }

  /** `device` sees the user's presence (the user approved its request, or their server answered its probe). */
  watch(deviceJid: string, user: string): void {
    let set = this.watchers.get(user);
    if (!set) this.watchers.set(user, (set = new Set()));
    set.add(deviceJid);
  }

  /**
   * `device` no longer sees the user's presence. When no device does, the user's logouts are no longer known:
   * they are taken as offline (returns true if they were online).
   */
  unwatch(deviceJid: string, user: string): boolean {
    const set = this.watchers.get(user);
    if (!set?.delete(deviceJid) || set.size > 0) return false;
    this.watchers.delete(user);
    return this.unavailable(user);
  }

  /** The stream to the server is gone: nothing seen before is known any more (the bridge probes again when back). */
  clear(): void {
    this.online.clear();
  }
}

const EMPTY: ReadonlySet<string> = new Set();
