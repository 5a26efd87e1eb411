/**
 * Presence subscriptions, shared (cluster mode): a subscription approved by one instance is honoured by every other.
 * The hot path (`of`, every reading) reads the local copy; changes are written through to one Redis set and
 * announced, and the other instances apply them to their copies.
 */
import type { SubscriptionStore } from '../../kernel/stores.js';
import type { Writer } from './writer.js';

export class RedisSubscriptions implements SubscriptionStore {
  private readonly byDevice = new Map<string, Set<string>>();

  constructor(private readonly w: Writer) {}

  add(deviceJid: string, subscriber: string): boolean {
    if (!this.put(deviceJid, subscriber)) return false;
    this.w.write('subscription', (m) => m.sadd(this.w.keys.subscriptions, member(deviceJid, subscriber)), { k: 'sub', d: deviceJid, u: subscriber, on: true });
    return true;
  }

  delete(deviceJid: string, subscriber: string): boolean {
    if (!this.drop(deviceJid, subscriber)) return false;
    this.w.write('unsubscription', (m) => m.srem(this.w.keys.subscriptions, member(deviceJid, subscriber)), { k: 'sub', d: deviceJid, u: subscriber, on: false });
    return true;
  }

  has(deviceJid: string, subscriber: string): boolean {
    return this.byDevice.get(deviceJid)?.has(subscriber) ?? false;
  }

  of(deviceJid: string): ReadonlySet<string> {
    return this.byDevice.get(deviceJid) ?? EMPTY;
  }

  /** Every pair, for a resynchronisation. */
  *pairs(): IterableIterator<[string, string]> {
    for (const [d, users] of this.byDevice) for (const u of users) yield [d, u];
  }

  /** Another instance's change, or the snapshot; true when it changed the local copy. */
  put(deviceJid: string, subscriber: string): boolean {
    let set = this.byDevice.get(deviceJid);
    if (!set) this.byDevice.set(deviceJid, (set = new Set()));
    if (set.has(subscriber)) return false;
    set.add(subscriber);
    return true;
  }

  drop(deviceJid: string, subscriber: string): boolean {
    const set = this.byDevice.get(deviceJid);
    if (!set?.delete(subscriber)) return false;
    if (set.size === 0) this.byDevice.delete(deviceJid);
    return true;
  }

  /** The snapshot replaces the local copy. */
  replace(members: readonly string[]): void {
    this.byDevice.clear();
    for (const m of members) {
      const pair = parseMember(m);
      if (pair) this.put(pair[0], pair[1]);
    }
  }

  reseed(): string[] {
    return [...this.pairs()].map(([d, u]) => member(d, u));
  }
}

const EMPTY: ReadonlySet<string> = new Set();

/** One set member per pair: JIDs never contain a space (RFC 7622 forbids it in every part). */
function member(deviceJid: string, subscriber: string): string {
  return `${deviceJid} ${subscriber}`;
}

function parseMember(m: string): [string, string] | undefined {
  const i = m.indexOf(' ');
  return i > 0 ? [m.slice(0, i), m.slice(i + 1)] : undefined;
}
