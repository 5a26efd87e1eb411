/**
 * PubSub (XEP-0060) on a device JID, used by an independent implementation: a slixmpp program (its xep_0060 plugin)
 * on a real Prosody discovers the node, fetches the last items, subscribes, gets the last item at once and every new
 * reading as a headline notification, and unsubscribes. A user who is no viewer is answered `item-not-found`.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import xml from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { closeMqtt, exitOf, mqttClient, removeDir, ROOT, startBridge, startTestServer, type RunningBridge, type TestServer } from './harness.js';

const PYTHON = '/usr/bin/python3';
const DEVICE = 'lab-bench@iot.localhost';
const TOPIC = 'sensors/lab/bench/telemetry';

interface Step {
  readonly event: string;
  readonly [k: string]: unknown;
}

describe('PubSub on a device JID, with slixmpp as the program', function () {
  this.timeout(60_000);
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
    for (const t of [20, 21, 22]) await device.publishAsync(TOPIC, JSON.stringify({ temperature: t }), { qos: 1 });
    await server.prosody.register('slix-program', 'pw-program');
  });

  after(async function () {
    await closeMqtt(device);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  it('discovers the node, reads the last items, subscribes, is notified, unsubscribes', async function () {
    const p = server.prosody;
    const child = spawn(PYTHON, [join(ROOT, 'test/integration/python/pubsub_user.py'), p.listen, String(p.c2sPort), 'slix-program@localhost', 'pw-program', DEVICE, '30'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const steps: Step[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      const step = JSON.parse(line) as Step;
      steps.push(step);
      if (step.event === 'ready') {
        // Subscribed and caught up: the device reports again.
        void device.publishAsync(TOPIC, JSON.stringify({ temperature: 23.5 }), { qos: 1 }).then(() => child.stdin.write('\n'));
      }
    });
    const { code } = await exitOf(child, 40_000);
    assert.equal(code, 0, `${JSON.stringify(steps, null, 1)}\n${stderr}`);
    const by = (event: string): Step[] => steps.filter((s) => s.event === event);
    assert.deepEqual(by('error'), []);
    assert.deepEqual(by('disco_items')[0]!['items'], [[DEVICE, 'readings', 'readings of bench climate (lab)']]);
    const features = by('disco_info')[0]!['features'] as string[];
    assert.ok(features.includes('http://jabber.org/protocol/pubsub#subscribe'), features.join(' '));
    const items = by('items')[0]!['items'] as { id: string; json: string }[];
    assert.deepEqual(items.map((i) => i.json), ['{"temperature":21}', '{"temperature":22}'], 'the last two, newest last');
    assert.equal(by('subscribed')[0]!['subscription'], 'subscribed');
    const [last, next] = by('notification');
    assert.deepEqual([last!['node'], last!['json'], last!['type']], ['readings', '{"temperature":22}', 'headline'], 'the last item, at once');
    assert.deepEqual([next!['json'], next!['type']], ['{"temperature":23.5}', 'headline']);
    assert.equal(by('unsubscribed').length, 1);
    assert.equal(run.bridge.kernel.stores.pubsub.of(DEVICE, 'readings').size, 0);
  });

  it('answers a user who may not view the device like a device that does not exist', async function () {
    const bob = await server.user('bob'); // not a viewer of the climate mapping
    const reply = await bob.iq(xml('iq', { type: 'set', to: DEVICE }, xml('pubsub', { xmlns: 'http://jabber.org/protocol/pubsub' }, xml('subscribe', { node: 'readings', jid: bob.jid }))));
    assert.equal(reply.attrs['type'], 'error');
    assert.ok(reply.getChild('error')?.getChild('item-not-found', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
  });
});
