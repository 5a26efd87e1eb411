/**
 * Sparkplug B on a real Prosody and the real broker: a simulated edge node (real MQTT, protobuf payloads by
 * `sparkplug-payload`) is born with a device; the device becomes an XMPP entity a user subscribes to, its DDATA
 * (by alias) reach the user as readings, a chat command arrives as a DCMD with the right metric and datatype, a
 * sequence gap makes the bridge ask for a rebirth (NCMD), and the node's Will (NDEATH) makes the device unavailable.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import { startSparkplugNode, type SparkplugNode } from '../../src/demo/sparkplug-sim.js';
import { isMessageFrom, isPresenceFrom, jsonOf, removeDir, startBridge, startTestServer, type RunningBridge, type TestServer, type XmppUser } from './harness.js';
import { discoItems, nextEvent } from './import-helpers.js';

const DOMAIN = 'iot.localhost';
const BOILER = `plant\\2fedge1\\2fboiler@${DOMAIN}`;
const NODE = `plant\\2fedge1@${DOMAIN}`;

describe('import: Sparkplug B edge nodes and devices', function () {
  this.timeout(60_000);
  let server: TestServer;
  let run: RunningBridge;
  let alice: XmppUser;
  let node: SparkplugNode | undefined;

  before(async function () {
    server = await startTestServer();
    run = await startBridge({
      server,
      config: { import: { sparkplug: { mode: 'auto', access: { viewers: ['*@localhost'], operators: ['*@localhost'] } } } },
    });
    alice = await server.user('alice');
  });

  after(async function () {
    await node?.stop();
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  it('makes the node and its device XMPP entities from their birth certificates', async function () {
    const added = nextEvent(run, 'import_added', (e) => e.jid === BOILER);
    node = await startSparkplugNode(run.mqttUrl);
    await added;
    const items = await discoItems(alice);
    assert.equal(items.get(BOILER), 'boiler');
    assert.equal(items.get(NODE), 'edge1');
    assert.equal((await alice.subscribe(BOILER)).attrs['type'], 'subscribed');
  });

  it('delivers DDATA, by alias, as readings', async function () {
    const online = alice.waitFor(isPresenceFrom(BOILER, undefined), 'the device online');
    const reading = alice.waitFor(isMessageFrom(BOILER, (m) => m.getChild('json', 'urn:xmpp:json:0') !== undefined), 'a reading');
    await node!.publishData({ temperature: 63.25 });
    await online;
    const m = await reading;
    assert.deepEqual(jsonOf(m), { temperature: 63.25 });
    assert.match(m.getChildText('body') ?? '', /63\.25 °C/);
  });

  it('writes a chat command as a DCMD with the metric\'s name, alias and datatype', async function () {
    const reply = alice.waitFor(isMessageFrom(BOILER, (m) => /set/.test(m.getChildText('body') ?? '') && m.getChild('json', 'urn:xmpp:json:0') === undefined), 'the command\'s answer');
    await alice.send(xml('message', { to: BOILER, type: 'chat' }, xml('body', {}, 'set setpoint=65')));
    assert.match((await reply).getChildText('body') ?? '', /^✓ set/);
    const [topic, metrics] = node!.commands.find(([t]) => t.includes('/DCMD/'))!;
    assert.equal(topic, 'spBv1.0/plant/DCMD/edge1/boiler');
    assert.deepEqual(metrics, [{ name: 'setpoint', type: 'Int32', value: 65 }]);
  });

  it('asks the node for a rebirth on a sequence gap, and the node is born again', async function () {
    assert.equal(node!.births, 1);
    node!.skipSeq(3);
    const asked = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (node!.births === 2) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
    });
    await node!.publishData({ temperature: 64 });
    await Promise.race([asked, new Promise((_, reject) => setTimeout(() => reject(new Error('no rebirth within 10 s')), 10_000).unref())]);
    const ncmd = node!.commands.find(([t]) => t === 'spBv1.0/plant/NCMD/edge1');
    assert.deepEqual(ncmd?.[1], [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }]);
  });

  it('makes the device unavailable when the node\'s Will (NDEATH) is published', async function () {
    const gone = alice.waitFor(isPresenceFrom(BOILER, 'unavailable'), 'the device unavailable');
    await node!.stop();
    node = undefined;
    await gone;
  });
});
