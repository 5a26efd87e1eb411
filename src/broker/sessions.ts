/**
 * MQTT sessions of the embedded broker, by client id: who holds each one, which connections use it, and which
 * subscriptions it was GRANTED. Pure bookkeeping (no sockets, no timers): the broker reports connections, grants and
 * closes; the table answers whether a client id is free for an identity and whether a device would receive a
 * publish.
 *
 * The client-id rule: a client id in use — by a connection, or by a persistent session (CleanSession=0) that
 * outlives its connection — belongs to the identity that uses it (`anonymous`, `device:NAME`, `service:NAME`). A
 * CONNECT by another identity with that client id is refused before aedes' takeover [MQTT-3.1.4-2] could close the
 * holder or hand it the session. The same identity takes over as MQTT says (a device reconnecting before its old TCP
 * connection timed out). The id is free again when the last connection of a clean session closes, or when the
 * session is discarded (a clean CONNECT by its holder, revocation).
 */
import { filterMatches } from '../mapping/topic-pattern.js';
import { identityKey, type Identity } from './access.js';

export interface Session<C> {
  readonly clientId: string;
  /** `identityKey` of the identity that holds this client id. */
  readonly owner: string;
  /** The identity of the latest connection (its credential version may be newer than an earlier one's). */
  identity: Identity;
  /** Connections using the session now: one, or two while one takes over from the other. */
  readonly clients: Set<C>;
  /** CleanSession=0: the session (subscriptions, queued messages) outlives its connections. */
  persistent: boolean;
  /** Subscriptions the broker granted (never the ones it refused with 0x80). */
  readonly filters: Set<string>;
  /** The device this session speaks for by who it is (its identity, or the device its client id stands for). */
  readonly device: string | undefined;
}

export type Claim = { readonly ok: true } | { readonly ok: false; readonly holder: string };

export class SessionTable<C extends object> {
  private readonly byId = new Map<string, Session<C>>();
  private readonly ofClient = new WeakMap<C, Session<C>>();
  /** Sessions by the device they speak for. */
  private readonly byDevice = new Map<string, Set<Session<C>>>();
  /** Sessions of service accounts: gateways, perhaps. */
  private readonly services = new Set<Session<C>>();
  /** How many anonymous sessions were granted each wildcard-free filter (`reaches` needs no more than that). */
  private readonly anonymousExact = new Map<string, number>();

  /**
   * A connection that authenticated as `identity` asks for `clientId`. Refused when another identity holds it;
   * otherwise the connection joins (or starts) the session. Called synchronously with the verdict, so two CONNECTs
   * racing for one id cannot both pass.
   */
  claim(clientId: string, identity: Identity, device: string | undefined, client: C): Claim {
    const owner = identityKey(identity);
    let s = this.byId.get(clientId);
    if (s && s.owner !== owner) return { ok: false, holder: s.owner };
    if (!s) {
      s = { clientId, owner, identity, clients: new Set(), persistent: false, filters: new Set(), device };
      this.byId.set(clientId, s);
      if (device !== undefined) setOf(this.byDevice, device).add(s);
      if (identity.kind === 'service') this.services.add(s);
    }
    s.identity = identity;
    s.clients.add(client);
    this.ofClient.set(client, s);
    return { ok: true };
  }

  /** The session a connection belongs to (also after it closed, for its Will). */
  sessionOf(client: C): Session<C> | undefined {
    return this.ofClient.get(client);
  }

  get(clientId: string): Session<C> | undefined {
    return this.byId.get(clientId);
  }

  /**
   * The connection was accepted (CONNACK sent). With CleanSession=1 the broker has discarded any earlier session;
   * with 0 it restored the subscriptions in `restored` (those still granted to the current identity).
   */
  ready(client: C, clean: boolean, restored: readonly string[]): void {
    const s = this.ofClient.get(client);
    if (!s) return;
    s.persistent = !clean;
    for (const f of [...s.filters]) this.removeFilter(s, f);
    for (const f of restored) this.addFilter(s, f);
  }

  subscribed(client: C, granted: readonly string[]): void {
    const s = this.ofClient.get(client);
    if (s) for (const f of granted) this.addFilter(s, f);
  }

  unsubscribed(client: C, filters: readonly string[]): void {
    const s = this.ofClient.get(client);
    if (s) for (const f of filters) this.removeFilter(s, f);
  }

  /** The connection is gone. A clean session ends with its last connection; a persistent one stays, held. */
  closed(client: C): void {
    const s = this.ofClient.get(client);
    if (!s) return;
    s.clients.delete(client);
    if (s.clients.size === 0 && !s.persistent) this.remove(s);
  }

  /** Forget a session (revocation): its client id is free again. Returns it, so its connections can be closed. */
  discard(clientId: string): Session<C> | undefined {
    const s = this.byId.get(clientId);
    if (s) this.remove(s);
    return s;
  }

  /** Every session held now, connected or persistent. */
  all(): IterableIterator<Session<C>> {
    return this.byId.values();
  }

  get size(): number {
    return this.byId.size;
  }

  /**
   * Whether a publish on `topic` would reach `device`: a session that speaks for it — its own identity or client id;
   * a service account that `isGateway` accepts; an anonymous one that was granted exactly this topic — holds a
   * granted subscription matching the topic. A monitoring account subscribed to `#` is none of these.
   */
  reaches(device: string, topic: string, isGateway: (s: Session<C>) => boolean): boolean {
    for (const s of this.byDevice.get(device) ?? []) if (matchesAny(s.filters, topic)) return true;
    if (this.anonymousExact.has(topic)) return true;
    for (const s of this.services) if (matchesAny(s.filters, topic) && isGateway(s)) return true;
    return false;
  }

  private addFilter(s: Session<C>, filter: string): void {
    if (s.filters.has(filter)) return;
    s.filters.add(filter);
    if (anonymousExact(s, filter)) this.anonymousExact.set(filter, (this.anonymousExact.get(filter) ?? 0) + 1);
  }

  private removeFilter(s: Session<C>, filter: string): void {
    if (!s.filters.delete(filter) || !anonymousExact(s, filter)) return;
    const left = (this.anonymousExact.get(filter) ?? 1) - 1;
    if (left > 0) this.anonymousExact.set(filter, left);
    else this.anonymousExact.delete(filter);
  }

  private remove(s: Session<C>): void {
    // A session already replaced under its client id (discarded, then claimed afresh) must not remove the new one.
    if (this.byId.get(s.clientId) === s) this.byId.delete(s.clientId);
    for (const f of [...s.filters]) this.removeFilter(s, f);
    if (s.device !== undefined) {
      const set = this.byDevice.get(s.device);
      if (set?.delete(s) && set.size === 0) this.byDevice.delete(s.device);
    }
    this.services.delete(s);
  }
}

function setOf<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}

/** An anonymous session's wildcard-free filter. A session's owner, and so its kind of identity, never changes. */
function anonymousExact(s: Session<unknown>, filter: string): boolean {
  return s.identity.kind === 'anonymous' && !/[+#]/.test(filter);
}

function matchesAny(filters: ReadonlySet<string>, topic: string): boolean {
  for (const f of filters) if (filterMatches(f, topic)) return true;
  return false;
}
