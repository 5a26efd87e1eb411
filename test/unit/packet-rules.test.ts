import assert from 'node:assert/strict';
import { InFlight, MAX_TRACKED_IN_FLIGHT, OutboundScanner, Sent } from '../../src/broker/in-flight.js';
import { PacketScanner } from '../../src/broker/packet-rules.js';
import {
  ackPacket,
  packet,
  PINGREQ,
  PUBACK,
  PUBCOMP,
  publishPacket,
  PUBREC,
  PUBREL,
  str,
  subscribePacket,
  u16,
  unsubscribePacket,
} from '../support/mqtt-bytes.js';

/**
 * The verdict on `bytes` (reason, or 'ok'), and checks that it is the same however the bytes are split in two:
 * the rules must hold across TCP chunk boundaries.
 */
function verdict(bytes: Buffer, inFlight?: () => InFlight): string {
  const whole = new PacketScanner(1 << 20, inFlight?.()).push(bytes)?.reason ?? 'ok';
  for (let cut = 1; cut < bytes.length; cut++) {
    const s = new PacketScanner(1 << 20, inFlight?.());
    const split = s.push(bytes.subarray(0, cut))?.reason ?? s.push(bytes.subarray(cut))?.reason ?? 'ok';
    assert.equal(split, whole, `split at ${cut} of ${bytes.toString('hex')}`);
  }
  return whole;
}

const SURROGATE = Buffer.from([0x74, 0x2f, 0xed, 0xbf, 0xbf]); // "t/" + U+DFFF encoded (ill-formed)
const OVERLONG = Buffer.from([0x74, 0x2f, 0xc0, 0xaf]); // "t/" + an overlong "/"

describe('PacketScanner: PUBLISH', () => {
  it('passes well-formed publishes of every QoS, with non-ASCII topics and any payload', () => {
    assert.equal(verdict(publishPacket('a/b', '{"t":1}', 0)), 'ok');
    assert.equal(verdict(publishPacket('küche/温度/🌡', Buffer.from([0, 0xff, 0xed, 0xbf, 0xbf]), 1, 7)), 'ok');
    assert.equal(verdict(publishPacket('a', '', 2, 65535, { dup: true, retain: true })), 'ok');
  });

  it('refuses ill-formed UTF-8 and U+0000 in the topic [MQTT-1.5.3-1] [MQTT-1.5.3-2] [MQTT-4.7.3-2]', () => {
    assert.equal(verdict(publishPacket(SURROGATE, 'x', 1, 1)), 'invalid-utf8');
    assert.equal(verdict(publishPacket(OVERLONG, 'x', 0)), 'invalid-utf8');
    assert.equal(verdict(publishPacket(Buffer.from('top\0\0'), 'x', 0)), 'null-character');
  });

  it('refuses control characters and noncharacters in the topic (§1.5.3 allows closing)', () => {
    assert.equal(verdict(publishPacket('t/\u0001', 'x', 0)), 'control-character');
    assert.equal(verdict(publishPacket('t/\u007f', 'x', 0)), 'control-character');
    assert.equal(verdict(publishPacket('t/\u0085', 'x', 0)), 'control-character');
    assert.equal(verdict(publishPacket('t/\uffff', 'x', 0)), 'noncharacter');
  });

  it('refuses an empty topic [MQTT-4.7.3-1] and wildcards in it [MQTT-3.3.2-2]', () => {
    assert.equal(verdict(publishPacket('', 'x', 0)), 'empty-topic');
    assert.equal(verdict(publishPacket('a/+', 'x', 0)), 'wildcard-in-topic');
    assert.equal(verdict(publishPacket('a/#', 'x', 1)), 'wildcard-in-topic');
  });

  it('refuses packet identifier 0 at QoS 1 and 2 [MQTT-2.3.1-1]', () => {
    assert.equal(verdict(publishPacket('a', 'x', 1, 0)), 'packet-id-zero');
    assert.equal(verdict(publishPacket('a', 'x', 2, 0)), 'packet-id-zero');
  });

  it('refuses DUP=1 at QoS 0 [MQTT-3.3.1-2] and QoS 3 [MQTT-3.3.1-4], from the first byte', () => {
    assert.equal(new PacketScanner(10).push(Uint8Array.of(0x38))?.reason, 'dup-on-qos-0');
    assert.equal(new PacketScanner(10).push(Uint8Array.of(0x36))?.reason, 'publish-qos-3');
  });

  it('refuses a topic longer than the packet, and a QoS 1 packet too short for its identifier', () => {
    assert.equal(verdict(packet(0x30, u16(10), Buffer.from('abc'))), 'malformed-packet');
    assert.equal(verdict(packet(0x32, str('abc'), [0x01])), 'malformed-packet');
    assert.equal(verdict(packet(0x32, [0x00, 0x00])), 'malformed-packet');
  });
});

