/**
 * Federation: two XMPP servers talking server-to-server on loopback. The bridge is a component of server A
 * (a.test, component iot.a.test on 127.0.0.2); users live on server B (b.test and c.test on 127.0.0.3). A user of
 * b.test — allowed by the mapping's pattern — subscribes to a device on A, receives its readings, commands it and
 * gets the result, and follows it over PubSub; a user of c.test is refused.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import xml from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { startProsody, type ProsodyInstance } from '../../src/servers/prosody.js';
import { PLUG, SERVER_A_HOSTS, setCommand, startBridgeOnA, startKettle, startServerA } from './federation-harness.js';
import { addHosts } from './hosts.js';
import { closeMqtt, fromBare, isMessageFrom, isPresenceFrom, removeDir, ROOT, XmppUser, type RunningBridge } from './harness.js';

describe('federation: a device on server A, users on server B', function () {
  this.timeout(60_000);
  let removeHosts: (() => void) | undefined;
  let serverA: ProsodyInstance;
  let serverB: ProsodyInstance;
  let run: RunningBridge;
  let bob: XmppUser;
  let carol: XmppUser;
  let plug: MqttClient;

  before(async function () {
    removeHosts = addHosts({ ...SERVER_A_HOSTS, '127.0.0.3': ['b.test', 'c.test'] });
    const secret = randomBytes(12).toString('hex');
    serverA = await startServerA(secret);
    serverB = await startProsody({ host: 'b.test', listen: '127.0.0.3', s2sPort: 5269, federation: true, extraGlobalConfig: 'VirtualHost "c.test"' });
    await serverB.register('bob', 'pw-bob');
    // prosodyctl registers on the instance's main host; c.test accounts need the host named explicitly.
    await registerOn(serverB, 'carol', 'c.test', 'pw-carol');
    run = await startBridgeOnA(serverA, secret, join(ROOT, 'test/fixtures/federation/mappings'));
    bob = await XmppUser.connect(serverB, 'bob', 'pw-bob');
    carol = await XmppUser.connect(serverB, 'carol', 'pw-carol', 'c.test');
    plug = await startKettle(run.mqttUrl);
  });

  after(async function () {
    await closeMqtt(plug);
    await bob?.stop();
    await carol?.stop();
    await run?.stop();
    await serverA?.removeDir();
    await serverB?.removeDir();
    if (run) removeDir(run.dir);
    removeHosts?.();
  });

  it('lets an allowed remote user subscribe, see presence and receive readings over S2S', async function () {
    const online = bob.waitFor(isPresenceFrom(PLUG, undefined), 'the plug online, across federation', 30_000);
    const answer = await bob.subscribe(PLUG);
    assert.equal(answer.attrs['type'], 'subscribed');
    await online;
    const reading = bob.waitFor(isMessageFrom(PLUG, (m) => m.getChildText('body') === 'OFF, 0.4 W'), 'a reading across federation', 30_000);
    await plug.publishAsync('plugs/kettle/state', '{"state":"OFF","power":0.4}', { qos: 1 });
    const msg = await reading;
    assert.equal(msg.getChildText('json', 'urn:xmpp:json:0'), '{"state":"OFF","power":0.4}');
  });

  it('lets the remote user command the device and get the result', async function () {
    const reply = await bob.iq(setCommand(PLUG, '{"state":"ON"}'), 30_000);
    assert.equal(reply.attrs['type'], 'result');
    assert.equal(reply.getChild('command', 'urn:mqtt-xmpp-bridge:command:0')?.attrs['status'], 'confirmed');
    const chat = bob.waitFor(isMessageFrom(PLUG, (m) => (m.getChildText('body') ?? '').startsWith('✓ set')), 'the chat command reply', 30_000);
    await bob.send(xml('message', { to: PLUG, type: 'chat' }, xml('body', {}, 'set state=OFF')));
    assert.equal((await chat).getChildText('body'), '✓ set: confirmed — OFF, 5.0 W');
  });

  it('serves PubSub on the device JID to a program on the other server', async function () {
    const pubsub = (...children: ReturnType<typeof xml>[]): ReturnType<typeof xml> => xml('pubsub', { xmlns: 'http://jabber.org/protocol/pubsub' }, ...children);
    const isNotification = (json: string | undefined) => (el: ReturnType<typeof xml>): boolean =>
      el.name === 'message' &&
      fromBare(el) === PLUG &&
      el.attrs['type'] === 'headline' &&
      (json === undefined || el.getChild('event', 'http://jabber.org/protocol/pubsub#event')?.getChild('items')?.getChild('item')?.getChildText('json', 'urn:xmpp:json:0') === json);
    const items = await bob.iq(xml('iq', { type: 'get', to: PLUG }, pubsub(xml('items', { node: 'readings' }))), 30_000);
    assert.equal(items.attrs['type'], 'result');
    assert.ok(items.getChild('pubsub')!.getChild('items')!.getChildren('item').length > 0, 'the last readings');
    const last = bob.waitFor(isNotification(undefined), 'the last item on subscribing', 30_000);
    const sub = await bob.iq(xml('iq', { type: 'set', to: PLUG }, pubsub(xml('subscribe', { node: 'readings', jid: bob.jid }))), 30_000);
    assert.equal(sub.getChild('pubsub')?.getChild('subscription')?.attrs['subscription'], 'subscribed');
    await last;
    const next = bob.waitFor(isNotification('{"state":"OFF","power":0.3}'), 'a notification across federation', 30_000);
    await plug.publishAsync('plugs/kettle/state', '{"state":"OFF","power":0.3}', { qos: 1 });
    await next;
  });

  it('refuses a user of a domain the mapping does not allow, as if the device did not exist', async function () {
    assert.equal((await carol.subscribe(PLUG)).attrs['type'], 'unsubscribed');
    const reply = await carol.iq(setCommand(PLUG, '{"state":"ON"}'), 30_000);
    assert.equal(reply.attrs['type'], 'error');
    assert.equal(reply.getChild('error')?.getChildElements()[0]?.name, 'item-not-found');
    assert.equal(reply.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas'), `no device ${PLUG}`);
  });
});

async function registerOn(server: ProsodyInstance, user: string, host: string, password: string): Promise<void> {
  await promisify(execFile)('prosodyctl', ['--config', server.configFile, 'register', user, host, password]);
}
