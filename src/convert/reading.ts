/**
 * Reading → XMPP message. Pure: takes a validated reading, returns the stanza (or why it cannot be sent).
 *
 * <message from='climate-home-kitchen@iot.example.org' to='alice@example.org' type='chat' id='r1a2b3'>
 *   <body>21.5 °C, 40 %</body>
 *   <json xmlns='urn:xmpp:json:0'>{"temperature":21.5,"humidity":40}</json>     ← XEP-0335, the payload as sent
 *   <delay xmlns='urn:xmpp:delay' from='iot.example.org' stamp='…'/>              ← XEP-0203, only when late
 *   <replace xmlns='urn:xmpp:message-correct:0' id='…'/>                         ← XEP-0308, `live` corrections
 *   <no-permanent-store xmlns='urn:xmpp:hints'/>                                   ← XEP-0334, when not to be archived
 * </message>
 *
 * The body is for people (any chat client shows it); the JSON container is for machines and carries the device's
 * JSON text byte for byte, so numbers beyond 2^53 and key order survive.
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { fail, ok, type Result } from '../errors.js';
import type { MessageType } from '../mapping/mapping.js';
import { pathLookup, renderTemplate, type Template } from '../mapping/template.js';
import type { Segments } from '../mapping/topic-pattern.js';
import { truncate, xmlSafeJson, xmlSafeText } from './xml-safe.js';
import { NS_CORRECT, NS_DELAY, NS_HINTS, NS_JSON } from '../xmpp/namespaces.js';


export interface ReadingInput {
  readonly from: string;
  readonly id: string;
  readonly type: MessageType;
  /** The JSON text as the device sent it. */
  readonly json: string;
  readonly value: unknown;
  readonly segments: Segments;
  readonly body?: Template;
  /** Set when the reading is delivered late (after an outage): XEP-0203 stamp. */
  readonly delayedSince?: Date;
  readonly delayFrom?: string;
  /** XEP-0308: this message corrects the message with this id. */
  readonly replace?: string;
  /** XEP-0334 processing hints. */
  readonly hints?: readonly ('no-store' | 'no-permanent-store')[];
}

export interface ConvertLimits {
  readonly maxBodyChars: number;
  readonly maxStanzaBytes: number;
}

/** The human text of a reading: the mapping's template, or `key: value` pairs of a flat object. */
export function readingBody(value: unknown, segments: Segments, template: Template | undefined): string {
  if (template) {
    const fromPayload = pathLookup(value);
    return renderTemplate(template, (path) => {
      const v = fromPayload(path);
      return v === undefined && path.length === 1 && Object.hasOwn(segments, path[0]!) ? segments[path[0]!] : v;
    });
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value)
      .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(', ');
  }
  return JSON.stringify(value);
}

/**
 * Build the message for one recipient. Callers sending one reading to many recipients build once and re-address
 * (`stanza.attrs.to = …`): the content is identical.
 */
/** The body text exactly as a reading's message carries it: rendered, XML-safe, cut to the limit. */
export function readingText(value: unknown, segments: Segments, template: Template | undefined, maxChars: number): Result<string> {
  try {
    return ok(truncate(xmlSafeText(readingBody(value, segments, template)), maxChars));
  } catch {
    // Rendering recurses into the value; payloads are depth-checked when parsed, this is the last line of defence.
    return fail('PAYLOAD_TOO_DEEP', 'the reading is nested too deeply to render');
  }
}

export function readingStanza(input: ReadingInput, to: string, limits: ConvertLimits): Result<{ stanza: Element }> {
  const text = readingText(input.value, input.segments, input.body, limits.maxBodyChars);
  if (!text.ok) return text;
  const body = text.value;
  const stanza = xml(
    'message',
    { from: input.from, to, type: input.type, id: input.id },
    xml('body', {}, body),
    xml('json', { xmlns: NS_JSON }, xmlSafeJson(input.json)),
  );
  if (input.delayedSince) {
    stanza.append(xml('delay', { xmlns: NS_DELAY, from: input.delayFrom ?? '', stamp: input.delayedSince.toISOString() }));
  }
  if (input.replace !== undefined) stanza.append(xml('replace', { xmlns: NS_CORRECT, id: input.replace }));
  for (const h of input.hints ?? []) stanza.append(xml(h, { xmlns: NS_HINTS }));
  // Prosody closes a component stream on a stanza above 512 KiB; never send one that large. Serializing the stanza
  // to measure it doubled the serialization work of every reading (the link serializes it again to write it): it is
  // measured only when its bound does not already prove it small enough.
  if (serializedBytesAtMost(stanza) > limits.maxStanzaBytes) {
    const bytes = stanzaBytes(stanza);
    if (bytes > limits.maxStanzaBytes) return fail('STANZA_TOO_LARGE', `the stanza would be ${bytes} bytes; the limit is ${limits.maxStanzaBytes}`);
  }
  return ok({ stanza });
}

/** The UTF-8 size of a stanza as written. */
export function stanzaBytes(el: Element): number {
  return Buffer.byteLength(el.toString(), 'utf8');
}

/**
 * An upper bound of the UTF-8 size of `el` as ltx serializes it (`<name a="v">children</name>`), without serializing:
 * each UTF-16 unit of a name, value or text becomes at most 6 bytes (`"` → `&quot;`; a character outside ASCII is at
 * most 3 bytes of UTF-8 per unit), plus the markup around each element and attribute.
 */
export function serializedBytesAtMost(el: Element): number {
  let n = 5 + 2 * 6 * el.name.length; // < > </ > and the name twice
  for (const k in el.attrs) {
    const v: unknown = el.attrs[k];
    if (v !== null && v !== undefined) n += 4 + 6 * (k.length + textLength(v)); // ' k="v"'
  }
  for (const c of el.children as unknown[]) {
    if (c === null || c === undefined) continue;
    n += typeof c === 'object' && 'name' in c ? serializedBytesAtMost(c as Element) : 6 * textLength(c);
  }
  return n;
}

/** Length of a value as ltx writes it: strings as they are, numbers in base 10; anything else is measured exactly. */
function textLength(v: unknown): number {
  return typeof v === 'string' ? v.length : typeof v === 'number' ? v.toString(10).length : Number.POSITIVE_INFINITY;
}

/**
 * A device's state report that confirmed a command, as a person reads it: the mapping's body template when the report
 * is a reading of that mapping (it validates against its schema), otherwise `key: value` pairs with numbers rounded to
 * two decimals — never raw JSON with 16-digit floats.
 */
export function confirmationText(json: string, segments: Segments, body: Template | undefined, isReading: (value: unknown) => boolean): string {
  let value: unknown;
  try {
    value = JSON.parse(json) as unknown;
  } catch {
    return json;
  }
  try {
    if (body && isReading(value)) return readingBody(value, segments, body);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      return Object.entries(value)
        .map(([k, v]) => `${k}: ${typeof v === 'number' ? String(Math.round(v * 100) / 100) : typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(', ');
    }
  } catch {
    return json; // nested too deeply to render
  }
  return typeof value === 'number' ? String(Math.round(value * 100) / 100) : JSON.stringify(value);
}
