/**
 * Existing fleets join without a line of mapping, end to end on a real Prosody and the real broker: a simulated
 * Zigbee2MQTT (retained bridge/devices, states, availability, `/set` echo) and an ESPHome-style node publishing Home
 * Assistant discovery, each logged in with its own service account. A user sees the devices with their names, gets
 * presence and readings, switches a light through an XEP-0050 form and through chat; a rename keeps the JID; a leave
 * and an emptied discovery config remove devices; a discovery config pointing at another device's command topic is
 * refused with a reason on the event topic.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import xml from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { startEsphomeNode, type EsphomeNode } from '../../src/demo/esphome-sim.js';
import { startZigbee2MqttFleet, type Zigbee2MqttFleet } from '../../src/demo/zigbee2mqtt-sim.js';
import { CredentialStore } from '../../src/store/credentials.js';
import { openDatabase } from '../../src/store/db.js';
import { discoItems, nextEvent } from './import-helpers.js';
import { closeMqtt, isMessageFrom, isPresenceFrom, jsonOf, mqttClient, nextMqttMessage, removeDir, startBridge, startTestServer, type RunningBridge, type TestServer, type XmppUser } from './harness.js';

const DOMAIN = 'iot.localhost';
const BULB = `0x000b57fffec6a5b2@${DOMAIN}`;
const PLUG = `0x0017880104e45524@${DOMAIN}`;
const CLIMATE = `0x0017880104e45522@${DOMAIN}`;
const KITCHEN = `240ac4a1b2c3@${DOMAIN}`;
const NS_ITEMS = 'http://jabber.org/protocol/disco#items';
const NS_INFO = 'http://jabber.org/protocol/disco#info';
const NS_ADHOC = 'http://jabber.org/protocol/commands';
const NS_DATA = 'jabber:x:data';

describe('import: a Zigbee2MQTT network and an ESPHome node join without a mapping', function () {
  this.timeout(60_000);
  let server: TestServer;
  let run: RunningBridge;
  let alice: XmppUser;
  let fleet: Zigbee2MqttFleet;
  let node: EsphomeNode;
  let observer: MqttClient;
  const passwords: Record<string, string> = {};

  before(async function () {
    server = await startTestServer();
    const dir = mkdtempSync(join(tmpdir(), 'mxb-import-'));
    // Service accounts, as an operator creates them with `mqtt-xmpp-bridge device add --service`.
    const db = openDatabase(join(dir, 'data'));
    const creds = new CredentialStore(db);
    passwords['zigbee2mqtt'] = await creds.add('zigbee2mqtt', 'service', { publish: ['zigbee2mqtt/#'], subscribe: ['zigbee2mqtt/#'] });
    passwords['kitchen'] = await creds.add('kitchen', 'service', { publish: ['homeassistant/+/kitchen/#', 'kitchen/#'], subscribe: ['kitchen/#'] });
    passwords['evil'] = await creds.add('evil', 'service', { publish: ['homeassistant/#', 'evil/#'], subscribe: ['evil/#'] });
    passwords['observer'] = await creds.add('observer', 'service', { subscribe: ['mqtt-xmpp-bridge/bridge/#'] });
    db.close();
    const access = { viewers: ['*@localhost'], operators: ['alice@localhost'] };
    run = await startBridge({
      server,
      dir,
      config: {
        mqtt: { embedded: { allowAnonymous: false, maxPayloadBytes: 1_048_576 } },
        import: { zigbee2mqtt: { mode: 'auto', access }, homeassistant: { mode: 'auto', access } },
      },
    });
    alice = await server.user('alice');
    observer = await mqttClient(run.mqttUrl, { clientId: 'observer', username: 'observer', password: passwords['observer'] });
    await observer.subscribeAsync('mqtt-xmpp-bridge/bridge/event', { qos: 1 });
    const imported = new Set<string>();
    const all = new Promise<void>((resolve) =>
      run.bridge.kernel.bus.on('import_added', (e) => {
        imported.add(e.jid);
        if (imported.size === 5) resolve();
      }),
    );
    fleet = await startZigbee2MqttFleet(run.mqttUrl, { username: 'zigbee2mqtt', password: passwords['zigbee2mqtt'] });
    node = await startEsphomeNode(run.mqttUrl, { username: 'kitchen', password: passwords['kitchen'] });
    await all;
  });

  after(async function () {
    await fleet?.stop();
    await node?.stop();
    await closeMqtt(observer);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  it('lists every device for the user, named by its friendly name, its JID made from its hardware id', async function () {
    const items = await discoItems(alice);
    assert.deepEqual(
      [...items].filter(([jid]) => jid !== `door-front@${DOMAIN}` && !jid.startsWith('home-') && !jid.startsWith('plug-')),
      [
        [BULB, 'living room/ceiling'],
        ['0x0017880104e45520@iot.localhost', 'hall switch'],
        [CLIMATE, 'balcony climate'],
        [PLUG, 'coffee machine'],
        [KITCHEN, 'Kitchen'],
      ],
    );
    const info = await alice.iq(xml('iq', { type: 'get', to: BULB }, xml('query', { xmlns: NS_INFO })));
    assert.equal(info.getChild('query', NS_INFO)!.getChild('identity')!.attrs['name'], 'living room/ceiling');
  });

  it('gives presence from the availability topic and readings with a readable body', async function () {
    const online = alice.waitFor(isPresenceFrom(BULB, undefined), 'the bulb\'s presence');
    assert.equal((await alice.subscribe(BULB)).attrs['type'], 'subscribed');
    await online;
    const reading = alice.waitFor(isMessageFrom(BULB, (m) => m.getChildText('body')?.includes('Brightness 99') === true), 'a reading');
    await fleet.report('0x000b57fffec6a5b2', { brightness: 99 });
    const m = await reading;
    assert.equal(m.getChildText('body'), 'State OFF · Brightness 99 · Color temp 370 mired');
    assert.deepEqual(jsonOf(m), { state: 'OFF', brightness: 99, color_temp: 370, linkquality: 120 });

    const kitchenOnline = alice.waitFor(isPresenceFrom(KITCHEN, undefined), 'the node\'s presence');
    await alice.subscribe(KITCHEN);
    await kitchenOnline;
    const temperature = alice.waitFor(isMessageFrom(KITCHEN, (el) => (jsonOf(el) as { temperature?: number }).temperature === 23.5), 'the node\'s reading');
    await node.setTemperature(23.5);
    const k = await temperature;
    assert.deepEqual(jsonOf(k), { temperature: 23.5, relay: false, ceiling_light: { state: 'OFF', brightness: 255, color_mode: 'brightness' } }, 'one reading of the whole node');
    assert.equal(k.getChildText('body'), 'Temperature 23.5 °C · Relay no');
  });

  it('switches the light on through an XEP-0050 form', async function () {
    const items = await alice.iq(xml('iq', { type: 'get', to: BULB }, xml('query', { xmlns: NS_ITEMS, node: NS_ADHOC })));
    assert.deepEqual(items.getChild('query', NS_ITEMS)!.getChildren('item').map((i) => i.attrs['node']), ['set', 'get']);
    const start = await alice.iq(xml('iq', { type: 'set', to: BULB }, xml('command', { xmlns: NS_ADHOC, node: 'set', action: 'execute' })));
    const cmd = start.getChild('command', NS_ADHOC)!;
    const form = cmd.getChild('x', NS_DATA)!;
    const state = form.getChildren('field').find((f) => f.attrs['var'] === 'state')!;
    assert.deepEqual(state.getChildren('option').map((o) => o.getChildText('value')), ['ON', 'OFF', 'TOGGLE']);
    const echoed = alice.waitFor(isMessageFrom(BULB, (m) => (jsonOf(m) as { state?: string }).state === 'ON'), 'the new state');
    const submit = xml('x', { xmlns: NS_DATA, type: 'submit' }, xml('field', { var: 'state' }, xml('value', {}, 'ON')));
    const done = await alice.iq(xml('iq', { type: 'set', to: BULB }, xml('command', { xmlns: NS_ADHOC, node: 'set', sessionid: cmd.attrs['sessionid'], action: 'complete' }, submit)));
    assert.equal(done.getChild('command', NS_ADHOC)?.attrs['status'], 'completed', String(done));
    assert.deepEqual(fleet.commands.at(-1), ['living room/ceiling', '{"state":"ON"}']);
    await echoed;
  });

  it('switches the light off, and the node\'s relay on, through chat', async function () {
    const reply = alice.waitFor(isMessageFrom(BULB, (m) => m.getChildText('body')?.startsWith('✓') === true), 'the answer');
    await alice.send(xml('message', { to: BULB, type: 'chat' }, xml('body', {}, 'off')));
    assert.match((await reply).getChildText('body')!, /^✓ set: /);
    assert.deepEqual(fleet.commands.at(-1), ['living room/ceiling', '{"state":"OFF"}']);

    const relay = alice.waitFor(isMessageFrom(KITCHEN, (m) => m.getChildText('body')?.startsWith('✓') === true), 'the node\'s answer');
    await alice.send(xml('message', { to: KITCHEN, type: 'chat' }, xml('body', {}, 'set-relay relay=true')));
    assert.match((await relay).getChildText('body')!, /^✓ set-relay: /);
    assert.deepEqual(node.commands.at(-1), ['kitchen/switch/relay/command', 'ON'], 'the field as the word the node expects');
  });

  it('keeps the JID when a device is renamed: new name, readings from its new topic', async function () {
    await alice.subscribe(PLUG);
    const renamed = nextEvent(run, 'import_renamed');
    await fleet.rename('0x0017880104e45524', 'kitchen/espresso machine');
    const e = await renamed;
    assert.deepEqual([e.from, e.name, e.jid], ['coffee machine', 'kitchen/espresso machine', PLUG]);
    const info = await alice.iq(xml('iq', { type: 'get', to: PLUG }, xml('query', { xmlns: NS_INFO })));
    assert.equal(info.getChild('query', NS_INFO)!.getChild('identity')!.attrs['name'], 'kitchen/espresso machine');
    const reading = alice.waitFor(isMessageFrom(PLUG, (m) => (jsonOf(m) as { power?: number }).power === 7.5), 'a reading from the renamed plug');
    await fleet.report('0x0017880104e45524', { power: 7.5 });
    await reading;
  });

  it('removes a device that leaves the network: its subscribers see it go', async function () {
    await alice.subscribe(CLIMATE);
    const gone = alice.waitFor(isPresenceFrom(CLIMATE, 'unavailable'), 'the sensor going');
    await fleet.remove('0x0017880104e45522');
    assert.equal((await gone).getChildText('status'), 'removed from the bridge');
    assert.equal((await discoItems(alice)).has(CLIMATE), false);
  });

  it('removes the node when its discovery configs are emptied', async function () {
    const removed = nextEvent(run, 'import_removed', (e) => e.jid === KITCHEN);
    await node.forget();
    assert.equal((await removed).reason, 'its discovery config was removed');
    assert.equal((await discoItems(alice)).has(KITCHEN), false);
  });

  it('refuses a discovery config that points at another device\'s command topic, with the reason on the event topic', async function () {
    const evil = await mqttClient(run.mqttUrl, { clientId: 'evil', username: 'evil', password: passwords['evil'] });
    try {
      const event = nextMqttMessage(observer, 'mqtt-xmpp-bridge/bridge/event', (p) => p.toString().includes('import_refused'));
      const config = { name: 'Light', uniq_id: 'evil-light', dev: { ids: 'evil1', name: 'Evil' }, stat_t: 'evil/light/state', cmd_t: 'zigbee2mqtt/living room/ceiling/set' };
      await evil.publishAsync('homeassistant/switch/evil/light/config', JSON.stringify(config), { qos: 1, retain: true });
      const e = JSON.parse((await event).toString()) as { type: string; data: Record<string, unknown> };
      assert.deepEqual(e, {
        type: 'import_refused',
        data: {
          source: 'homeassistant',
          code: 'IMPORT_TOPIC_FORBIDDEN',
          reason: 'service:evil may not subscribe to zigbee2mqtt/living room/ceiling/set: commands sent there would reach a device it does not speak for',
          topic: 'zigbee2mqtt/living room/ceiling/set',
          hardwareId: 'evil1',
          publisher: 'service:evil',
          count: 1,
        },
      });
      assert.equal((await discoItems(alice)).has(`evil1@${DOMAIN}`), false);
    } finally {
      await closeMqtt(evil);
    }
  });
});

