/**
 * Mappings change while the bridge runs, on a real Prosody with a real user and real MQTT devices: a mapping file
 * edited while devices publish is applied (the new topic is routed, the removed mapping's device goes unavailable and
 * leaves disco), a broken edit is refused with every problem listed while the old mappings keep working, and the
 * request topic and SIGHUP reload too — without dropping a device connection or the XMPP stream.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import {
  closeMqtt,
  isMessageFrom,
  isPresenceFrom,
  jsonOf,
  mqttClient,
  nextMqttMessage,
  removeDir,
  SHIPPED_SCHEMAS,
  spawnCli,
  startBridge,
  startTestServer,
  exitOf,
  type RunningBridge,
  type TestServer,
  type XmppUser,
} from './harness.js';

const KITCHEN = 'home-kitchen@iot.localhost';
const KETTLE = 'plug-kettle@iot.localhost';
const EVENT = 'mqtt-xmpp-bridge/bridge/event';

const climate = {
  id: 'climate',
  topic: 'sensors/{site}/{device}/telemetry',
  jid: '{site}-{device}',
  schema: 'urn:mqtt-xmpp-bridge:example:climate',
  access: { viewers: ['*@localhost'] },
};
const plug = {
  id: 'plug',
  topic: 'plugs/{device}/state',
  jid: 'plug-{device}',
  schema: 'urn:mqtt-xmpp-bridge:example:plug',
  access: { viewers: ['*@localhost'] },
};

interface BridgeEvent {
  type: string;
  data: Record<string, unknown>;
}

describe('reload: mappings change while the bridge runs', function () {
  let server: TestServer;
  let run: RunningBridge | undefined;
  let alice: XmppUser;
  let mappingsDir: string;
  let probe: MqttClient;
  const clients: MqttClient[] = [];

  const writeMappings = (mappings: unknown[]): void => writeFileSync(join(mappingsDir, 'devices.yaml'), stringify({ mappings }));
  const nextEvent = (type: string): Promise<BridgeEvent> =>
    nextMqttMessage(probe, EVENT, (p) => (JSON.parse(p.toString()) as BridgeEvent).type === type, 15_000).then((p) => JSON.parse(p.toString()) as BridgeEvent);

  before(async function () {
    server = await startTestServer();
    mappingsDir = mkdtempSync(join(tmpdir(), 'mxb-reload-'));
    writeMappings([climate]);
    run = await startBridge({ server, mappings: [mappingsDir], schemas: [SHIPPED_SCHEMAS] });
    alice = await server.user('alice');
    probe = await mqttClient(run.mqttUrl, { clientId: 'probe' });
    clients.push(probe);
    await probe.subscribeAsync(`${EVENT}`, { qos: 1 });
    await probe.subscribeAsync('mqtt-xmpp-bridge/bridge/response/#', { qos: 1 });
  });

  after(async function () {
    await closeMqtt(...clients);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
    removeDir(mappingsDir);
  });

  it('applies an edited mapping file while devices publish: a new topic is routed, a removed mapping\'s device goes unavailable and leaves disco', async function () {
    const kitchen = await mqttClient(run!.mqttUrl, { clientId: 'kitchen' });
    clients.push(kitchen);
    await kitchen.publishAsync('sensors/home/kitchen/telemetry', '{"temperature":20}', { qos: 1 });
    assert.equal((await alice.subscribe(KITCHEN)).attrs['type'], 'subscribed');
    // The kitchen keeps publishing while the file changes: no reading may fail or be refused meanwhile.
    let publishing = true;
    let sent = 0;
    const loop = (async (): Promise<void> => {
      while (publishing) {
        await kitchen.publishAsync('sensors/home/kitchen/telemetry', JSON.stringify({ temperature: 20 + (sent % 5) }), { qos: 1 });
        sent += 1;
        await new Promise((r) => setImmediate(r));
      }
    })();

    const reloaded = nextEvent('mappings_reloaded');
    writeMappings([climate, plug]);
    const added = await reloaded;
    assert.deepEqual(added.data['added'], ['plug']);
    assert.deepEqual(added.data['removed'], []);
    // The new mapping routes at once: a plug publishes and becomes a device a user can subscribe to.
    const kettle = await mqttClient(run!.mqttUrl, { clientId: 'kettle' });
    clients.push(kettle);
    const kettleKnown = nextEvent('device_added');
    await kettle.publishAsync('plugs/kettle/state', '{"state":"ON","power":3}', { qos: 1 });
    assert.equal((await kettleKnown).data['jid'], KETTLE);
    assert.equal((await alice.subscribe(KETTLE)).attrs['type'], 'subscribed');
    const reading = alice.waitFor(isMessageFrom(KETTLE), 'a reading of the plug');
    await kettle.publishAsync('plugs/kettle/state', '{"state":"OFF","power":0}', { qos: 1 });
    assert.deepEqual(jsonOf(await reading), { state: 'OFF', power: 0 });

    // Removing the climate mapping: its device goes unavailable for alice and is no longer discoverable.
    const gone = alice.waitFor(isPresenceFrom(KITCHEN, 'unavailable'), 'the kitchen going unavailable');
    const removed = nextEvent('mappings_reloaded');
    writeMappings([plug]);
    assert.deepEqual((await removed).data['removed'], ['climate']);
    assert.equal((await gone).getChildText('status'), 'removed from the bridge');
    publishing = false;
    await loop;
    assert.ok(sent > 0);
    const items = await alice.iq(xml('iq', { type: 'get', to: 'iot.localhost' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' })));
    const jids = items.getChild('query')!.getChildren('item').map((i) => i.attrs['jid']);
    assert.deepEqual(jids, [KETTLE]);
    const info = await alice.iq(xml('iq', { type: 'get', to: KITCHEN }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
    assert.equal(info.getChild('error')?.getChildElements()[0]?.name, 'item-not-found');
    // The publisher of an unmapped topic is still connected, and the XMPP stream never dropped.
    assert.equal(kitchen.connected, true);
    assert.equal(run!.bridge.metrics.get('xmpp_connects_total'), 1);
  });

  it('refuses a broken edit with every problem listed, and the mappings in force keep working', async function () {
    const failed = nextEvent('mappings_reload_failed');
    writeMappings([plug, { ...climate, topic: 'sensors/{site}/+/telemetry', schema: 'urn:nope' }, { id: 'plug2', topic: 'plugs/{device}/state', jid: 'p2-{device}', schema: plug.schema }]);
    const problems = (await failed).data['problems'] as string[];
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.ok(problems.some((p) => p.endsWith('/mappings/1/topic: use named segments ({name}) instead of "+" or "#", so every device gets its own JID')), problems.join('\n'));
    assert.ok(problems.some((p) => p.includes('/mappings/1/schema: "urn:nope" is neither the $id of a loaded schema nor a schema file')), problems.join('\n'));
    assert.ok(problems.some((p) => p.includes('/mappings/2/topic: overlaps the topic of mapping "plug"')), problems.join('\n'));
    // Still the old set: the plug reading reaches alice.
    const kettle = await mqttClient(run!.mqttUrl, { clientId: 'kettle-2' });
    clients.push(kettle);
    const reading = alice.waitFor(isMessageFrom(KETTLE, (m) => (jsonOf(m) as { power?: number }).power === 42), 'a reading under the old mappings');
    await kettle.publishAsync('plugs/kettle/state', '{"state":"ON","power":42}', { qos: 1 });
    await reading;
  });

  it('reloads on a request over MQTT and answers it Zigbee2MQTT style', async function () {
    writeMappings([plug, climate]); // the watcher reloads this too; the request then finds nothing left to change
    await nextEvent('mappings_reloaded');
    const response = nextMqttMessage(probe, 'mqtt-xmpp-bridge/bridge/response/reload', () => true, 15_000);
    await probe.publishAsync('mqtt-xmpp-bridge/bridge/request/reload', JSON.stringify({ transaction: 'tx-1' }), { qos: 1 });
    const answer = JSON.parse((await response).toString()) as Record<string, unknown>;
    assert.deepEqual(answer, { status: 'ok', data: { added: [], replaced: [], removed: [], warnings: [] }, transaction: 'tx-1' });
  });
});

describe('reload: SIGHUP', function () {
  let server: TestServer;
  let dir: string;
  before(async function () {
    server = await startTestServer();
    dir = mkdtempSync(join(tmpdir(), 'mxb-sighup-'));
  });
  after(async function () {
    await server?.stop();
    removeDir(dir);
  });

  it('reads the mapping files again on SIGHUP and says what changed and what needs a restart', async function () {
    const mappings = join(dir, 'mappings');
    mkdirSync(mappings);
    writeFileSync(join(mappings, 'a.yaml'), stringify({ mappings: [climate] }));
    const config = join(dir, 'bridge.yaml');
    const write = (name: string): void =>
      writeFileSync(config, stringify({ dataDir: join(dir, 'data'), mappings: [mappings], schemas: [SHIPPED_SCHEMAS], xmpp: { domain: server.domain, service: server.service, name } }));
    write('first');
    const child = spawnCli(['start', '--config', config], { BRIDGE_XMPP_SECRET: server.secret, BRIDGE_MQTT_PORT: '0', BRIDGE_MQTT_WS_PORT: '0' });
    try {
      await waitForOutput(child, /"msg":"component online"/);
      // A mapping and a restart-only key change; the files are watched, so the change is applied and reported…
      writeFileSync(join(mappings, 'b.yaml'), stringify({ mappings: [plug] }));
      write('second');
      const fromWatch = await logLine(child, (l) => l['msg'] === 'mappings reloaded' && JSON.stringify(l['added']) === '["plug"]');
      assert.deepEqual(fromWatch['warnings'], ['xmpp.name changed: it takes effect after a restart']);
      // …and a deployment tool that signals gets a reload of its own.
      child.kill('SIGHUP');
      const fromSignal = await logLine(child, (l) => l['msg'] === 'mappings reloaded' && l['origin'] === 'signal');
      assert.deepEqual([fromSignal['added'], fromSignal['removed']], [[], []]);
    } finally {
      child.kill('SIGTERM');
      assert.equal((await exitOf(child, 15_000)).code, 0, child.output());
    }
  });
});

/** The first JSON log line on the child's output that matches, waiting for it. */
async function logLine(child: { output(): string }, pred: (line: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    for (const text of child.output().split('\n')) {
      if (!text.startsWith('{')) continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      if (pred(line)) return line;
    }
    if (Date.now() > until) throw new Error(`no matching log line within ${timeoutMs} ms:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitForOutput(child: { output(): string }, re: RegExp, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!re.test(child.output())) {
    if (Date.now() > until) throw new Error(`no ${re} in the output within ${timeoutMs} ms:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
