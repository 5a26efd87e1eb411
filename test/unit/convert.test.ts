import assert from 'node:assert/strict';
import { availabilityOf } from '../../src/convert/availability.js';
import { jsonTooDeep, MAX_JSON_DEPTH, parseJsonPayload } from '../../src/convert/payload.js';
import { hasDisallowedXmlChars, truncate, xmlSafeJson, xmlSafeText } from '../../src/convert/xml-safe.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const R = '\uFFFD';

describe('xmlSafeText', () => {
  // XML 1.0 §2.2: Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
  it('replaces every C0 control except tab, LF and CR', () => {
    for (let c = 0; c < 0x20; c++) {
      const ch = String.fromCharCode(c);
      const expected = c === 0x09 || c === 0x0a || c === 0x0d ? ch : R;
      assert.equal(xmlSafeText(`a${ch}b`), `a${expected}b`, `U+${c.toString(16).padStart(4, '0')}`);
    }
  });

  it('replaces U+FFFE and U+FFFF', () => {
    assert.equal(xmlSafeText('a\uFFFEb\uFFFFc'), `a${R}b${R}c`);
  });

  it('replaces lone surrogates, high and low, one U+FFFD each', () => {
    assert.equal(xmlSafeText('a\uD800b'), `a${R}b`);
    assert.equal(xmlSafeText('a\uDC00b'), `a${R}b`);
    assert.equal(xmlSafeText('\uDBFF'), R);
    assert.equal(xmlSafeText('\uDC00\uD800'), R + R); // reversed pair: two lone surrogates
  });

  it('keeps allowed characters at the edges of each range, and astral characters', () => {
    const allowed = '\t\n\r \uD7FF\uE000\uFFFD\u{10000}\u{1F321}\u{1F600}\u{10FFFF}é€';
    assert.equal(xmlSafeText(allowed), allowed);
    assert.equal(hasDisallowedXmlChars(allowed), false);
  });

  it('keeps U+007F–U+009F, which XML 1.0 allows', () => {
    assert.equal(xmlSafeText('\u007f\u0085\u009f'), '\u007f\u0085\u009f');
  });

  it('hasDisallowedXmlChars agrees', () => {
    assert.equal(hasDisallowedXmlChars('ring\u0007'), true);
    assert.equal(hasDisallowedXmlChars('\uFFFF'), true);
    assert.equal(hasDisallowedXmlChars('\uD83C'), true);
    assert.equal(hasDisallowedXmlChars('ok'), false);
  });
});

describe('truncate', () => {
  it('leaves a string of at most max units alone', () => {
    assert.equal(truncate('abcdef', 6), 'abcdef');
    assert.equal(truncate('', 6), '');
  });

  it('cuts to max units including the ellipsis', () => {
    assert.equal(truncate('abcdefg', 6), 'abcde…');
    assert.equal(truncate('abcdefg', 6).length, 6);
    assert.equal(truncate('abc', 1), '…');
  });

  it('never splits a surrogate pair', () => {
    // The cut would fall between the two halves of 😀 (indices 4 and 5): drop the whole pair.
    assert.equal(truncate('abcd\u{1F600}fg', 6), 'abcd…');
    // The pair ends exactly at the cut: keep it.
    assert.equal(truncate('abc\u{1F600}fg', 6), 'abc\u{1F600}…');
    for (let max = 1; max <= 12; max++) {
      const out = truncate('\u{1F600}'.repeat(6), max);
      assert.equal(hasDisallowedXmlChars(out), false, `max ${max}: ${JSON.stringify(out)}`);
      assert.ok(out.length <= max, `max ${max}`);
    }
  });

  it('returns at most max units for max = 0', () => {
    assert.ok(truncate('abcde', 0).length <= 0);
  });
});

describe('xmlSafeJson', () => {
  it('escapes U+FFFE and U+FFFF inside strings as JSON escapes, keeping the meaning', () => {
    const json = '{"a":"x\uFFFEy\uFFFF","b":[1,"\uFFFF"]}';
    const safe = xmlSafeJson(json);
    assert.equal(safe, '{"a":"x\\ufffey\\uffff","b":[1,"\\uffff"]}');
    assert.equal(hasDisallowedXmlChars(safe), false);
    assert.deepEqual(JSON.parse(safe), JSON.parse(json));
  });

  it('returns other JSON text unchanged, escapes included', () => {
    const json = '{"bel":"\\u0007","emoji":"\u{1F321}","n":12345678901234567890}';
    assert.equal(xmlSafeJson(json), json);
  });
});

