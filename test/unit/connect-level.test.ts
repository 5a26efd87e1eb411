import assert from 'node:assert/strict';
import { CONNACK_UNACCEPTABLE_PROTOCOL_LEVEL, inspectFirstPacket } from '../../src/broker/connect-level.js';
import { connectPacket, PINGREQ, publishPacket } from '../support/mqtt-bytes.js';

/** The verdicts for every prefix of `bytes`: what the guard decides as the packet arrives byte by byte. */
function byteByByte(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let n = 0; n <= bytes.length; n++) {
    const v = inspectFirstPacket(bytes.subarray(0, n));
    if (out[out.length - 1] !== v) out.push(v);
  }
  return out;
}

describe('inspectFirstPacket ([MQTT-3.1.2-2] ahead of aedes)', () => {
  it('passes MQTT 3.1.1 (level 4) and MQTT 3.1 ("MQIsdp", level 3) to aedes', () => {
    assert.equal(inspectFirstPacket(connectPacket()), 'pass');
    assert.equal(inspectFirstPacket(connectPacket({ protocolName: 'MQIsdp', level: 3 })), 'pass');
  });

  it('passes level 5 to aedes, which answers it with its own CONNACK 0x01', () => {
    assert.equal(inspectFirstPacket(connectPacket({ level: 5, v5Properties: true })), 'pass');
  });

  it('refuses levels aedes cannot parse: 2, 0, 6, 255', () => {
    for (const level of [2, 0, 6, 255]) assert.equal(inspectFirstPacket(connectPacket({ level })), 'unacceptable-level', `level ${level}`);
  });

  it('asks for more bytes until the level byte has arrived, then decides once', () => {
    const ok = connectPacket({ clientId: 'dev1' });
    const bad = connectPacket({ clientId: 'dev1', level: 2 });
    assert.deepEqual(byteByByte(ok), ['more', 'pass']);
    assert.deepEqual(byteByByte(bad), ['more', 'unacceptable-level']);
    // The level is byte 9 of a short CONNECT: type, one length byte, name length (2), "MQTT" (4), level.
    assert.equal(inspectFirstPacket(bad.subarray(0, 8)), 'more');
    assert.equal(inspectFirstPacket(bad.subarray(0, 9)), 'unacceptable-level');
  });

  it('leaves everything that is not an MQTT CONNECT to aedes and the frame scanner', () => {
    assert.equal(inspectFirstPacket(publishPacket('a/b', '{}', 0)), 'pass');
    assert.equal(inspectFirstPacket(PINGREQ), 'pass');
    assert.equal(inspectFirstPacket(Uint8Array.from([0x11, 0x00])), 'pass', 'CONNECT with reserved flags set');
    assert.equal(inspectFirstPacket(connectPacket({ protocolName: 'MQTX', level: 2 })), 'pass', 'wrong protocol name');
    assert.equal(inspectFirstPacket(connectPacket({ protocolName: 'AMQP-X', level: 2 })), 'pass');
    assert.equal(inspectFirstPacket(Uint8Array.from([0x10, 0xff, 0xff, 0xff, 0xff])), 'pass', 'malformed length');
  });

  it('answers with CONNACK, remaining length 2, no session, return code 1 (§3.2)', () => {
    assert.deepEqual([...CONNACK_UNACCEPTABLE_PROTOCOL_LEVEL], [0x20, 0x02, 0x00, 0x01]);
  });
});
