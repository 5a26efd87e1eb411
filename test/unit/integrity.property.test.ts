/**
 * Property tests of the "Integrity" requirement: any payload a device sends — arbitrary Unicode with control
 * characters and lone surrogates, huge strings, deeply nested JSON, invalid UTF-8 — yields either a well-formed,
 * size-capped stanza or a counted rejection with a stable error code; never an exception, never a broken XMPP stream.
 *
 * "Well-formed" is checked strictly here, independently of the serializer:
 *   1. no character outside the XML 1.0 Char production anywhere in the serialized text (§2.2);
 *   2. a small strict scanner (`xmlProblem`): balanced tags, quoted and unique attributes, only the five predefined
 *      entities or character references to allowed characters, no `]]>` in text, exactly one root element;
 *   3. it parses back with @xmpp/xml's Parser (what the XMPP server side of the library uses) and re-serializes to the
 *      identical text;
 *   4. the `<json xmlns='urn:xmpp:json:0'>` text, after XML line-end normalization (§2.11: a conformant receiver turns
 *      CR LF and lone CR into LF), JSON.parses to the device's value.
 */
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { InboundPublish } from '../../src/broker/mqtt-side.js';
import { parseCommandText, type ChatCommand } from '../../src/convert/command-text.js';
import { formPayload, schemaForm } from '../../src/convert/form.js';
import { NS_DATA } from '../../src/xmpp/namespaces.js';
import { parseJsonPayload } from '../../src/convert/payload.js';
import { readingStanza, stanzaBytes, type ConvertLimits, type ReadingInput } from '../../src/convert/reading.js';
import { NS_DELAY, NS_JSON } from '../../src/xmpp/namespaces.js';
import { xmlSafeJson } from '../../src/convert/xml-safe.js';
import { DeviceRegistry } from '../../src/devices/registry.js';
import { ERROR_CATALOGUE, type LoadProblem } from '../../src/errors.js';
import { loadMappings } from '../../src/mapping/load.js';
import type { CommandSpec, Mapping, MessageType } from '../../src/mapping/mapping.js';
import { parseTemplate, type Template } from '../../src/mapping/template.js';
import { ConfirmationTracker } from '../../src/features/commands/confirmations.js';
import { ChatDelivery } from '../../src/features/uplink/chat-delivery.js';
import { Recipients } from '../../src/features/uplink/recipients.js';
import { UserPresence } from '../../src/kernel/user-presence.js';
import { Uplink, type UplinkOutcome } from '../../src/features/uplink/uplink.js';
import { EventBus } from '../../src/kernel/events.js';
import { MappingSet } from '../../src/kernel/mapping-set.js';
import { createLogger } from '../../src/log.js';
import { SchemaRegistry } from '../../src/schemas/registry.js';
import { openDatabase, type Db } from '../../src/store/db.js';
import { SqliteDeviceStore } from '../../src/store/devices.js';
import { SqliteSubscriptions } from '../../src/store/subscriptions.js';
import { packageRoot } from '../../src/version.js';

// ---------------------------------------------------------------------------------------------------------------
// Strict XML 1.0 well-formedness

const XML_DISALLOWED = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const XML_NAME = '[A-Za-z_:][A-Za-z0-9_.:-]*';
const WS = '[ \\t\\r\\n]';
const START_TAG = new RegExp(`<(${XML_NAME})((?:${WS}+${XML_NAME}${WS}*=${WS}*(?:"[^<"]*"|'[^<']*'))*)${WS}*(/?)>`, 'y');
const END_TAG = new RegExp(`</(${XML_NAME})${WS}*>`, 'y');
const ATTRIBUTE = new RegExp(`(${XML_NAME})${WS}*=${WS}*(?:"([^<"]*)"|'([^<']*)')`, 'g');
const REFERENCE = /&(?:amp|lt|gt|quot|apos|#([0-9]+)|#x([0-9A-Fa-f]+));/y;

function isXmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/** Problems with `&` in character data or an attribute value; undefined when every reference is well-formed. */
function referenceProblem(s: string, where: string): string | undefined {
  for (let i = s.indexOf('&'); i >= 0; i = s.indexOf('&', i + 1)) {
    REFERENCE.lastIndex = i;
    const m = REFERENCE.exec(s);
    if (!m) return `${where}: bare "&" at ${i}: ${JSON.stringify(s.slice(i, i + 12))}`;
    const cp = m[1] !== undefined ? Number(m[1]) : m[2] !== undefined ? parseInt(m[2], 16) : undefined;
    if (cp !== undefined && !isXmlChar(cp)) return `${where}: character reference to a disallowed character ${m[0]}`;
  }
  return undefined;
}

/** Why `s` is not one well-formed XML 1.0 element (names restricted to ASCII, which is all a stanza uses); or undefined. */
function xmlProblem(s: string): string | undefined {
  const bad = XML_DISALLOWED.exec(s);
  if (bad) return `character U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} (not an XML 1.0 Char) at index ${bad.index}`;
  const stack: string[] = [];
  let roots = 0;
  let pos = 0;
  while (pos < s.length) {
    if (s[pos] === '<') {
      if (s.startsWith('</', pos)) {
        END_TAG.lastIndex = pos;
        const m = END_TAG.exec(s);
        if (!m) return `malformed end tag at ${pos}`;
        const open = stack.pop();
        if (open !== m[1]) return `end tag </${m[1]}> at ${pos} closes <${open ?? '(nothing)'}>`;
        pos = END_TAG.lastIndex;
        continue;
      }
      START_TAG.lastIndex = pos;
      const m = START_TAG.exec(s);
      if (!m) return `malformed start tag at ${pos}: ${JSON.stringify(s.slice(pos, pos + 40))}`;
      if (stack.length === 0 && ++roots > 1) return 'more than one root element';
      const seen = new Set<string>();
      for (const a of (m[2] ?? '').matchAll(ATTRIBUTE)) {
        if (seen.has(a[1]!)) return `duplicate attribute ${a[1]} at ${pos}`;
        seen.add(a[1]!);
        const p = referenceProblem(a[2] ?? a[3] ?? '', `attribute ${a[1]}`);
        if (p) return p;
      }
      if (m[3] !== '/') stack.push(m[1]!);
      pos = START_TAG.lastIndex;
      continue;
    }
    const next = s.indexOf('<', pos);
    const text = s.slice(pos, next < 0 ? s.length : next);
    if (stack.length === 0) return `character data outside the root element at ${pos}`;
    if (text.includes(']]>')) return `"]]>" in character data at ${pos}`;
    const p = referenceProblem(text, `text at ${pos}`);
    if (p) return p;
    pos = next < 0 ? s.length : next;
  }
  if (stack.length > 0) return `unclosed <${stack.join('>, <')}>`;
  if (roots !== 1) return 'no root element';
  return undefined;
}

/** Parse serialized XML back with @xmpp/xml (inside a fake stream root, as the library's stream parser sees it). */
function parseBack(text: string): Element {
  const parser = new xml.Parser();
  const found: Element[] = [];
  const errors: Error[] = [];
  parser.on('element', (el) => found.push(el));
  parser.on('error', (err) => errors.push(err));
  parser.write(`<stream>${text}`);
  assert.deepEqual(
    errors.map((e) => e.message),
    [],
  );
  assert.equal(found.length, 1, `expected one element parsed back from ${text.slice(0, 200)}`);
  return found[0]!;
}

/** XML 1.0 §2.11 end-of-line handling, as every conformant receiver applies it to character data. */
function xmlLineEnds(s: string): string {
  return s.replace(/\r\n?/g, '\n');
}

/**
 * Deep equality of two JSON.parse results without recursion (assert.deepEqual itself overflows the stack on the
 * 10,000-level payloads below). Key order is ignored, as JSON object semantics say.
 */
function jsonEqual(a: unknown, b: unknown): boolean {
  const work: [unknown, unknown][] = [[a, b]];
  while (work.length > 0) {
    const [x, y] = work.pop()!;
    if (x === null || y === null || typeof x !== 'object' || typeof y !== 'object') {
      if (!Object.is(x, y)) return false;
      continue;
    }
    if (Array.isArray(x) !== Array.isArray(y)) return false;
    const kx = Object.keys(x);
    const ky = Object.keys(y);
    if (kx.length !== ky.length) return false;
    for (const k of kx) {
      if (!Object.prototype.hasOwnProperty.call(y, k)) return false;
      work.push([(x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k]]);
    }
  }
  return true;
}

/** Every check of a stanza that is about to go on the wire; returns the parsed-back element. */
function assertWellFormed(text: string): Element {
  const problem = xmlProblem(text);
  assert.equal(problem, undefined, `not well-formed XML: ${problem}\n${text.slice(0, 300)}`);
  const el = parseBack(text);
  assert.equal(el.toString(), text, 'parsed back, the stanza does not re-serialize to the same text');
  return el;
}

// ---------------------------------------------------------------------------------------------------------------
// Generators

/** Single characters that are hostile to XML, JSON or JIDs (plus a few ordinary ones). */
const NASTY_CHARS = [
  '\u0000', '\u0001', '\u0008', '\u000b', '\u000c', '\u001b', '\u001f', '\u007f', '\u0085', '\u00a0', '\u2028', '\u2029',
  '\ufeff', '\ufffe', '\uffff', '\ufffd', '\ud800', '\udbff', '\udc00', '\udfff', '\u{10ffff}', '\u{1fffe}', '\u{1f600}',
  '<', '>', '&', '"', "'", '\\', '/', '{', '}', '|', '@', ':', ' ', '\t', '\r', '\n', ']]>', '&amp;', '&#0;', '€', 'é', 'e\u0301', 'ß', 'İ', 'Σ', 'a', 'Z', '0',
];

/** One "unit" of a string: a hostile character, a lone surrogate, a C0 control, or any code point. */
const nastyUnit: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_CHARS), weight: 4 },
  { arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c)), weight: 3 },
);

