/**
 * Discovery and the basic IQs: every IQ gets exactly one reply (RFC 6120 §8.2.3); unknown ones get
 * service-unavailable; devices a user may not view look exactly like devices that do not exist.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { closeMqtt, mqttClient, removeDir, startBridge, startTestServer, type RunningBridge, type TestServer, type XmppUser } from './harness.js';

const NS_INFO = 'http://jabber.org/protocol/disco#info';
const NS_ITEMS = 'http://jabber.org/protocol/disco#items';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

function condition(reply: Element): string | undefined {
  return reply.getChild('error')?.getChildElements().find((c) => c.attrs['xmlns'] === NS_STANZAS)?.name;
}

describe('discovery, ping and version', function () {
  let server: TestServer;
  let run: RunningBridge;
  let alice: XmppUser;
  let bob: XmppUser;
  let devices: MqttClient;

  before(async function () {
    server = await startTestServer();
    run = await startBridge({ server });
    alice = await server.user('alice');
    bob = await server.user('bob');
    devices = await mqttClient(run.mqttUrl, { clientId: 'climate-home-kitchen' });
    await devices.publishAsync('sensors/home/kitchen/telemetry', '{"temperature":20}', { qos: 1 });
    await devices.publishAsync('plugs/kettle/availability', 'online', { qos: 1 });
    await devices.publishAsync('plugs/lamp/state', '{"state":"ON","power":7}', { qos: 1 });
  });

  after(async function () {
    await closeMqtt(devices);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  it('the component answers disco#info with a gateway identity and its features', async function () {
    const r = await alice.iq(xml('iq', { type: 'get', to: 'iot.localhost' }, xml('query', { xmlns: NS_INFO })));
    assert.equal(r.attrs['type'], 'result');
    const q = r.getChild('query', NS_INFO)!;
    const id = q.getChild('identity')!;
    assert.deepEqual([id.attrs['category'], id.attrs['type'], id.attrs['name']], ['gateway', 'mqtt', 'MQTT bridge']);
    const features = q.getChildren('feature').map((f) => f.attrs['var']);
    for (const f of [NS_INFO, NS_ITEMS, 'urn:xmpp:ping', 'jabber:iq:version']) assert.ok(features.includes(f), f);
  });

  it('the component lists the devices the requester may view in disco#items', async function () {
    const r = await alice.iq(xml('iq', { type: 'get', to: 'iot.localhost' }, xml('query', { xmlns: NS_ITEMS })));
    const items = r.getChild('query', NS_ITEMS)!.getChildren('item').map((i) => [i.attrs['jid'], i.attrs['name']]);
    assert.deepEqual(items, [
      ['home-kitchen@iot.localhost', 'kitchen climate (home)'],
      ['plug-kettle@iot.localhost', 'plug-kettle'], // no name template: the unescaped local part
      ['plug-lamp@iot.localhost', 'plug-lamp'],
    ]);
    const forBob = await bob.iq(xml('iq', { type: 'get', to: 'iot.localhost' }, xml('query', { xmlns: NS_ITEMS })));
    assert.deepEqual(
      forBob.getChild('query', NS_ITEMS)!.getChildren('item').map((i) => i.attrs['jid']),
      ['plug-kettle@iot.localhost', 'plug-lamp@iot.localhost'],
      'bob is no viewer of the climate mapping',
    );
  });

  it('pages disco#items with result set management (XEP-0059)', async function () {
    const page = (after?: string): Promise<Element> =>
      alice.iq(
        xml('iq', { type: 'get', to: 'iot.localhost' }, xml('query', { xmlns: NS_ITEMS }, xml('set', { xmlns: 'http://jabber.org/protocol/rsm' }, xml('max', {}, '2'), after ? xml('after', {}, after) : null))),
      );
    const p1 = (await page()).getChild('query', NS_ITEMS)!;
    assert.deepEqual(p1.getChildren('item').map((i) => i.attrs['jid']), ['home-kitchen@iot.localhost', 'plug-kettle@iot.localhost']);
    const set = p1.getChild('set', 'http://jabber.org/protocol/rsm')!;
    assert.equal(set.getChildText('count'), '3');
    assert.equal(set.getChildText('last'), 'plug-kettle@iot.localhost');
    const p2 = (await page('plug-kettle@iot.localhost')).getChild('query', NS_ITEMS)!;
    assert.deepEqual(p2.getChildren('item').map((i) => i.attrs['jid']), ['plug-lamp@iot.localhost']);
  });

  it('a device answers disco#info with its identity, features and payload schema', async function () {
    const r = await alice.iq(xml('iq', { type: 'get', to: 'home-kitchen@iot.localhost' }, xml('query', { xmlns: NS_INFO })));
    assert.equal(r.attrs['type'], 'result');
    assert.equal(r.attrs['from'], 'home-kitchen@iot.localhost');
    const q = r.getChild('query', NS_INFO)!;
    assert.equal(q.getChild('identity')!.attrs['name'], 'kitchen climate (home)');
    assert.ok(q.getChildren('feature').some((f) => f.attrs['var'] === 'urn:xmpp:json:0'));
    const form = q.getChild('x', 'jabber:x:data')!;
    const fields = Object.fromEntries(form.getChildren('field').map((f): [string, string | null] => [f.attrs['var'] ?? '', f.getChildText('value')]));
    assert.equal(fields['FORM_TYPE'], 'urn:mqtt-xmpp-bridge:device:0');
    assert.equal(fields['schema'], 'urn:mqtt-xmpp-bridge:example:climate');
    assert.equal(fields['mapping'], 'climate');
    assert.equal(fields['topic'], 'sensors/home/kitchen/telemetry');
    assert.equal(fields['online'], '1');
  });

  it('a device that does not exist, or that the requester may not view, is item-not-found', async function () {
    const unknown = await alice.iq(xml('iq', { type: 'get', to: 'nothing@iot.localhost' }, xml('query', { xmlns: NS_INFO })));
    assert.equal(unknown.attrs['type'], 'error');
    assert.equal(condition(unknown), 'item-not-found');
    const hidden = await bob.iq(xml('iq', { type: 'get', to: 'home-kitchen@iot.localhost' }, xml('query', { xmlns: NS_INFO })));
    assert.equal(condition(hidden), 'item-not-found');
  });

  it('answers XEP-0199 ping on the component and on devices', async function () {
    const c = await alice.iq(xml('iq', { type: 'get', to: 'iot.localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.equal(c.attrs['type'], 'result');
    assert.equal(c.getChildElements().length, 0);
    const d = await alice.iq(xml('iq', { type: 'get', to: 'plug-lamp@iot.localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.equal(d.attrs['type'], 'result');
  });

  it('answers XEP-0092 version on the component', async function () {
    const r = await alice.iq(xml('iq', { type: 'get', to: 'iot.localhost' }, xml('query', { xmlns: 'jabber:iq:version' })));
    const q = r.getChild('query', 'jabber:iq:version')!;
    assert.equal(q.getChildText('name'), 'mqtt-xmpp-bridge');
    assert.match(q.getChildText('version') ?? '', /^\d+\.\d+\.\d+/);
  });

  it('answers unknown IQs exactly once with service-unavailable', async function () {
    const before = alice.stanzas.length;
    const r = await alice.iq(xml('iq', { type: 'get', to: 'plug-lamp@iot.localhost' }, xml('query', { xmlns: 'urn:example:unknown' })));
    assert.equal(r.attrs['type'], 'error');
    assert.equal(condition(r), 'service-unavailable');
    const set = await alice.iq(xml('iq', { type: 'set', to: 'iot.localhost' }, xml('query', { xmlns: 'urn:example:unknown' })));
    assert.equal(condition(set), 'service-unavailable');
    // A ping after them is answered, and exactly two replies came for the two IQs before it.
    await alice.iq(xml('iq', { type: 'get', to: 'iot.localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    const replies = alice.stanzas.slice(before).filter((s) => s.name === 'iq' && (s.attrs['type'] === 'result' || s.attrs['type'] === 'error'));
    assert.equal(replies.length, 3);
  });

  it('answers a malformed IQ (no payload, two payloads) exactly once with bad-request, and never answers a response', async function () {
    const before = alice.stanzas.length;
    const empty = await alice.iq(xml('iq', { type: 'get', to: 'plug-lamp@iot.localhost' }));
    assert.deepEqual([empty.attrs['type'], condition(empty)], ['error', 'bad-request']);
    const two = await alice.iq(xml('iq', { type: 'set', to: 'iot.localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' }), xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.deepEqual([two.attrs['type'], condition(two)], ['error', 'bad-request']);
    // An unsolicited response (no request of the bridge's has this id) gets nothing back, then a ping is answered.
    await alice.send(xml('iq', { type: 'result', id: 'nobody-asked', to: 'plug-lamp@iot.localhost' }));
    await alice.iq(xml('iq', { type: 'get', to: 'iot.localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    const replies = alice.stanzas.slice(before).filter((s) => s.name === 'iq');
    assert.deepEqual(
      replies.map((s) => s.attrs['type']),
      ['error', 'error', 'result'],
    );
  });
});
