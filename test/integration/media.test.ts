/**
 * Binary readings on a real Prosody with mod_http_file_share and the real broker: a camera publishes a JPEG on a
 * mapping with `payload: {format: binary}`; the bridge requests an XEP-0363 slot as the device JID, PUTs the bytes,
 * and the subscribed user receives body = URL + jabber:x:oob + XEP-0335 metadata, downloads the file and finds the
 * SHA-256 of what was published. A file above the service's limit, one the service refuses (its daily quota), and a
 * server without an upload service each give their reported outcome on <base>/bridge/event.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { closeMqtt, isMessageFrom, jsonOf, mqttClient, nextMqttMessage, removeDir, startBridge, startTestServer, type RunningBridge, type TestServer, type XmppUser } from './harness.js';

const DOMAIN = 'iot.localhost';
const CAM = `cam-door@${DOMAIN}`;
const EVENT_TOPIC = 'mqtt-xmpp-bridge/bridge/event';

/** Bytes that start and end as a JPEG (SOI, APP0 JFIF … EOI): the bridge sniffs image/jpeg from them. */
function jpeg(size: number): Buffer {
  const head = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]);
  return Buffer.concat([head, randomBytes(size - head.length - 2), Buffer.from([0xff, 0xd9])]);
}

function mappingFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mxb-media-'));
  const file = join(dir, 'camera.yaml');
  writeFileSync(
    file,
    [
      'mappings:',
      '  - id: camera',
      '    topic: cameras/{cam}/snapshot',
      '    jid: "cam-{cam}"',
      '    payload: { format: binary }',
      '    access: { viewers: ["*@localhost"] }',
    ].join('\n'),
  );
  return file;
}

async function nextEventOf(c: MqttClient, type: string): Promise<{ type: string; data: Record<string, unknown> }> {
  for (;;) {
    const e = JSON.parse((await nextMqttMessage(c, EVENT_TOPIC)).toString()) as { type: string; data: Record<string, unknown> };
    if (e.type === type) return e;
  }
}