const nastyString = (maxLength = 24): fc.Arbitrary<string> => fc.string({ unit: nastyUnit, maxLength });

/** A long run of one character (cheap to generate, exercises caps and truncation). */
const longRun = (min: number, max: number): fc.Arbitrary<string> =>
  fc.tuple(fc.constantFrom('x', '€', '\u{1f600}', '\ufffe', '\ud800', '\u0007', '<', '&', '"', 'e\u0301'), fc.integer({ min, max })).map(([c, n]) => c.repeat(n));

const FIELD_NAMES = ['a', 'b', 'temperature', 'humidity', 'state', '_x', 'd-1', 'site', 'device'];
const fieldName = fc.constantFrom(...FIELD_NAMES);
const objectKey = fc.oneof({ arbitrary: fieldName, weight: 3 }, { arbitrary: nastyString(8), weight: 1 });

const leaf: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: nastyString(), weight: 4 },
  { arbitrary: longRun(1, 3000), weight: 1 },
  { arbitrary: fc.double(), weight: 2 },
  { arbitrary: fc.integer(), weight: 1 },
  { arbitrary: fc.boolean(), weight: 1 },
  { arbitrary: fc.constant(null), weight: 1 },
);

/** Arbitrary JSON-ish values, nested through fc.letrec. */
const tree = fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown> }>((tie) => ({
  value: fc.oneof({ maxDepth: 12, depthSize: 'medium', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(objectKey, tie('value'), { maxKeys: 5 }),
})).value;

/** A single chain of nested arrays/objects, up to 300 levels, around a leaf. */
const chain: fc.Arbitrary<unknown> = fc
  .tuple(fc.array(fc.oneof(fc.constant('['), fieldName), { minLength: 1, maxLength: 300 }), leaf)
  .map(([levels, inner]) => levels.reduceRight<unknown>((v, l) => (l === '[' ? [v] : { [l]: v }), inner));

const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: tree, weight: 4 },
  { arbitrary: fc.jsonValue({ maxDepth: 30, stringUnit: nastyUnit }), weight: 2 },
  { arbitrary: fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' }), weight: 1 },
  { arbitrary: chain, weight: 1 },
  { arbitrary: fc.dictionary(fieldName, tree, { maxKeys: 6 }), weight: 3 },
);

/** JSON text for a value, the way a device might send it (JSON.stringify keeps U+FFFE/U+FFFF raw inside strings). */
const jsonText = (value: fc.Arbitrary<unknown>): fc.Arbitrary<string> =>
  fc.tuple(value, fc.constantFrom<string | number | undefined>(undefined, undefined, 2, '\t', '\r\n', ' \r')).map(([v, space]) => {
    // `space` strings are JSON whitespace, so the text stays valid JSON; CR exercises XML line-end normalization.
    const s = JSON.stringify(v, null, space);
    return s === undefined ? 'null' : s;
  });

/** WTF-8: UTF-8 that also encodes lone surrogates (ED A0 80 …), which strict UTF-8 must refuse. */
function wtf8(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.codePointAt(i)!;
    if (c > 0xffff) i++;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const BOM = '\ufeff';

/** Byte payloads: random bytes, encoded random strings, valid JSON, JSON with lone surrogates, corrupted JSON. */
const payloadBytes = (json: fc.Arbitrary<string>): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 4096 }), weight: 2 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 300 }).map(utf8), weight: 1 },
    // Lone surrogates: Buffer encodes them as U+FFFD (EF BF BD), WTF-8 as ED Ax xx.
    { arbitrary: nastyString(60).map(utf8), weight: 1 },
    { arbitrary: nastyString(60).map(wtf8), weight: 1 },
    { arbitrary: fc.tuple(fc.boolean(), json).map(([bom, t]) => utf8(bom ? BOM + t : t)), weight: 5 },
    { arbitrary: json.map(wtf8), weight: 2 },
    {
      // Valid JSON bytes with one byte replaced, or cut short (possibly inside a multi-byte sequence).
      arbitrary: fc.tuple(json, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()).map(([t, at, byte, cut]) => {
        const b = utf8(t);
        if (b.length === 0) return b;
        if (cut) return b.subarray(0, at % b.length);
        const c = b.slice();
        c[at % c.length] = byte;
        return c;
      }),
      weight: 2,
    },
  );

