/**
 * The uplink feature: every device publish, before its acknowledgement → mapping → validated reading → its delivery
 * mode → the delivery engine (outbox, barriers, replay). Rejections become `reading_rejected` events (counted, logged
 * and reported, throttled per device and code, by the reporting features); nothing of a rejected payload reaches XMPP.
 *
 * Also keeps the brokers subscribed to the reading filters of the mappings in force.
 */
import type { MqttSide, InboundPublish } from '../../broker/mqtt-side.js';
import type { Device } from '../../devices/device.js';
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import { readingTopics } from '../../mapping/mapping.js';
import type { Rejection, UplinkOutcome } from './uplink.js';
import { ChatDelivery, type ReadingDelivery } from './chat-delivery.js';
import { Delivery } from './delivery.js';
import { Uplink } from './uplink.js';
import type { MediaMeta } from '../../convert/media.js';
import { MediaDelivery } from '../media/media-delivery.js';
import { MediaUplink, type MediaJob } from '../media/media-uplink.js';
import { Uploader } from '../media/upload.js';
import { mappingLabel } from '../../observe/metrics.js';

export class UplinkFeature implements Feature {
  readonly name = 'uplink';
  readonly delivery: Delivery;
  private readonly uplink: Uplink;
  private readonly chat: ChatDelivery;
  private readonly mediaMode: MediaDelivery;
  private readonly media: MediaUplink;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly k: Kernel) {
    const { config } = k;
    this.uplink = new Uplink(k.mappings, k.registry);
    this.chat = new ChatDelivery(k.xmpp, k.stores.subscriptions, config.xmpp);
    this.mediaMode = new MediaDelivery(this.chat, k.xmpp);
    const m = config.media;
    const uploader = new Uploader(k.xmpp, config.xmpp.serverDomain, m.uploadTimeoutSeconds * 1000, m.uploadService);
    this.media = new MediaUplink(
      (jid, name, bytes, type) => uploader.upload(jid, name, bytes, type),
      { maxBytes: m.maxBytes, minIntervalMs: m.minIntervalSeconds * 1000, dailyBytes: m.dailyBytes, inlineMaxBytes: m.inlineMaxBytes },
      (job, meta) => this.mediaReading(job, meta),
      (job, error) => {
        this.reject({ error, topic: job.topic, clientId: undefined, deviceId: job.device.id, mappingId: job.device.mapping.id });
        job.done();
      },
    );
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
  }

  start(): void {
    const k = this.k;
    k.mqtt.onPublish((side, msg, done) => this.onPublish(side, msg, done));
    this.unsubscribe.push(k.bus.on('mappings_changed', () => void this.followFilters()));
    void this.followFilters();
    this.delivery.start();
  }

  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    this.media.stop();
    // What was accepted is committed and, if possible, confirmed (the brokers stopped taking readings before this).
    await this.delivery.stop();
  }

  /** The delivery mode of a device's readings (one today; the seam for others). */
  private modeOf(device: Device): ReadingDelivery {
    return device.mapping.media ? this.mediaMode : this.chat;
  }

  /** An uploaded (or inline) binary reading: its metadata is the reading, delivered as any other. */
  private mediaReading(job: MediaJob, meta: MediaMeta): void {
    const json = JSON.stringify(meta);
    const reading = { device: job.device, topic: job.topic, json, value: meta as unknown, qos: job.qos, receivedAt: job.receivedAt };
    this.k.bus.emit('reading', { reading, replay: false });
    this.k.metrics.inc('readings_total', mappingLabel(job.device.mapping));
    const out = this.mediaMode.prepare(job.device, json, meta);
    if (!out.ok) {
      this.reject({ error: out.error, topic: job.topic, clientId: undefined, deviceId: job.device.id, mappingId: job.device.mapping.id });
      return job.done();
    }
    if (out.value.recipients === 0) {
      this.k.metrics.inc('readings_without_recipients_total');
      return job.done();
    }
    this.delivery.accept(reading, out.value, job.done);
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
    // A retained message replayed on subscription is state the device reported earlier, not a new reading.
    bus.emit('reading', { reading, replay: msg.replay });
    if (msg.replay) {
      metrics.inc('readings_replayed_total');
      return done();
    }
    metrics.inc('readings_total', mappingLabel(device.mapping));
    const out = this.modeOf(device).prepare(device, reading.json, reading.value);
    if (!out.ok) {
      this.reject({ error: out.error, topic: reading.topic, clientId: msg.clientId, deviceId: device.id, mappingId: device.mapping.id });
      return done();
    }
    if (out.value.recipients === 0) {
      metrics.inc('readings_without_recipients_total');
      return done();
    }
    this.delivery.accept(reading, out.value, done);
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
