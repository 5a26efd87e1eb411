import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkString, StringChecker, type StringKind } from '../../src/broker/mqtt-strings.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

/** The verdict for `b` fed whole, and fed in two parts split at every position (it must be the same). */
function check(b: Uint8Array, kind: StringKind): string {
  const whole = checkString(b, kind) ?? 'ok';
  const c = new StringChecker();
  for (let cut = 0; cut <= b.length; cut++) {
    c.reset(kind);
    const split = c.feed(b, 0, cut) ?? c.feed(b, cut, b.length) ?? c.finish() ?? 'ok';
    assert.equal(split, whole, `split at ${cut} of ${Buffer.from(b).toString('hex')}`);
  }
  return whole;
}

describe('MQTT strings (§1.5.3): well-formed UTF-8 [MQTT-1.5.3-1]', () => {
  it('accepts ASCII and well-formed multi-byte characters of every length', () => {
    for (const s of ['abc', 'ü', 'ß/€', '温度', '🌡️', '\u00a0', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\ufffd', '\u{10fffd}', '\ufeff']) {
      assert.equal(check(Buffer.from(s), 'text'), 'ok', s);
      assert.equal(check(Buffer.from(s), 'topic'), 'ok', s);
    }
  });

  it('refuses surrogates (ED A0 80 … ED BF BF)', () => {
    assert.equal(check(bytes(0xed, 0xa0, 0x80), 'text'), 'invalid-utf8');
    assert.equal(check(bytes(0xed, 0xbf, 0xbf), 'text'), 'invalid-utf8');
    assert.equal(check(bytes(0x61, 0xed, 0xb0, 0x80, 0x62), 'topic'), 'invalid-utf8');
  });

  it('refuses overlong forms (C0 80, C1 BF, E0 80 80, E0 9F BF, F0 80 80 80, F0 8F BF BF)', () => {
    for (const b of [[0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf], [0xf0, 0x80, 0x80, 0x80], [0xf0, 0x8f, 0xbf, 0xbf]]) {
      assert.equal(check(bytes(...b), 'text'), 'invalid-utf8', Buffer.from(b).toString('hex'));
    }
  });

  it('refuses code points above U+10FFFF, stray continuation bytes, F5–FF and sequences cut short', () => {
    for (const b of [[0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xff], [0xfe], [0x80], [0xbf], [0x61, 0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x8c], [0xc3, 0x41]]) {
      assert.equal(check(bytes(...b), 'text'), 'invalid-utf8', Buffer.from(b).toString('hex'));
    }
  });

  it('agrees with the WHATWG decoder in fatal mode on arbitrary bytes (property)', () => {
    const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    // U+0000 is refused on its own account (first): it is left out so that only well-formedness decides. Bytes are
    // drawn half the time from the edges of the RFC 3629 table, where the interesting cases are.
    const edges = [0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff];
    const byte = fc.oneof(fc.integer({ min: 1, max: 255 }), fc.constantFrom(...edges));
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 12 }).map((a) => Uint8Array.from(a)), (b) => {
        let wellFormed = true;
        try {
          decoder.decode(b);
        } catch {
          wellFormed = false;
        }
        return (finish(b) === 'invalid-utf8') === !wellFormed;
      }),
      { numRuns: 5000 },
    );
  });
});

function finish(b: Uint8Array): string | undefined {
  const c = new StringChecker().reset('text');
  return c.feed(b, 0, b.length) ?? c.finish();
}

describe('MQTT strings: U+0000 [MQTT-1.5.3-2], control characters and noncharacters', () => {
  it('refuses U+0000 in every kind of string', () => {
    for (const kind of ['text', 'id', 'topic', 'filter'] as const) assert.equal(check(bytes(0x61, 0x00), kind), 'null-character', kind);
  });

  it('refuses U+0001–U+001F, U+007F–U+009F in client ids, topics and filters; allows them in a user name', () => {
    for (const s of ['\u0001', '\t', '\n', '\u001f', '\u007f', '\u0080', '\u009f']) {
      for (const kind of ['id', 'topic', 'filter'] as const) assert.equal(check(Buffer.from(`a${s}b`), kind), 'control-character', `${kind} ${JSON.stringify(s)}`);
      assert.equal(check(Buffer.from(`a${s}b`), 'text'), 'ok');
    }
    assert.equal(check(Buffer.from('a\u00a0b'), 'topic'), 'ok', 'U+00A0 is not a control character');
  });

  it('refuses noncharacters (U+FDD0–U+FDEF, U+xFFFE, U+xFFFF) in client ids, topics and filters', () => {
    for (const s of ['\ufdd0', '\ufdef', '\ufffe', '\uffff', '\u{1fffe}', '\u{10ffff}']) {
      assert.equal(check(Buffer.from(s), 'topic'), 'noncharacter', JSON.stringify(s));
      assert.equal(check(Buffer.from(s), 'text'), 'ok');
    }
    assert.equal(check(Buffer.from('\ufdcf\ufdf0'), 'id'), 'ok');
  });
});

describe('MQTT strings: topic names and filters (§4.7)', () => {
  it('refuses empty topic names and filters [MQTT-4.7.3-1]; an empty client id or user name is fine', () => {
    assert.equal(check(bytes(), 'topic'), 'empty-topic');
    assert.equal(check(bytes(), 'filter'), 'empty-topic');
    assert.equal(check(bytes(), 'id'), 'ok');
    assert.equal(check(bytes(), 'text'), 'ok');
  });

  it('refuses wildcards in topic names [MQTT-3.3.2-2]; they are ordinary characters in a client id', () => {
    assert.equal(check(Buffer.from('a/+/b'), 'topic'), 'wildcard-in-topic');
    assert.equal(check(Buffer.from('a/#'), 'topic'), 'wildcard-in-topic');
    assert.equal(check(Buffer.from('a+#/'), 'id'), 'ok');
  });

  it('places wildcards in filters: # alone in the last level [MQTT-4.7.1-2], + alone in a level [MQTT-4.7.1-3]', () => {
    for (const f of ['#', '+', '/#', '+/#', 'a/+/b', '+/+/+', '/', '//', 'a//#', 'sport/tennis/#', '+/tennis/#', '/+']) {
      assert.equal(check(Buffer.from(f), 'filter'), 'ok', f);
    }
    for (const f of ['a#', '#a', '#/', '#/a', 'a/#/b', '+a', 'a+', 'a/b+', '++', '+#', 'sport/tennis#', 'ü#', '#ü']) {
      assert.equal(check(Buffer.from(f), 'filter'), 'misplaced-wildcard', f);
    }
  });
});
