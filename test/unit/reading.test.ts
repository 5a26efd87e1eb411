/**
 * Golden tests of the reading → message conversion.
 *
 * Each `test/fixtures/readings/*.json` holds
 *   input     ReadingInput fields, with `body` as a template source string (parsed here with { rich: true }),
 *             `delayedSince` as an ISO 8601 string, and no `value` (it is JSON.parse(input.json));
 *   to        the recipient;
 *   limits    ConvertLimits;
 *   expected  the exact serialized stanza, or
 *   expectedError  { code, message } when no stanza may be built.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { confirmationText, readingBody, readingStanza, serializedBytesAtMost, stanzaBytes, type ConvertLimits, type ReadingInput } from '../../src/convert/reading.js';
import { NS_DELAY, NS_JSON } from '../../src/xmpp/namespaces.js';
import type { MessageType } from '../../src/mapping/mapping.js';
import { parseTemplate, type Template } from '../../src/mapping/template.js';
import { packageRoot } from '../../src/version.js';

interface Fixture {
  readonly description: string;
  readonly input: {
    readonly from: string;
    readonly id: string;
    readonly type: MessageType;
    readonly json: string;
    readonly segments: Record<string, string>;
    readonly body?: string;
    readonly delayedSince?: string;
    readonly delayFrom?: string;
  };
  readonly to: string;
  readonly limits: ConvertLimits;
  readonly expected?: string;
  readonly expectedError?: { readonly code: string; readonly message: string };
}

const FIXTURES = join(packageRoot(), 'test/fixtures/readings');

function loadFixture(name: string): Fixture {
  return JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as Fixture;
}

function bodyTemplate(source: string): Template {
  const { template, errors } = parseTemplate(source, { rich: true });
  assert.deepEqual(errors, []);
  return template!;
}

function toInput(f: Fixture): ReadingInput {
  const { body, delayedSince, ...rest } = f.input;
  return {
    ...rest,
    value: JSON.parse(f.input.json) as unknown,
    ...(body !== undefined ? { body: bodyTemplate(body) } : {}),
    ...(delayedSince !== undefined ? { delayedSince: new Date(delayedSince) } : {}),
  };
}

/** Parse serialized XML back into an element (the stanza text must be well-formed). */
function parseXml(text: string): Element {
  const parser = new xml.Parser();
  let found: Element | undefined;
  let error: Error | undefined;
  parser.on('element', (el) => {
    found = el;
  });
  parser.on('error', (err) => {
    error = err;
  });
  parser.write(`<root>${text}`);
  assert.equal(error, undefined);
  assert.ok(found, `no element parsed from ${text}`);
  return found;
}

describe('readingStanza golden fixtures', () => {
  const names = readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.json'))
    .sort();

  it('finds the fixtures', () => {
    for (const required of ['big-integer.json', 'climate.json', 'default-body.json', 'delayed.json', 'long-body.json', 'too-large.json', 'unsafe-characters.json']) {
      assert.ok(names.includes(required), required);
    }
  });

  for (const name of names) {
    const f = loadFixture(name);
    it(`${name}: ${f.description}`, () => {
      const r = readingStanza(toInput(f), f.to, f.limits);
      if (f.expectedError) {
        assert.equal(r.ok, false);
        assert.ok(!r.ok);
        assert.equal(r.error.code, f.expectedError.code);
        assert.equal(r.error.message, f.expectedError.message);
        return;
      }
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      const text = r.value.stanza.toString();
      assert.equal(text, f.expected);
      assert.equal(stanzaBytes(r.value.stanza), Buffer.byteLength(text, 'utf8'));
      assert.ok(stanzaBytes(r.value.stanza) <= f.limits.maxStanzaBytes);

      // Parsed back, the json element is JSON text with the device's meaning, and the body is the (cut) body text.
      const parsed = parseXml(text);
      assert.deepEqual(JSON.parse(parsed.getChild('json', NS_JSON)!.getText()), JSON.parse(f.input.json));
      assert.ok(parsed.getChildText('body')!.length <= f.limits.maxBodyChars);
    });
  }
});

