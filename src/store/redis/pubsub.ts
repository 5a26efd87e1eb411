/**
 * XEP-0060 subscriptions to device nodes, shared (cluster mode): a subscription made through one instance is honoured
 * by every other (whichever instance receives a reading publishes it to the subscriber). The hot path (`of`, every
 * reading) reads the local copy; changes are written through to one Redis set and announced.
 */
import type { PubsubSubscriptionStore } from '../../kernel/stores.js';
import type { Writer } from './writer.js';

export class RedisPubsubSubscriptions implements PubsubSubscriptionStore {
  private readonly byNode = new Map<string, Set<string>>();

  constructor(private readonly w: Writer) {}

  add(deviceJid: string, node: string, subscriber: string): boolean {
    if (!this.put(deviceJid, node, subscriber)) return false;
    this.w.write('pubsub subscription', (m) => m.sadd(this.w.keys.pubsub, member(deviceJid, node, subscriber)), { k: 'ps', d: deviceJid, n: node, u: subscriber, on: true });
    return true;
  }

  delete(deviceJid: string, node: string, subscriber: string): boolean {
    if (!this.drop(deviceJid, node, subscriber)) return false;
    this.w.write('pubsub unsubscription', (m) => m.srem(this.w.keys.pubsub, member(deviceJid, node, subscriber)), { k: 'ps', d: deviceJid, n: node, u: subscriber, on: false });
    return true;
  }

  of(deviceJid: string, node: string): ReadonlySet<string> {
    return this.byNode.get(key(deviceJid, node)) ?? EMPTY;
  }

  /** Another instance's change, or the snapshot; true when it changed the local copy. */
  put(deviceJid: string, node: string, subscriber: string): boolean {
    const k = key(deviceJid, node);
    let set = this.byNode.get(k);
    if (!set) this.byNode.set(k, (set = new Set()));
    if (set.has(subscriber)) return false;
    set.add(subscriber);
    return true;
  }

  drop(deviceJid: string, node: string, subscriber: string): boolean {
    const k = key(deviceJid, node);
    const set = this.byNode.get(k);
    if (!set?.delete(subscriber)) return false;
    if (set.size === 0) this.byNode.delete(k);
    return true;
  }

  /** The snapshot replaces the local copy. */
  replace(members: readonly string[]): void {
    this.byNode.clear();
    for (const m of members) {
      const t = parseMember(m);
      if (t) this.put(t[0], t[1], t[2]);
    }
  }

  /** Every subscription as a set member (Redis lost its data). */
  reseed(): string[] {
    const out: string[] = [];
    for (const [k, users] of this.byNode) {
      const [d, n] = k.split('\u0000') as [string, string];
      for (const u of users) out.push(member(d, n, u));
    }
    return out;
  }
}

const EMPTY: ReadonlySet<string> = new Set();

function key(deviceJid: string, node: string): string {
  return `${deviceJid}\u0000${node}`;
}

function member(deviceJid: string, node: string, subscriber: string): string {
  return JSON.stringify([deviceJid, node, subscriber]);
}

function parseMember(m: string): [string, string, string] | undefined {
  try {
    const v = JSON.parse(m) as unknown;
    return Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'string') ? (v as [string, string, string]) : undefined;
  } catch {
    return undefined;
  }
}
