/**
 * Uplink end to end: MQTT device → embedded broker → bridge → Prosody → a real XMPP user.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import {
  closeMqtt,
  isMessageFrom,
  jsonOf,
  mqttClient,
  nextMqttMessage,
  removeDir,
  requireCommand,
  startBridge,
  startTestServer,
  type RunningBridge,
  type TestServer,
  type XmppUser,
} from './harness.js';

const execFileAsync = promisify(execFile);
const KITCHEN = 'home-kitchen@iot.localhost';

describe('uplink: readings reach XMPP users', function () {
  let server: TestServer;
  let run: RunningBridge;
  let alice: XmppUser;
  let device: MqttClient;
  let observer: MqttClient;

  before(async function () {
    requireCommand('mosquitto_pub', 'sudo apt-get install -y mosquitto-clients');
    server = await startTestServer();
    run = await startBridge({ server });
    alice = await server.user('alice');
    device = await mqttClient(run.mqttUrl, { clientId: 'climate-home-kitchen' });
    observer = await mqttClient(run.mqttUrl, { clientId: 'observer' });
    await observer.subscribeAsync('mqtt-xmpp-bridge/bridge/event');
    // The device exists once it has connected (availability by client id); subscribe to it.
    const answer = await alice.subscribe(KITCHEN);
    assert.equal(answer.attrs['type'], 'subscribed');
  });

  after(async function () {
    await closeMqtt(device, observer);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  it('delivers a reading from the device JID with the body text and the payload as XEP-0335 JSON', async function () {
    await device.publishAsync('sensors/home/kitchen/telemetry', JSON.stringify({ temperature: 21.54, humidity: 40.2 }), { qos: 1 });
    const msg = await alice.waitForAny(isMessageFrom(KITCHEN, (m) => m.getChildText('body') === '21.5 °C, 40 % RH'), 'the kitchen reading');
    assert.equal(msg.attrs['type'], 'chat');
    assert.equal(msg.attrs['to']?.split('/')[0], 'alice@localhost');
    assert.equal(msg.getChild('json', 'urn:xmpp:json:0')?.getText(), '{"temperature":21.54,"humidity":40.2}');
  });

  it('keeps the JSON text byte for byte (big integers, key order, spacing)', async function () {
    const text = '{ "humidity": 12, "temperature": 19.25, "linkquality": 120, "serial": 123456789012345678901 }';
    await device.publishAsync('sensors/home/kitchen/telemetry', text, { qos: 0 });
    const msg = await alice.waitForAny(isMessageFrom(KITCHEN, (m) => m.getChildText('body') === '19.3 °C, 12 % RH'), 'the reading with a big integer');
    assert.equal(msg.getChildText('json', 'urn:xmpp:json:0'), text);
  });

  it('also sends every reading to the listed JIDs of the mapping', async function () {
    const watcher = await server.user('watcher');
    await device.publishAsync('sensors/home/kitchen/telemetry', JSON.stringify({ temperature: 5 }), { qos: 1 });
    const msg = await watcher.waitForAny(isMessageFrom(KITCHEN, (m) => m.getChildText('body') === '5.0 °C, ? % RH'), 'the reading for the listed JID');
    assert.deepEqual(jsonOf(msg), { temperature: 5 });
  });

  it('accepts readings published with mosquitto_pub', async function () {
    const url = new URL(run.mqttUrl);
    await execFileAsync('mosquitto_pub', ['-h', url.hostname, '-p', url.port, '-q', '1', '-i', 'mosq-pub', '-t', 'sensors/home/kitchen/telemetry', '-m', '{"temperature":-3.5,"humidity":91}']);
    const msg = await alice.waitForAny(isMessageFrom(KITCHEN, (m) => m.getChildText('body') === '-3.5 °C, 91 % RH'), 'the mosquitto_pub reading');
    assert.deepEqual(jsonOf(msg), { temperature: -3.5, humidity: 91 });
  });

  it('accepts readings over MQTT on WebSocket (/mqtt)', async function () {
    const ws = await mqttClient(run.wsUrl, { clientId: 'ws-device' });
    try {
      await ws.publishAsync('sensors/home/kitchen/telemetry', '{"temperature":30,"humidity":30}', { qos: 1 });
      await alice.waitForAny(isMessageFrom(KITCHEN, (m) => m.getChildText('body') === '30.0 °C, 30 % RH'), 'the WebSocket reading');
    } finally {
      await closeMqtt(ws);
    }
  });

  it('drops payloads that are not JSON or fail the schema, reports them on the event topic, and sends nothing', async function () {
    const before = run.bridge.metrics.get('uplink_rejected_total', 'PAYLOAD_NOT_JSON');
    const notJson = nextMqttMessage(observer, 'mqtt-xmpp-bridge/bridge/event', (p) => p.toString().includes('PAYLOAD_NOT_JSON'));
    await device.publishAsync('sensors/home/kitchen/telemetry', 'temperature=20', { qos: 1 });
    const event = JSON.parse((await notJson).toString()) as { type: string; data: Record<string, unknown> };
    assert.equal(event.type, 'reading_rejected');
    assert.equal(event.data['code'], 'PAYLOAD_NOT_JSON');
    assert.equal(event.data['deviceId'], 'home-kitchen');
    assert.equal(event.data['topic'], 'sensors/home/kitchen/telemetry');

    const invalid = nextMqttMessage(observer, 'mqtt-xmpp-bridge/bridge/event', (p) => p.toString().includes('PAYLOAD_INVALID'));
    // Another device, so the throttle of the first device's reports does not hide this one.
    const hall = await mqttClient(run.mqttUrl, { clientId: 'climate-home-hall' });
    await hall.publishAsync('sensors/home/hall/telemetry', '{"temperature":"warm"}', { qos: 1 });
    const e2 = JSON.parse((await invalid).toString()) as { data: { code: string; deviceId: string; errors: { path: string; message: string }[] } };
    assert.equal(e2.data.code, 'PAYLOAD_INVALID');
    assert.equal(e2.data.deviceId, 'home-hall');
    assert.deepEqual(e2.data.errors, [{ path: '/temperature', message: 'must be number' }]);
    await closeMqtt(hall);

    // A valid reading after them proves the pipeline is in order: the rejected ones were never sent before it.
    await device.publishAsync('sensors/home/kitchen/telemetry', '{"temperature":22.25,"humidity":50}', { qos: 1 });
    await alice.waitForAny(isMessageFrom(KITCHEN, (m) => m.getChildText('body') === '22.3 °C, 50 % RH'), 'the valid reading after the invalid ones');
    assert.equal(alice.received(isMessageFrom(KITCHEN, (m) => (m.getChildText('json', 'urn:xmpp:json:0') ?? '').includes('warm'))).length, 0);
    assert.equal(alice.received(isMessageFrom(KITCHEN, (m) => (m.getChildText('json', 'urn:xmpp:json:0') ?? '').includes('temperature=20'))).length, 0);
    assert.equal(run.bridge.metrics.get('uplink_rejected_total', 'PAYLOAD_NOT_JSON'), before + 1);
    assert.equal(run.bridge.metrics.get('uplink_rejected_total', 'PAYLOAD_INVALID'), 1);
  });

  it('survives a payload full of control characters: the stream stays up and the next reading arrives', async function () {
    const nasty = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('') + '\uFFFE\uFFFF';
    const text = JSON.stringify({ temperature: 1, humidity: 2, note: nasty });
    await device.publishAsync('sensors/home/kitchen/telemetry', text, { qos: 1 });
    const msg = await alice.waitForAny(isMessageFrom(KITCHEN, (m) => m.getChildText('body') === '1.0 °C, 2 % RH'), 'the reading with control characters');
    assert.deepEqual(jsonOf(msg), { temperature: 1, humidity: 2, note: nasty });
    await device.publishAsync('sensors/home/kitchen/telemetry', '{"temperature":2,"humidity":3}', { qos: 1 });
    await alice.waitForAny(isMessageFrom(KITCHEN, (m) => m.getChildText('body') === '2.0 °C, 3 % RH'), 'the next reading');
    assert.equal(run.bridge.metrics.get('xmpp_connects_total'), 1, 'the component connected once and never reconnected');
  });

  it('refuses a 1 MiB payload at the broker without touching the XMPP stream', async function () {
    const big = await mqttClient(run.mqttUrl, { clientId: 'climate-home-attic' });
    const closed = new Promise<void>((resolve) => big.once('close', () => resolve()));
    const event = nextMqttMessage(observer, 'mqtt-xmpp-bridge/bridge/event', (p) => p.toString().includes('packet_too_large'));
    big.publish('sensors/home/attic/telemetry', JSON.stringify({ temperature: 1, pad: 'x'.repeat(1024 * 1024) }), { qos: 1 });
    await closed; // the broker closed the connection before buffering the packet
    const e = JSON.parse((await event).toString()) as { data: { reason: string; declared: number } };
    assert.equal(e.data.reason, 'packet-too-large');
    assert.ok(e.data.declared > 1024 * 1024);
    await closeMqtt(big);
    await device.publishAsync('sensors/home/kitchen/telemetry', '{"temperature":3,"humidity":4}', { qos: 1 });
    await alice.waitForAny(isMessageFrom(KITCHEN, (m) => m.getChildText('body') === '3.0 °C, 4 % RH'), 'the reading after the oversized one');
    assert.equal(run.bridge.metrics.get('xmpp_connects_total'), 1);
  });

  it('routes unmapped topics between MQTT clients like any broker', async function () {
    await observer.subscribeAsync('other/+/thing');
    const got = nextMqttMessage(observer, 'other/x/thing');
    await device.publishAsync('other/x/thing', 'not json at all', { qos: 1 });
    assert.equal((await got).toString(), 'not json at all');
    assert.equal(run.bridge.metrics.get('uplink_rejected_total', 'PAYLOAD_NOT_JSON'), 1, 'unmapped topics are not validated');
  });
});