/** What parseJsonPayload must decide, computed independently. */
function payloadOracle(bytes: Uint8Array): { text: string; value: unknown } | undefined {
  if (bytes.length === 0 || !isUtf8(bytes)) return undefined;
  let text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  if (text.startsWith(BOM)) text = text.slice(1);
  try {
    return { text, value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

/** A body template source that parses, mixing literal text (braces doubled), fields, dotted paths and filters. */
const templateSource: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      nastyString(8).map((t) => t.replace(/\{/g, '{{').replace(/\}/g, '}}')),
      fc
        .tuple(
          fieldName,
          fc.constantFrom('', '.0', '.a', '.0.b', '.state'),
          fc.oneof(
            fc.constant(''),
            fc.integer({ min: 0, max: 9 }).map((d) => `|.${d}`),
            fc.tuple(nastyString(5), nastyString(5)).map(([y, n]) => `|${y.replace(/[{}/]/g, '')}/${n.replace(/[{}]/g, '')}`),
          ),
        )
        .map(([name, path, filter]) => `{${name}${path}${filter}}`),
    ),
    { maxLength: 6 },
  )
  .map((parts) => parts.join(''));

function bodyTemplate(source: string): Template {
  const { template, errors } = parseTemplate(source, { rich: true });
  assert.deepEqual(errors, [], `generator produced an invalid template ${JSON.stringify(source)}`);
  return template!;
}

const segmentsArb = fc.dictionary(fc.constantFrom('site', 'device', 'a', 'b', 'temperature'), fc.oneof(nastyString(20), longRun(0, 200)), { maxKeys: 4 });

const limitsArb: fc.Arbitrary<ConvertLimits> = fc.record({
  maxBodyChars: fc.integer({ min: 16, max: 5000 }),
  maxStanzaBytes: fc.oneof(fc.integer({ min: 4096, max: 8192 }), fc.integer({ min: 4096, max: 600_000 })),
});

const delayArb = fc.option(fc.date({ min: new Date(0), max: new Date(Date.UTC(2200, 0, 1)), noInvalidDate: true }), { nil: undefined });

// ---------------------------------------------------------------------------------------------------------------
// Checking a built reading stanza

/** Everything a reading stanza that passed the size check must satisfy. */
function assertGoodReading(stanza: Element, bytes: number, json: string, limits: ConvertLimits, delayedSince: Date | undefined): void {
  const text = stanza.toString();
  assert.equal(bytes, Buffer.byteLength(text, 'utf8'), 'reported size is not the UTF-8 size of the stanza');
  assert.ok(bytes <= limits.maxStanzaBytes, `stanza of ${bytes} bytes accepted with a limit of ${limits.maxStanzaBytes}`);
  const parsed = assertWellFormed(text);
  const jsonEl = parsed.getChild('json', NS_JSON);
  assert.ok(jsonEl, 'no <json xmlns="urn:xmpp:json:0"> element');
  assert.ok(jsonEqual(JSON.parse(xmlLineEnds(jsonEl.getText())), JSON.parse(json)), 'the <json> element does not carry the device value');
  const body = parsed.getChildText('body');
  assert.ok(body !== null, 'no <body>');
  assert.ok(body.length <= limits.maxBodyChars, `body of ${body.length} units exceeds maxBodyChars ${limits.maxBodyChars}`);
  if (delayedSince) assert.equal(parsed.getChild('delay', NS_DELAY)?.attrs['stamp'], delayedSince.toISOString());
  else assert.equal(parsed.getChild('delay', NS_DELAY), undefined);
}

/** Run `f`, turning an exception into an assertion failure that names the stage (fast-check reports it). */
function noThrow<T>(stage: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    const e = err as Error;
    throw new assert.AssertionError({ message: `${stage} threw ${e.name}: ${e.message}` });
  }
}

const CATALOGUE_CODES = new Set(Object.keys(ERROR_CATALOGUE));

/** INTEGRITY_RUNS_FACTOR=10 multiplies every numRuns (a longer hunt, e.g. nightly); the default keeps the file fast. */
const FACTOR = Math.max(1, Number(process.env['INTEGRITY_RUNS_FACTOR'] ?? 1) || 1);
const runs = (n: number): { numRuns: number } => ({ numRuns: Math.ceil(n * FACTOR) });
const ROOT = packageRoot();

// ---------------------------------------------------------------------------------------------------------------

