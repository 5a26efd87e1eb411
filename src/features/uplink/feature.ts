/**
 * The uplink feature: every device publish, before its acknowledgement → mapping → validated reading → the device's
 * latest value → its change policy → its delivery mode → the delivery engine (outbox, barriers, replay). Rejections
 * become `reading_rejected` events (counted, logged and reported, throttled per device and code, by the reporting
 * features); nothing of a rejected payload reaches XMPP.
 *
 * Presence-gated fan-out (recipients.ts): a reading goes to the device's followers who are online. A follower who comes
 * back (`user_available`) or subscribes gets the device's current value once, XEP-0203 stamped, when they missed it —
 * for mappings with `offline: latest`; `store` sends every reading to everyone, `drop` nothing to the absent.
 *
 * Also keeps the brokers subscribed to the reading filters of the mappings in force.
 */
import type { MqttSide, InboundPublish } from '../../broker/mqtt-side.js';
import type { Device } from '../../devices/device.js';
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import { readingText } from '../../convert/reading.js';
import { readingTopics } from '../../mapping/mapping.js';
import type { Reading, Rejection, UplinkOutcome } from './uplink.js';
import { ChangeGate } from './change-policy.js';
import { ChatDelivery, type ReadingDelivery } from './chat-delivery.js';
import { Delivery } from './delivery.js';
import { LiveDelivery } from './live-delivery.js';
import { Recipients } from './recipients.js';
import { Uplink } from './uplink.js';
import type { MediaMeta } from '../../convert/media.js';
import { MediaDelivery } from '../media/media-delivery.js';
import { MediaUplink, type MediaJob } from '../media/media-uplink.js';
import { Uploader } from '../media/upload.js';
import { mappingLabel } from '../../observe/metrics.js';

/** Latest values are written to disk this often (and at stop). */
const LATEST_FLUSH_MS = 10_000;

export class UplinkFeature implements Feature {
  readonly name = 'uplink';
  readonly delivery: Delivery;
  readonly recipients: Recipients;
  private readonly uplink: Uplink;
  private readonly chat: ChatDelivery;
  private readonly live: LiveDelivery;
  private readonly mediaMode: MediaDelivery;
  private readonly media: MediaUplink;
  private readonly gate: ChangeGate<Device, Reading>;
  private readonly unsubscribe: (() => void)[] = [];
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(private readonly k: Kernel) {
    const { config } = k;
    this.uplink = new Uplink(k.mappings, k.registry);
    this.recipients = new Recipients(k.stores.subscriptions, k.users);
    this.chat = new ChatDelivery(k.xmpp, this.recipients, config.xmpp);
    this.live = new LiveDelivery(k.xmpp, this.recipients, config.xmpp);
    this.mediaMode = new MediaDelivery(k.xmpp, this.recipients, config.xmpp);
    const m = config.media;
    const uploader = new Uploader(k.xmpp, config.xmpp.serverDomain, m.uploadTimeoutSeconds * 1000, m.uploadService);
    this.media = new MediaUplink(
      async (jid, name, bytes, type) => {
        const r = await uploader.upload(jid, name, bytes, type);
        // No upload service: the status page's server keeps the file (docs/MEDIA.md), when it runs.
        const files = k.stores.mediaFiles;
        if (r.ok || r.code !== 'MEDIA_NO_UPLOAD_SERVICE' || !files) return r;
        const local = await files.put(bytes, type);
        return local.ok ? local : { ok: false, code: 'MEDIA_UPLOAD_FAILED', message: `built-in file store: ${local.message}` };
      },
      { maxBytes: m.maxBytes, minIntervalMs: m.minIntervalSeconds * 1000, dailyBytes: m.dailyBytes, inlineMaxBytes: m.inlineMaxBytes },
      (job, meta) => this.mediaReading(job, meta),
      (job, error) => {
        this.reject({ error, topic: job.topic, clientId: undefined, deviceId: job.device.id, mappingId: job.device.mapping.id });
        job.done();
      },
    );
    // A reading held for the end of its device's minInterval (the newest of those that came meanwhile) goes out now.
    this.gate = new ChangeGate((device, reading) => {
      this.k.metrics.inc('readings_coalesced_total');
      this.send(reading, () => undefined);
    });
    const d = config.delivery;
    this.delivery = new Delivery(
      k.xmpp,
      k.stores.outbox,
      (device) => this.modeOf(device),
      k.registry,
      k.stores.instanceId,
      {
        maxOutbox: d.maxOutbox,
        maxAgeMs: d.maxAgeSeconds * 1000,
        qos0Buffer: d.qos0Buffer,
        barrierIntervalMs: d.barrierIntervalMs,
        barrierBatch: d.barrierBatch,
        barrierTimeoutMs: d.barrierTimeoutMs,
        highWaterBytes: d.highWaterBytes,
      },
      k.metrics,
      k.log.child({ part: 'delivery' }),
      k.bus,
    );
    k.metrics.gauge('held_publishes', () => this.delivery.backlog.held);
    k.metrics.gauge('qos0_buffered', () => this.delivery.backlog.qos0);
    k.metrics.gauge('readings_waiting', () => this.gate.waiting);
  }

