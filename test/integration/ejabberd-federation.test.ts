/**
 * Federation between Prosody and ejabberd: the bridge is a component of a Prosody (a.test, component iot.a.test on
 * 127.0.0.2); the user lives on an ejabberd 23.01 (e.test on 127.0.0.4). Both talk real S2S on port 5269 without TLS,
 * authenticated by dialback, with names from /etc/hosts. An ejabberd user subscribes to a device on A, receives its
 * readings, commands it and gets the result; another one, a viewer but no operator, is refused across federation.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { startEjabberd, type EjabberdInstance } from '../../src/servers/ejabberd.js';
import type { ProsodyInstance } from '../../src/servers/prosody.js';
import { requireEjabberd } from './ejabberd-harness.js';
import { NS_COMMAND, PLUG, SERVER_A_HOSTS, setCommand, startBridgeOnA, startKettle, startServerA } from './federation-harness.js';
import { addHosts } from './hosts.js';
import { closeMqtt, isMessageFrom, isPresenceFrom, removeDir, ROOT, XmppUser, type RunningBridge } from './harness.js';

describe('federation: a device on Prosody (a.test), a user on ejabberd (e.test)', function () {
  this.timeout(90_000);
  let removeHosts: (() => void) | undefined;
  let serverA: ProsodyInstance;
  let serverE: EjabberdInstance;
  let run: RunningBridge;
  let erin: XmppUser;
  let frank: XmppUser;
  let plug: MqttClient;

  before(async function () {
    requireEjabberd();
    removeHosts = addHosts({ ...SERVER_A_HOSTS, '127.0.0.4': ['e.test'] });
    const secret = randomBytes(12).toString('hex');
    [serverA, serverE] = await Promise.all([
      startServerA(secret),
      startEjabberd({ host: 'e.test', listen: '127.0.0.4', s2sPort: 5269, federation: true }),
    ]);
    await serverE.register('erin', 'pw-erin');
    await serverE.register('frank', 'pw-frank');
    run = await startBridgeOnA(serverA, secret, join(ROOT, 'test/fixtures/federation-ejabberd/mappings'));
    erin = await XmppUser.connect(serverE, 'erin', 'pw-erin');
    frank = await XmppUser.connect(serverE, 'frank', 'pw-frank');
    plug = await startKettle(run.mqttUrl);
  });

  after(async function () {
    await closeMqtt(plug);
    await erin?.stop();
    await frank?.stop();
    await run?.stop();
    await Promise.all([serverA?.removeDir(), serverE?.removeDir()]);
    if (run) removeDir(run.dir);
    removeHosts?.();
  });

  it('lets the ejabberd user subscribe, see presence and receive readings over S2S', async function () {
    const online = erin.waitFor(isPresenceFrom(PLUG, undefined), 'the plug online, across federation', 30_000);
    assert.equal((await subscribe(erin, PLUG)).attrs['type'], 'subscribed');
    await online;
    const reading = erin.waitFor(isMessageFrom(PLUG, (m) => m.getChildText('body') === 'OFF, 0.4 W'), 'a reading across federation', 30_000);
    await plug.publishAsync('plugs/kettle/state', '{"state":"OFF","power":0.4}', { qos: 1 });
    const msg = await reading;
    assert.equal(msg.attrs['to']?.split('/')[0], 'erin@e.test');
    assert.equal(msg.getChildText('json', 'urn:xmpp:json:0'), '{"state":"OFF","power":0.4}');
  });

  it('lets the ejabberd user command the device and get the result', async function () {
    const reply = await erin.iq(setCommand(PLUG, '{"state":"ON"}'), 30_000);
    assert.equal(reply.attrs['type'], 'result');
    const cmd = reply.getChild('command', NS_COMMAND)!;
    assert.equal(cmd.attrs['status'], 'confirmed');
    assert.equal(cmd.getChildText('json', 'urn:xmpp:json:0'), '{"state":"ON","power":5}');
    // The plug's state report also reaches erin as a reading ("OFF, 5.0 W"): wait for the command reply itself.
    const chat = erin.waitFor(isMessageFrom(PLUG, (m) => /^[✓✗]/.test(m.getChildText('body') ?? '')), 'the chat command reply', 30_000);
    await erin.send(xml('message', { to: PLUG, type: 'chat' }, xml('body', {}, 'set state=OFF')));
    assert.equal((await chat).getChildText('body'), '✓ set: confirmed — OFF, 5.0 W');
  });

  it('refuses a command from an ejabberd user who may view but not operate the device, with the error carried back over S2S', async function () {
    assert.equal((await subscribe(frank, PLUG)).attrs['type'], 'subscribed', 'every e.test user is a viewer');
    const reply = await frank.iq(setCommand(PLUG, '{"state":"ON"}'), 30_000);
    assert.equal(reply.attrs['type'], 'error');
    assert.equal(reply.getChild('error')?.getChildElements()[0]?.name, 'forbidden');
    const chat = frank.waitFor(isMessageFrom(PLUG, (m) => /^[✓✗]/.test(m.getChildText('body') ?? '')), 'the chat command reply', 30_000);
    await frank.send(xml('message', { to: PLUG, type: 'chat' }, xml('body', {}, 'set state=ON')));
    assert.equal((await chat).getChildText('body'), '✗ forbidden: frank@e.test may not command plug-kettle@iot.a.test');
  });
});

/** Subscribe and wait for the answer; across S2S the first stanzas may take longer than XmppUser.subscribe waits. */
function subscribe(user: XmppUser, jid: string): Promise<Element> {
  const answer = user.waitFor(
    (s) => s.name === 'presence' && (s.attrs['from'] ?? '').split('/')[0] === jid && (s.attrs['type'] === 'subscribed' || s.attrs['type'] === 'unsubscribed'),
    `the subscription answer from ${jid} across federation`,
    30_000,
  );
  return user.send(xml('presence', { to: jid, type: 'subscribe' })).then(() => answer);
}
