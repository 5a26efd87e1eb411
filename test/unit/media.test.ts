/**
 * Binary readings, the pure parts and the per-device scheduler: media types sniffed from magic bytes, metadata,
 * one upload at a time per device with the newest pending snapshot winning, the minimum interval, the daily budget,
 * inline small payloads, and the acknowledgement held until the upload is done (what QoS 1 means for a snapshot).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inlineMeta, parseMediaMeta, sha256Hex, sniffMediaType } from '../../src/convert/media.js';
import type { Device } from '../../src/devices/device.js';
import type { BridgeError } from '../../src/errors.js';
import { MediaUplink, type MediaJob } from '../../src/features/media/media-uplink.js';
import type { UploadResult } from '../../src/features/media/upload.js';
import type { MediaMeta } from '../../src/convert/media.js';

const device = { id: 'cam-door', jid: 'cam-door@iot.example.org', mapping: { media: {} } } as unknown as Device;

function job(bytes: Buffer, acks: string[], name: string): MediaJob {
  return { device, bytes, mediaType: 'image/jpeg', topic: 'cameras/door/snapshot', qos: 1, receivedAt: 0, done: () => acks.push(name) };
}

describe('media: sniffing and metadata', () => {
  it('recognizes the formats cameras and displays publish', () => {
    assert.equal(sniffMediaType(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0])), 'image/jpeg');
    assert.equal(sniffMediaType(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0])), 'image/png');
    assert.equal(sniffMediaType(Buffer.from('GIF89a')), 'image/gif');
    assert.equal(sniffMediaType(Buffer.from('RIFF\u0000\u0000\u0000\u0000WEBPVP8 ')), 'image/webp');
    assert.equal(sniffMediaType(Buffer.from('%PDF-1.7')), 'application/pdf');
    assert.equal(sniffMediaType(Buffer.from([1, 2, 3])), 'application/octet-stream');
  });

  it('carries small payloads base64 in the JSON, intact', () => {
    const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff]);
    const meta = inlineMeta(bytes, 'application/octet-stream', 't');
    assert.deepEqual(meta, { data: 'AAEC/v8=', size: 5, sha256: sha256Hex(bytes), mediaType: 'application/octet-stream', topic: 't' });
    assert.deepEqual(Buffer.from(meta.data, 'base64'), bytes);
    assert.deepEqual(parseMediaMeta(JSON.parse(JSON.stringify(meta))), meta);
    assert.equal(parseMediaMeta({ size: 1 }), undefined);
  });
});

describe('media: the per-device scheduler', () => {
  it('holds the acknowledgement until the upload is done, then delivers the metadata', async () => {
    const acks: string[] = [];
    let finish!: (r: UploadResult) => void;
    const delivered: MediaMeta[] = [];
    const m = new MediaUplink(
      () => new Promise((resolve) => (finish = resolve)),
      { maxBytes: 1000, minIntervalMs: 0, dailyBytes: 1e9, inlineMaxBytes: 0 },
      (j, meta) => {
        delivered.push(meta);
        j.done();
      },
      () => assert.fail('no rejection'),
    );
    const bytes = Buffer.from([0xff, 0xd8, 0xff, 1, 2, 3]);
    m.accept(job(bytes, acks, 'a'));
    await Promise.resolve();
    assert.deepEqual(acks, [], 'not acknowledged while the upload runs');
    finish({ ok: true, url: 'https://up.example.org/x.jpg' });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(acks, ['a']);
    assert.deepEqual(delivered, [{ url: 'https://up.example.org/x.jpg', size: 6, sha256: sha256Hex(bytes), mediaType: 'image/jpeg', topic: 'cameras/door/snapshot' }]);
    m.stop();
  });

  it('keeps one pending snapshot per device: the newest wins, the replaced one is reported and acknowledged', async () => {
    const acks: string[] = [];
    const rejected: [string, string][] = [];
    const uploaded: number[] = [];
    let finish!: (r: UploadResult) => void;
    const m = new MediaUplink(
      (_jid, _name, bytes) => {
        uploaded.push(bytes.byteLength);
        return new Promise((resolve) => (finish = resolve));
      },
      { maxBytes: 1000, minIntervalMs: 0, dailyBytes: 1e9, inlineMaxBytes: 0 },
      (j) => j.done(),
      (j, e: BridgeError) => {
        rejected.push([String(j.bytes.byteLength), e.code]);
        j.done();
      },
    );
    m.accept(job(Buffer.alloc(10), acks, 'first'));
    m.accept(job(Buffer.alloc(11), acks, 'second'));
    m.accept(job(Buffer.alloc(12), acks, 'third'));
    assert.deepEqual(rejected, [['11', 'MEDIA_SUPERSEDED']]);
    assert.deepEqual(uploaded, [10]);
    finish({ ok: true, url: 'https://u/1' });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(uploaded, [10, 12], 'the newest pending snapshot is the next upload');
    finish({ ok: true, url: 'https://u/2' });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(acks, ['second', 'first', 'third']);
    m.stop();
  });

  it('waits the minimum interval between two uploads of a device, and keeps to the daily budget', async () => {
    let now = 0;
    const rejected: string[] = [];
    const uploaded: number[] = [];
    const m = new MediaUplink(
      (_j, _n, bytes) => {
        uploaded.push(bytes.byteLength);
        return Promise.resolve({ ok: true, url: 'https://u' });
      },
      { maxBytes: 1000, minIntervalMs: 50, dailyBytes: 25, inlineMaxBytes: 0 },
      (j) => j.done(),
      (j, e) => {
        rejected.push(e.code);
        j.done();
      },
      () => now,
    );
    m.accept(job(Buffer.alloc(10), [], 'a'));
    await new Promise((r) => setImmediate(r));
    m.accept(job(Buffer.alloc(10), [], 'b'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(uploaded, [10], 'the second waits for the interval');
    now = 60;
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(uploaded, [10, 10]);
    now = 200;
    m.accept(job(Buffer.alloc(10), [], 'c'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(rejected, ['MEDIA_QUOTA'], '30 bytes would pass the budget of 25');
    m.accept(job(Buffer.alloc(1001), [], 'big'));
    assert.deepEqual(rejected, ['MEDIA_QUOTA', 'MEDIA_TOO_LARGE']);
    m.stop();
  });

  it('sends a payload at most inlineMaxBytes long without an upload', () => {
    const metas: MediaMeta[] = [];
    const m = new MediaUplink(() => assert.fail('no upload'), { maxBytes: 1000, minIntervalMs: 0, dailyBytes: 1e9, inlineMaxBytes: 4 }, (_j, meta) => metas.push(meta), () => assert.fail('no rejection'));
    m.accept(job(Buffer.from([1, 2, 3, 4]), [], 'tiny'));
    assert.equal(metas[0]?.data, 'AQIDBA==');
    m.stop();
  });
});

describe('media: small blobs in JSON readings', () => {
  it('checks a field declared contentEncoding: base64 and keeps it intact', async () => {
    const { createAjv } = await import('../../src/schemas/ajv.js');
    const validate = createAjv().compile({ type: 'object', properties: { thumb: { type: 'string', contentEncoding: 'base64' }, note: { type: 'string', contentEncoding: 'quoted-printable' } } });
    assert.equal(validate({ thumb: 'AAEC/v8=' }), true);
    assert.equal(validate({ thumb: 'not base64!' }), false);
    assert.equal(validate({ thumb: 'AAEC/v8' }), false, 'unpadded');
    assert.equal(validate({ note: 'anything=20' }), true, 'other encodings stay annotations');
  });
});

describe('media: the demo camera\'s picture', () => {
  it('is a PNG the bridge recognizes, of a size that changes with the time of day', async () => {
    const { picture } = await import('../../src/demo/camera.js');
    const { inflateSync } = await import('node:zlib');
    const png = picture(new Date(2026, 0, 1, 12, 30, 15));
    assert.equal(sniffMediaType(png), 'image/png');
    assert.equal(png.readUInt32BE(16), 160);
    assert.equal(png.readUInt32BE(20), 90);
    const idatLength = png.readUInt32BE(33);
    assert.equal(png.toString('latin1', 37, 41), 'IDAT');
    assert.equal(inflateSync(png.subarray(41, 41 + idatLength)).length, 90 * (1 + 160 * 3));
    assert.ok(png.length < 20_000, `${png.length} bytes`);
    assert.notDeepEqual(picture(new Date(2026, 0, 1, 22, 0, 0)), png);
  });
});

describe('media: the built-in file store', () => {
  it('expires files, keeps the total under its budget by dropping what expires soonest, and rebuilds at start', async () => {
    const { MediaFiles } = await import('../../src/store/media-files.js');
    const dir = mkdtempSync(join(tmpdir(), 'mxb-files-'));
    let now = 1_000_000;
    const files = new MediaFiles(dir, 100, 1000, () => now);
    try {
      assert.deepEqual(await files.put(Buffer.alloc(10), 'image/png'), { ok: false, message: 'the built-in file server is not listening (http.enabled)' });
      files.baseUrl = 'http://127.0.0.1:1';
      const a = await files.put(Buffer.alloc(60), 'image/png');
      assert.ok(a.ok);
      const nameA = a.url.split('/').pop()!;
      assert.equal(files.get(nameA)?.mediaType, 'image/png');
      now += 10;
      const b = await files.put(Buffer.alloc(60), 'image/jpeg');
      assert.ok(b.ok);
      assert.equal(files.get(nameA), undefined, 'the older file made room');
      assert.equal(files.bytes, 60);
      assert.equal(readdirSync(dir).length, 1);
      const c = await files.put(Buffer.alloc(101), 'image/jpeg');
      assert.ok(!c.ok);
      const again = new MediaFiles(dir, 100, 1000, () => now);
      assert.equal(again.get(b.url.split('/').pop()!)?.size, 60, 'rebuilt from the directory');
      again.close();
      now += 2000;
      assert.equal(files.get(b.url.split('/').pop()!), undefined, 'expired');
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      files.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
