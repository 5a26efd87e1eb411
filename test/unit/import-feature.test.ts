/**
 * The import feature with the core and in-memory edges: Zigbee2MQTT's bridge/devices becomes devices (JIDs from IEEE
 * addresses, names from friendly names) in one change of the mapping set; readings merge; a rename keeps the JID; a
 * leave removes the device; approval keeps new devices invisible until an operator approves them (request topic,
 * admin command, store written by another process); imported devices come back at start from the store alone;
 * discovery messages are vetted against their publisher's rights and the topics other devices use.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { Publisher } from '../../src/broker/mqtt-side.js';
import type { ImportRefusalEvent } from '../../src/kernel/events.js';
import { openDatabase } from '../../src/store/db.js';
import { SqliteImportStore } from '../../src/store/imports.js';
import { packageRoot } from '../../src/version.js';
import { startTestBridge, type TestBridge } from '../support/test-bridge.js';

const DEVICES = readFileSync(join(packageRoot(), 'test/fixtures/importers/zigbee2mqtt/bridge-devices-2.9.2.json'), 'utf8');
const INFO = JSON.stringify({ version: '2.9.2', config: { availability: { enabled: true } } });
const BULB = '0x000b57fffec6a5b2@iot.example.org';
const PLUG = '0x0017880104e45524@iot.example.org';
const USER = 'alice@example.org';
const ADMIN = 'boss@example.org';
const NS_ITEMS = 'http://jabber.org/protocol/disco#items';
const NS_ADHOC = 'http://jabber.org/protocol/commands';
const NS_DATA = 'jabber:x:data';
const NS_JSON = 'urn:xmpp:json:0';

/** A publisher with the rights of a service account holding these filters. */
function service(name: string, publish: string[], subscribe: string[]): Publisher {
  const match = (f: string, t: string): boolean => new RegExp(`^${f.replace(/[.]/g, '\\.').replace(/\+/g, '[^/]+').replace(/#$/, '.*')}$`).test(t);
  return { identity: `service:${name}`, clientId: name, mayPublish: (t) => publish.some((f) => match(f, t)), maySubscribe: (t) => subscribe.some((f) => match(f, t)) };
}
const Z2M = service('z2m', ['zigbee2mqtt/#'], ['zigbee2mqtt/#']);

const importConfig = (source: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  import: { [source]: { mode: 'auto', access: { viewers: ['*@example.org'], operators: ['*@example.org'] }, ...extra } },
});

