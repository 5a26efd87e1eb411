/**
 * An independent XMPP implementation (python3-slixmpp) as the user: subscribes to a device, gets approved, sees it
 * online and receives a reading with the body and the XEP-0335 JSON payload.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { MqttClient } from 'mqtt';
import { closeMqtt, exitOf, mqttClient, removeDir, ROOT, startBridge, startTestServer, type RunningBridge, type TestServer } from './harness.js';

const PYTHON = '/usr/bin/python3';

describe('an independent XMPP client (slixmpp) as the user', function () {
  let server: TestServer;
  let run: RunningBridge;
  let device: MqttClient;

  before(async function () {
    try {
      execFileSync(PYTHON, ['-c', 'import slixmpp'], { stdio: 'ignore' });
    } catch {
      throw new Error('python3-slixmpp is not installed; install it with: sudo apt-get install -y python3-slixmpp');
    }
    server = await startTestServer();
    run = await startBridge({ server });
    device = await mqttClient(run.mqttUrl, { clientId: 'climate-lab-bench' });
    await server.prosody.register('slix-user', 'pw-slix');
  });

  after(async function () {
    await closeMqtt(device);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  it('subscribes, sees the device online and receives a reading with body and JSON', async function () {
    const p = server.prosody;
    const child = spawn(PYTHON, [join(ROOT, 'test/integration/python/slixmpp_user.py'), p.listen, String(p.c2sPort), 'slix-user@localhost', 'pw-slix', 'lab-bench@iot.localhost', '20'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const events: { event: string; [k: string]: unknown }[] = [];
    const lines = createInterface({ input: child.stdout });
    const published = new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => {
        const e = JSON.parse(line) as { event: string };
        events.push(e);
        // Once approved and online, the device publishes; the script exits after the first reading.
        if (e.event === 'available') {
          device.publishAsync('sensors/lab/bench/telemetry', '{"temperature":24.5,"humidity":35}', { qos: 1 }).then(() => resolve(), reject);
        }
      });
    });
    const { code } = await exitOf(child, 30_000);
    assert.equal(code, 0, `slixmpp user failed: ${JSON.stringify(events)}\n${stderr}`);
    await published;
    assert.deepEqual(
      events.map((e) => e.event),
      ['subscribed', 'available', 'message'],
    );
    const msg = events[2]!;
    assert.equal(msg['frm'], 'lab-bench@iot.localhost');
    assert.equal(msg['type'], 'chat');
    assert.equal(msg['body'], '24.5 °C, 35 % RH');
    assert.equal(msg['json'], '{"temperature":24.5,"humidity":35}');
  });
});