describe('PacketScanner: SUBSCRIBE and UNSUBSCRIBE', () => {
  it('passes well-formed filters with wildcards in their places', () => {
    assert.equal(verdict(subscribePacket(1, [['#', 0], ['+', 1], ['a/+/b', 2], ['+/+', 0], ['a/#', 1], ['/', 0], ['/+/', 0], ['ü/#', 0]])), 'ok');
    assert.equal(verdict(unsubscribePacket(1, ['a/#', '+/x', 'b'])), 'ok');
  });

  it('refuses misplaced wildcards [MQTT-4.7.1-2] [MQTT-4.7.1-3]', () => {
    for (const filter of ['a#', 'a/#/b', '#/', '+a', 'a+', 'a/+b', '++', 'a/b+/c', 'ü+']) {
      assert.equal(verdict(subscribePacket(1, [[filter, 0]])), 'misplaced-wildcard', filter);
      assert.equal(verdict(unsubscribePacket(1, [filter])), 'misplaced-wildcard', filter);
    }
  });

  it('refuses ill-formed UTF-8, U+0000, control characters and empty filters', () => {
    assert.equal(verdict(subscribePacket(1, [['ok', 0], [SURROGATE, 0]])), 'invalid-utf8');
    assert.equal(verdict(unsubscribePacket(1, [OVERLONG])), 'invalid-utf8');
    assert.equal(verdict(subscribePacket(1, [['a\0', 0]])), 'null-character');
    assert.equal(verdict(unsubscribePacket(1, ['a\u001f'])), 'control-character');
    assert.equal(verdict(subscribePacket(1, [['', 0]])), 'empty-topic');
  });

  it('refuses a packet without any topic filter [MQTT-3.8.3-3] [MQTT-3.10.3-2]', () => {
    assert.equal(verdict(packet(0x82, u16(1))), 'no-topic-filter');
    assert.equal(verdict(packet(0xa2, u16(1))), 'no-topic-filter');
  });

  it('refuses packet identifier 0 [MQTT-2.3.1-1]', () => {
    assert.equal(verdict(subscribePacket(0, [['a', 0]])), 'packet-id-zero');
    assert.equal(verdict(unsubscribePacket(0, ['a'])), 'packet-id-zero');
  });

  it('refuses a requested QoS of 3 or reserved option bits [MQTT-3.8.3-4]', () => {
    assert.equal(verdict(subscribePacket(1, [['a', 3]])), 'subscribe-options');
    assert.equal(verdict(subscribePacket(1, [['a', 0x04]])), 'subscribe-options');
  });

  it('refuses a filter that overruns the packet, or a missing QoS byte', () => {
    assert.equal(verdict(packet(0x82, u16(1), u16(5), Buffer.from('ab'))), 'malformed-packet');
    assert.equal(verdict(packet(0x82, u16(1), str('ab'))), 'malformed-packet');
    assert.equal(verdict(packet(0xa2, u16(1), str('ab'), [0x00])), 'malformed-packet');
  });
});

describe('PacketScanner: fixed headers [MQTT-2.2.2-1] [MQTT-2.2.2-2] and fixed lengths [MQTT-4.8.0-1]', () => {
  it('refuses flags other than Table 2.2 lists', () => {
    for (const first of [0x41, 0x52, 0x60, 0x63, 0x71, 0x80, 0x83, 0xa0, 0xc1, 0xe8]) {
      assert.equal(new PacketScanner(10).push(Uint8Array.of(first, 0x00))?.reason, 'reserved-flags', first.toString(16));
    }
  });

  it('refuses acknowledgements whose Remaining Length is not 2, and PINGREQ/DISCONNECT whose length is not 0', () => {
    for (const first of [PUBACK, PUBREC, PUBREL, PUBCOMP]) {
      assert.equal(verdict(packet(first, [0x00])), 'wrong-remaining-length');
      assert.equal(verdict(packet(first, [0x00, 0x01, 0x00])), 'wrong-remaining-length');
      assert.equal(verdict(packet(first)), 'wrong-remaining-length');
      assert.equal(verdict(ackPacket(first, 1)), 'ok');
    }
    assert.equal(verdict(packet(0xc0, [0x00])), 'wrong-remaining-length');
    assert.equal(verdict(packet(0xe0, [0x00])), 'wrong-remaining-length');
    assert.equal(verdict(PINGREQ), 'ok');
  });

  it('refuses a second CONNECT [MQTT-3.1.0-2], packets only a server sends, and the reserved types', () => {
    assert.equal(new PacketScanner(10).push(Uint8Array.of(0x10))?.reason, 'second-connect');
    for (const first of [0x20, 0x90, 0xb0, 0xd0]) assert.equal(new PacketScanner(10).push(Uint8Array.of(first))?.reason, 'server-packet-type');
    for (const first of [0x00, 0xf0]) assert.equal(new PacketScanner(10).push(Uint8Array.of(first))?.reason, 'reserved-packet-type');
  });
});

