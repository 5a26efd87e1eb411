/**
 * The state instances of a cluster share, in Redis (cluster mode, docs/SCALING.md): devices, presence subscriptions,
 * held commands, device availability, imported devices and their decisions, latest readings, PubSub subscriptions
 * the devices' presence requests and which users are online — each kept as a local copy for synchronous reads, written through, and kept
 * current by the announcements of the other instances — plus who is alive (membership) and each instance's inbox.
 *
 * Two connections: one for commands, one subscribed to the `events` channel and this instance's inbox.
 *
 * Opening: subscribe first, then load the snapshot (an announcement heard meanwhile is applied in order on top of it:
 * every change is an idempotent upsert or removal). After a lost connection: if Redis lost its data (the `epoch` key
 * is gone: restarted without persistence), the local copy is written back; then the snapshot is loaded again, so
 * announcements missed during the outage are not missed for good.
 *
 * The QoS 1 outbox is not here: it stays in the SQLite database of the instance that acknowledged the readings.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ClusterConfig } from '../../config/schema.js';
import type { DeviceRow } from '../../kernel/stores.js';
import type { Logger } from '../../log.js';
import { parseAvailability, SharedAvailability, type SharedAvailabilityEntry } from './availability.js';
import { parseCommandRow, RedisCommandQueue } from './command-queue.js';
import { connectRedis, Keys } from './connection.js';
import { parseDeviceRow, RedisDeviceStore } from './devices.js';
import { RedisImportStore } from './imports.js';
import { RedisLatestReadings } from './latest.js';
import { INBOX_KINDS, parseMessage, STATE_KINDS, type InboxMessage, type StateMessage, type Unsigned } from './messages.js';
import { RedisPresenceRequests } from './presence-requests.js';
import { RedisPubsubSubscriptions } from './pubsub.js';
import { RedisSubscriptions } from './subscriptions.js';
import { parseUserPresenceChange, SharedUserPresence } from './user-presence.js';
import { Writer } from './writer.js';

/** How long opening waits for Redis before the bridge refuses to start. */
const OPEN_TIMEOUT_MS = 15_000;
/** Deletes a takeover lock only if this instance holds it (KEYS[1] the lock, ARGV[1] this instance). */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
/** Takes a takeover lock from a holder that is lost too (KEYS[1] the lock, ARGV: that holder, this instance, ms). */
const STEAL_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0`;
/** A takeover lock outlives its takeover by this long, so that a late heartbeat of another survivor cannot take it again. */
const TAKEOVER_LOCK_MS = 60_000;

export interface SharedStateEvents {
  /** Another instance registered (or re-saved) a device. */
  device: [DeviceRow];
  /** Another instance heard from these devices (last-seen times). */
  seen: [Readonly<Record<string, number>>];
  /** A device's shared availability, whoever changed it. */
  availability: [string, SharedAvailabilityEntry];
  /** A message to this instance. */
  inbox: [InboxMessage];
  /** Reloaded after a lost connection (`reseeded`: Redis had lost its data, written back from here). */
  resynced: [{ reseeded: boolean }];
  /** Membership changed: instances seen alive, and those whose heartbeat stopped. */
  members: [{ alive: readonly string[]; lost: readonly string[] }];
}

export class SharedState extends EventEmitter<SharedStateEvents> {
  readonly keys: Keys;
  readonly devices: RedisDeviceStore;
  readonly subscriptions: RedisSubscriptions;
  readonly commandQueue: RedisCommandQueue;
  readonly availability: SharedAvailability;
  readonly imports: RedisImportStore;
  readonly latest: RedisLatestReadings;
  readonly pubsub: RedisPubsubSubscriptions;
  readonly presenceRequests: RedisPresenceRequests;
  readonly userPresence: SharedUserPresence;
  private readonly writer: Writer;
  private readonly nonce = randomBytes(8).toString('hex');
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly known = new Set<string>();
  /** Lost instances this one claimed and has not finished taking over (`forget` finishes a takeover). */
  private readonly claimed = new Set<string>();
  private opened = false;
  private closed = false;
  private resyncing: Promise<void> | undefined;
  private resyncAgain = false;

  private constructor(
    readonly cfg: ClusterConfig,
    readonly instance: string,
    private readonly redis: Redis,
    private readonly sub: Redis,
    private readonly log: Logger,
  ) {
    super();
    this.keys = new Keys(cfg.redis.keyPrefix);
    this.writer = new Writer(redis, this.keys, instance, log);
    this.devices = new RedisDeviceStore(this.writer);
    this.subscriptions = new RedisSubscriptions(this.writer);
    this.commandQueue = new RedisCommandQueue(this.writer, log);
    this.availability = new SharedAvailability(this.writer, log, (jid, entry) => this.emit('availability', jid, entry));
    this.imports = new RedisImportStore(this.writer);
    this.latest = new RedisLatestReadings(this.writer);
    this.pubsub = new RedisPubsubSubscriptions(this.writer);
    this.presenceRequests = new RedisPresenceRequests(this.writer);
    this.userPresence = new SharedUserPresence(this.writer);
  }

  /** Connects, joins, and loads the shared state; rejects (with what to do) when Redis cannot be reached. */
  static async open(cfg: ClusterConfig, instance: string, log: Logger): Promise<SharedState> {
    const redis = connectRedis(cfg.redis, `state-${instance}`, log);
    const sub = connectRedis(cfg.redis, `events-${instance}`, log);
    const state = new SharedState(cfg, instance, redis, sub, log);
    try {
      await withTimeout(Promise.all([redis.connect(), sub.connect()]), OPEN_TIMEOUT_MS, `Redis at ${cfg.redis.url} did not answer within ${OPEN_TIMEOUT_MS / 1000} s`);
      await state.join();
      sub.on('message', (channel: string, text: string) => state.onMessage(channel, text));
      await sub.subscribe(state.keys.events, state.keys.inbox(instance));
      await state.load(false);
      await state.commandQueue.start();
      // Announcements are what a lost connection misses, and they arrive on `sub`: its return is what counts (a
      // server that restarted is reconnected to by both; the command connection's offline queue loses nothing).
      sub.on('ready', () => state.onReconnect());
      state.opened = true;
      state.startHeartbeat();
      return state;
    } catch (err) {
      await state.close();
      throw err;
    }
  }

  /** Live instances other than this one, as of the last heartbeat. */
  get others(): readonly string[] {
    return [...this.known].filter((i) => i !== this.instance);
  }

  /** A message to one instance; resolves true when it was listening (someone received it). */
  async send(to: string, message: Unsigned<InboxMessage>): Promise<boolean> {
    const receivers = await this.redis.publish(this.keys.inbox(to), JSON.stringify({ i: this.instance, ...message }));
    return receivers > 0;
  }

  /** Tell the others which devices this instance heard from (their last-seen times). */
  announceSeen(at: Readonly<Record<string, number>>): void {
    this.writer.announce({ k: 'seen', at });
  }

  /**
   * Take over what a lost instance held: true for exactly one survivor (the lock outlives the takeover by a minute,
   * so a late heartbeat of another survivor cannot take it again).
   */
  async claimTakeover(lost: string): Promise<boolean> {
    const key = this.keys.takeover(lost);
    let won = (await this.redis.set(key, this.instance, 'PX', TAKEOVER_LOCK_MS, 'NX')) === 'OK';
    if (!won) {
      // The survivor holding it may have been lost too — killed mid-takeover, it never released it: its claim is void
      // once its own member key has expired, and the lost instance's share must not wait for the lock's minute.
      const holder = await this.redis.get(key);
      if (holder !== null && holder !== this.instance && !(await this.isAlive(holder))) {
        won = (await this.redis.eval(STEAL_SCRIPT, 1, key, holder, this.instance, TAKEOVER_LOCK_MS)) === 1;
      }
    }
    if (won) this.claimed.add(lost);
    return won;
  }

  /**
   * A takeover this instance claimed and will not finish (it failed, or this instance stops): the lock is released so
   * that another survivor takes over at once — kept, it would hold off every survivor for its minute while the lost
   * instance's share of the readings waits on the broker.
   */
  async releaseTakeover(lost: string): Promise<void> {
    if (!this.claimed.delete(lost)) return;
    await this.redis.eval(RELEASE_SCRIPT, 1, this.keys.takeover(lost), this.instance);
  }

  /** Whether an instance is alive (its member key is held): one that came back during its takeover is. */
  async isAlive(instance: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.member(instance))) === 1;
  }

  /** Done with a lost instance: it is no longer listed. */
  async forget(lost: string): Promise<void> {
    this.known.delete(lost);
    await this.redis.srem(this.membersSet, lost);
    this.claimed.delete(lost);
  }

  /**
   * Leave the cluster and close the connections. The instance stays listed without its member key, and says it left:
   * the others look at the membership at once, see it gone, and one takes over what it held (devices, and what an
   * existing broker still queues for its session), as for an instance that was lost — without waiting for three
   * heartbeats, nor for one.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.latest.close();
    if (this.opened) {
      await withTimeout(this.availability.settled(), 2000, '').catch(() => undefined);
      // Takeovers under way here end with this instance: the survivors that stay take them over.
      await withTimeout(Promise.all([...this.claimed].map((lost) => this.releaseTakeover(lost))), 2000, '').catch(() => undefined);
      await withTimeout(this.redis.del(this.keys.member(this.instance)), 2000, '').catch(() => undefined);
      await withTimeout(this.redis.publish(this.keys.events, JSON.stringify({ i: this.instance, k: 'left' })), 2000, '').catch(() => undefined);
    }
    await Promise.all([this.redis.quit().catch(() => this.redis.disconnect()), this.sub.quit().catch(() => this.sub.disconnect())]);
  }

  private get membersSet(): string {
    return `${this.keys.prefix}members`;
  }

  private get ttlMs(): number {
    return this.cfg.heartbeatSeconds * 3000;
  }

  /**
   * Join: the member key of this instance id must be free. It is held for three heartbeats after an instance stops
   * without leaving (kill -9), so a quick restart waits that long; a key that stays held belongs to a running twin —
   * another process with a copy of this data directory — and this one refuses to start.
   */
  private async join(): Promise<void> {
    const key = this.keys.member(this.instance);
    const deadline = Date.now() + this.ttlMs + this.cfg.heartbeatSeconds * 1000;
    for (;;) {
      if ((await this.redis.set(key, this.nonce, 'PX', this.ttlMs, 'NX')) === 'OK') break;
      if (Date.now() > deadline) {
        throw new Error(`another running bridge uses this instance id (${this.instance}): every instance needs a data directory of its own`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    // A takeover lock left from this id's previous loss (claimTakeover: it outlives that takeover by a minute) belongs
    // to the incarnation that was lost: kept, it would stop the survivors from taking over this one, should it be
    // lost or stop within that minute — its share queued on the broker would wait for the lock to expire.
    await this.redis.multi().del(this.keys.takeover(this.instance)).sadd(this.membersSet, this.instance).exec();
    this.known.add(this.instance);
  }

  private startHeartbeat(): void {
    this.heartbeat = setInterval(() => void this.beat(), this.cfg.heartbeatSeconds * 1000);
    this.heartbeat.unref();
    void this.beat();
  }

  /** Refresh this instance's key; see who else is alive, and who stopped beating. */
  private async beat(): Promise<void> {
    try {
      const key = this.keys.member(this.instance);
      const replies = (await this.redis.multi().get(key).set(key, this.nonce, 'PX', this.ttlMs).sadd(this.membersSet, this.instance).smembers(this.membersSet).exec()) ?? [];
      const was = replies[0]?.[1];
      if (typeof was === 'string' && was !== this.nonce) {
        this.log.error({ instance: this.instance }, 'another running bridge uses this instance id: every instance needs a data directory of its own');
      }
      const listed = (replies[3]?.[1] as string[] | undefined) ?? [];
      const check = this.redis.pipeline();
      for (const i of listed) check.exists(this.keys.member(i));
      const flags = (await check.exec()) ?? [];
      const alive = listed.filter((_i, n) => flags[n]?.[1] === 1);
      const lost = listed.filter((i, n) => flags[n]?.[1] !== 1 && i !== this.instance);
      const changed = lost.length > 0 || alive.length !== this.known.size || alive.some((i) => !this.known.has(i));
      this.known.clear();
      for (const i of alive) this.known.add(i);
      if (changed) this.emit('members', { alive, lost });
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'heartbeat not written');
    }
  }

  private onMessage(channel: string, text: string): void {
    if (channel === this.keys.events) {
      const m = parseMessage<StateMessage>(text, STATE_KINDS);
      if (m && m.i !== this.instance) this.apply(m);
    } else if (channel === this.keys.inbox(this.instance)) {
      const m = parseMessage<InboxMessage>(text, INBOX_KINDS);
      if (m) this.emit('inbox', m);
    }
  }

  /** Another instance's change, applied to the local copies. */
  private apply(m: StateMessage): void {
    switch (m.k) {
      case 'device':
        this.devices.put(m.row);
        this.emit('device', m.row);
        return;
      case 'device-':
        this.devices.drop(m.jid);
        return;
      case 'seen':
        this.emit('seen', m.at);
        return;
      case 'sub':
        if (m.on) this.subscriptions.put(m.d, m.u);
        else this.subscriptions.drop(m.d, m.u);
        return;
      case 'cmd':
        this.commandQueue.put(m.row);
        return;
      case 'cmd-':
        this.commandQueue.drop(m.id);
        return;
      case 'av':
        this.availability.set(m.d, { online: m.o, holder: m.h, asleep: m.o && m.s === true });
        return;
      case 'left':
        // Its member key is gone: the takeover need not wait for the next heartbeat.
        void this.beat();
        return;
      case 'imp':
        this.imports.apply(Array.isArray(m.rows) ? m.rows : [], Array.isArray(m.gone) ? m.gone : []);
        return;
      case 'lt':
        for (const row of m.rows) this.latest.put(row);
        for (const jid of m.gone) this.latest.drop(jid);
        return;
      case 'ps':
        if (m.on) this.pubsub.put(m.d, m.n, m.u);
        else this.pubsub.drop(m.d, m.n, m.u);
        return;
      case 'pr':
        if (m.s === null) this.presenceRequests.drop(m.d, m.u);
        else this.presenceRequests.put(m.d, m.u, m.s);
        return;
      case 'up': {
        const change = parseUserPresenceChange(m.c);
        if (change) this.userPresence.apply(change);
        return;
      }
    }
  }

  /** The snapshot into the local copies (`announce`: tell listeners what changed, after a resynchronisation). */
  private async load(announce: boolean): Promise<void> {
    const [devices, subscriptions, commands, availability, imports, latest, pubsub, presenceRequests, usersOnline] = await Promise.all([
      this.redis.hgetall(this.keys.devices),
      this.redis.smembers(this.keys.subscriptions),
      this.redis.hgetall(this.keys.commands),
      this.redis.hgetall(this.keys.availability),
      this.redis.hgetall(this.keys.imports),
      this.redis.hgetall(this.keys.latest),
      this.redis.smembers(this.keys.pubsub),
      this.redis.hgetall(this.keys.presenceRequests),
      this.redis.smembers(this.keys.usersOnline),
    ]);
    for (const text of Object.values(devices)) {
      const row = parseDeviceRow(text);
      if (!row) continue;
      const known = this.devices.get(row.jid);
      this.devices.put(known && known.lastSeen > row.lastSeen ? { ...row, lastSeen: known.lastSeen } : row);
      if (announce && !known) this.emit('device', row);
    }
    this.subscriptions.replace(subscriptions);
    this.commandQueue.replace(Object.values(commands).flatMap((t) => parseCommandRow(t) ?? []));
    this.imports.replace(imports);
    this.latest.load(latest);
    this.pubsub.replace(pubsub);
    this.presenceRequests.replace(presenceRequests);
    this.userPresence.replace(usersOnline);
    for (const [jid, text] of Object.entries(availability)) {
      const entry = parseAvailability(text);
      const known = this.availability.get(jid);
      if (entry && (!announce || known?.online !== entry.online || known.holder !== entry.holder || known.asleep !== entry.asleep)) this.availability.set(jid, entry);
    }
    await this.redis.set(this.keys.epoch, String(Date.now()), 'NX');
  }

  private onReconnect(): void {
    if (!this.opened || this.closed) return;
    if (this.resyncing) {
      // A reconnect during a resynchronisation: what was missed meanwhile needs one more.
      this.resyncAgain = true;
      return;
    }
    this.resyncing = (async () => {
      do {
        this.resyncAgain = false;
        // ioredis sends the SUBSCRIBE of a reconnected connection before this runs; the PING queued behind it
        // answers once the channels are heard again, so the snapshot loaded next misses nothing announced after it.
        await this.sub.ping().catch(() => undefined);
        await this.resync();
      } while (this.resyncAgain && !this.closed);
    })().finally(() => (this.resyncing = undefined));
  }

  /** After a lost connection: write back what Redis lost, then reload what was missed. */
  private async resync(): Promise<void> {
    try {
      const reseeded = (await this.redis.exists(this.keys.epoch)) === 0;
      if (reseeded) {
        this.log.warn('Redis lost the shared state (restarted without persistence?); writing back this instance\'s copy');
        const m = this.redis.multi();
        this.devices.reseed((f, v) => m.hset(this.keys.devices, f, v));
        const members = this.subscriptions.reseed();
        if (members.length > 0) m.sadd(this.keys.subscriptions, ...members);
        this.commandQueue.reseed((f, v) => m.hset(this.keys.commands, f, v));
        this.availability.reseed((f, v) => m.hsetnx(this.keys.availability, f, v));
        this.imports.reseed((f, v) => m.hset(this.keys.imports, f, v));
        this.latest.reseed((f, v) => m.hset(this.keys.latest, f, v));
        const items = this.pubsub.reseed();
        if (items.length > 0) m.sadd(this.keys.pubsub, ...items);
        this.presenceRequests.reseed((f, v) => m.hset(this.keys.presenceRequests, f, v));
        const online = this.userPresence.reseed();
        if (online.length > 0) m.sadd(this.keys.usersOnline, ...online);
        m.set(this.keys.member(this.instance), this.nonce, 'PX', this.ttlMs).sadd(this.membersSet, this.instance);
        await m.exec();
      }
      await this.load(true);
      this.log.info({ reseeded }, 'shared state reloaded after a lost Redis connection');
      this.emit('resynced', { reseeded });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'shared state not reloaded');
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}
