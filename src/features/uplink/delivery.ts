/**
 * Carrying MQTT's delivery promise across XEP-0114, which has no acknowledgements.
 *
 * QoS 1/2 readings are appended to the SQLite outbox (one transaction per event-loop turn: group commit) before
 * their device gets its PUBACK. They leave the outbox only when the XMPP server has proven it received them: after a
 * batch, the bridge sends an IQ on the same stream (a barrier, XEP-0199 ping); TCP keeps the stream in order and the
 * server handles a stream's stanzas in order, so any reply to the barrier — result or error — means every stanza
 * written before it was received. After a disconnect or a restart, whatever is still in the outbox is sent again in
 * order, with its original stanza id and an XEP-0203 delay stamp: duplicates are possible, losses are not.
 *
 * QoS 0 readings are sent at once when the link is up; while it is down they wait in a bounded memory buffer whose
 * overflow drops the oldest (counted). When the outbox is full the bridge stops acknowledging QoS 1/2 publishes
 * (their devices slow down) instead of dropping data it has acknowledged.
 *
 * States: `live` (link up, caught up: readings are written to the stream as they are committed) and `backlog`
 * (link down, or catching up: readings accumulate, and a replay drains the outbox and the buffer before going live).
 */
import xml from '@xmpp/xml';
import type { Device } from '../../devices/device.js';
import type { DeviceRegistry } from '../../devices/registry.js';
import type { EventBus } from '../../kernel/events.js';
import type { OutboxRow, OutboxStore } from '../../kernel/stores.js';
import { barrierPrefix, type XmppLink } from '../../kernel/xmpp-link.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../observe/metrics.js';
import { NS_PING } from '../../xmpp/namespaces.js';
import type { OutgoingReading, ReadingDelivery } from './chat-delivery.js';
import type { Reading } from './uplink.js';

export interface DeliveryOptions {
  /** Outbox rows at most; beyond it, QoS 1/2 publishes wait for their PUBACK. */
  readonly maxOutbox: number;
  /** Readings older than this are dropped from the outbox (counted and reported). */
  readonly maxAgeMs: number;
  /** QoS 0 readings kept in memory while the link is down. */
  readonly qos0Buffer: number;
  /** A barrier at least this often while readings are unconfirmed… */
  readonly barrierIntervalMs: number;
  /** …and after at most this many readings. */
  readonly barrierBatch: number;
  /** A barrier unanswered for this long means the link is dead: reconnect. */
  readonly barrierTimeoutMs: number;
  /** Stop writing when the socket holds this many unsent bytes (a slow or frozen server). */
  readonly highWaterBytes: number;
}

interface Pending {
  readonly reading: Reading;
  readonly out: OutgoingReading;
  readonly done: (err?: Error) => void;
}


/** Late by more than this, a reading carries an XEP-0203 delay stamp. */
const LATE_MS = 1000;

export class Delivery {
  private mode: 'live' | 'backlog' = 'backlog';
  private generation = 0;
  private pending: Pending[] = [];
  private held: Pending[] = [];
  private qos0: Reading[] = [];
  /** Current values for returning followers that came while the stream was catching up. */
  private afterReplay: OutgoingReading[] = [];
  private commitScheduled = false;
  private lastSent = 0;
  private unconfirmed = 0;
  private chain: Promise<boolean> = Promise.resolve(true);
  private barrierSeq = 0;
  private chainGen = -1;
  private barrierTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private qos0Seq = 0;
  private readonly qos0Prefix: string;
  private stopped = false;

  private readonly onOnline = (): void => this.goOnline();
  private readonly onOffline = (): void => this.goOffline();

  constructor(
    private readonly link: XmppLink,
    private readonly outbox: OutboxStore,
    /** The delivery mode of a device's readings. */
    private readonly modeOf: (device: Device) => ReadingDelivery,
    private readonly registry: DeviceRegistry,
    private readonly instance: string,
    private readonly opts: DeliveryOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly bus: EventBus,
  ) {
    this.qos0Prefix = `${instance}-q${Date.now().toString(36)}-`;
  }

  start(): void {
    this.link.on('online', this.onOnline);
    this.link.on('offline', this.onOffline);
    this.expiryTimer = setInterval(() => this.expire(), Math.min(60_000, Math.max(1000, this.opts.maxAgeMs / 10)));
    this.expiryTimer.unref();
    if (this.link.online) this.goOnline();
  }

