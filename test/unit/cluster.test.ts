/** Pure parts of cluster mode: which instance an IQ belongs to, what the XMPP server is, redis.conf, forwarded XML. */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import { parseStanza } from '../../src/features/cluster/feature.js';
import { iqOwner, isIqRequest } from '../../src/features/cluster/ownership.js';
import { clusterRefusal, serverName } from '../../src/features/cluster/server-check.js';
import { barrierPrefix, requestIdPrefix, requestOwner, sessionIdPrefix, sessionOwner } from '../../src/kernel/xmpp-link.js';
import { renderRedisConfig } from '../../src/servers/redis.js';
import { INBOX_KINDS, parseMessage } from '../../src/store/redis/messages.js';

const NS_ADHOC = 'http://jabber.org/protocol/commands';
const ME = '0a1b2c3d';

describe('cluster: which instance an IQ belongs to', function () {
  it('names the instance of a barrier or another request of the bridge in the id of its response', function () {
    assert.equal(requestOwner(`${barrierPrefix(ME)}17`), ME);
    assert.equal(requestOwner(`${requestIdPrefix(ME)}4`), ME);
    assert.equal(requestOwner('q1234'), undefined);
    assert.equal(iqOwner(xml('iq', { type: 'result', id: `${barrierPrefix(ME)}1` })), ME);
    assert.equal(iqOwner(xml('iq', { type: 'error', id: `${requestIdPrefix(ME)}1` })), ME);
  });

  it('names the instance holding an XEP-0050 session in the sessionid of the next step', function () {
    const sid = `${sessionIdPrefix(ME)}ffeeddccbbaa9988`;
    assert.equal(sessionOwner(sid), ME);
    assert.equal(iqOwner(xml('iq', { type: 'set', id: 'x' }, xml('command', { xmlns: NS_ADHOC, node: 'set', sessionid: sid, action: 'complete' }))), ME);
    // The first step has no session yet: any instance may take it.
    assert.equal(iqOwner(xml('iq', { type: 'set', id: 'x' }, xml('command', { xmlns: NS_ADHOC, node: 'set', action: 'execute' }))), undefined);
  });

  it('leaves every other IQ to whichever instance receives it', function () {
    // A user's request whose id happens to look like ours is a request, not a response: not ours to forward.
    assert.equal(iqOwner(xml('iq', { type: 'get', id: `${barrierPrefix(ME)}1` }, xml('ping', { xmlns: 'urn:xmpp:ping' }))), undefined);
    assert.equal(iqOwner(xml('message', { id: `${barrierPrefix(ME)}1` })), undefined);
    assert.equal(isIqRequest(xml('iq', { type: 'get' })), true);
    assert.equal(isIqRequest(xml('iq', { type: 'result' })), false);
  });
});

describe('cluster: the XMPP server must be ejabberd', function () {
  const info = (name: string): ReturnType<typeof xml> =>
    xml('iq', { type: 'result' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }, xml('identity', { category: 'server', type: 'im', name })));

  it('refuses Prosody with the reason', function () {
    assert.equal(serverName(info('Prosody')), 'Prosody');
    assert.match(clusterRefusal('Prosody', 'localhost', 'iot.localhost') ?? '', /localhost runs Prosody, which accepts one connection for iot\.localhost/);
  });

  it('accepts ejabberd, and a server that does not say (its second connection would then get conflict)', function () {
    assert.equal(clusterRefusal(serverName(info('ejabberd')), 'localhost', 'iot.localhost'), undefined);
    assert.equal(clusterRefusal(undefined, 'localhost', 'iot.localhost'), undefined);
  });
});

describe('cluster: messages between instances', function () {
  it('parses a forwarded stanza, and refuses text that is not one', function () {
    const el = parseStanza("<iq type='result' id='a' from='x'><query xmlns='urn:x'/></iq>");
    assert.equal(el?.attrs['id'], 'a');
    assert.equal(el?.getChild('query', 'urn:x') !== undefined, true);
    assert.equal(parseStanza('<iq'), undefined);
  });

  it('ignores messages that are not ours on the channel', function () {
    assert.equal(parseMessage('not json', INBOX_KINDS), undefined);
    assert.equal(parseMessage('{"i":"a","k":"other"}', INBOX_KINDS), undefined);
    assert.deepEqual(parseMessage('{"i":"a","k":"stanza","xml":"<iq/>"}', INBOX_KINDS), { i: 'a', k: 'stanza', xml: '<iq/>' });
  });
});

describe('redis-server launcher', function () {
  it('writes a private, loopback, snapshot-free config', function () {
    const text = renderRedisConfig({ dir: '/tmp/r1', listen: '127.0.0.1', port: 6390, persistence: 'aof' });
    for (const line of ['bind 127.0.0.1', 'port 6390', 'dir /tmp/r1', 'save ""', 'appendonly yes', 'protected-mode yes']) assert.ok(text.split('\n').includes(line), line);
    assert.ok(renderRedisConfig({ dir: '/tmp/r1', listen: '127.0.0.1', port: 6390, persistence: 'none' }).includes('appendonly no'));
    assert.throws(() => renderRedisConfig({ dir: '/tmp/a b', listen: '127.0.0.1', port: 1, persistence: 'none' }), /must not contain spaces/);
  });
});
