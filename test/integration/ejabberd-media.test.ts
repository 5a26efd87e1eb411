/**
 * Binary readings on a real ejabberd (23.01) with mod_http_upload, its access rule widened to the component's domain
 * (docs/MEDIA.md): a camera's JPEG reaches the user as body = URL + OOB + metadata, and the download has the
 * published SHA-256 — the slot requested as the device JID.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { startEjabberdTestServer, type EjabberdTestServer } from './ejabberd-harness.js';
import { closeMqtt, isMessageFrom, jsonOf, mqttClient, removeDir, startBridge, type RunningBridge, type XmppUser } from './harness.js';

const CAM = 'cam-door@iot.localhost';

describe('media on ejabberd: mod_http_upload for the component\'s devices', function () {
  this.timeout(90_000);
  let server: EjabberdTestServer;
  let run: RunningBridge;
  let alice: XmppUser;
  let camera: MqttClient;

  before(async function () {
    server = await startEjabberdTestServer({ httpUpload: { maxSize: 1_000_000 } });
    const dir = mkdtempSync(join(tmpdir(), 'mxb-media-'));
    const file = join(dir, 'camera.yaml');
    writeFileSync(file, ['mappings:', '  - id: camera', '    topic: cameras/{cam}/snapshot', '    jid: "cam-{cam}"', '    payload: { format: binary }', '    access: { viewers: ["*@localhost"] }'].join('\n'));
    run = await startBridge({ server, mappings: [file], config: { media: { minIntervalSeconds: 0 } } });
    alice = await server.user('alice');
    camera = await mqttClient(run.mqttUrl, { clientId: 'cam-door' });
    await camera.publishAsync('cameras/door/snapshot', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]), { qos: 1 });
    await alice.follow(CAM);
  });

  after(async function () {
    await closeMqtt(camera);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  it('uploads as the device JID and delivers URL + OOB + metadata; the download matches', async function () {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(40_000), Buffer.from([0xff, 0xd9])]);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const got = alice.waitFor(isMessageFrom(CAM, (m) => (jsonOf(m) as { sha256?: string } | undefined)?.sha256 === sha256), 'the snapshot', 30_000);
    await camera.publishAsync('cameras/door/snapshot', bytes, { qos: 1 });
    const m = await got;
    const url = m.getChildText('body')!;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/upload\//);
    assert.equal(m.getChild('x', 'jabber:x:oob')?.getChildText('url'), url);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex'), sha256);
  });
});