  /** Live, with nothing waiting to be committed or written (tests and the status of the bridge). */
  get caughtUp(): boolean {
    return this.mode === 'live' && !this.commitScheduled && this.pending.length === 0 && this.afterReplay.length === 0;
  }

  /** Readings waiting in the outbox (durable) and in the QoS 0 buffer. */
  get backlog(): { outbox: number; qos0: number; held: number } {
    return { outbox: this.outbox.size, qos0: this.qos0.length, held: this.held.length };
  }

  /**
   * A validated, buildable reading. `done` acknowledges the publish to the device: at once for QoS 0, after the
   * outbox commit for QoS 1/2.
   */
  accept(reading: Reading, out: OutgoingReading, done: (err?: Error) => void): void {
    if (reading.qos === 0) {
      if (this.writable()) this.write(out, this.qos0Id(), reading.receivedAt);
      else this.buffer(reading);
      done();
      return;
    }
    this.pending.push({ reading, out, done });
    if (!this.commitScheduled) {
      this.commitScheduled = true;
      setImmediate(() => this.commit());
    }
  }

  /**
   * Stanzas outside the outbox and its order — the current value for a returning follower or a new subscriber: written
   * now if the stream is live; while it catches up (replay after a reconnect, when followers' presence comes back),
   * after the backlog (bounded like the QoS 0 buffer); dropped when the stream is down (the bridge then knows nobody
   * online, and sends the value when they are seen again). Returns whether it was written or queued.
   */
  direct(out: OutgoingReading): boolean {
    if (this.writable()) {
      this.write(out, this.qos0Id());
      return true;
    }
    if (!this.link.online || this.stopped) {
      this.metrics.inc('readings_dropped_total', 'XMPP_OFFLINE');
      return false;
    }
    this.afterReplay.push(out);
    if (this.afterReplay.length > this.opts.qos0Buffer) {
      this.afterReplay.shift();
      this.metrics.inc('readings_dropped_total', 'QOS0_OVERFLOW');
    }
    return true;
  }

