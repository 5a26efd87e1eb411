/**
 * Which users are online, shared (cluster mode): ejabberd routes a user's presence to a device to one of the
 * instances, yet every instance delivers readings only to online users (features/uplink/recipients.ts). Each change
 * the receiving instance makes to its UserPresence is written to one Redis set (`[user, resource]` members) and
 * announced; the others apply it to their copy without handing it on — so a returning user gets the current value
 * once, from the instance that received their presence. Reads stay local and synchronous.
 *
 * Which devices see a user's presence (`watch`) is announced but not stored: it follows from the shared presence
 * requests (granted), from which every instance rebuilds it at start.
 */
import { UserPresence, type UserPresenceChange } from '../../kernel/user-presence.js';
import type { Writer } from './writer.js';

export class SharedUserPresence {
  readonly users: UserPresence;

  constructor(private readonly w: Writer) {
    this.users = new UserPresence((change) => this.write(change));
  }

  /** Another instance's change. */
  apply(change: UserPresenceChange): void {
    this.users.apply(change);
  }

  /** The snapshot replaces the local copy. */
  replace(members: readonly string[]): void {
    this.users.replace(members.map(parseMember).filter((e): e is [string, string] => e !== undefined));
  }

  /** Every available resource as a set member (Redis lost its data). */
  reseed(): string[] {
    return [...this.users.entries()].map(([u, r]) => member(u, r));
  }

  private write(change: UserPresenceChange): void {
    const key = this.w.keys.usersOnline;
    if (change.k === 'on') this.w.write('user available', (m) => m.sadd(key, member(change.user, change.resource)), { k: 'up', c: change });
    else if (change.k === 'off') this.w.write('user unavailable', (m) => m.srem(key, ...change.resources.map((r) => member(change.user, r))), { k: 'up', c: change });
    else this.w.announce({ k: 'up', c: change });
  }
}

function member(user: string, resource: string): string {
  return JSON.stringify([user, resource]);
}

function parseMember(m: string): [string, string] | undefined {
  try {
    const v = JSON.parse(m) as unknown;
    return Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string') ? (v as [string, string]) : undefined;
  } catch {
    return undefined;
  }
}

/** An announced change off the wire, or undefined when it is not a well-formed one. */
export function parseUserPresenceChange(c: unknown): UserPresenceChange | undefined {
  if (c === null || typeof c !== 'object') return undefined;
  const v = c as Record<string, unknown>;
  if (typeof v['user'] !== 'string') return undefined;
  if (v['k'] === 'on' && typeof v['resource'] === 'string') return { k: 'on', user: v['user'], resource: v['resource'] };
  if (v['k'] === 'off' && Array.isArray(v['resources']) && v['resources'].every((r) => typeof r === 'string')) return { k: 'off', user: v['user'], resources: v['resources'] };
  if (v['k'] === 'watch' && typeof v['device'] === 'string' && typeof v['on'] === 'boolean') return { k: 'watch', device: v['device'], user: v['user'], on: v['on'] };
  return undefined;
}
