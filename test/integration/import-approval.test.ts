/**
 * Approval, on a real Prosody and the real broker: with `mode: approve`, a node that announces itself through Home
 * Assistant discovery is pending — no disco, no presence, a subscription refused as for an unknown JID — until an
 * operator approves it with the CLI (`mqtt-xmpp-bridge devices approve`, while the bridge runs) or an administrator
 * with the XEP-0050 command on the component JID; the request topic blocks it again.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { startEsphomeNode, type EsphomeNode } from '../../src/demo/esphome-sim.js';
import { closeMqtt, exitOf, isPresenceFrom, mqttClient, nextMqttMessage, removeDir, spawnCli, startBridge, startTestServer, type RunningBridge, type TestServer, type XmppUser } from './harness.js';
import { discoItems, nextEvent } from './import-helpers.js';

const DOMAIN = 'iot.localhost';
const KITCHEN = `240ac4a1b2c3@${DOMAIN}`;
const GARAGE = `240ac4a1b2c4@${DOMAIN}`;
const NS_ADHOC = 'http://jabber.org/protocol/commands';
const NS_DATA = 'jabber:x:data';
const NS_INFO = 'http://jabber.org/protocol/disco#info';

describe('import: devices wait for an operator\'s approval', function () {
  this.timeout(60_000);
  let server: TestServer;
  let run: RunningBridge;
  let alice: XmppUser;
  let admin: XmppUser;
  let kitchen: EsphomeNode;
  let garage: EsphomeNode;
  let requester: MqttClient;

  before(async function () {
    server = await startTestServer();
    run = await startBridge({
      server,
      config: {
        xmpp: { admins: ['admin@localhost'] },
        import: { homeassistant: { mode: 'approve', access: { viewers: ['*@localhost'] } } },
      },
    });
    alice = await server.user('alice');
    admin = await server.user('admin');
    requester = await mqttClient(run.mqttUrl, { clientId: 'requester' });
    await requester.subscribeAsync('mqtt-xmpp-bridge/bridge/response/#', { qos: 1 });
    const pending = nextEvent(run, 'import_pending', (e) => e.jid === KITCHEN);
    kitchen = await startEsphomeNode(run.mqttUrl);
    await pending;
  });

  after(async function () {
    await kitchen?.stop();
    await garage?.stop();
    await closeMqtt(requester);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  it('keeps a pending device invisible: no disco, no presence, a subscription refused', async function () {
    assert.equal((await discoItems(alice)).has(KITCHEN), false);
    assert.equal((await alice.subscribe(KITCHEN)).attrs['type'], 'unsubscribed');
    const info = await alice.iq(xml('iq', { type: 'get', to: KITCHEN }, xml('query', { xmlns: NS_INFO })));
    assert.equal(info.attrs['type'], 'error');
    assert.equal(info.getChild('error')!.getChildElements()[0]!.name, 'item-not-found', 'as for a JID that names no device');
  });

  it('lists it with the CLI, which approves it while the bridge runs', async function () {
    const list = spawnCli(['devices', 'list', '--status', 'pending', '--config', run.configFile]);
    assert.equal((await exitOf(list, 20_000)).code, 0, list.output());
    assert.equal(list.output(), `pending   homeassistant  240ac4a1b2c3             Kitchen  <${KITCHEN}>\n`);
    const added = nextEvent(run, 'import_added', (e) => e.jid === KITCHEN);
    const approve = spawnCli(['devices', 'approve', '240AC4A1B2C3', '--config', run.configFile]);
    assert.equal((await exitOf(approve, 20_000)).code, 0, approve.output());
    assert.match(approve.output(), /^Approved Kitchen \(homeassistant 240AC4A1B2C3\) <240ac4a1b2c3@iot\.localhost>\./);
    await added;
    assert.equal((await discoItems(alice)).get(KITCHEN), 'Kitchen');
    const online = alice.waitFor(isPresenceFrom(KITCHEN, undefined), 'the node online');
    assert.equal((await alice.subscribe(KITCHEN)).attrs['type'], 'subscribed');
    await online;
  });

  it('lets an administrator approve a pending device with the XEP-0050 command on the component; others may not', async function () {
    const pending = nextEvent(run, 'import_pending', (e) => e.jid === GARAGE);
    garage = await startEsphomeNode(run.mqttUrl, { node: 'garage', name: 'Garage', mac: '240ac4a1b2c4' });
    await pending;
    const denied = await alice.iq(xml('iq', { type: 'set', to: DOMAIN }, xml('command', { xmlns: NS_ADHOC, node: 'import-devices', action: 'execute' })));
    assert.equal(denied.getChild('error')!.getChildElements()[0]!.name, 'forbidden');
    const listed = await admin.iq(xml('iq', { type: 'get', to: DOMAIN }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items', node: NS_ADHOC })));
    assert.deepEqual(listed.getChild('query')!.getChildren('item').map((i) => i.attrs['node']), ['import-devices']);
    const start = await admin.iq(xml('iq', { type: 'set', to: DOMAIN }, xml('command', { xmlns: NS_ADHOC, node: 'import-devices', action: 'execute' })));
    const cmd = start.getChild('command', NS_ADHOC)!;
    const options = cmd.getChild('x', NS_DATA)!.getChildren('field').find((f) => f.attrs['var'] === 'devices')!.getChildren('option');
    assert.deepEqual(options.map((o) => [o.attrs['label'], o.getChildText('value')]), [['Garage — homeassistant 240ac4a1b2c4 (esp32dev)', 'homeassistant:240ac4a1b2c4']]);
    const submit = xml(
      'x',
      { xmlns: NS_DATA, type: 'submit' },
      xml('field', { var: 'devices' }, xml('value', {}, 'homeassistant:240ac4a1b2c4')),
      xml('field', { var: 'action' }, xml('value', {}, 'approve')),
    );
    const done = await admin.iq(xml('iq', { type: 'set', to: DOMAIN }, xml('command', { xmlns: NS_ADHOC, node: 'import-devices', sessionid: cmd.attrs['sessionid'], action: 'complete' }, submit)));
    assert.equal(done.getChild('command', NS_ADHOC)!.getChildText('note'), `Approved: Garage (${GARAGE}).`);
    assert.equal((await discoItems(alice)).get(GARAGE), 'Garage');
  });

  it('blocks a device through the request topic: it leaves, and stays out when it announces itself again', async function () {
    const gone = alice.waitFor(isPresenceFrom(KITCHEN, 'unavailable'), 'the node going');
    const response = nextMqttMessage(requester, 'mqtt-xmpp-bridge/bridge/response/import/block');
    await requester.publishAsync('mqtt-xmpp-bridge/bridge/request/import/block', JSON.stringify({ id: '240ac4a1b2c3', transaction: 'b1' }), { qos: 1 });
    const r = JSON.parse((await response).toString()) as { status: string; data: { device: { status: string } }; transaction: string };
    assert.deepEqual([r.status, r.data.device.status, r.transaction], ['ok', 'blocked', 'b1']);
    await gone;
    await kitchen.stop();
    kitchen = await startEsphomeNode(run.mqttUrl); // announces itself again (retained configs republished)
    const list = nextMqttMessage(requester, 'mqtt-xmpp-bridge/bridge/response/import/list');
    await requester.publishAsync('mqtt-xmpp-bridge/bridge/request/import/list', '{"status":"blocked"}', { qos: 1 });
    const blocked = JSON.parse((await list).toString()) as { data: { devices: { id: string; status: string }[] } };
    assert.deepEqual(blocked.data.devices.map((d) => [d.id, d.status]), [['240ac4a1b2c3', 'blocked']]);
    assert.equal((await discoItems(alice)).has(KITCHEN), false);
  });
});