describe('readingStanza', () => {
  const climate = loadFixture('climate.json');

  it('escapes "<", "&" and ">" in payload strings so the stanza is well-formed XML', () => {
    const json = '{"t":"a<b & c>d","u":"</json><evil/>"}';
    const input: ReadingInput = { ...toInput(climate), json, value: JSON.parse(json) as unknown, body: bodyTemplate('{t} {u}') };
    const r = readingStanza(input, 'alice@example.org', climate.limits);
    assert.ok(r.ok);
    const text = r.value.stanza.toString();
    assert.ok(text.includes('<body>a&lt;b &amp; c&gt;d &lt;/json&gt;&lt;evil/&gt;</body>'), text);
    assert.ok(text.includes('>{"t":"a&lt;b &amp; c&gt;d","u":"&lt;/json&gt;&lt;evil/&gt;"}</json>'), text);
    const parsed = parseXml(text);
    assert.equal(parsed.getChildText('body'), 'a<b & c>d </json><evil/>');
    assert.equal(parsed.getChild('json', NS_JSON)?.getText(), json);
    assert.equal(parsed.getChildElements().length, 2);
  });

  it('escapes attribute values', () => {
    const r = readingStanza({ ...toInput(climate), id: 'a"b&c' }, 'alice@example.org', climate.limits);
    assert.ok(r.ok);
    assert.ok(r.value.stanza.toString().includes(' id="a&quot;b&amp;c">'));
    assert.equal(parseXml(r.value.stanza.toString()).attrs['id'], 'a"b&c');
  });

  it('accepts a stanza of exactly maxStanzaBytes and refuses one byte less', () => {
    const input = toInput(climate);
    const probe = readingStanza(input, 'alice@example.org', climate.limits);
    assert.ok(probe.ok);
    const size = stanzaBytes(probe.value.stanza);
    const exact = readingStanza(input, 'alice@example.org', { ...climate.limits, maxStanzaBytes: size });
    assert.ok(exact.ok);
    assert.equal(stanzaBytes(exact.value.stanza), size);
    const under = readingStanza(input, 'alice@example.org', { ...climate.limits, maxStanzaBytes: size - 1 });
    assert.equal(under.ok, false);
    assert.equal(!under.ok && under.error.code, 'STANZA_TOO_LARGE');
    assert.equal(!under.ok && under.error.message, `the stanza would be ${size} bytes; the limit is ${size - 1}`);
  });

  it('counts bytes in UTF-8, not UTF-16 units', () => {
    const json = '{"t":"€€€€"}'; // 4 × 3 bytes
    const r = readingStanza({ ...toInput(climate), json, value: JSON.parse(json) as unknown, body: undefined }, 'alice@example.org', climate.limits);
    assert.ok(r.ok);
    assert.equal(r.value.stanza.getChildText('body'), 't: €€€€');
    const text = r.value.stanza.toString();
    // Eight € (four in the body, four in the json element): one UTF-16 unit but three bytes each.
    assert.equal(stanzaBytes(r.value.stanza), text.length + 8 * 2);
  });

  it('does not serialize a stanza far below the limit: the link serializes it once, when it writes it', () => {
    const proto = xml.Element.prototype as unknown as { write: (writer: (s: string) => void) => void };
    const original = proto.write;
    let writes = 0;
    proto.write = function (this: Element, writer: (s: string) => void): void {
      writes++;
      original.call(this, writer);
    };
    try {
      const r = readingStanza(toInput(climate), 'alice@example.org', climate.limits);
      assert.ok(r.ok);
      assert.equal(writes, 0);
    } finally {
      proto.write = original;
    }
  });

  it('bounds the serialized size from above, whatever the text (escapes, non-ASCII, surrogate pairs)', () => {
    const unit = fc.constantFrom('a', '"', "'", '&', '<', '>', 'é', '€', '\u{1F600}', '\ud800', ' ', '\n');
    const text = fc.string({ unit, maxLength: 40 });
    fc.assert(
      fc.property(text, text, text, fc.array(fc.tuple(fc.constantFrom('a', 'xmlns', 'id'), text), { maxLength: 3 }), (name, body, json, attrs) => {
        const el = xml('message', Object.fromEntries(attrs), xml('body', {}, body), xml('json', { xmlns: NS_JSON }, json), xml(`x${name.length}`, { v: name }));
        assert.ok(serializedBytesAtMost(el) >= stanzaBytes(el));
      }),
      { numRuns: 500 },
    );
  });

  it('adds no delay element when the reading is on time, and an empty from when delayFrom is absent', () => {
    const onTime = readingStanza(toInput(climate), 'alice@example.org', climate.limits);
    assert.ok(onTime.ok);
    assert.equal(onTime.value.stanza.getChild('delay', NS_DELAY), undefined);
    const late = readingStanza({ ...toInput(climate), delayedSince: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) }, 'alice@example.org', climate.limits);
    assert.ok(late.ok);
    assert.deepEqual(late.value.stanza.getChild('delay', NS_DELAY)?.attrs, { xmlns: NS_DELAY, from: '', stamp: '2024-01-02T03:04:05.000Z' });
  });
});

describe('readingBody', () => {
  it('prefers a payload field over a topic segment of the same name', () => {
    assert.equal(readingBody({ device: 'from-payload' }, { device: 'from-topic' }, bodyTemplate('{device}')), 'from-payload');
    assert.equal(readingBody({}, { device: 'from-topic' }, bodyTemplate('{device}')), 'from-topic');
  });

  it('does not fall back to segments for dotted paths', () => {
    assert.equal(readingBody({}, { device: 'x' }, bodyTemplate('{device.name}')), '?');
  });

  it('renders a non-object payload as JSON when there is no template', () => {
    assert.equal(readingBody(21.5, {}, undefined), '21.5');
    assert.equal(readingBody('on', {}, undefined), '"on"');
    assert.equal(readingBody([1, 2], {}, undefined), '[1,2]');
    assert.equal(readingBody(null, {}, undefined), 'null');
  });

  it('gives an empty body for an empty object', () => {
    assert.equal(readingBody({}, {}, undefined), '');
  });
});

describe('confirmationText', () => {
  const body = parseTemplate('{state}, {power|.1} W', { rich: true }).template!;
  it('renders a state report that is a reading with the body template', () => {
    assert.equal(confirmationText('{"state":"ON","power":1849.9999999999998}', {}, body, () => true), 'ON, 1850.0 W');
  });
  it('renders any other report as key: value pairs with numbers rounded to two decimals', () => {
    assert.equal(confirmationText('{"state":"ON","power":1849.9999999999998,"x":{"a":1}}', {}, body, () => false), 'state: ON, power: 1850, x: {"a":1}');
    assert.equal(confirmationText('0.30000000000000004', {}, undefined, () => false), '0.3');
    assert.equal(confirmationText('not json', {}, undefined, () => false), 'not json');
  });
});
