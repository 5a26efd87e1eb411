import assert from 'node:assert/strict';
import { MAX_CONNECT_BYTES } from '../../src/broker/connect-packet.js';
import { describeReport, GuardCore, type GuardStep } from '../../src/broker/guard-core.js';
import { PacketScanner, type Violation } from '../../src/broker/packet-rules.js';
import { PreAuthBudget } from '../../src/broker/pre-auth-budget.js';
import {
  connectPacket,
  DISCONNECT,
  fixedHeader,
  packet,
  PINGREQ,
  publishPacket,
  remainingLengthBytes as encodeLength,
  subscribePacket,
} from '../support/mqtt-bytes.js';

function concat(...parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

// A minimal MQTT 3.1.1 CONNECT (protocol "MQTT", level 4, clean session, keep-alive 60, client id "dev1").
const CONNECT = connectPacket({ clientId: 'dev1' });
// PUBLISH QoS 0 to "a/b" with payload {"t":1}.
const PUBLISH = publishPacket('a/b', '{"t":1}', 0);
const SUBSCRIBE = subscribePacket(1, [['a/#', 1]]);
/** What aedes writes to accept a connection: CONNACK, no session, return code 0. */
const CONNACK_OK = Buffer.from([0x20, 0x02, 0x00, 0x00]);

describe('PacketScanner: fixed headers and sizes', () => {
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
    const s = new PacketScanner(1024);
    assert.equal(s.push(concat(SUBSCRIBE, PUBLISH, PINGREQ, PUBLISH, DISCONNECT)), undefined);
  });

  it('keeps its state across chunks split at every byte boundary', () => {
    const stream = concat(SUBSCRIBE, PUBLISH, PINGREQ, PUBLISH);
    for (let cut = 0; cut <= stream.length; cut++) {
      const s = new PacketScanner(1024);
      assert.equal(s.push(stream.subarray(0, cut)), undefined, `cut at ${cut}`);
      assert.equal(s.push(stream.subarray(cut)), undefined, `cut at ${cut}`);
      // It is back at a packet boundary: the next fixed header is read as one.
      const v = s.push(Uint8Array.from([0x30, ...encodeLength(1025)]));
      assert.deepEqual(v && [v.reason, v.declared, v.packetType], ['packet-too-large', 1025, 3], `cut at ${cut}`);
    }
  });

  it('keeps its state when fed one byte at a time', () => {
    const s = new PacketScanner(1024);
    for (const byte of concat(SUBSCRIBE, PINGREQ, PUBLISH)) assert.equal(s.push(Uint8Array.of(byte)), undefined);
    let violation: Violation | undefined;
    for (const byte of Uint8Array.from([0x82, ...encodeLength(5000)])) violation ??= s.push(Uint8Array.of(byte));
    assert.deepEqual(violation && [violation.reason, violation.declared, violation.packetType], ['packet-too-large', 5000, 8]);
  });

  it('handles zero-length packets (PINGREQ 0xC0 0x00) back to back', () => {
    const s = new PacketScanner(0);
    assert.equal(s.push(concat(PINGREQ, PINGREQ, PINGREQ)), undefined);
    // With a limit of 0, the first packet with a body is too large; the state after the empty packets is right.
    const v = s.push(concat(PINGREQ, PUBLISH));
    assert.deepEqual(v && [v.reason, v.declared], ['packet-too-large', PUBLISH.length - 2]);
    assert.equal(s.violationAt, PINGREQ.length, 'the PINGREQ before the offending packet may go on to aedes');
  });

  for (const length of [127, 128, 16383, 16384, 2097151, 2097152, 268435455]) {
    const bytes = encodeLength(length).length;
    it(`decodes a ${bytes}-byte remaining length of ${length}`, () => {
      const header = Uint8Array.from([0x30, ...encodeLength(length)]);
      // One under the declared length: refused, and the declared length is reported exactly.
      assert.equal(new PacketScanner(length - 1).push(header)?.declared, length);
      // At the limit: accepted (the body has not arrived yet).
      assert.equal(new PacketScanner(length).push(header), undefined);
    });
  }

  it('skips a PUBLISH payload of exactly the declared length', () => {
    const s = new PacketScanner(200);
    assert.equal(s.push(packet(0x30, [0x00, 0x01, 0x61], new Array<number>(197).fill(0x41))), undefined);
    assert.equal(s.push(Uint8Array.from([0x82, ...encodeLength(201)]))?.declared, 201);
  });

  it('reports a remaining length of more than 4 bytes as malformed, not as too large (MQTT 3.1.1 §2.2.3)', () => {
    const s = new PacketScanner(268435455);
    const v = s.push(Uint8Array.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]));
    assert.deepEqual(v && [v.reason, v.statement, v.packetType], ['malformed-length', '§2.2.3', 3]);
  });

  it('reports the malformed length as soon as the fourth byte asks for a fifth, across chunks', () => {
    const s = new PacketScanner(268435455);
    assert.equal(s.push(Uint8Array.from([0x30, 0x80, 0x80])), undefined); // two length bytes, more to come
    assert.equal(s.push(Uint8Array.from([0x80, 0x80]))?.reason, 'malformed-length'); // the fourth wants a fifth
  });

  it('reports the violation of a later packet in the same chunk, and where it starts', () => {
    const s = new PacketScanner(1024);
    const chunk = concat(PUBLISH, SUBSCRIBE, Uint8Array.from([0x30, ...encodeLength(2048), 0x00, 0x00]));
    assert.equal(s.push(chunk)?.declared, 2048);
    assert.equal(s.violationAt, PUBLISH.length + SUBSCRIBE.length);
  });
});