  start(): void {
    const k = this.k;
    k.mqtt.onPublish((side, msg, done) => this.onPublish(side, msg, done));
    this.unsubscribe.push(
      k.bus.on('mappings_changed', () => void this.followFilters()),
      k.bus.on('user_available', ({ user, device }) => this.userBack(user, device)),
      k.bus.on('subscription_approved', ({ device, user }) => this.sendLatest(device, user)),
      k.bus.on('subscription_removed', ({ device, user }) => this.forget(device.jid, user)),
      // A removed device's latest value stays: its mapping may come back with it (the registry keeps it too).
      k.bus.on('device_removed', ({ device }) => {
        this.forget(device.jid);
        this.gate.forget(device);
      }),
    );
    void this.followFilters();
    this.delivery.start();
    this.flushTimer = setInterval(() => this.k.stores.latest.flush(), LATEST_FLUSH_MS);
    this.flushTimer.unref();
  }

  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    this.media.stop();
    clearInterval(this.flushTimer);
    const held = this.gate.stop();
    if (held > 0) this.k.metrics.inc('readings_dropped_total', 'HELD_SHUTDOWN', held);
    // What was accepted is committed and, if possible, confirmed (the brokers stopped taking readings before this).
    await this.delivery.stop();
    this.k.stores.latest.flush();
  }

  /** The delivery mode of a device's readings. */
  modeOf(device: Device): ReadingDelivery {
    if (device.mapping.media) return this.mediaMode;
    return device.mapping.delivery.mode === 'live' ? this.live : this.chat;
  }

  /**
   * An uploaded (or inline) binary reading: its metadata is the reading — the device's latest value, then its mode and
   * the engine. The media scheduler throttled it already: the change policy does not hold it again.
   */
  private mediaReading(job: MediaJob, meta: MediaMeta): void {
    const reading: Reading = { device: job.device, topic: job.topic, json: JSON.stringify(meta), value: meta, qos: job.qos, receivedAt: job.receivedAt };
    this.k.stores.latest.set({ deviceJid: job.device.jid, topic: reading.topic, json: reading.json, receivedAt: reading.receivedAt });
    this.k.bus.emit('reading', { reading, replay: false });
    this.k.metrics.inc('readings_total', mappingLabel(job.device.mapping));
    this.send(reading, job.done);
  }

  private followFilters(): Promise<void> {
    return this.k.mqtt.setReadingFilters(this.k.mappings.all().flatMap((m) => readingTopics(m).map((t) => t.filter)));
  }

  /** Every device publish, before its acknowledgement: `done` is called when it may be acknowledged. */
  private onPublish(side: MqttSide, msg: InboundPublish, done: (err?: Error) => void): void {
    const outcome = this.uplink.process(msg, done, (later, laterDone) => this.settle(side, msg, later, laterDone));
    // Merged into the device's state: the uplink settles the reading it becomes when this event-loop turn ends.
    if (outcome.kind === 'merged') return;
    this.settle(side, msg, outcome, done);
  }

  private settle(side: MqttSide, msg: InboundPublish, outcome: UplinkOutcome, done: (err?: Error) => void): void {
    const { bus, metrics } = this.k;
    if (outcome.kind === 'rejected') this.reject(outcome.rejection);
    if (outcome.kind === 'binary') {
      outcome.device.via = side.name;
      // A retained snapshot replayed on subscription is old: not uploaded again.
      if (msg.replay) return done();
      return this.media.accept({ ...outcome, done });
    }
    if (outcome.kind !== 'reading') return done();
    const { reading } = outcome;
    const device = reading.device;
    device.via = side.name;
    // A retained message replayed on subscription is state the device reported earlier, not a new reading — but it
    // is the device's current value.
    this.k.stores.latest.set({ deviceJid: device.jid, topic: reading.topic, json: reading.json, receivedAt: reading.receivedAt });
    bus.emit('reading', { reading, replay: msg.replay });
    if (msg.replay) {
      metrics.inc('readings_replayed_total');
      return done();
    }
    metrics.inc('readings_total', mappingLabel(device.mapping));
    const decision = this.gate.offer(device, device.mapping.changes, reading);
    if (decision.kind === 'hold') {
      // Counted, never lost: the latest value above is what a returning follower gets, and a reading held for
      // minInterval is sent (or superseded by a newer one) when the interval ends.
      metrics.inc('readings_held_total', decision.reason);
      return done();
    }
    this.send(reading, done);
  }

  /** A reading the change policy let through: to its mode, then the delivery engine. */
  private send(reading: Reading, done: (err?: Error) => void): void {
    const { device } = reading;
    const out = this.modeOf(device).prepare(device, reading);
    if (!out.ok) {
      this.reject({ error: out.error, topic: reading.topic, clientId: undefined, deviceId: device.id, mappingId: device.mapping.id });
      return done();
    }
    this.k.bus.emit('reading_sent', { reading });
    if (out.value.recipients === 0) {
      this.k.metrics.inc('readings_without_recipients_total');
      return done();
    }
    this.delivery.accept(reading, out.value, done);
  }

  /**
   * A follower is back: the current value of each device they follow with `offline: latest`, when they missed it.
   * `device`: only that one (the probe of a user who shares no presence names the device probed).
   */
  private userBack(user: string, device: Device | undefined): void {
    const devices = device ? [device] : this.k.registry.all();
    for (const d of devices) {
      if (d.mapping.delivery.offline !== 'latest' || !this.recipients.follows(d, user)) continue;
      this.sendLatest(d, user);
    }
  }

  /** The device's current value to one follower, XEP-0203 stamped with when it was received, unless they have it. */
  private sendLatest(device: Device, user: string): void {
    const latest = this.k.stores.latest.get(device.jid);
    if (!latest) return;
    let value: unknown;
    try {
      value = JSON.parse(latest.json) as unknown;
    } catch {
      return; // only validated JSON is stored
    }
    const text = readingText(value, device.segments, device.mapping.body, this.k.config.xmpp.maxBodyChars);
    if (!text.ok || !this.recipients.missed(device, user, latest.receivedAt, text.value)) return;
    const out = this.modeOf(device).prepare(device, { json: latest.json, value, receivedAt: latest.receivedAt }, { delayedSince: new Date(latest.receivedAt), to: [user] });
    if (!out.ok) return;
    if (this.delivery.direct(out.value)) this.k.metrics.inc('readings_latest_sent_total');
  }

  private forget(deviceJid: string, user?: string): void {
    this.recipients.forget(deviceJid, user);
    this.live.forget(deviceJid, user);
  }

  private reject(r: Rejection): void {
    this.k.bus.emit('reading_rejected', {
      code: r.error.code,
      message: r.error.message,
      deviceId: r.deviceId,
      topic: r.topic,
      mapping: r.mappingId,
      clientId: r.clientId,
      ...(r.schemaErrors ? { errors: r.schemaErrors } : {}),
    });
  }
}