  /** Stop: commit what is pending, then wait (bounded) for the server to confirm what was sent. */
  async stop(timeoutMs = 3000): Promise<void> {
    this.link.off('online', this.onOnline);
    this.link.off('offline', this.onOffline);
    this.commit();
    clearInterval(this.expiryTimer);
    clearTimeout(this.barrierTimer);
    if (this.mode === 'live' && this.unconfirmed > 0 && this.link.online) {
      await Promise.race([this.barrier(this.generation), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    }
    this.stopped = true;
    for (const p of this.held) p.done(new Error('bridge stopping'));
    this.held = [];
    if (this.qos0.length > 0) this.metrics.inc('readings_dropped_total', 'QOS0_SHUTDOWN', this.qos0.length);
  }

  private commit(): void {
    this.commitScheduled = false;
    if (this.pending.length === 0) return;
    let batch = this.pending;
    this.pending = [];
    // Backpressure: beyond the outbox limit, publishes wait unacknowledged (their devices stop sending).
    const room = Math.max(0, this.opts.maxOutbox - this.outbox.size);
    const wasHolding = this.held.length > 0;
    if (batch.length > room) {
      this.metrics.inc('uplink_backpressure_total', undefined, batch.length - room);
      this.held.push(...batch.slice(room));
      batch = batch.slice(0, room);
      if (!wasHolding) {
        const size = this.outbox.size + batch.length;
        this.bus.emit('outbox_full', { size, limit: this.opts.maxOutbox });
      }
    }
    if (batch.length === 0) return;
    let ids: number[];
    try {
      ids = this.outbox.append(batch.map((p) => ({ deviceJid: p.reading.device.jid, topic: p.reading.topic, json: p.reading.json, receivedAt: p.reading.receivedAt })));
    } catch (err) {
      // Not stored, so not acknowledged: the devices will send again.
      this.log.error({ err: (err as Error).message }, 'outbox write failed');
      for (const p of batch) p.done(err as Error);
      return;
    }
    for (const p of batch) p.done();
    if (this.mode !== 'live') return;
    batch.forEach((p, i) => {
      this.write(p.out, this.readingId(ids[i]!), p.reading.receivedAt);
      this.lastSent = ids[i]!;
      this.unconfirmed += 1;
    });
    this.maybeBarrier();
  }

  private writable(): boolean {
    return this.mode === 'live' && this.link.online && this.link.pendingBytes < this.opts.highWaterBytes;
  }

  /** `receivedAt`: when the publish arrived, for the uplink latency (absent for a current value sent again: not a publish's latency). */
  private write(out: OutgoingReading, id: string, receivedAt?: number): void {
    const stanzas = out.write(id);
    if (receivedAt !== undefined) this.metrics.observe('uplink_latency_seconds', (Date.now() - receivedAt) / 1000);
    this.metrics.inc('readings_delivered_total');
    this.metrics.inc('stanzas_sent_total', undefined, stanzas);
    if (this.mode === 'live' && this.link.pendingBytes >= this.opts.highWaterBytes) {
      // The server is not keeping up: stop writing until the socket drains, then catch up from the outbox.
      this.log.warn({ pendingBytes: this.link.pendingBytes }, 'XMPP stream congested; pausing');
      this.metrics.inc('xmpp_congestion_total');
      this.mode = 'backlog';
      const gen = this.generation;
      const resumeAfter = this.lastSent; // what was written is on its way; catch up from there
      this.link.onceDrained(() => {
        if (gen === this.generation && this.link.online && this.mode === 'backlog') void this.replay(gen, resumeAfter);
      });
    }
  }

  private buffer(reading: Reading): void {
    this.qos0.push(reading);
    if (this.qos0.length > this.opts.qos0Buffer) {
      this.qos0.shift();
      this.metrics.inc('readings_dropped_total', 'QOS0_OVERFLOW');
    }
  }

  private readingId(rowId: number): string {
    return `${this.instance}-${rowId.toString(36)}`;
  }

  private qos0Id(): string {
    return `${this.qos0Prefix}${(this.qos0Seq++).toString(36)}`;
  }

  private maybeBarrier(): void {
    if (this.unconfirmed >= this.opts.barrierBatch && !this.barrierTimer) {
      // Due now: run it on the next turn (coalesces a burst of commits into one barrier).
      this.barrierTimer = setTimeout(() => {
        this.barrierTimer = undefined;
        void this.barrier(this.generation);
      }, 0);
    } else if (!this.barrierTimer && this.unconfirmed > 0) {
      this.barrierTimer = setTimeout(() => {
        this.barrierTimer = undefined;
        void this.barrier(this.generation);
      }, this.opts.barrierIntervalMs);
    }
  }

  /**
   * One barrier: ping the component's own domain on this stream (the server routes it back to us, so no server
   * module or configuration is involved); any reply proves receipt of everything written before it. Barriers of
   * one stream run one after another; a new stream starts a new chain, so a barrier stranded on a dead stream
   * (waiting for its timeout) never holds up the next one.
   */
  private barrier(gen: number): Promise<boolean> {
    if (this.chainGen !== gen) {
      this.chainGen = gen;
      this.chain = Promise.resolve(true);
    }
    this.chain = this.chain.then((alive) => (alive && gen === this.generation ? this.runBarrier(gen) : false));
    return this.chain;
  }

  private async runBarrier(gen: number): Promise<boolean> {
    if (this.lastSent === 0 || this.unconfirmed === 0) return true;
    const upTo = this.lastSent;
    const count = this.unconfirmed;
    const id = `${barrierPrefix(this.instance)}${(this.barrierSeq++).toString(36)}`;
    try {
      await this.link.request(xml('iq', { type: 'get', id, to: this.link.domain, from: this.link.domain }, xml('ping', { xmlns: NS_PING })), this.opts.barrierTimeoutMs).catch((err: unknown) => {
        // An error reply is still a reply: the server got the stream up to here.
        if ((err as { name?: string }).name !== 'StanzaError') throw err;
      });
      if (gen !== this.generation) return false;
      const n = this.outbox.confirmUpTo(upTo);
      this.unconfirmed = Math.max(0, this.unconfirmed - count);
      this.metrics.inc('readings_confirmed_total', undefined, n);
      this.release();
      if (this.mode === 'live' && this.unconfirmed > 0) this.maybeBarrier();
      return true;
    } catch (err) {
      if (gen === this.generation && this.link.online) {
        this.log.warn({ err: (err as Error).message }, 'the XMPP server did not answer the delivery barrier; reconnecting');
        this.metrics.inc('barrier_timeouts_total');
        this.link.restart();
      }
      return false;
    }
  }

  /** Room in the outbox again: take the held publishes. */
  private release(): void {
    if (this.held.length === 0 || this.outbox.size >= this.opts.maxOutbox) return;
    this.pending.unshift(...this.held);
    this.held = [];
    this.commit();
  }

  private goOnline(): void {
    if (this.stopped) return;
    this.generation += 1;
    void this.replay(this.generation, 0); // a new stream: everything unconfirmed is sent again
  }

  private goOffline(): void {
    this.generation += 1;
    this.mode = 'backlog';
    // The followers they were for are no longer known to be online.
    if (this.afterReplay.length > 0) this.metrics.inc('readings_dropped_total', 'XMPP_OFFLINE', this.afterReplay.length);
    this.afterReplay = [];
    this.unconfirmed = 0;
    this.lastSent = 0;
    clearTimeout(this.barrierTimer);
    this.barrierTimer = undefined;
  }

  /** Catch up: the outbox in order (after `after`), then the QoS 0 buffer, then live. */
  private async replay(gen: number, after: number): Promise<void> {
    this.mode = 'backlog';
    let replayed = 0;
    for (;;) {
      if (gen !== this.generation || !this.link.online) return;
      const rows = this.outbox.page(after, this.opts.barrierBatch);
      if (rows.length === 0) break;
      for (const row of rows) {
        if (this.sendRow(row)) replayed += 1;
        after = row.id;
      }
      this.lastSent = after;
      this.unconfirmed += rows.length;
      if (!(await this.barrier(gen))) return; // the link is being re-established; the next replay starts over
      if (this.link.pendingBytes >= this.opts.highWaterBytes) await new Promise<void>((r) => this.link.onceDrained(r));
    }
    const buffered = this.qos0;
    this.qos0 = [];
    for (const r of buffered) {
      const late = this.lateSince(r.receivedAt);
      const out = this.modeOf(r.device).prepare(r.device, r, late ? { delayedSince: late } : {});
      if (out.ok && out.value.recipients > 0) this.write(out.value, this.qos0Id(), r.receivedAt);
    }
    if (gen !== this.generation) return;
    const direct = this.afterReplay;
    this.afterReplay = [];
    for (const out of direct) this.write(out, this.qos0Id());
    // Caught up, in the same turn as the last empty page: nothing committed meanwhile was missed.
    this.mode = 'live';
    if (replayed + buffered.length > 0) {
      this.bus.emit('delivery_resumed', { replayed, buffered: buffered.length });
    }
    this.release();
  }

  private sendRow(row: OutboxRow): boolean {
    const device: Device | undefined = this.registry.byJid(row.deviceJid);
    if (!device) {
      this.metrics.inc('readings_dropped_total', 'DEVICE_UNKNOWN');
      return false;
    }
    let value: unknown;
    try {
      value = JSON.parse(row.json) as unknown;
    } catch (err) {
      // Only validated JSON is stored: a row that does not parse was damaged on disk. Say so, and go on.
      this.metrics.inc('readings_dropped_total', 'OUTBOX_CORRUPT');
      this.log.error({ row: row.id, deviceJid: row.deviceJid, err: (err as Error).message }, 'outbox row is not valid JSON; dropped');
      return false;
    }
    const late = this.lateSince(row.receivedAt);
    const out = this.modeOf(device).prepare(device, { json: row.json, value, receivedAt: row.receivedAt }, late ? { delayedSince: late } : {});
    if (!out.ok) {
      this.metrics.inc('readings_dropped_total', out.error.code);
      return false;
    }
    // Nobody to tell now (every follower is away): they get the device's latest value when they are back.
    if (out.value.recipients === 0) return false;
    this.write(out.value, this.readingId(row.id), row.receivedAt);
    return true;
  }

  private lateSince(receivedAt: number): Date | undefined {
    return Date.now() - receivedAt > LATE_MS ? new Date(receivedAt) : undefined;
  }

  private expire(): void {
    const n = this.outbox.expire(Date.now() - this.opts.maxAgeMs);
    if (n === 0) return;
    this.metrics.inc('readings_dropped_total', 'EXPIRED', n);
    this.bus.emit('readings_expired', { count: n, maxAgeMs: this.opts.maxAgeMs });
    this.release();
  }
}
