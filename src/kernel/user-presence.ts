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
 *
 * Cluster mode: a user's presence reaches one instance of the cluster (the one ejabberd routes it to), so every change
 * made here is handed to `onChange` (store/redis/user-presence.ts writes it to Redis and announces it), and the other
 * instances' changes arrive through `apply`, which does not hand them on. While this instance's stream is down the
 * others keep the copy current: `clear` keeps it.
 */

const MAX_USERS = 100_000;
const MAX_RESOURCES = 16;

/** One change of the presence the bridge sees, as it is shared between the instances of a cluster. */
export type UserPresenceChange =
  /** A resource became available. */
  | { readonly k: 'on'; readonly user: string; readonly resource: string }
  /** These resources left (all of them, when the user is now offline). */
  | { readonly k: 'off'; readonly user: string; readonly resources: readonly string[] }
  /** A device sees (`on`) or no longer sees the user's presence. */
  | { readonly k: 'watch'; readonly device: string; readonly user: string; readonly on: boolean };

export class UserPresence {
  /** Bare JID → available resources ('' for a presence from the bare JID). */
  private readonly online = new Map<string, Set<string>>();
  /** Bare JID → the devices that see this user's presence. */
  private readonly watchers = new Map<string, Set<string>>();

  /** `onChange`: told of every change made here (cluster mode), not of the ones applied with `apply`. */
  constructor(private readonly onChange?: (change: UserPresenceChange) => void) {}

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
    const set = this.online.get(user);
    const first = set === undefined;
    if (this.add(user, resource)) this.onChange?.({ k: 'on', user, resource });
    return first && this.online.has(user);
  }

  /** A resource left (undefined: every resource, e.g. an `unavailable` from the bare JID); true when the user is now offline. */
  unavailable(user: string, resource?: string): boolean {
    const set = this.online.get(user);
    if (!set) return false;
    const gone = resource === undefined || resource === '' ? [...set] : set.has(resource) ? [resource] : [];
    this.remove(user, gone);
    if (gone.length > 0) this.onChange?.({ k: 'off', user, resources: gone });
    return !this.online.has(user);
  }

  /** `device` sees the user's presence (the user approved its request, or their server answered its probe). */
  watch(deviceJid: string, user: string): void {
    let set = this.watchers.get(user);
    if (!set) this.watchers.set(user, (set = new Set()));
    if (set.has(deviceJid)) return;
    set.add(deviceJid);
    this.onChange?.({ k: 'watch', device: deviceJid, user, on: true });
  }

  /**
   * `device` no longer sees the user's presence. When no device does, the user's logouts are no longer known:
   * they are taken as offline (returns true if they were online).
   */
  unwatch(deviceJid: string, user: string): boolean {
    const set = this.watchers.get(user);
    if (!set?.delete(deviceJid)) return false;
    this.onChange?.({ k: 'watch', device: deviceJid, user, on: false });
    if (set.size > 0) return false;
    this.watchers.delete(user);
    return this.unavailable(user);
  }

  /**
   * The stream to the server is gone: nothing seen before is known any more (the bridge probes again when back) —
   * unless other instances of a cluster go on seeing it for this one.
   */
  clear(): void {
    if (this.onChange) return;
    this.online.clear();
  }

  /** Another instance's change (cluster mode): applied here, not handed on. */
  apply(change: UserPresenceChange): void {
    if (change.k === 'on') this.add(change.user, change.resource);
    else if (change.k === 'off') this.remove(change.user, change.resources);
    else if (change.on) {
      let set = this.watchers.get(change.user);
      if (!set) this.watchers.set(change.user, (set = new Set()));
      set.add(change.device);
    } else {
      const set = this.watchers.get(change.user);
      if (set?.delete(change.device) && set.size === 0) this.watchers.delete(change.user);
    }
  }

  /** The shared snapshot replaces the online users (cluster mode: after a lost connection to Redis). */
  replace(entries: Iterable<readonly [string, string]>): void {
    this.online.clear();
    for (const [user, resource] of entries) this.add(user, resource);
  }

  /** Every available resource, as `[user, resource]`. */
  *entries(): IterableIterator<readonly [string, string]> {
    for (const [user, set] of this.online) for (const r of set) yield [user, r];
  }

  /** Adds a resource within the bounds; true when it was not there. */
  private add(user: string, resource: string): boolean {
    let set = this.online.get(user);
    if (!set) {
      if (this.online.size >= MAX_USERS) return false;
      this.online.set(user, (set = new Set()));
    }
    if (set.has(resource) || set.size >= MAX_RESOURCES) return false;
    set.add(resource);
    return true;
  }

  private remove(user: string, resources: readonly string[]): void {
    const set = this.online.get(user);
    if (!set) return;
    for (const r of resources) set.delete(r);
    if (set.size === 0) this.online.delete(user);
  }
}

const EMPTY: ReadonlySet<string> = new Set();