describe('parseJsonPayload', () => {
  it('parses JSON and keeps the text', () => {
    assert.deepEqual(parseJsonPayload(utf8('{"temperature":21.5}')), { ok: true, value: { text: '{"temperature":21.5}', value: { temperature: 21.5 } } });
  });

  it('refuses an empty payload', () => {
    const r = parseJsonPayload(new Uint8Array(0));
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.code, 'PAYLOAD_NOT_JSON');
    assert.equal(!r.ok && r.error.message, 'payload is empty');
  });

  it('refuses invalid UTF-8 instead of repairing it (RFC 8259 §8.1)', () => {
    // 0xC3 starts a two-byte sequence; 0x28 "(" is not a continuation byte.
    const bytes = Uint8Array.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]); // {"a":"<C3>("}
    const r = parseJsonPayload(bytes);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.code, 'PAYLOAD_NOT_JSON');
    assert.equal(!r.ok && r.error.message, 'payload is not valid UTF-8');
  });

  it('strips a leading byte order mark (RFC 8259 §8.1)', () => {
    const r = parseJsonPayload(Uint8Array.from([0xef, 0xbb, 0xbf, ...utf8('{"a":1}')]));
    assert.deepEqual(r, { ok: true, value: { text: '{"a":1}', value: { a: 1 } } });
  });

  it('refuses text that is not JSON', () => {
    const r = parseJsonPayload(utf8('online'));
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.code, 'PAYLOAD_NOT_JSON');
    assert.match(!r.ok ? r.error.message : '', /^payload is not JSON: /);
  });

  it('keeps integers beyond 2^53 exactly in the text', () => {
    const text = '{"counter":12345678901234567890,"id":9007199254740993}';
    const r = parseJsonPayload(utf8(text));
    assert.ok(r.ok);
    assert.equal(r.value.text, text);
    // The parsed value is lossy; the text is not.
    const counter = (r.value.value as { counter: number }).counter;
    assert.equal(counter, Number('12345678901234567890'));
    assert.notEqual(String(counter), '12345678901234567890');
  });

  it('reads a view into a larger buffer correctly', () => {
    const backing = utf8('xx{"a":2}yy');
    const r = parseJsonPayload(backing.subarray(2, 9));
    assert.deepEqual(r, { ok: true, value: { text: '{"a":2}', value: { a: 2 } } });
  });
});

describe('jsonTooDeep', () => {
  const nest = (depth: number, open = '[', close = ']'): string => open.repeat(depth) + close.repeat(depth);

  it('accepts exactly the limit and refuses one level more, with either bracket and both mixed', () => {
    assert.equal(MAX_JSON_DEPTH, 64);
    assert.equal(jsonTooDeep(nest(64)), false);
    assert.equal(jsonTooDeep(nest(65)), true);
    assert.equal(jsonTooDeep('{"a":'.repeat(64) + '1' + '}'.repeat(64)), false);
    assert.equal(jsonTooDeep('{"a":'.repeat(65) + '1' + '}'.repeat(65)), true);
    assert.equal(jsonTooDeep('{"a":['.repeat(33) + '1' + ']}'.repeat(33)), true); // 66 levels
    assert.equal(jsonTooDeep('{"a":['.repeat(32) + '1' + ']}'.repeat(32)), false); // 64 levels
  });

  it('counts depth, not brackets: many shallow or quoted brackets are not deep', () => {
    // Over 64 opening brackets, so the character walk decides: siblings, and brackets inside strings.
    assert.equal(jsonTooDeep(`[${Array(200).fill('[1]').join(',')}]`), false);
    assert.equal(jsonTooDeep(`{"s":"${'[{'.repeat(100)}"}`), false);
    // Brackets in a string do not hide real depth after it.
    assert.equal(jsonTooDeep(`["${'{'.repeat(70)}",${nest(65)}]`), true);
  });
});

describe('availabilityOf', () => {
  const avail = (payload: string, online = 'online', offline = 'offline'): boolean | undefined => availabilityOf(utf8(payload), online, offline);

  it('reads plain words, case-insensitively and trimmed', () => {
    assert.equal(avail('online'), true);
    assert.equal(avail('offline'), false);
    assert.equal(avail('Online'), true); // Tasmota LWT
    assert.equal(avail(' OFFLINE\n'), false);
  });

  it('compares with the mapping words, case-insensitively', () => {
    assert.equal(avail('on', 'ON', 'OFF'), true);
    assert.equal(avail('OFF', 'on', 'off'), false);
    assert.equal(avail('online', 'ON', 'OFF'), undefined);
  });

  it('reads a JSON string', () => {
    assert.equal(avail('"Online"'), true);
    assert.equal(avail('"offline"'), false);
  });

  it('reads a JSON object with a "state" string (Zigbee2MQTT)', () => {
    assert.equal(avail('{"state":"online"}'), true);
    assert.equal(avail('{"state": "OFFLINE"}'), false);
    assert.equal(avail('{"state":1}'), undefined);
    assert.equal(avail('{"status":"online"}'), undefined);
  });

  it('gives undefined for anything unrecognized', () => {
    assert.equal(avail('maybe'), undefined);
    assert.equal(avail(''), undefined);
    assert.equal(avail('{"state":'), undefined);
    assert.equal(avail('"online'), undefined);
    assert.equal(avail('null'), undefined);
  });

  it('ignores payloads over 1024 bytes', () => {
    assert.equal(avail(`online${' '.repeat(1018)}`), true); // 1024 bytes
    assert.equal(avail(`online${' '.repeat(1019)}`), undefined); // 1025 bytes
  });
});