describe('acknowledgements against what the server has in flight [MQTT-4.3.2-2] [MQTT-4.3.3-2]', () => {
  /** The server sent these (as aedes writes them, piece by piece); returns the tracker. */
  function sent(...writes: Buffer[]): () => InFlight {
    return () => {
      const inFlight = new InFlight();
      const out = new OutboundScanner(inFlight);
      for (const w of writes) for (const byte of w) out.push(Uint8Array.of(byte));
      return inFlight;
    };
  }
  const qos1 = sent(publishPacket('t/x', 'hello', 1, 5));
  const qos2 = sent(publishPacket('t/x', 'hello', 2, 5));
  const released = sent(publishPacket('t/x', 'hello', 2, 5), ackPacket(PUBREL, 5));

  it('reads the identifiers of QoS 1/2 PUBLISH and PUBREL from the outbound stream', () => {
    assert.equal(qos1().get(5), Sent.Qos1);
    assert.equal(qos2().get(5), Sent.Qos2);
    assert.equal(released().get(5), Sent.Released);
    assert.equal(sent(publishPacket('t/x', 'hello', 0))().size, 0);
  });

  it('accepts the right acknowledgement', () => {
    assert.equal(verdict(ackPacket(PUBACK, 5), qos1), 'ok');
    assert.equal(verdict(ackPacket(PUBREC, 5), qos2), 'ok');
    assert.equal(verdict(ackPacket(PUBCOMP, 5), released), 'ok');
    assert.equal(verdict(ackPacket(PUBREC, 5), released), 'ok', 'a repeated PUBREC is answered with PUBREL again');
    assert.equal(verdict(ackPacket(PUBACK, 6), qos1), 'ok', 'an unknown identifier is left to aedes');
  });

  it('refuses PUBREC or PUBCOMP for a QoS 1 message, PUBACK or an early PUBCOMP for a QoS 2 one', () => {
    assert.equal(verdict(ackPacket(PUBREC, 5), qos1), 'wrong-acknowledgement');
    assert.equal(verdict(ackPacket(PUBCOMP, 5), qos1), 'wrong-acknowledgement');
    assert.equal(verdict(ackPacket(PUBACK, 5), qos2), 'wrong-acknowledgement');
    assert.equal(verdict(ackPacket(PUBCOMP, 5), qos2), 'wrong-acknowledgement');
    assert.equal(verdict(ackPacket(PUBACK, 5), released), 'wrong-acknowledgement');
  });

  it('forgets an identifier once acknowledged', () => {
    const inFlight = qos1();
    const s = new PacketScanner(100, inFlight);
    assert.equal(s.push(ackPacket(PUBACK, 5)), undefined);
    assert.equal(inFlight.size, 0);
  });

  it(`tracks at most ${MAX_TRACKED_IN_FLIGHT} identifiers per connection, forgetting the oldest`, () => {
    const inFlight = new InFlight();
    for (let id = 1; id <= MAX_TRACKED_IN_FLIGHT + 10; id++) inFlight.sent(id, Sent.Qos1);
    assert.equal(inFlight.size, MAX_TRACKED_IN_FLIGHT);
    assert.equal(inFlight.get(10), undefined);
    assert.equal(inFlight.get(11), Sent.Qos1);
  });

  it('reports the first CONNACK and its return code, however it is split', () => {
    const out = new OutboundScanner(new InFlight());
    assert.equal(out.push(Uint8Array.of(0x20)), false);
    assert.equal(out.push(Uint8Array.of(0x02, 0x01)), false);
    assert.equal(out.push(Uint8Array.of(0x00, 0x90, 0x03, 0x00, 0x01, 0x00)), true);
    assert.equal(out.connackCode, 0);
  });
});
