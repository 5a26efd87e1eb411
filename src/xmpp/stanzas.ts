/**
 * Stanza builders shared by the XMPP handlers. Stanzas are built with xml(), never concatenated, and always carry an
 * explicit `from` inside the component's domain (Prosody's validate_from_addresses refuses anything else).
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { stanzaErrorOf, type ErrorCode } from '../errors.js';
import { xmlSafeText } from '../convert/xml-safe.js';
import { NS_STANZAS } from './namespaces.js';


/** The `<error/>` child for a catalogue code (RFC 6120 §8.3), with optional human text. */
export function errorElement(code: ErrorCode, text?: string): Element {
  const { condition, type } = stanzaErrorOf(code);
  return xml(
    'error',
    { type },
    xml(condition, { xmlns: NS_STANZAS }),
    text ? xml('text', { xmlns: NS_STANZAS, 'xml:lang': 'en' }, xmlSafeText(text).slice(0, 1024)) : null,
  );
}

/** An error reply to any stanza (RFC 6120 §8.2): addresses swapped, same id, original type "error". */
export function errorReply(stanza: Element, code: ErrorCode, text?: string): Element {
  return xml(stanza.name, { from: stanza.attrs['to'], to: stanza.attrs['from'], id: stanza.attrs['id'], type: 'error' }, errorElement(code, text));
}

export function presence(from: string, to: string, type?: string, children: Element[] = []): Element {
  return xml('presence', { from, to, ...(type ? { type } : {}) }, ...children);
}

/** A XEP-0004 form field with one or more values. */
export function field(vars: { var: string; type?: string; label?: string }, ...values: string[]): Element {
  return xml(
    'field',
    { var: vars.var, ...(vars.type ? { type: vars.type } : {}), ...(vars.label ? { label: vars.label } : {}) },
    ...values.map((v) => xml('value', {}, xmlSafeText(v))),
  );
}
