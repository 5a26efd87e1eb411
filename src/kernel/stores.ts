/**
 * What the bridge keeps durably, as interfaces: the SQLite implementations (src/store/) serve one instance; a shared
 * store (cluster mode) implements the same contracts.
 *
 * Synchronous on purpose where the hot path needs it, and said so per method: a reading's recipients are read from
 * memory (`SubscriptionStore.of`), and its outbox row is written in the group commit of its event-loop turn before
 * the PUBACK (`OutboxStore.append`). A shared implementation keeps the same shape by holding a local copy (kept
 * current by notifications) and writing through, and keeps the outbox local to the instance that acknowledged the
 * reading.
 */

export interface DeviceRow {
  readonly jid: string;
  readonly mappingId: string;
  readonly segments: Readonly<Record<string, string>>;
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** A name an operator gave the device, instead of the mapping's. */
  readonly name?: string;
}

export interface NewOutboxRow {
  readonly deviceJid: string;
  readonly topic: string;
  readonly json: string;
  readonly receivedAt: number;
}

export interface OutboxRow extends NewOutboxRow {
  readonly id: number;
}

export interface QueuedCommandRow {
  readonly id: number;
  readonly deviceJid: string;
  readonly command: string;
  readonly json: string;
  /** Full JID of the sender, for the answer. */
  readonly sender: string;
  readonly origin: string;
  /** The id of the IQ or message to answer, when there is one. */
  readonly replyId: string | undefined;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** Cluster mode: the instance holding the sender's request (it answers); undefined for a single instance. */
  readonly holder?: string;
}

/** Known devices: JIDs keep resolving and disco keeps listing them after a restart. */
export interface DeviceStore {
  save(row: DeviceRow): void;
  /** Batched at shutdown and periodically; never on the hot path. */
  setLastSeen(jid: string, at: number): void;
  /** Every device of one mapping (a mapping added at run time brings its known devices back). */
  byMapping(mappingId: string): DeviceRow[];
  delete(jid: string): void;
  /** An operator's name for the device; undefined: back to the mapping's. */
  setName(jid: string, name: string | undefined): void;
}

/** Presence subscriptions of users to devices (RFC 6121 §3). */
export interface SubscriptionStore {
  /** Returns false when it was already there. */
  add(deviceJid: string, subscriber: string): boolean;
  delete(deviceJid: string, subscriber: string): boolean;
  has(deviceJid: string, subscriber: string): boolean;
  /** Subscribers of a device — hot path (every reading), from memory; do not mutate. */
  of(deviceJid: string): ReadonlySet<string>;
}

/** Acknowledged QoS 1/2 readings not yet confirmed received by the XMPP server (local to the instance). */
export interface OutboxStore {
  /** One transaction for the readings of one event-loop turn (group commit), before their PUBACKs; returns row ids in order. */
  append(rows: readonly NewOutboxRow[]): number[];
  page(afterId: number, limit: number): OutboxRow[];
  /** The server confirmed everything up to this id; returns how many rows went. */
  confirmUpTo(id: number): number;
  expire(olderThan: number): number;
  readonly size: number;
}

/** Commands held for offline devices. */
export interface CommandQueueStore {
  add(row: Omit<QueuedCommandRow, 'id'>): number;
  forDevice(deviceJid: string): QueuedCommandRow[];
  delete(id: number): void;
  /**
   * Take a row to deliver or expire it: true for exactly one caller (in cluster mode, one instance), which then
   * answers it; false when it was taken already.
   */
  claim(id: number): Promise<boolean>;
  expired(now: number): QueuedCommandRow[];
  deviceJids(): string[];
}

/** A subscription request a device sent to a user (mutual presence, invitations), and the user's answer. */
export type PresenceRequestState = 'asked' | 'granted' | 'declined';

/**
 * Whether each device asked for a user's presence and what the user answered (RFC 6121 §3.1): a declined request
 * is not repeated, and the pairs whose presence the device sees are probed again after a reconnect.
 */
export interface PresenceRequestStore {
  get(deviceJid: string, user: string): PresenceRequestState | undefined;
  set(deviceJid: string, user: string, state: PresenceRequestState): void;
  delete(deviceJid: string, user: string): void;
  /** Users a device asked (any state), from memory. */
  of(deviceJid: string): ReadonlyMap<string, PresenceRequestState>;
}

/** XEP-0060 subscriptions to the nodes of device JIDs. */
export interface PubsubSubscriptionStore {
  /** Returns false when it was already there. */
  add(deviceJid: string, node: string, subscriber: string): boolean;
  delete(deviceJid: string, node: string, subscriber: string): boolean;
  /** Subscribers (bare or full JIDs, as they subscribed) of a node — hot path (every reading), from memory. */
  of(deviceJid: string, node: string): ReadonlySet<string>;
}

export interface LatestReadingRow {
  readonly deviceJid: string;
  readonly topic: string;
  readonly json: string;
  readonly receivedAt: number;
}

/**
 * The newest reading of each device: what a returning user gets, what the presence status shows, the first PubSub
 * item. Read and written in memory on the hot path; written to disk behind (`flush`, periodically and at stop).
 */
export interface LatestReadingStore {
  get(deviceJid: string): LatestReadingRow | undefined;
  set(row: LatestReadingRow): void;
  delete(deviceJid: string): void;
  flush(): void;
}

export type ImportStatus = 'pending' | 'approved' | 'blocked';

/** A device that described itself on the broker, and the operator's decision about it (features/import). */
export interface ImportRow {
  readonly source: string;
  /** As the source writes it; rows are keyed by its lower-cased form. */
  readonly hardwareId: string;
  readonly status: ImportStatus;
  readonly name: string;
  readonly jid: string | undefined;
  /** The description last seen (JSON); undefined for a device blocked before it announced itself. */
  readonly description: string | undefined;
  readonly publisher: string | undefined;
  readonly firstSeen: number;
  readonly updatedAt: number;
  readonly decidedBy: string | undefined;
}

/** Imported devices: written by the bridge as devices come and go, decided by operators (CLI, request topic, XMPP). */
export interface ImportStore {
  get(source: string, hardwareId: string): ImportRow | undefined;
  /** Rows of a source (or all), optionally of one status, ordered by source and hardware id. */
  list(filter?: { readonly source?: string; readonly status?: ImportStatus }): ImportRow[];
  /**
   * Insert or replace rows, in one transaction (one bridge/devices message of thousands of devices). The status and
   * `decidedBy` of a row already decided (`decidedBy` set) are kept: a description never changes a decision, and the
   * caller may save a status that predates one made elsewhere (CLI, another instance).
   */
  saveMany(rows: readonly ImportRow[]): void;
  /** Set a device's status (creating the row for a device not seen yet); false when the status was already that. */
  decide(source: string, hardwareId: string, status: ImportStatus, by: string, now: number): boolean;
  delete(source: string, hardwareId: string): void;
  /** Whether another process (the CLI) wrote the database since the last call: cheap, pollable. */
  changedElsewhere(): boolean;
}
