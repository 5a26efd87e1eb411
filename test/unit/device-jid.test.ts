import assert from 'node:assert/strict';
import { bareJid, deviceJid, escapeLocal, formLocalpart, splitJid, unescapeLocal } from '../../src/devices/device-jid.js';
import { parseTemplate, type Template } from '../../src/mapping/template.js';

function jidTemplate(source: string): Template {
  const { template, errors } = parseTemplate(source, { rich: false });
  assert.deepEqual(errors, []);
  return template!;
}

describe('escapeLocal / unescapeLocal (XEP-0106)', () => {
  // XEP-0106 §3, Table 1.
  const TABLE: readonly [string, string][] = [
    [' ', '\\20'],
    ['"', '\\22'],
    ['&', '\\26'],
    ["'", '\\27'],
    ['/', '\\2f'],
    [':', '\\3a'],
    ['<', '\\3c'],
    ['>', '\\3e'],
    ['@', '\\40'],
  ];

  for (const [char, escaped] of TABLE) {
    it(`escapes ${JSON.stringify(char)} as ${escaped} and back`, () => {
      assert.equal(escapeLocal(`a${char}b`), `a${escaped}b`);
      assert.equal(unescapeLocal(`a${escaped}b`), `a${char}b`);
    });
  }

  it('escapes a backslash as \\5c only where it would start an escape sequence (XEP-0106 §4.2)', () => {
    assert.equal(escapeLocal('a\\20b'), 'a\\5c20b');
    assert.equal(escapeLocal('a\\5cb'), 'a\\5c5cb');
    assert.equal(escapeLocal('a\\2Fb'), 'a\\5c2Fb'); // escape codes are recognised in either case
    assert.equal(escapeLocal('a\\b'), 'a\\b');
    assert.equal(escapeLocal('a\\2'), 'a\\2');
    assert.equal(escapeLocal('end\\'), 'end\\');
  });

  it('escapes all ten characters in one string', () => {
    assert.equal(escapeLocal(' "&\'/:<>@\\5c'), '\\20\\22\\26\\27\\2f\\3a\\3c\\3e\\40\\5c5c');
  });

  it('leaves other characters alone', () => {
    assert.equal(escapeLocal('café-1_x.y+z'), 'café-1_x.y+z');
  });

  it('unescapes only the ten escape codes, in either case', () => {
    assert.equal(unescapeLocal('\\2F\\2f\\41\\5c\\zz'), '//\\41\\\\zz');
  });

  it('round-trips unescapeLocal(escapeLocal(s)) === s', () => {
    for (const s of ['a b', 'a\\20b', '\\\\20', 'x\\', '\\5c', 'c:\\temp\\3a', 'a@b/c', 'plain', '\\2f/\\']) {
      assert.equal(unescapeLocal(escapeLocal(s)), s, JSON.stringify(s));
    }
  });
});