describe('media: camera snapshots through XEP-0363 uploads', function () {
  this.timeout(60_000);
  let server: TestServer;
  let run: RunningBridge;
  let alice: XmppUser;
  let camera: MqttClient;
  let watcher: MqttClient;

  before(async function () {
    server = await startTestServer({ fileShare: { sizeLimit: 200_000, dailyQuota: 400_000 } });
    run = await startBridge({ server, mappings: [mappingFile()], config: { media: { minIntervalSeconds: 0 } } });
    alice = await server.user('alice');
    camera = await mqttClient(run.mqttUrl, { clientId: 'cam-door' });
    watcher = await mqttClient(run.mqttUrl, { clientId: 'watcher' });
    await watcher.subscribeAsync(EVENT_TOPIC, { qos: 1 });
    // The device exists once it has published; the first snapshot makes it, and alice subscribes.
    await camera.publishAsync('cameras/door/snapshot', jpeg(1000), { qos: 1 });
    await alice.follow(CAM);
  });

  after(async function () {
    await closeMqtt(camera);
    await closeMqtt(watcher);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  it('delivers a JPEG as body = URL + OOB + metadata; the download has the published SHA-256', async function () {
    const bytes = jpeg(50_000);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const got = alice.waitFor(isMessageFrom(CAM, (m) => (jsonOf(m) as { sha256?: string } | undefined)?.sha256 === sha256), 'the snapshot');
    await camera.publishAsync('cameras/door/snapshot', bytes, { qos: 1 });
    const m = await got;
    const url = m.getChildText('body')!;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\//);
    assert.equal(m.getChild('x', 'jabber:x:oob')?.getChildText('url'), url);
    assert.deepEqual(jsonOf(m), { url, size: 50_000, sha256, mediaType: 'image/jpeg', topic: 'cameras/door/snapshot' });
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    assert.equal(createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex'), sha256);
  });

  it('reports a file above the upload service\'s limit (MEDIA_TOO_LARGE) and sends nothing', async function () {
    const event = nextEventOf(watcher, 'reading_rejected');
    await camera.publishAsync('cameras/door/snapshot', jpeg(210_000), { qos: 1 });
    const e = await event;
    assert.equal(e.data['code'], 'MEDIA_TOO_LARGE');
    assert.match(String(e.data['message']), /210000 bytes exceed the upload service's limit of 200000/);
  });

  it('reports a slot the service refuses (its daily quota spent) as MEDIA_UPLOAD_REFUSED', async function () {
    // 1,000 + 50,000 uploaded so far; two of 180,000 more pass the quota of 400,000.
    const first = alice.waitFor(isMessageFrom(CAM, (m) => (jsonOf(m) as { size?: number } | undefined)?.size === 180_000), 'the snapshot within the quota');
    await camera.publishAsync('cameras/door/snapshot', jpeg(180_000), { qos: 1 });
    await first;
    const event = nextEventOf(watcher, 'reading_rejected');
    await camera.publishAsync('cameras/door/snapshot', jpeg(180_000), { qos: 1 });
    const e = await event;
    assert.equal(e.data['code'], 'MEDIA_UPLOAD_REFUSED');
    assert.match(String(e.data['message']), /refused a slot to cam-door@iot\.localhost/);
  });
});

describe('media: a server without an upload service', function () {
  this.timeout(60_000);
  let server: TestServer;
  let run: RunningBridge;
  let camera: MqttClient;
  let watcher: MqttClient;

  before(async function () {
    server = await startTestServer();
    run = await startBridge({ server, mappings: [mappingFile()], config: { media: { minIntervalSeconds: 0 } } });
    camera = await mqttClient(run.mqttUrl, { clientId: 'cam-door' });
    watcher = await mqttClient(run.mqttUrl, { clientId: 'watcher' });
    await watcher.subscribeAsync(EVENT_TOPIC, { qos: 1 });
  });

  after(async function () {
    await closeMqtt(camera);
    await closeMqtt(watcher);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  it('reports MEDIA_NO_UPLOAD_SERVICE', async function () {
    const event = nextEventOf(watcher, 'reading_rejected');
    await camera.publishAsync('cameras/door/snapshot', jpeg(2000), { qos: 1 });
    const e = await event;
    assert.equal(e.data['code'], 'MEDIA_NO_UPLOAD_SERVICE');
  });
});

describe('media: without an upload service, the bridge\'s own file server', function () {
  this.timeout(60_000);
  let server: TestServer;
  let run: RunningBridge;
  let alice: XmppUser;
  let camera: MqttClient;

  before(async function () {
    server = await startTestServer();
    run = await startBridge({
      server,
      mappings: [mappingFile()],
      config: { media: { minIntervalSeconds: 0 }, http: { enabled: true, port: 0, token: 'media-test-token-0123456789' } },
    });
    alice = await server.user('alice');
    camera = await mqttClient(run.mqttUrl, { clientId: 'cam-door' });
    await camera.publishAsync('cameras/door/snapshot', jpeg(1000), { qos: 1 });
    await alice.follow(CAM);
  });

  after(async function () {
    await closeMqtt(camera);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  it('serves the snapshot at an unguessable URL of the status page\'s server, with the published SHA-256', async function () {
    const bytes = jpeg(30_000);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const got = alice.waitFor(isMessageFrom(CAM, (m) => (jsonOf(m) as { sha256?: string } | undefined)?.sha256 === sha256), 'the snapshot');
    await camera.publishAsync('cameras/door/snapshot', bytes, { qos: 1 });
    const m = await got;
    const url = m.getChildText('body')!;
    assert.ok(url.startsWith(`${run.bridge.httpUrl!}/media/`), url);
    assert.match(url, /\/media\/\d+\.[A-Za-z0-9_-]{24}\.jpg$/);
    assert.equal(m.getChild('x', 'jabber:x:oob')?.getChildText('url'), url);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    assert.equal(createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex'), sha256);
    assert.equal((await fetch(url.replace(/\.[A-Za-z0-9_-]{24}\./, '.AAAAAAAAAAAAAAAAAAAAAAAA.'))).status, 404, 'another name is not found');
  });
});