/** Runs chunks through a GuardCore; returns its steps. */
function run(core: GuardCore, ...chunks: Buffer[]): GuardStep[] {
  return chunks.map((c) => core.inbound(c));
}

describe('GuardCore: the CONNECT, the pre-authentication budget, CONNACK', () => {
  const limits = { maxRemainingLength: 1024 };

  it('hands a whole CONNECT to aedes and pauses until the CONNACK', () => {
    const budget = new PreAuthBudget(1 << 20);
    const core = new GuardCore(limits, budget);
    const [step] = run(core, CONNECT);
    assert.deepEqual(step, { forward: CONNECT, pause: true });
    assert.equal(budget.inUse, 0, 'a CONNECT in one chunk holds nothing');
    assert.deepEqual(core.outbound(CONNACK_OK), { resume: true });
    assert.deepEqual(core.inbound(PUBLISH), { forward: PUBLISH });
  });

  it('holds what follows the CONNECT until CONNACK 0, counted against the budget, then checks and hands it on', () => {
    const budget = new PreAuthBudget(1 << 20);
    const core = new GuardCore(limits, budget);
    const [step] = run(core, concat(CONNECT, SUBSCRIBE));
    assert.deepEqual(step?.forward, CONNECT);
    assert.equal(budget.inUse, SUBSCRIBE.length);
    // CONNACK written in pieces, as mqtt-packet writes it: the return code completes it.
    assert.deepEqual(core.outbound(CONNACK_OK.subarray(0, 2)), {});
    assert.deepEqual(core.outbound(CONNACK_OK.subarray(2)), { forward: SUBSCRIBE, resume: true });
    assert.equal(budget.inUse, 0);
  });

  it('a refused CONNECT (CONNACK ≠ 0) keeps everything held: aedes closes the connection', () => {
    const core = new GuardCore(limits, new PreAuthBudget(1 << 20));
    run(core, concat(CONNECT, PUBLISH));
    assert.deepEqual(core.outbound(Buffer.from([0x20, 0x02, 0x00, 0x05])), {});
  });

  it('assembles a CONNECT split at every byte boundary, and hands it on whole', () => {
    for (let cut = 1; cut < CONNECT.length; cut++) {
      const budget = new PreAuthBudget(1 << 20);
      const core = new GuardCore(limits, budget);
      assert.deepEqual(core.inbound(CONNECT.subarray(0, cut)), {}, `cut at ${cut}`);
      assert.ok(budget.inUse >= cut, `held bytes counted (cut at ${cut})`);
      const step = core.inbound(CONNECT.subarray(cut));
      assert.deepEqual(step.forward, CONNECT, `cut at ${cut}`);
      assert.equal(budget.inUse, 0, `released once handed on (cut at ${cut})`);
    }
  });

  it(`refuses a CONNECT declaring more than MAX_CONNECT_BYTES (${MAX_CONNECT_BYTES}) from its fixed header, whatever the packet limit`, () => {
    const core = new GuardCore({ maxRemainingLength: 100 * 1024 * 1024 }, new PreAuthBudget());
    const step = core.inbound(fixedHeader(0x10, MAX_CONNECT_BYTES + 1));
    assert.deepEqual(step.end?.report, {
      event: 'packet_too_large',
      reason: 'connect-too-large',
      statement: 'MAX_CONNECT_BYTES',
      packetType: 1,
      declared: MAX_CONNECT_BYTES + 1,
      limit: MAX_CONNECT_BYTES,
    });
    // At the cap: held, not refused.
    assert.deepEqual(new GuardCore({ maxRemainingLength: 1024 }, new PreAuthBudget()).inbound(fixedHeader(0x10, MAX_CONNECT_BYTES)), {});
  });

  it('refuses a CONNECT declaring 150 MB before the body arrives', () => {
    const step = new GuardCore({ maxRemainingLength: 1024 * 1024 }, new PreAuthBudget()).inbound(fixedHeader(0x10, 150 * 1024 * 1024));
    assert.equal(step.end?.report.declared, 150 * 1024 * 1024);
  });

  it('holds at most twice what arrived of an unfinished CONNECT (the buffer grows by doubling)', () => {
    const budget = new PreAuthBudget();
    const core = new GuardCore(limits, budget);
    const head = fixedHeader(0x10, 60_000);
    core.inbound(head);
    let arrived = head.length;
    for (let i = 0; i < 100; i++) {
      core.inbound(Buffer.alloc(100));
      arrived += 100;
      assert.ok(core.preAuthBytes <= Math.max(256, 2 * arrived), `${core.preAuthBytes} bytes held for ${arrived} received`);
    }
    assert.equal(budget.inUse, core.preAuthBytes);
    core.dispose();
    assert.equal(budget.inUse, 0, 'returned when the connection goes');
  });

  it('closes the connection whose bytes would take the total over the budget; the others keep their share', () => {
    const budget = new PreAuthBudget(10_000);
    const first = new GuardCore(limits, budget);
    const second = new GuardCore(limits, budget);
    assert.deepEqual(first.inbound(concat(fixedHeader(0x10, 9000), Buffer.alloc(4000))), {});
    const held = budget.inUse;
    const step = second.inbound(concat(fixedHeader(0x10, 9000), Buffer.alloc(4000)));
    assert.equal(step.end?.report.event, 'pre_auth_budget_exceeded');
    assert.equal(step.end?.report.reason, 'pre-auth-budget');
    assert.equal(step.end?.report.limit, 10_000);
    assert.equal(budget.inUse, held, 'the refused connection holds nothing; the first keeps its bytes');
    // The first one completes its CONNECT.
    const done = first.inbound(Buffer.alloc(9003 - 4003));
    assert.equal(done.end?.report.reason, 'protocol-name', 'zeros are no CONNECT, but it was read whole');
    assert.equal(budget.inUse, 0);
  });

  it('counts what arrives while waiting for the CONNACK, and closes beyond the budget', () => {
    const budget = new PreAuthBudget(1000);
    const core = new GuardCore(limits, budget);
    core.inbound(CONNECT);
    assert.deepEqual(core.inbound(Buffer.alloc(600)), {});
    assert.equal(budget.inUse, 600);
    assert.equal(core.inbound(Buffer.alloc(600)).end?.report.event, 'pre_auth_budget_exceeded');
    assert.equal(budget.inUse, 0);
  });

  it('answers an unacceptable protocol level with CONNACK 0x01 as soon as the level byte is in', () => {
    const bad = connectPacket({ level: 2 });
    const core = new GuardCore(limits, new PreAuthBudget());
    const step = core.inbound(bad.subarray(0, 9));
    assert.deepEqual(step.end?.connack, Buffer.from([0x20, 0x02, 0x00, 0x01]));
    assert.equal(step.end?.report.reason, 'unacceptable-protocol-level');
  });

  it('answers a client id with a control character with CONNACK 0x02 [MQTT-3.1.3-9]', () => {
    const step = new GuardCore(limits, new PreAuthBudget()).inbound(connectPacket({ clientId: 'dev\u0007' }));
    assert.deepEqual(step.end?.connack, Buffer.from([0x20, 0x02, 0x00, 0x02]));
    assert.equal(step.end?.report.event, 'connection_refused');
    assert.equal(step.end?.report.detail, 'control-character');
  });

  it('closes when the first packet is not a CONNECT [MQTT-3.1.0-1], or a CONNECT with flags [MQTT-2.2.2-2]', () => {
    assert.equal(new GuardCore(limits, new PreAuthBudget()).inbound(PINGREQ).end?.report.reason, 'first-packet-not-connect');
    assert.equal(new GuardCore(limits, new PreAuthBudget()).inbound(Buffer.from([0x11, 0x00])).end?.report.reason, 'reserved-flags');
  });

  it('hands on the packets before an offending one, then ends', () => {
    const core = new GuardCore(limits, new PreAuthBudget());
    core.inbound(CONNECT);
    core.outbound(CONNACK_OK);
    const bad = publishPacket(Buffer.from([0x74, 0x00]), 'x', 0);
    const step = core.inbound(concat(PUBLISH, bad, PUBLISH));
    assert.deepEqual(step.forward, PUBLISH);
    assert.equal(step.end?.report.reason, 'null-character');
    assert.equal(step.end?.report.event, 'protocol_violation');
    assert.deepEqual(core.inbound(PUBLISH), {}, 'nothing more once ended');
  });

  it('checks the bytes held during authentication once the CONNACK arrives', () => {
    const core = new GuardCore(limits, new PreAuthBudget());
    core.inbound(concat(CONNECT, PUBLISH, PINGREQ, Buffer.from([0xc0, 0x01, 0x00])));
    const step = core.outbound(CONNACK_OK);
    assert.equal(step.resume, true);
    assert.deepEqual(step.forward, concat(PUBLISH, PINGREQ));
    assert.equal(step.end?.report.reason, 'wrong-remaining-length');
  });
});

describe('describeReport: the log line names the real reason', () => {
  it('says "malformed length", not "over the size limit", for a malformed Remaining Length', () => {
    const step = new GuardCore({ maxRemainingLength: 1024 }, new PreAuthBudget()).inbound(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff]));
    assert.equal(describeReport(step.end!.report), 'protocol violation (malformed-length)');
    const big = new GuardCore({ maxRemainingLength: 1024 }, new PreAuthBudget()).inbound(fixedHeader(0x10, 1 << 20));
    assert.equal(describeReport(big.end!.report), 'CONNECT over the size limit');
  });
});