describe('import feature', () => {
  let t: TestBridge;
  afterEach(() => t?.stop());

  async function start(config: Record<string, unknown>): Promise<void> {
    t = await startTestBridge({ mappingPaths: [join(packageRoot(), 'mappings')], config: { xmpp: { domain: 'iot.example.org', secret: 's', serverDomain: 'example.org', admins: [ADMIN] }, ...config } });
  }
  async function items(from = USER): Promise<string[]> {
    const reply = await t.link.inject(xml('iq', { type: 'get', to: 'iot.example.org', from: `${from}/x`, id: 'i' }, xml('query', { xmlns: NS_ITEMS })));
    const query = reply?.getChild('query', NS_ITEMS);
    return (query?.getChildren('item') ?? []).map((i) => `${i.attrs['jid']} ${i.attrs['name']}`).filter((s) => s.startsWith('0x'));
  }
  const refusals = (): ImportRefusalEvent[] => {
    const out: ImportRefusalEvent[] = [];
    t.bridge.kernel.bus.on('import_refused', (e) => void out.push(e));
    return out;
  };

  it('imports bridge/devices in one change: JIDs from IEEE addresses, names from friendly names', async () => {
    await start(importConfig('zigbee2mqtt'));
    let changes = 0;
    t.bridge.kernel.bus.on('mappings_changed', () => (changes += 1));
    const refused = refusals();
    t.side.route('zigbee2mqtt/bridge/devices', Buffer.from(DEVICES), Z2M);
    assert.equal(changes, 1, 'one change of the mapping set for the whole list');
    assert.deepEqual(await items(), [
      '0x000b57fffec6a5b2@iot.example.org bulb',
      '0x000b57fffec6a5b4@iot.example.org bulb_color_2',
      '0x000b57fffec6a5c2@iot.example.org 0x000b57fffec6a5c2',
      '0x0017880104e45517@iot.example.org remote',
      '0x0017880104e45518@iot.example.org 0x0017880104e45518',
      '0x0017880104e45520@iot.example.org button',
      '0x0017880104e45522@iot.example.org weather_sensor',
      '0x0017880104e45524@iot.example.org power_plug',
      '0xf4ce368a38be56a1@iot.example.org zigfred_plus',
    ]);
    assert.deepEqual(refused, []);
    // The same list again changes nothing.
    t.side.route('zigbee2mqtt/bridge/devices', Buffer.from(DEVICES), Z2M);
    assert.equal(changes, 1);
  });

  it('merges readings, forgets the momentary action, and switches through the generated set command', async () => {
    await start(importConfig('zigbee2mqtt'));
    t.side.route('zigbee2mqtt/bridge/info', Buffer.from(INFO), Z2M);
    t.side.route('zigbee2mqtt/bridge/devices', Buffer.from(DEVICES), Z2M);
    await t.link.inject(xml('presence', { to: PLUG, from: USER, type: 'subscribe' }));
    t.side.route('zigbee2mqtt/power_plug/availability', Buffer.from('{"state":"online"}'));
    const presence = t.link.take((el) => el.name === 'presence' && el.attrs['from'] === PLUG && el.attrs['type'] !== 'subscribed' && el.attrs['type'] !== 'subscribe');
    assert.deepEqual(
      presence.map((p) => p.attrs['type'] ?? 'available'),
      ['unavailable', 'available'],
      'offline when subscribed (availability is published), then online from the availability topic',
    );
    // Readings go to followers who are online: her client tells the plug she is.
    await t.link.inject(xml('presence', { to: PLUG, from: `${USER}/x` }));
    await t.side.device('zigbee2mqtt/power_plug', '{"state":"ON","power":12.5}');
    const reading = t.link.take((el) => el.name === 'message' && el.attrs['from'] === PLUG)[0]!;
    assert.deepEqual(JSON.parse(reading.getChildText('json', NS_JSON)!), { state: 'ON', power: 12.5 });
    assert.equal(reading.getChildText('body'), 'State ON · Power 12.5 W');
    const published = t.side.next((p) => p.topic === 'zigbee2mqtt/power_plug/set', 'the set command');
    const reply = await t.link.inject(xml('message', { to: PLUG, from: `${USER}/x`, type: 'chat', id: 'm1' }, xml('body', {}, 'off')));
    assert.equal(reply, undefined);
    assert.equal((await published).payload.toString(), '{"state":"OFF"}');
  });

  it('keeps the JID when a device is renamed, and removes it when it leaves', async () => {
    await start(importConfig('zigbee2mqtt'));
    t.side.route('zigbee2mqtt/bridge/devices', Buffer.from(DEVICES), Z2M);
    const renamed: string[] = [];
    t.bridge.kernel.bus.on('import_renamed', (e) => void renamed.push(`${e.from} → ${e.name} ${e.jid}`));
    const list = JSON.parse(DEVICES) as { friendly_name: string; ieee_address: string }[];
    list.find((d) => d.friendly_name === 'bulb')!.friendly_name = 'kitchen/ceiling {1}';
    t.side.route('zigbee2mqtt/bridge/devices', Buffer.from(JSON.stringify(list)), Z2M);
    assert.deepEqual(renamed, [`bulb → kitchen/ceiling {1} ${BULB}`]);
    assert.equal(t.bridge.registry.byJid(BULB)?.name, 'kitchen/ceiling {1}');
    await t.side.device('zigbee2mqtt/kitchen/ceiling {1}', '{"state":"ON","brightness":40}');
    assert.equal(t.bridge.registry.byJid(BULB)?.lastSeen !== 0, true, 'readings on the new topic');
    const left = list.filter((d) => d.ieee_address !== '0x0017880104e45524');
    t.side.route('zigbee2mqtt/bridge/devices', Buffer.from(JSON.stringify(left)), Z2M);
    assert.equal(t.bridge.registry.byJid(PLUG), undefined, 'the plug left');
    assert.ok(t.bridge.registry.byJid(BULB));
  });

  it('keeps pending devices invisible until approved through the request topic', async () => {
    await start(importConfig('zigbee2mqtt', { mode: 'approve' }));
    t.side.route('zigbee2mqtt/bridge/devices', Buffer.from(DEVICES), Z2M);
    assert.deepEqual(await items(), [], 'no disco for pending devices');
    const probe = await t.link.inject(xml('presence', { to: PLUG, from: USER, type: 'subscribe' }));
    assert.equal(probe, undefined);
    assert.equal(t.link.take((el) => el.name === 'presence' && el.attrs['from'] === PLUG && el.attrs['type'] === 'unsubscribed').length, 1, 'refused like an unknown JID');
    const answer = t.side.next((p) => p.topic === 'mqtt-xmpp-bridge/bridge/response/import/approve', 'the answer');
    t.side.route('mqtt-xmpp-bridge/bridge/request/import/approve', Buffer.from('{"id":"0x0017880104E45524","transaction":7}'));
    const r = JSON.parse((await answer).payload.toString()) as { status: string; data: { device: { name: string; status: string; jid: string } }; transaction: number };
    assert.deepEqual([r.status, r.data.device.name, r.data.device.status, r.data.device.jid, r.transaction], ['ok', 'power_plug', 'approved', PLUG, 7]);
    assert.deepEqual(await items(), [`${PLUG} power_plug`]);
  });

  it('applies decisions another process wrote to the store (the CLI)', async () => {
    await start(importConfig('zigbee2mqtt', { mode: 'approve' }));
    t.side.route('zigbee2mqtt/bridge/devices', Buffer.from(DEVICES), Z2M);
    const db = openDatabase(join(t.dir, 'data'));
    try {
      const cli = new SqliteImportStore(db);
      assert.equal(cli.list({ status: 'pending' }).length, 9);
      const added = new Promise<string>((resolve) => t.bridge.kernel.bus.on('import_added', (e) => resolve(e.jid)));
      cli.decide('zigbee2mqtt', '0x000b57fffec6a5b2', 'approved', 'cli', Date.now());
      assert.equal(await added, BULB);
    } finally {
      db.close();
    }
  });

  it('offers administrators a form to approve pending devices; others are forbidden', async () => {
    await start(importConfig('zigbee2mqtt', { mode: 'approve' }));
    t.side.route('zigbee2mqtt/bridge/devices', Buffer.from(DEVICES), Z2M);
    const run = (from: string, ...children: Element[]): Promise<Element | undefined> =>
      t.link.inject(xml('iq', { type: 'set', to: 'iot.example.org', from: `${from}/x`, id: 'a' }, xml('command', { xmlns: NS_ADHOC, node: 'import-devices', action: children.length ? 'complete' : 'execute' }, ...children)));
    assert.equal((await run(USER))!.getChild('error')?.getChildElements()[0]?.name, 'forbidden');
    const form = (await run(ADMIN))!.getChild('command', NS_ADHOC)!.getChild('x', NS_DATA)!;
    const options = form.getChildren('field').find((f) => f.attrs['var'] === 'devices')!.getChildren('option');
    assert.equal(options.length, 9);
    assert.equal(options.find((o) => o.getChildText('value') === 'zigbee2mqtt:0x0017880104e45524')?.attrs['label'], 'power_plug — zigbee2mqtt 0x0017880104e45524 (ZNCZ02LM)');
    const submit = xml(
      'x',
      { xmlns: NS_DATA, type: 'submit' },
      xml('field', { var: 'devices' }, xml('value', {}, 'zigbee2mqtt:0x0017880104e45524')),
      xml('field', { var: 'action' }, xml('value', {}, 'approve')),
    );
    const done = (await run(ADMIN, submit))!.getChild('command', NS_ADHOC)!;
    assert.equal(done.attrs['status'], 'completed');
    assert.equal(done.getChildText('note'), `Approved: power_plug (${PLUG}).`);
    assert.deepEqual(await items(), [`${PLUG} power_plug`]);
    const listed = (await t.link.inject(xml('iq', { type: 'get', to: 'iot.example.org', from: `${ADMIN}/x`, id: 'c' }, xml('query', { xmlns: NS_ITEMS, node: NS_ADHOC }))))!;
    assert.deepEqual(listed.getChild('query', NS_ITEMS)!.getChildren('item').map((i) => i.attrs['node']), ['import-devices']);
  });

  it('brings imported devices back at start from the store alone (a broker that lost its retained messages)', async () => {
    await start(importConfig('zigbee2mqtt'));
    t.side.route('zigbee2mqtt/bridge/devices', Buffer.from(DEVICES), Z2M);
    await t.link.inject(xml('presence', { to: PLUG, from: USER, type: 'subscribe' }));
    const dir = t.dir;
    await t.bridge.stop();
    const again = await startTestBridge({ dir, mappingPaths: [join(packageRoot(), 'mappings')], config: { xmpp: { domain: 'iot.example.org', secret: 's', serverDomain: 'example.org' }, ...importConfig('zigbee2mqtt') } });
    try {
      assert.equal(again.bridge.registry.byJid(PLUG)?.name, 'power_plug');
      assert.ok(again.bridge.kernel.stores.subscriptions.has(PLUG, USER), 'the subscription is still there');
    } finally {
      await again.stop();
    }
  });

  it('refuses a discovery config naming topics outside its publisher\'s rights, or another device\'s topics', async () => {
    await start({ ...importConfig('zigbee2mqtt'), ...{ import: { ...importConfig('zigbee2mqtt')['import'] as object, homeassistant: { mode: 'auto' } } } });
    t.side.route('zigbee2mqtt/bridge/devices', Buffer.from(DEVICES), Z2M);
    const refused = refusals();
    const hostile = JSON.stringify({
      name: 'Evil switch',
      unique_id: 'evil1',
      device: { identifiers: ['evil'], name: 'Evil' },
      state_topic: 'evil/state',
      command_topic: 'zigbee2mqtt/power_plug/set',
    });
    const evil = service('evil', ['homeassistant/#', 'evil/#'], ['evil/#']);
    t.side.route('homeassistant/switch/evil/config', Buffer.from(hostile), evil);
    const anonymous: Publisher = { identity: 'anonymous', clientId: 'x', mayPublish: () => true, maySubscribe: () => true };
    t.side.route('homeassistant/switch/evil/config', Buffer.from(hostile), anonymous);
    t.side.route('homeassistant/switch/evil/config', Buffer.from(hostile));
    await new Promise((resolve) => setTimeout(resolve, 300)); // the settling window (nothing to wait for: nothing happens)
    assert.deepEqual(
      refused.map((r) => [r.code, r.topic, r.publisher]),
      [
        ['IMPORT_TOPIC_FORBIDDEN', 'zigbee2mqtt/power_plug/set', 'service:evil'],
        ['IMPORT_TOPIC_TAKEN', 'zigbee2mqtt/power_plug/set', 'anonymous'],
        ['IMPORT_PUBLISHER_UNKNOWN', '', undefined],
      ],
    );
    assert.equal(refused[1]!.reason, 'zigbee2mqtt/power_plug/set is the command topic of device 0x0017880104e45524');
    assert.equal(t.bridge.metrics.get('imports_refused_total', 'IMPORT_TOPIC_TAKEN'), 1, 'counted by code');
    assert.equal(t.bridge.registry.byJid('evil@iot.example.org'), undefined);
  });

  it('imports a Homie 5 device: per-property topics merged into one reading, "sleeping" is away (xa), commands as text', async () => {
    await start(importConfig('homie'));
    const light = 'kitchen-light@iot.example.org';
    const description = {
      homie: '5.0',
      name: 'Kitchen light',
      version: 1,
      nodes: {
        light: {
          name: 'Light',
          properties: {
            power: { name: 'Power', datatype: 'boolean', settable: true, format: 'off,on' },
            brightness: { name: 'Brightness', datatype: 'integer', unit: '%', format: '0:100', settable: true },
          },
        },
      },
    };
    const homie = service('kitchen-light', ['homie/5/kitchen-light/#'], ['homie/5/kitchen-light/+/+/set']);
    const added = new Promise<void>((resolve) => t.bridge.kernel.bus.on('import_added', () => resolve()));
    t.side.route('homie/5/kitchen-light/$state', Buffer.from('ready'), homie);
    t.side.route('homie/5/kitchen-light/$description', Buffer.from(JSON.stringify(description)), homie);
    await added; // after the settling window
    assert.equal(t.bridge.registry.byJid(light)?.name, 'Kitchen light');
    await t.link.inject(xml('presence', { to: light, from: USER, type: 'subscribe' }));
    await t.link.inject(xml('presence', { to: light, from: `${USER}/x` })); // online: readings reach her
    t.side.route('homie/5/kitchen-light/$state', Buffer.from('ready'));
    await Promise.all([t.side.device('homie/5/kitchen-light/light/power', 'true'), t.side.device('homie/5/kitchen-light/light/brightness', '80')]);
    const readings = t.link.take((el) => el.name === 'message' && el.attrs['from'] === light).map((el) => JSON.parse(el.getChildText('json', NS_JSON)!) as unknown);
    assert.deepEqual(readings, [{ light: { power: true, brightness: 80 } }], 'both properties in one reading');
    t.link.take();
    t.side.route('homie/5/kitchen-light/$state', Buffer.from('sleeping'));
    const away = t.link.take((el) => el.name === 'presence' && el.attrs['from'] === light);
    assert.deepEqual(away.map((p) => [p.attrs['type'], p.getChildText('show')]), [[undefined, 'xa']]);
    t.side.route('homie/5/kitchen-light/$state', Buffer.from('lost'));
    assert.deepEqual(t.link.take((el) => el.name === 'presence' && el.attrs['from'] === light).map((p) => p.attrs['type']), ['unavailable']);
    t.side.route('homie/5/kitchen-light/$state', Buffer.from('ready'));
    const published = t.side.next((p) => p.topic === 'homie/5/kitchen-light/light/brightness/set', 'the command');
    await t.link.inject(xml('message', { to: light, from: `${USER}/x`, type: 'chat' }, xml('body', {}, 'set-light-brightness brightness=40')));
    assert.equal((await published).payload.toString(), '40', 'the value as text');
    const removed = new Promise<string>((resolve) => t.bridge.kernel.bus.on('import_removed', (e) => resolve(e.reason)));
    t.side.route('homie/5/kitchen-light/$state', Buffer.from(''), homie);
    assert.equal(await removed, 'the device removed itself');
    assert.equal(t.bridge.registry.byJid(light), undefined);
  });

  it('imports a Tasmota device from its native discovery: relays as commands on cmnd/<t>/POWER<n>', async () => {
    await start(importConfig('tasmota'));
    const config = {
      ip: '192.168.1.20',
      dn: 'Garden pump',
      fn: ['Pump', null, null, null, null, null, null, null],
      hn: 'garden-pump',
      mac: 'A4CF12D0E1F2',
      md: 'Sonoff Basic',
      ty: 0,
      if: 0,
      ofln: 'Offline',
      onln: 'Online',
      state: ['OFF', 'ON', 'TOGGLE', 'HOLD'],
      sw: '13.1.0',
      t: 'pump',
      ft: '%prefix%/%topic%/',
      tp: ['cmnd', 'stat', 'tele'],
      rl: [1, 0, 0, 0, 0, 0, 0, 0],
      swc: [-1, -1, -1, -1, -1, -1, -1, -1],
      swn: [null, null, null, null, null, null, null, null],
      btn: [0, 0, 0, 0, 0, 0, 0, 0],
      so: { '4': 0, '11': 0, '13': 0, '17': 0, '20': 0, '30': 0, '68': 0, '73': 0, '82': 0, '114': 0, '117': 0 },
      lk: 0,
      lt_st: 0,
      sho: [0, 0, 0, 0],
      ver: 1,
    };
    const pump = 'a4cf12d0e1f2@iot.example.org';
    const tasmota = service('pump', ['tasmota/discovery/A4CF12D0E1F2/#', 'stat/pump/#', 'tele/pump/#'], ['cmnd/pump/#']);
    const added = new Promise<void>((resolve) => t.bridge.kernel.bus.on('import_added', () => resolve()));
    t.side.route('tasmota/discovery/A4CF12D0E1F2/config', Buffer.from(JSON.stringify(config)), tasmota);
    await added;
    assert.equal(t.bridge.registry.byJid(pump)?.name, 'Garden pump');
    t.side.route('tele/pump/LWT', Buffer.from('Online'));
    await t.link.inject(xml('presence', { to: pump, from: USER, type: 'subscribe' }));
    await t.link.inject(xml('presence', { to: pump, from: `${USER}/x` })); // online: readings reach her
    await t.side.device('stat/pump/RESULT', '{"POWER1":"ON"}');
    const reading = t.link.take((el) => el.name === 'message' && el.attrs['from'] === pump)[0]!;
    assert.deepEqual(JSON.parse(reading.getChildText('json', NS_JSON)!), { power1: true });
    const published = t.side.next((p) => p.topic === 'cmnd/pump/POWER1', 'the command');
    await t.link.inject(xml('message', { to: pump, from: `${USER}/x`, type: 'chat' }, xml('body', {}, 'set-power1 power1=false')));
    assert.equal((await published).payload.toString(), 'OFF');
  });
});