describe('formLocalpart', () => {
  const siteDevice = jidTemplate('{site}-{device}');

  it('renders the template with segment values', () => {
    assert.deepEqual(formLocalpart(siteDevice, { site: 'home', device: 'kitchen' }), { ok: true, localpart: 'home-kitchen' });
  });

  it('case-folds segment values (RFC 7622 §3.3)', () => {
    assert.deepEqual(formLocalpart(siteDevice, { site: 'Home', device: 'Kitchen' }), { ok: true, localpart: 'home-kitchen' });
  });

  it('NFC-normalizes segment values (RFC 8264 §10)', () => {
    const decomposed = 'cafe\u0301'; // e + COMBINING ACUTE ACCENT
    const r = formLocalpart(siteDevice, { site: decomposed, device: 'x' });
    assert.deepEqual(r, { ok: true, localpart: 'caf\u00e9-x' });
  });

  it('escapes segment values per XEP-0106', () => {
    assert.deepEqual(formLocalpart(siteDevice, { site: 'a b@c', device: 'door/front' }), { ok: true, localpart: 'a\\20b\\40c-door\\2ffront' });
  });

  it('refuses an empty segment', () => {
    assert.deepEqual(formLocalpart(siteDevice, { site: '', device: 'x' }), { ok: false, reason: 'segment {site} is empty' });
  });

  it('refuses a missing segment', () => {
    assert.deepEqual(formLocalpart(siteDevice, { site: 'a' }), { ok: false, reason: 'no value for segment {device}' });
  });

  it('refuses control, unassigned and private-use characters', () => {
    for (const bad of ['a\u0007', 'a\u007f', 'a\u0378', 'a\ue000', 'a\u2028', 'a\u00a0']) {
      assert.deepEqual(
        formLocalpart(siteDevice, { site: 'x', device: bad }),
        { ok: false, reason: 'segment {device} contains a character not allowed in a JID' },
        JSON.stringify(bad),
      );
    }
  });

  it('refuses a local part that begins or ends with a space (XEP-0106 §4.3)', () => {
    const reason = 'the local part would begin or end with a space';
    assert.deepEqual(formLocalpart(siteDevice, { site: ' home', device: 'x' }), { ok: false, reason });
    assert.deepEqual(formLocalpart(siteDevice, { site: 'home', device: 'x ' }), { ok: false, reason });
    // A space inside the local part is fine.
    assert.deepEqual(formLocalpart(siteDevice, { site: 'home ', device: ' x' }), { ok: true, localpart: 'home\\20-\\20x' });
  });

  it('refuses a local part longer than 1023 bytes (RFC 7622 §3.3.1)', () => {
    // "a-" plus 1021 characters is exactly 1023 bytes.
    assert.deepEqual(formLocalpart(siteDevice, { site: 'a', device: 'x'.repeat(1021) }), { ok: true, localpart: `a-${'x'.repeat(1021)}` });
    assert.deepEqual(formLocalpart(siteDevice, { site: 'a', device: 'x'.repeat(1022) }), { ok: false, reason: 'the local part is longer than 1023 bytes' });
    // Counted in UTF-8 bytes of the escaped form: 511 "é" are 1022 bytes, plus "a-" = 1024.
    assert.deepEqual(formLocalpart(siteDevice, { site: 'a', device: 'é'.repeat(511) }), { ok: false, reason: 'the local part is longer than 1023 bytes' });
  });

  it('gives Kitchen and kitchen the same local part (the registry reports the collision)', () => {
    const a = formLocalpart(siteDevice, { site: 'home', device: 'Kitchen' });
    const b = formLocalpart(siteDevice, { site: 'home', device: 'kitchen' });
    assert.deepEqual(a, b);
  });

  it('escapes a trailing backslash that the template literal turns into an escape sequence', () => {
    const t = jidTemplate('{a}20{b}');
    const r = formLocalpart(t, { a: 'x\\', b: 'y' });
    assert.deepEqual(r, { ok: true, localpart: 'x\\5c20y' });
    assert.equal(unescapeLocal('x\\5c20y'), 'x\\20y');
  });
});

describe('deviceJid / splitJid / bareJid', () => {
  it('joins a local part and a domain', () => {
    assert.equal(deviceJid('home-kitchen', 'iot.example.org'), 'home-kitchen@iot.example.org');
  });

  it('splits a full JID, lower-casing local part and domain but not the resource', () => {
    assert.deepEqual(splitJid('Alice@Example.ORG/Phone'), { local: 'alice', domain: 'example.org', resource: 'Phone' });
  });

  it('splits at the first "/": a resource may contain "@" and "/"', () => {
    assert.deepEqual(splitJid('alice@example.org/a@b/c'), { local: 'alice', domain: 'example.org', resource: 'a@b/c' });
    assert.deepEqual(splitJid('example.org/x@y'), { local: '', domain: 'example.org', resource: 'x@y' });
  });

  it('splits a domain-only JID', () => {
    assert.deepEqual(splitJid('Example.org'), { local: '', domain: 'example.org', resource: '' });
  });

  it('gives the lower-cased bare JID (RFC 7622 §3.2, §3.3)', () => {
    assert.equal(bareJid('Alice@Example.ORG/Phone'), 'alice@example.org');
    assert.equal(bareJid('alice@example.org'), 'alice@example.org');
    assert.equal(bareJid('IoT.Example.org/res'), 'iot.example.org');
  });
});