describe('Integrity (property-based)', function () {
  this.timeout(60_000);

  it('the strict XML check itself: accepts well-formed samples, rejects malformed ones', () => {
    for (const good of ['<a/>', '<a x="1" y=\'&lt;&amp;&#x10FFFF;\'>t&gt;&#9;\r\n\u{10000}\ufffd</a>', '<a><b xmlns="u"/><c>]]</c></a>']) {
      assert.equal(xmlProblem(good), undefined, good);
    }
    for (const bad of [
      '<a>\u0007</a>', '<a>\u0000</a>', '<a>\ud800</a>', '<a>\udfff\ud800</a>', '<a>\ufffe</a>', '<a x="\uffff"/>', '<a>&bogus;</a>', '<a>&amp</a>', '<a>&#0;</a>',
      '<a>&#xFFFE;</a>', '<a x="1" x="2"/>', '<a x=1/>', '<a x="<"/>', '<a><b></a></b>', '<a>', '<a>]]></a>', '<a/><b/>', 'text<a/>', '<a/>text', '<1a/>', '',
    ]) {
      assert.notEqual(xmlProblem(bad), undefined, JSON.stringify(bad));
    }
  });

  describe('parseJsonPayload: bytes → JSON', () => {
    it('never throws; ok exactly for strict UTF-8 JSON (BOM stripped), otherwise PAYLOAD_NOT_JSON; ok text is XML-safe after xmlSafeJson', () => {
      fc.assert(
        fc.property(payloadBytes(jsonText(anyValue)), (bytes) => {
          const r = noThrow('parseJsonPayload', () => parseJsonPayload(bytes));
          const expected = payloadOracle(bytes);
          if (!r.ok) {
            assert.equal(r.error.code, 'PAYLOAD_NOT_JSON');
            assert.equal(expected, undefined, `refused a valid payload: ${r.error.message}`);
            return;
          }
          assert.ok(expected, 'accepted a payload that is not strict UTF-8 JSON');
          assert.equal(r.value.text, expected.text);
          assert.ok(jsonEqual(r.value.value, expected.value));
          // Accepted text is exactly what reaches the <json> element: it must become XML-safe without changing meaning.
          const safe = xmlSafeJson(r.value.text);
          assert.ok(!XML_DISALLOWED.test(safe), `xmlSafeJson left a disallowed character in ${JSON.stringify(safe).slice(0, 200)}`);
          assert.ok(jsonEqual(JSON.parse(safe), expected.value), 'xmlSafeJson changed the value');
        }),
        runs(4000),
      );
    });

    it('refuses lone surrogates and non-shortest forms, accepts U+FFFE/U+FFFF inside strings', () => {
      fc.assert(
        fc.property(fc.integer({ min: 0xd800, max: 0xdfff }), fc.nat(), (s, pos) => {
          const base = '{"k":"abcdef"}';
          const at = 6 + (pos % 6);
          const text = `${base.slice(0, at)}${String.fromCharCode(s)}${base.slice(at)}`;
          const r = parseJsonPayload(wtf8(text));
          assert.ok(!r.ok && r.error.code === 'PAYLOAD_NOT_JSON');
        }),
        runs(200),
      );
      for (const bytes of [
        [0x22, 0xc0, 0x80, 0x22], // overlong NUL
        [0x22, 0xe0, 0x80, 0xaf, 0x22], // overlong '/'
        [0x22, 0xf4, 0x90, 0x80, 0x80, 0x22], // above U+10FFFF
        [0x22, 0xff, 0x22],
      ]) {
        const r = parseJsonPayload(Uint8Array.from(bytes));
        assert.ok(!r.ok && r.error.code === 'PAYLOAD_NOT_JSON', JSON.stringify(bytes));
      }
      const ok = parseJsonPayload(utf8('{"k":"\ufffe\uffff"}'));
      assert.ok(ok.ok);
      assert.deepEqual(ok.value.value, { k: '\ufffe\uffff' });
    });
  });

  describe('readingStanza: JSON value → <message>', () => {
    const base = { from: 'home-kitchen@iot.example.org', type: 'chat' as MessageType };

    it('never throws; ok ⇒ well-formed XML ≤ maxStanzaBytes carrying the same value; otherwise STANZA_TOO_LARGE only when too large', () => {
      const tally = { ok: 0, tooLarge: 0, template: 0 };
      fc.assert(
        fc.property(
          jsonText(anyValue),
          fc.option(templateSource, { nil: undefined }),
          segmentsArb,
          limitsArb,
          delayArb,
          fc.constantFrom('', 'r1a2b3', 'a"b&c<d'),
          fc.constantFrom<MessageType>('chat', 'headline', 'normal'),
          (json, source, segments, limits, delayedSince, id, type) => {
            const input: ReadingInput = {
              ...base,
              type,
              id,
              json,
              value: JSON.parse(json) as unknown,
              segments,
              ...(source !== undefined ? { body: bodyTemplate(source) } : {}),
              ...(delayedSince ? { delayedSince, delayFrom: 'iot.example.org' } : {}),
            };
            const r = noThrow('readingStanza', () => readingStanza(input, 'alice@example.org', limits));
            if (input.body) tally.template++;
            if (r.ok) {
              tally.ok++;
              assertGoodReading(r.value.stanza, stanzaBytes(r.value.stanza), json, limits, delayedSince);
              return;
            }
            tally.tooLarge++;
            assert.equal(r.error.code, 'STANZA_TOO_LARGE', `unexpected code ${r.error.code}: ${r.error.message}`);
            const unlimited = readingStanza(input, 'alice@example.org', { ...limits, maxStanzaBytes: Number.MAX_SAFE_INTEGER });
            assert.ok(unlimited.ok);
            assert.ok(stanzaBytes(unlimited.value.stanza) > limits.maxStanzaBytes, `STANZA_TOO_LARGE for a ${stanzaBytes(unlimited.value.stanza)}-byte stanza, limit ${limits.maxStanzaBytes}`);
          },
        ),
        runs(2500),
      );
      console.log(`      outcomes: ok ${tally.ok}, STANZA_TOO_LARGE ${tally.tooLarge}; with a body template ${tally.template}`);
      assert.ok(tally.ok > 100 && tally.tooLarge > 10 && tally.template > 100, 'both outcomes and both body kinds must be exercised');
    });

    it('keeps the value identical when strings hold raw U+FFFE/U+FFFF (escaped as \\ufffe/\\uffff)', () => {
      const special = fc.string({ unit: fc.constantFrom('\ufffe', '\uffff', '\\', '"', 'a', '\ufffd', '\u{10ffff}'), maxLength: 20 });
      fc.assert(
        fc.property(fc.dictionary(special, special, { maxKeys: 4 }), fc.boolean(), (obj, pretty) => {
          const json = JSON.stringify(obj, null, pretty ? 2 : undefined);
          const r = readingStanza({ ...base, id: 'x', json, value: obj, segments: {} }, 'alice@example.org', { maxBodyChars: 2000, maxStanzaBytes: 500_000 });
          assert.ok(r.ok);
          assertGoodReading(r.value.stanza, stanzaBytes(r.value.stanza), json, { maxBodyChars: 2000, maxStanzaBytes: 500_000 }, undefined);
          assert.ok(jsonEqual(JSON.parse(parseBack(r.value.stanza.toString()).getChildText('json', NS_JSON)!), JSON.parse(json)));
          assert.equal(JSON.stringify(JSON.parse(parseBack(r.value.stanza.toString()).getChildText('json', NS_JSON)!)), JSON.stringify(obj));
        }),
        runs(300),
      );
    });
  });

  describe('huge strings', () => {
    const limits: ConvertLimits = { maxBodyChars: 2000, maxStanzaBytes: 500_000 }; // the defaults
    const huge = longRun(1_000_000, 2_000_000);

    it('a 1–2 MB string field is STANZA_TOO_LARGE under the default limit, without an exception', () => {
      fc.assert(
        fc.property(huge, fc.boolean(), (s, withTemplate) => {
          const value = { temperature: 21.5, note: s };
          const json = JSON.stringify(value);
          const r = noThrow('readingStanza', () =>
            readingStanza({ from: 'a@iot.example.org', id: '', type: 'chat', json, value, segments: {}, ...(withTemplate ? { body: bodyTemplate('{note}') } : {}) }, 'alice@example.org', limits),
          );
          assert.ok(!r.ok);
          assert.equal(r.error.code, 'STANZA_TOO_LARGE');
        }),
        runs(6),
      );
    });

    it('a body template referring to a 1 MB field is cut to maxBodyChars', () => {
      fc.assert(
        fc.property(longRun(1_000_000, 1_100_000), fc.integer({ min: 16, max: 5000 }), (s, maxBodyChars) => {
          const value = { note: s };
          const json = JSON.stringify(value);
          const big: ConvertLimits = { maxBodyChars, maxStanzaBytes: 10_000_000 };
          const r = noThrow('readingStanza', () => readingStanza({ from: 'a@iot.example.org', id: '', type: 'chat', json, value, segments: {}, body: bodyTemplate('{note}') }, 'alice@example.org', big));
          assert.ok(r.ok, r.ok ? '' : r.error.message);
          const body = r.value.stanza.getChildText('body')!;
          assert.ok(body.length <= maxBodyChars && body.length >= maxBodyChars - 2, `body of ${body.length} units for maxBodyChars ${maxBodyChars}`);
          assert.ok(body.endsWith('…'));
          assert.ok(!XML_DISALLOWED.test(body));
        }),
        runs(6),
      );
    });
  });

  describe('the whole uplink (shipped mappings and schemas)', () => {
    let dir: string;
    let db: Db;
    let mappings: Mapping[];
    let extra: Mapping[];
    let uplink: Uplink;
    let devices: DeviceRegistry;
    let set: MappingSet;
    let subscriptions: SqliteSubscriptions;
    /** The reading stanzas of the chat delivery mode, as the bridge builds them (nothing is sent). */
    const chat = (limits: ConvertLimits): ChatDelivery => new ChatDelivery({ domain: DOMAIN, send: () => true }, new Recipients(subscriptions, new UserPresence()), limits);
    const DOMAIN = 'iot.example.org';

    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'bridge-integrity-'));
      // Two operator-written mappings besides the shipped ones: a payload schema that accepts any object and has no
      // body template (the default "key: value" body), and a recursive schema (a tree of arrays).
      const extraDir = join(dir, 'extra');
      mkdirSync(extraDir);
      writeFileSync(join(extraDir, 'any.schema.json'), JSON.stringify({ $id: 'urn:test:any-object', type: 'object' }));
      writeFileSync(
        join(extraDir, 'tree.schema.json'),
        JSON.stringify({ $id: 'urn:test:tree', type: 'object', properties: { tree: { $ref: '#/$defs/node' } }, $defs: { node: { type: 'array', items: { $ref: '#/$defs/node' } } } }),
      );
      writeFileSync(
        join(extraDir, 'extra.yaml'),
        JSON.stringify({
          mappings: [
            { id: 'raw', topic: 'raw/{device}', jid: 'raw-{device}', schema: 'urn:test:any-object' },
            { id: 'tree', topic: 'tree/{device}', jid: 'tree-{device}', schema: 'urn:test:tree', body: '{device}' },
          ],
        }),
      );
      const schemas = new SchemaRegistry();
      const problems: LoadProblem[] = [];
      schemas.loadAll([join(ROOT, 'schemas'), extraDir], problems);
      const ctx = { registry: schemas, jidVariables: { serverDomain: 'example.org' } };
      mappings = loadMappings([join(ROOT, 'mappings')], ctx, problems);
      extra = loadMappings([join(extraDir, 'extra.yaml')], ctx, problems);
      assert.deepEqual(problems, []);
      assert.deepEqual(mappings.map((m) => m.id).sort(), ['climate', 'door', 'plug']);
      db = openDatabase(join(dir, 'data'));
      subscriptions = new SqliteSubscriptions(db);
      const bus = new EventBus(createLogger({ level: 'silent' }));
      devices = new DeviceRegistry(DOMAIN, new SqliteDeviceStore(db), 1_000_000, bus);
      set = new MappingSet(devices, bus);
      assert.ok(set.apply([...mappings, ...extra]).ok);
      uplink = new Uplink(set, devices);
    });

    after(() => {
      db?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    function publish(topic: string, payload: Uint8Array, qos: 0 | 1 | 2 = 1): InboundPublish {
      return { topic, payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), qos, retain: false, clientId: 'c1', replay: false };
    }

    /** The checks of one outcome; returns the code or kind, for the tally. */
    function check(u: Uplink, msg: InboundPublish, limits: ConvertLimits, delayedSince: Date | undefined, subscribe: boolean): string {
      const outcome: UplinkOutcome = noThrow('Uplink.process', () => u.process(msg));
      if (outcome.kind === 'unmapped') return 'unmapped';
      if (outcome.kind === 'rejected') {
        const code = outcome.rejection.error.code;
        assert.ok(CATALOGUE_CODES.has(code), `rejection code ${code} is not in ERROR_CATALOGUE`);
        assert.equal(outcome.rejection.topic, msg.topic);
        return code;
      }
      assert.equal(outcome.kind, 'reading');
      const { reading } = outcome;
      const expected = payloadOracle(msg.payload);
      assert.ok(expected, 'a reading from a payload that is not strict UTF-8 JSON');
      assert.equal(reading.json, expected.text);
      const device = reading.device;
      assert.ok(!XML_DISALLOWED.test(device.jid), `device JID ${JSON.stringify(device.jid)} holds a character XML forbids`);
      if (subscribe) subscriptions.add(device.jid, 'alice@example.org');
      const built = noThrow('ChatDelivery.build', () => chat(limits).build(device, reading.json, reading.value, delayedSince));
      if (!built.ok) {
        assert.equal(built.error.code, 'STANZA_TOO_LARGE', `build failed with ${built.error.code}: ${built.error.message}`);
        return 'STANZA_TOO_LARGE';
      }
      const stanza = built.value.stanza;
      assert.equal(stanza.attrs['from'], device.jid);
      assertGoodReading(stanza, Buffer.byteLength(stanza.toString(), 'utf8'), reading.json, limits, delayedSince);
      return 'reading';
    }

    const segment = fc
      .oneof(
        { arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,11}$/), weight: 6 },
        { arbitrary: nastyString(16), weight: 3 },
        { arbitrary: fc.constant(''), weight: 1 },
        { arbitrary: longRun(300, 1500), weight: 1 },
        { arbitrary: fc.constantFrom('home', 'kitchen', 'Kitchen', 'KITCHEN', 'ünïcödé', 'a b', ' lead', 'trail ', 'x@y', 'a\\20b', '\\5c', '$SYS', 'İ', 'ß', '\ufffe', 'e\u0301'), weight: 3 },
      )
      .map((s) => s.replace(/[/+#]/g, '_'));

    const topic = fc.oneof(
      { arbitrary: fc.tuple(segment, segment).map(([s, d]) => `sensors/${s}/${d}/telemetry`), weight: 6 },
      { arbitrary: segment.map((d) => `zigbee2mqtt/door/${d}`), weight: 2 },
      { arbitrary: segment.map((d) => `plugs/${d}/state`), weight: 2 },
      { arbitrary: nastyString(40), weight: 1 },
      { arbitrary: fc.tuple(segment, segment, segment).map(([a, b, c]) => `sensors/${a}/${b}/telemetry/${c}`), weight: 1 },
    );

    /** Payloads shaped like the shipped schemas (so many become readings), with extra hostile fields. */
    const number = fc.oneof(fc.double({ min: -60, max: 100, noNaN: true }), fc.integer({ min: -100, max: 300 }), fc.double());
    const extras = fc.dictionary(objectKey, anyValue, { maxKeys: 3 });
    const valid = fc.oneof(
      fc.record({ temperature: fc.double({ min: -60, max: 100, noNaN: true }), humidity: fc.double({ min: 0, max: 100, noNaN: true }) }, { requiredKeys: ['temperature'] }),
      fc.record({ contact: fc.boolean(), battery: fc.integer({ min: 0, max: 100 }) }, { requiredKeys: ['contact'] }),
      fc.record({ state: fc.constantFrom('ON', 'OFF'), power: fc.double({ min: 0, max: 5000, noNaN: true }) }, { requiredKeys: ['state'] }),
    );
    const almost = fc.record(
      { temperature: number, humidity: number, battery: fc.integer({ min: -1, max: 101 }), contact: fc.oneof(fc.boolean(), leaf), state: fc.constantFrom('ON', 'OFF', 'on', null), power: number },
      { requiredKeys: [] },
    );
    const shaped = fc.tuple(fc.oneof({ arbitrary: valid, weight: 3 }, { arbitrary: almost, weight: 1 }), extras).map(([known, more]) => ({ ...more, ...known }));

    const payload = payloadBytes(fc.oneof({ arbitrary: jsonText(shaped), weight: 4 }, { arbitrary: jsonText(anyValue), weight: 1 }));

    /** A topic of one shipped mapping with a payload meant for that mapping (valid, or nearly), hostile extras included. */
    const plain = fc.oneof({ arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,11}$/), weight: 4 }, { arbitrary: segment, weight: 1 });
    const withExtras = <T extends object>(known: fc.Arbitrary<T>): fc.Arbitrary<Uint8Array> =>
      fc.tuple(jsonText(fc.tuple(known, extras).map(([k, more]) => ({ ...more, ...k }))), fc.boolean()).map(([t, bom]) => utf8(bom ? BOM + t : t));
    const matched: fc.Arbitrary<[string, Uint8Array]> = fc.oneof(
      fc.tuple(fc.tuple(plain, plain).map(([a, b]) => `sensors/${a}/${b}/telemetry`), withExtras(fc.record({ temperature: number, humidity: number }, { requiredKeys: ['temperature'] }))),
      fc.tuple(plain.map((d) => `zigbee2mqtt/door/${d}`), withExtras(fc.record({ contact: fc.boolean(), battery: fc.integer({ min: -1, max: 101 }) }, { requiredKeys: ['contact'] }))),
      fc.tuple(plain.map((d) => `plugs/${d}/state`), withExtras(fc.record({ state: fc.constantFrom('ON', 'OFF'), power: number }, { requiredKeys: ['state'] }))),
    );
    const message: fc.Arbitrary<[string, Uint8Array]> = fc.oneof({ arbitrary: fc.tuple(topic, payload), weight: 3 }, { arbitrary: matched, weight: 2 });

    it('any topic under the shipped mappings × any payload bytes: never throws; unmapped, a reading that builds to well-formed XML (or STANZA_TOO_LARGE), or a catalogued rejection', () => {
      const tally = new Map<string, number>();
      fc.assert(
        fc.property(message, limitsArb, delayArb, fc.boolean(), fc.constantFrom<0 | 1 | 2>(0, 1, 2), ([t, p], limits, delayedSince, subscribe, qos) => {
          const k = check(uplink, publish(t, p, qos), limits, delayedSince, subscribe);
          tally.set(k, (tally.get(k) ?? 0) + 1);
        }),
        runs(3000),
      );
      console.log(`      outcomes: ${[...tally].map(([k, n]) => `${k} ${n}`).join(', ')}`);
      assert.ok((tally.get('reading') ?? 0) > 300, 'the generators produce too few readings to be meaningful');
    });

    it('an accepted stanza stays within maxStanzaBytes as it is sent (Delivery.write sets the id and re-addresses it to each recipient)', () => {
      fc.assert(
        fc.property(
          fc.tuple(fieldName, fc.stringMatching(/^[a-z0-9]{1,8}$/)).map(([s, d]) => `sensors/${s}/${d}/telemetry`),
          jsonText(fc.tuple(fc.double({ min: -60, max: 100, noNaN: true }), fc.dictionary(objectKey, anyValue, { maxKeys: 3 })).map(([temperature, extras]) => ({ ...extras, temperature }))),
          fc.array(fc.stringMatching(/^[a-z]{1,40}@[a-z]{1,20}\.example$/), { minLength: 1, maxLength: 3 }),
          (t, json, subscribers) => {
            const outcome = uplink.process(publish(t, utf8(json)));
            fc.pre(outcome.kind === 'reading');
            const device = outcome.reading.device;
            for (const s of [...subscriptions.of(device.jid)]) subscriptions.delete(device.jid, s); // each run starts clean
            for (const s of subscribers) subscriptions.add(device.jid, s);
            const probe = chat({ maxBodyChars: 2000, maxStanzaBytes: Number.MAX_SAFE_INTEGER }).build(device, json, outcome.reading.value);
            assert.ok(probe.ok);
            // The build measures the longest recipient with a 40-character id in place; a limit of exactly that size
            // must be accepted, and no copy actually sent may exceed it.
            const limit = Buffer.byteLength(probe.value.stanza.toString(), 'utf8');
            const built = chat({ maxBodyChars: 2000, maxStanzaBytes: limit }).build(device, json, outcome.reading.value);
            assert.ok(built.ok, 'a stanza within the limit, id included, must be accepted');
            // What Delivery.write does with it: stanza.attrs.id = `${instance}-${rowId.toString(36)}`, then one send per recipient.
            const { stanza, recipients } = built.value;
            stanza.attrs['id'] = `0a1b2c3d-${(123456).toString(36)}`;
            for (const to of recipients) {
              stanza.attrs['to'] = to;
              const sent = Buffer.byteLength(stanza.toString(), 'utf8');
              assert.ok(sent <= limit, `the stanza sent to ${to} is ${sent} bytes; maxStanzaBytes is ${limit} (measured for ${recipients[0]})`);
            }
          },
        ),
        runs(100),
      );
    });

    it('operator mapping without a body template and a permissive schema: Uplink + ChatDelivery never throw', () => {
      const u = new Uplink(set, devices);
      fc.assert(
        fc.property(segment, payloadBytes(jsonText(anyValue)), limitsArb, (d, p, limits) => {
          check(u, publish(`raw/${d}`, p), limits, undefined, false);
        }),
        runs(300),
      );
    });

    it('watched topics: ConfirmationTracker.message on the plug state topic, with a `set` awaiting confirmation, never throws (random and 10,000/200,000-deep payloads)', () => {
      const plug = mappings.find((m) => m.id === 'plug')!;
      const set = plug.commands.find((c) => c.name === 'set')!;
      assert.ok(set.confirm);
      const device = devices.resolve(plug, { device: 'kettle' });
      assert.ok(device.ok);
      /** One payload on the state topic while a `set` awaits its echo. */
      const deliver = (p: Uint8Array): void => {
        const tracker = new ConfirmationTracker();
        const expectation = tracker.expect(device.value, set.confirm!, { state: 'ON' });
        try {
          noThrow('ConfirmationTracker.message', () => tracker.message('plugs/kettle/state', Buffer.from(p)));
        } finally {
          expectation.cancel();
        }
      };
      fc.assert(fc.property(payloadBytes(jsonText(shaped)), deliver), runs(300));
      // Deep payloads, described compactly so a counterexample is readable: (depth, opening, inside {"state":…}).
      fc.assert(
        fc.property(fc.constantFrom(10_000, 200_000), fc.constantFrom('[', '{"a":'), fc.boolean(), (n, open, wrapped) => {
          const inner = open === '[' ? '['.repeat(n) + ']'.repeat(n) : open.repeat(n) + '1' + '}'.repeat(n);
          deliver(utf8(wrapped ? `{"state":${inner}}` : inner));
        }),
        runs(8),
      );
    });

    describe('deep JSON (10,000 and 200,000 levels) through parse + validation + stanza building', () => {
      /** Nested text built by concatenation: arrays, objects, or alternating. */
      function deepText(depth: number, shape: 'array' | 'object' | 'mixed'): string {
        if (shape === 'array') return '['.repeat(depth) + ']'.repeat(depth);
        if (shape === 'object') return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
        const open = '[{"a":'.repeat(depth / 2);
        return `${open}null${'}]'.repeat(depth / 2)}`;
      }
      const depthArb = fc.constantFrom(10_000, 200_000);
      const shapeArb = fc.constantFrom<'array' | 'object' | 'mixed'>('array', 'object', 'mixed');

      it('parseJsonPayload refuses it with PAYLOAD_TOO_DEEP, without an exception', () => {
        fc.assert(
          fc.property(depthArb, shapeArb, (depth, shape) => {
            const r = noThrow('parseJsonPayload', () => parseJsonPayload(utf8(deepText(depth, shape))));
            assert.ok(!r.ok);
            assert.equal(r.error.code, 'PAYLOAD_TOO_DEEP');
          }),
          runs(6),
        );
      });

      it('shipped mappings: a deep extra field, a deep known field, a deep top level — no exception, reading/rejection/STANZA_TOO_LARGE', () => {
        fc.assert(
          fc.property(depthArb, shapeArb, fc.constantFrom('extra', 'known', 'top'), fc.constantFrom('sensors/home/deep/telemetry', 'zigbee2mqtt/door/deep', 'plugs/deep/state'), (depth, shape, where, t) => {
            const deep = deepText(depth, shape);
            const json = where === 'top' ? deep : where === 'known' ? `{"temperature":${deep},"contact":${deep},"state":${deep},"power":${deep}}` : `{"temperature":20,"contact":true,"state":"ON","deep":${deep}}`;
            check(uplink, publish(t, utf8(json)), { maxBodyChars: 2000, maxStanzaBytes: 500_000 }, undefined, false);
          }),
          runs(20),
        );
      });

      it('readingStanza without a body template (the default "key: value" body) does not throw', () => {
        fc.assert(
          fc.property(depthArb, shapeArb, fc.boolean(), (depth, shape, wrap) => {
            const json = wrap ? `{"t":${deepText(depth, shape)}}` : deepText(depth, shape);
            const value = JSON.parse(json) as unknown;
            const r = noThrow('readingStanza', () => readingStanza({ from: 'a@iot.example.org', id: '', type: 'chat', json, value, segments: {} }, 'alice@example.org', { maxBodyChars: 2000, maxStanzaBytes: 500_000 }));
            if (r.ok) assertGoodReading(r.value.stanza, stanzaBytes(r.value.stanza), json, { maxBodyChars: 2000, maxStanzaBytes: 500_000 }, undefined);
            else assert.ok(['STANZA_TOO_LARGE', 'PAYLOAD_TOO_DEEP'].includes(r.error.code), r.error.code);
          }),
          runs(12),
        );
      });

      it('readingStanza with a body template naming the deep field does not throw', () => {
        fc.assert(
          fc.property(depthArb, shapeArb, (depth, shape) => {
            const json = `{"t":${deepText(depth, shape)}}`;
            const value = JSON.parse(json) as unknown;
            const r = noThrow('readingStanza', () =>
              readingStanza({ from: 'a@iot.example.org', id: '', type: 'chat', json, value, segments: {}, body: bodyTemplate('{t}') }, 'alice@example.org', { maxBodyChars: 2000, maxStanzaBytes: 500_000 }),
            );
            if (!r.ok) assert.ok(['STANZA_TOO_LARGE', 'PAYLOAD_TOO_DEEP'].includes(r.error.code), r.error.code);
          }),
          runs(6),
        );
      });

      it('operator mapping with an any-object schema and no body template: Uplink + ChatDelivery do not throw', () => {
        const u = new Uplink(set, devices);
        fc.assert(
          fc.property(depthArb, shapeArb, (depth, shape) => {
            check(u, publish('raw/deep', utf8(`{"t":${deepText(depth, shape)}}`)), { maxBodyChars: 2000, maxStanzaBytes: 500_000 }, undefined, false);
          }),
          runs(6),
        );
      });

      it('operator mapping with a recursive schema ($ref tree of arrays): Uplink.process does not throw', () => {
        const u = new Uplink(set, devices);
        fc.assert(
          fc.property(depthArb, (depth) => {
            check(u, publish('tree/deep', utf8(`{"tree":${deepText(depth, 'array')}}`)), { maxBodyChars: 2000, maxStanzaBytes: 500_000 }, undefined, false);
          }),
          runs(2),
        );
      });
    });
  });

  describe('downlink text and forms', () => {
    let plugSet: CommandSpec;
    let plugAliases: Readonly<Record<string, string>>;

    before(() => {
      const schemas = new SchemaRegistry();
      const problems: LoadProblem[] = [];
      schemas.loadAll([join(ROOT, 'schemas')], problems);
      const plug = loadMappings([join(ROOT, 'mappings', 'plug.yaml')], { registry: schemas, jidVariables: { serverDomain: 'example.org' } }, problems)[0];
      assert.deepEqual(problems, []);
      assert.ok(plug);
      plugSet = plug.commands[0]!;
      plugAliases = plug.aliases;
    });

    /** Object.prototype as it is now, to detect (and undo) prototype pollution. */
    function snapshotPrototype(): Map<string | symbol, PropertyDescriptor> {
      return new Map(Reflect.ownKeys(Object.prototype).map((k) => [k, Object.getOwnPropertyDescriptor(Object.prototype, k)!]));
    }

    /** Restore Object.prototype; returns the keys that had been added or changed. */
    function restorePrototype(before: Map<string | symbol, PropertyDescriptor>): string[] {
      const changed: string[] = [];
      for (const k of Reflect.ownKeys(Object.prototype)) {
        const was = before.get(k);
        const now = Object.getOwnPropertyDescriptor(Object.prototype, k)!;
        if (!was) {
          changed.push(String(k));
          delete (Object.prototype as Record<string | symbol, unknown>)[k];
        } else if (was.value !== now.value || was.get !== now.get || was.set !== now.set) {
          changed.push(String(k));
          Object.defineProperty(Object.prototype, k, was);
        }
      }
      return changed;
    }

    const KEYS = ['state', 'a', 'a.b', 'a..b', '__proto__', '__proto__.polluted', 'a.__proto__.polluted', 'constructor', 'constructor.prototype.polluted', 'prototype', 'toString'];
    const key = fc.oneof(fc.constantFrom(...KEYS), fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,10}$/));
    const value = fc.oneof(
      fc.string({ unit: nastyUnit, maxLength: 12 }).map((v) => v.replace(/[ \t]/g, '_')),
      fc.string({ unit: nastyUnit, maxLength: 12 }).map((v) => `"${v}"`),
      fc.string({ unit: nastyUnit, maxLength: 12 }).map((v) => `'${v}`),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v).replace(/[ \t]/g, '')),
      fc.constantFrom('ON', 'on', 'OFF', 'null', '[1,2]', '{"x":1}', '1e999', '-0', '""', "'"),
    );
    const commandLine = fc.oneof(
      { arbitrary: fc.string({ unit: nastyUnit, maxLength: 60 }), weight: 2 },
      { arbitrary: fc.string({ unit: 'binary', maxLength: 60 }), weight: 1 },
      {
        arbitrary: fc
          .tuple(
            fc.constantFrom('', 'set ', 'SET ', 'set\t', 'on', 'off', 'on ', 'help', '?', 'mode ', 'constructor ', '__proto__ ', 'tostring '),
            fc.array(fc.tuple(key, value).map(([k, v]) => `${k}=${v}`), { maxLength: 4 }),
            fc.constantFrom(' ', '  ', '\t'),
          )
          .map(([head, pairs, sep]) => head + pairs.join(sep)),
        weight: 4,
      },
      { arbitrary: fc.tuple(fc.constantFrom('', 'set '), fc.jsonValue({ maxDepth: 3, stringUnit: nastyUnit })).map(([h, v]) => h + JSON.stringify(v)), weight: 2 },
    );
    const aliasesArb = fc.oneof(
      fc.constant<Record<string, string>>({}),
      fc.constant<Record<string, string>>({}).map(() => ({ ...plugAliases })),
      fc.dictionary(fc.stringMatching(/^[a-z]{1,6}$/), fc.string({ unit: nastyUnit, maxLength: 20 }), { maxKeys: 3 }),
    );

    function checkCommand(r: ChatCommand): void {
      assert.ok(r.kind === 'help' || r.kind === 'command' || r.kind === 'error');
      if (r.kind !== 'command') return;
      const v = JSON.parse(r.json) as unknown;
      assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `command JSON is not an object: ${r.json}`);
    }

    it('parseCommandText on arbitrary text never throws, a command carries a JSON object, and Object.prototype is left alone', () => {
      fc.assert(
        fc.property(commandLine, fc.integer({ min: 0, max: 2 }), aliasesArb, (text, n, aliases) => {
          const commands = [plugSet, { ...plugSet, name: 'mode' }].slice(0, n);
          const before = snapshotPrototype();
          let r: ChatCommand;
          let polluted: string[];
          try {
            r = noThrow('parseCommandText', () => parseCommandText(text, commands, aliases));
          } finally {
            polluted = restorePrototype(before);
          }
          assert.deepEqual(polluted, [], `parseCommandText(${JSON.stringify(text)}) changed Object.prototype`);
          checkCommand(r);
        }),
        runs(1500),
      );
    });

    it('parseCommandText with a deeply nested key=value does not throw', () => {
      fc.assert(
        fc.property(fc.constantFrom(10_000, 200_000), fc.constantFrom('set x=', 'x=', 'set state='), (depth, head) => {
          checkCommand(noThrow('parseCommandText', () => parseCommandText(head + '['.repeat(depth) + ']'.repeat(depth), [plugSet], plugAliases)));
        }),
        runs(4),
      );
    });

    it('schemaForm with hostile titles/instructions is well-formed XML; formPayload on arbitrary submitted forms never throws', () => {
      const fieldEl = fc
        .tuple(fc.oneof(fc.constantFrom('state', 'FORM_TYPE', '__proto__', 'constructor', 'toString', ''), nastyString(8)), fc.array(nastyString(10), { maxLength: 3 }))
        .map(([name, values]) => xml('field', { var: name }, ...values.map((v) => xml('value', {}, v))));
      fc.assert(
        fc.property(nastyString(30), fc.option(nastyString(30), { nil: undefined }), fc.constantFrom('submit', 'form', 'cancel', ''), fc.array(fieldEl, { maxLength: 4 }), (title, instructions, type, fields) => {
          const form = noThrow('schemaForm', () => schemaForm(plugSet.schema.schema, title, instructions));
          assertWellFormed(form.toString());
          const before = snapshotPrototype();
          let polluted: string[];
          try {
            const r = noThrow('formPayload', () => formPayload(plugSet.schema.schema, xml('x', { xmlns: NS_DATA, type }, ...fields)));
            if (!r.ok) assert.equal(r.error.code, 'COMMAND_INVALID');
            else JSON.parse(JSON.stringify(r.value));
          } finally {
            polluted = restorePrototype(before);
          }
          assert.deepEqual(polluted, []);
        }),
        runs(400),
      );
    });
  });
});
