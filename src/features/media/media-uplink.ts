/**
 * Binary readings between the uplink and the delivery engine (docs/MEDIA.md): per device, one upload at a time, at
 * most one every `minIntervalMs`, and at most `dailyBytes` a day (the upload server's quota is per uploader — the
 * device JID — so the bridge stops before the server refuses: Prosody's default is 10 × the file size limit a day).
 * A snapshot that arrives while another waits replaces it: the newest pending snapshot wins, the one replaced is
 * reported (`MEDIA_SUPERSEDED`). Bytes at most `inlineMaxBytes` long skip the upload and travel in the JSON.
 *
 * QoS: the device's acknowledgement waits until the bytes are stored on the upload server and the message that
 * points at them is in the outbox. So for QoS 1 "delivered" means what it means for any reading — the message (URL,
 * size, SHA-256) is durable, replayed after an outage until the server has it — and the file it points at is already
 * stored. An upload that fails is not retried: the reading is rejected (counted, on the event topic) and
 * acknowledged, as every rejected reading is; the device's next snapshot is the retry.
 */
import type { Device } from '../../devices/device.js';
import { BridgeError } from '../../errors.js';
import { fileNameOf, inlineMeta, sha256Hex, type MediaMeta } from '../../convert/media.js';
import type { UploadResult } from './upload.js';

export interface MediaJob {
  readonly device: Device;
  readonly bytes: Buffer;
  readonly mediaType: string;
  readonly topic: string;
  readonly qos: 0 | 1 | 2;
  readonly receivedAt: number;
  readonly done: (err?: Error) => void;
}

export interface MediaOptions {
  /** The bridge-wide limit (a mapping's own `maxBytes` was checked by the uplink). */
  readonly maxBytes: number;
  readonly minIntervalMs: number;
  readonly dailyBytes: number;
  readonly inlineMaxBytes: number;
}

/** Where the bytes go: the XMPP server's upload service, or the bridge's own file server. */
export type Store = (deviceJid: string, fileName: string, bytes: Buffer, mediaType: string) => Promise<UploadResult>;

interface PerDevice {
  busy: boolean;
  pending: MediaJob | undefined;
  lastStart: number;
  timer: NodeJS.Timeout | undefined;
  dayStart: number;
  dayBytes: number;
}

const DAY_MS = 86_400_000;

export class MediaUplink {
  private readonly devices = new Map<string, PerDevice>();
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly opts: MediaOptions,
    /** The metadata is the reading: on to the delivery mode and the engine, `job.done` acknowledging it. */
    private readonly deliver: (job: MediaJob, meta: MediaMeta) => void,
    /** Refused or failed: reported, counted, and the publish acknowledged. */
    private readonly reject: (job: MediaJob, error: BridgeError) => void,
    private readonly clock: () => number = Date.now,
  ) {}

  accept(job: MediaJob): void {
    if (this.stopped) return job.done();
    if (job.bytes.byteLength > this.opts.maxBytes) return this.reject(job, new BridgeError('MEDIA_TOO_LARGE', `${job.bytes.byteLength} bytes exceed media.maxBytes (${this.opts.maxBytes})`));
    if (job.bytes.byteLength <= (job.device.mapping.media?.inlineMaxBytes ?? this.opts.inlineMaxBytes)) return this.deliver(job, inlineMeta(job.bytes, job.mediaType, job.topic));
    let s = this.devices.get(job.device.jid);
    if (!s) this.devices.set(job.device.jid, (s = { busy: false, pending: undefined, lastStart: -Infinity, timer: undefined, dayStart: this.clock(), dayBytes: 0 }));
    if (s.pending) this.reject(s.pending, new BridgeError('MEDIA_SUPERSEDED', `a newer snapshot from ${job.device.jid} replaced this one before it was sent`));
    s.pending = job;
    this.schedule(job.device.jid, s);
  }

  /** Waiting snapshots are acknowledged and dropped (the bridge stops; their devices send again). */
  stop(): void {
    this.stopped = true;
    for (const s of this.devices.values()) {
      clearTimeout(s.timer);
      s.pending?.done();
      s.pending = undefined;
    }
  }

  private schedule(jid: string, s: PerDevice): void {
    if (s.busy || s.timer || !s.pending) return;
    const wait = s.lastStart + this.opts.minIntervalMs - this.clock();
    if (wait > 0) {
      s.timer = setTimeout(() => {
        s.timer = undefined;
        void this.run(jid, s);
      }, wait);
      return;
    }
    void this.run(jid, s);
  }

  private async run(jid: string, s: PerDevice): Promise<void> {
    const job = s.pending;
    if (!job || this.stopped) return;
    s.pending = undefined;
    s.busy = true;
    const now = this.clock();
    s.lastStart = now;
    if (now - s.dayStart >= DAY_MS) {
      s.dayStart = now;
      s.dayBytes = 0;
    }
    try {
      if (s.dayBytes + job.bytes.byteLength > this.opts.dailyBytes) {
        this.reject(job, new BridgeError('MEDIA_QUOTA', `${jid} has uploaded ${s.dayBytes} bytes today; ${job.bytes.byteLength} more would exceed the daily budget of ${this.opts.dailyBytes}`));
        return;
      }
      const r = await this.store(jid, fileNameOf(job.device.id, job.mediaType, now), job.bytes, job.mediaType);
      if (!r.ok) {
        this.reject(job, new BridgeError(r.code, r.message));
        return;
      }
      s.dayBytes += job.bytes.byteLength;
      if (this.stopped) return job.done();
      this.deliver(job, { url: r.url, size: job.bytes.byteLength, sha256: sha256Hex(job.bytes), mediaType: job.mediaType, topic: job.topic });
    } finally {
      s.busy = false;
      if (!this.stopped) this.schedule(jid, s);
      if (!s.busy && !s.pending && !s.timer && this.devices.size > 10_000) this.devices.delete(jid);
    }
  }
}
