import assert from 'node:assert/strict';
import { MqttFrameScanner, type FrameViolation } from '../../src/broker/frame-guard.js';
import { connectPacket, DISCONNECT, packet, PINGREQ, publishPacket, remainingLengthBytes as encodeLength } from '../support/mqtt-bytes.js';

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

// A minimal MQTT 3.1.1 CONNECT (protocol "MQTT", level 4, clean session, keep-alive 60, client id "dev1").
const CONNECT = connectPacket({ clientId: 'dev1' });
// PUBLISH QoS 0 to "a/b" with payload {"t":1}.
const PUBLISH = publishPacket('a/b', '{"t":1}', 0);

describe('MqttFrameScanner', () => {
  it('encodes the spec examples of the remaining length (test helper check, MQTT 3.1.1 Table 2.4)', () => {
    assert.deepEqual(encodeLength(0), [0x00]);
    assert.deepEqual(encodeLength(127), [0x7f]);
    assert.deepEqual(encodeLength(128), [0x80, 0x01]);
    assert.deepEqual(encodeLength(16383), [0xff, 0x7f]);
    assert.deepEqual(encodeLength(16384), [0x80, 0x80, 0x01]);
    assert.deepEqual(encodeLength(2097151), [0xff, 0xff, 0x7f]);
    assert.deepEqual(encodeLength(2097152), [0x80, 0x80, 0x80, 0x01]);
    assert.deepEqual(encodeLength(268435455), [0xff, 0xff, 0xff, 0x7f]);
  });

  it('accepts a stream of packets in one chunk', () => {
    const s = new MqttFrameScanner(1024);
    assert.equal(s.push(concat(CONNECT, PUBLISH, PINGREQ, PUBLISH, DISCONNECT)), undefined);
  });

  it('keeps its state across chunks split at every byte boundary', () => {
    const stream = concat(CONNECT, PUBLISH, PINGREQ, PUBLISH);
    for (let cut = 0; cut <= stream.length; cut++) {
      const s = new MqttFrameScanner(1024);
      assert.equal(s.push(stream.subarray(0, cut)), undefined, `cut at ${cut}`);
      assert.equal(s.push(stream.subarray(cut)), undefined, `cut at ${cut}`);
      // It is back at a packet boundary: the next fixed header is read as one.
      assert.deepEqual(s.push(Uint8Array.from([0x30, ...encodeLength(1025)])), { reason: 'packet-too-large', declared: 1025, packetType: 3 }, `cut at ${cut}`);
    }
  });

  it('keeps its state when fed one byte at a time', () => {
    const s = new MqttFrameScanner(1024);
    for (const byte of concat(CONNECT, PINGREQ, PUBLISH)) assert.equal(s.push(Uint8Array.of(byte)), undefined);
    const big = Uint8Array.from([0x82, ...encodeLength(5000)]);
    let violation: FrameViolation | undefined;
    for (const byte of big) violation ??= s.push(Uint8Array.of(byte));
    assert.deepEqual(violation, { reason: 'packet-too-large', declared: 5000, packetType: 8 });
  });

  it('handles zero-length packets (PINGREQ 0xC0 0x00) back to back', () => {
    const s = new MqttFrameScanner(0);
    assert.equal(s.push(concat(PINGREQ, PINGREQ, DISCONNECT)), undefined);
    // With a limit of 0, the first packet with a body is too large; the state after the empty packets is right.
    assert.deepEqual(s.push(concat(PINGREQ, PUBLISH)), { reason: 'packet-too-large', declared: PUBLISH.length - 2, packetType: 3 });
  });

  for (const length of [127, 128, 16383, 16384, 2097151, 2097152, 268435455]) {
    const bytes = encodeLength(length).length;
    it(`decodes a ${bytes}-byte remaining length of ${length}`, () => {
      const header = Uint8Array.from([0x30, ...encodeLength(length)]);
      // One under the declared length: refused, and the declared length is reported exactly.
      assert.deepEqual(new MqttFrameScanner(length - 1).push(header), { reason: 'packet-too-large', declared: length, packetType: 3 });
      // At the limit: accepted (the body has not arrived yet).
      assert.equal(new MqttFrameScanner(length).push(header), undefined);
    });
  }

  it('skips a body of exactly the declared length', () => {
    const s = new MqttFrameScanner(200);
    const body = new Array<number>(200).fill(0x41);
    assert.equal(s.push(packet(0x30, body)), undefined);
    assert.deepEqual(s.push(Uint8Array.from([0x90, ...encodeLength(201)])), { reason: 'packet-too-large', declared: 201, packetType: 9 });
  });

  it('reports a remaining length of more than 4 bytes as malformed (MQTT 3.1.1 §2.2.3)', () => {
    const s = new MqttFrameScanner(268435455);
    assert.deepEqual(s.push(Uint8Array.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])), { reason: 'malformed-length', packetType: 3 });
  });

  it('reports the malformed length as soon as the fourth byte asks for a fifth, across chunks', () => {
    const s = new MqttFrameScanner(268435455);
    assert.equal(s.push(Uint8Array.from([0x10, 0x80, 0x80, 0x80])), undefined); // three length bytes, more to come
    assert.deepEqual(s.push(Uint8Array.from([0x80])), { reason: 'malformed-length', packetType: 1 }); // the fourth wants a fifth
  });

  it('refuses a CONNECT declaring 150 MB with a 1 MB limit before the body arrives', () => {
    const s = new MqttFrameScanner(1024 * 1024);
    const declared = 150 * 1024 * 1024;
    // Only the fixed header has arrived; the scanner must not wait for the body.
    assert.deepEqual(s.push(Uint8Array.from([0x10, ...encodeLength(declared)])), { reason: 'packet-too-large', declared, packetType: 1 });
  });

  it('reports the violation of a later packet in the same chunk', () => {
    const s = new MqttFrameScanner(1024);
    const chunk = concat(CONNECT, PUBLISH, Uint8Array.from([0x30, ...encodeLength(2048), 0x00, 0x00]));
    assert.deepEqual(s.push(chunk), { reason: 'packet-too-large', declared: 2048, packetType: 3 });
  });
});
