import assert from 'node:assert/strict';
import { checkConnect } from '../../src/broker/connect-packet.js';
import { connectPacket, type ConnectOptions } from '../support/mqtt-bytes.js';

/** The verdict on a CONNECT built from `o`: 'pass', the close reason, or 'refuse:<reason>' for CONNACK 0x02. */
function verdict(o: ConnectOptions): string {
  const p = connectPacket(o);
  const v = checkConnect(p, headerLength(p));
  if (v.kind === 'pass') return 'pass';
  return v.kind === 'close' ? `${v.reason}${v.field ? `@${v.field}` : ''}` : `refuse:${v.reason}`;
}

/** Length of the fixed header: the type byte and the Remaining Length's 1–4 bytes. */
function headerLength(p: Uint8Array): number {
  let at = 1;
  while (p[at]! & 0x80) at++;
  return at + 1;
}

const SURROGATE = Buffer.from([0x64, 0xed, 0xbf, 0xbf]);
const OVERLONG = Buffer.from([0xc0, 0x80]);

describe('checkConnect (§3.1, ahead of aedes)', () => {
  it('passes well-formed CONNECTs: minimal, with Will, user name and password, non-ASCII, MQTT 3.1', () => {
    assert.equal(verdict({}), 'pass');
    assert.equal(verdict({ clientId: 'dev-1', will: { topic: 'dev/1/status', payload: 'offline', qos: 1, retain: true }, username: 'ü', password: 'p\0ss' }), 'pass');
    assert.equal(verdict({ clientId: 'küche', username: 'a\tb' }), 'pass', 'control characters are allowed in a user name');
    assert.equal(verdict({ clientId: '', will: { topic: 't', qos: 2 } }), 'pass');
    assert.equal(verdict({ protocolName: 'MQIsdp', level: 3 }), 'pass');
    assert.equal(verdict({ level: 5, v5Properties: true }), 'pass', 'aedes refuses level 5 with its own CONNACK 0x01');
  });

  it('closes on ill-formed UTF-8 or U+0000 in the client id [MQTT-1.5.3-1] [MQTT-1.5.3-2] [MQTT-3.1.3-4]', () => {
    assert.equal(verdict({ clientId: SURROGATE }), 'invalid-utf8@client-id');
    assert.equal(verdict({ clientId: OVERLONG }), 'invalid-utf8@client-id');
    assert.equal(verdict({ clientId: 'a\0b' }), 'null-character@client-id');
  });

  it('answers a client id with control characters or noncharacters with CONNACK 0x02 [MQTT-3.1.3-9]', () => {
    assert.equal(verdict({ clientId: 'dev\u0001' }), 'refuse:control-character');
    assert.equal(verdict({ clientId: 'dev\u0085' }), 'refuse:control-character');
    assert.equal(verdict({ clientId: 'dev\uffff' }), 'refuse:noncharacter');
  });

  it('closes rather than refuses when the rest of the CONNECT is broken too', () => {
    assert.equal(verdict({ clientId: 'dev\u0001', username: SURROGATE }), 'invalid-utf8@username');
    assert.equal(verdict({ clientId: 'dev\u0001', trailing: Buffer.from([0, 1, 0x61]) }), 'username-not-flagged');
  });

  it('closes on a bad Will Topic [MQTT-3.1.3-10]: ill-formed, U+0000, control character, wildcard, empty', () => {
    assert.equal(verdict({ will: { topic: SURROGATE } }), 'invalid-utf8@will-topic');
    assert.equal(verdict({ will: { topic: 'a\0' } }), 'null-character@will-topic');
    assert.equal(verdict({ will: { topic: 'a\u001b' } }), 'control-character@will-topic');
    assert.equal(verdict({ will: { topic: 'a/#' } }), 'wildcard-in-topic@will-topic');
    assert.equal(verdict({ will: { topic: '' } }), 'empty-topic@will-topic');
  });

  it('closes on a bad User Name [MQTT-3.1.3-11]: ill-formed or U+0000', () => {
    assert.equal(verdict({ username: SURROGATE }), 'invalid-utf8@username');
    assert.equal(verdict({ username: 'a\0' }), 'null-character@username');
  });

  it('closes on Will QoS 3 [MQTT-3.1.2-14]', () => {
    assert.equal(verdict({ will: { topic: 't', qos: 3 } }), 'will-qos-3');
  });

  it('closes on Will QoS or Will Retain without the Will Flag [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15]', () => {
    assert.equal(verdict({ extraFlags: 0x08 }), 'will-flags');
    assert.equal(verdict({ extraFlags: 0x10 }), 'will-flags');
    assert.equal(verdict({ extraFlags: 0x20 }), 'will-flags');
  });

  it('closes on the reserved flag [MQTT-3.1.2-3]', () => {
    assert.equal(verdict({ extraFlags: 0x01 }), 'reserved-connect-flag');
  });

  it('closes on a user name without its flag [MQTT-3.1.2-18] and a password without its flag [MQTT-3.1.2-20]', () => {
    assert.equal(verdict({ username: 'user', clearFlags: 0x80 }), 'username-not-flagged');
    assert.equal(verdict({ username: 'user', password: 'secret', clearFlags: 0x40 }), 'password-not-flagged');
  });

  it('closes on the Password Flag without the User Name Flag [MQTT-3.1.2-22]', () => {
    assert.equal(verdict({ password: 'secret' }), 'password-without-username');
  });

  it('closes on fields that overrun the packet, and on bytes after the password [MQTT-3.1.4-1]', () => {
    assert.equal(verdict({ username: 'user', clearFlags: 0, extraFlags: 0x40, trailing: Buffer.from([0x00]) }), 'malformed-connect');
    assert.equal(verdict({ username: 'u', password: 'p', trailing: Buffer.from([0x00]) }), 'trailing-bytes');
    const truncated = connectPacket({ clientId: 'abcdef' });
    truncated[truncated.length - 7] = 0x10; // client id length 16 where 6 bytes follow
    assert.deepEqual(checkConnect(truncated, 2), { kind: 'close', reason: 'malformed-connect', statement: '[MQTT-3.1.4-1]' });
  });

  it('closes on another protocol name [MQTT-3.1.2-1]', () => {
    assert.equal(verdict({ protocolName: 'MQTX' }), 'protocol-name');
  });
});
