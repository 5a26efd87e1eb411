/**
 * Text that may go on the XMPP wire.
 *
 * XML 1.0 §2.2 allows only  #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
 * ltx (behind @xmpp/xml) escapes only & < > " ' and writes every other character verbatim, and one disallowed
 * character (a BEL byte from a device, say) makes Prosody close the whole component stream with `not-well-formed`,
 * cutting off every device. So every string that reaches a stanza passes through here first.
 */

// Lone surrogates are matched as code points in \uD800-\uDFFF thanks to the `u` flag.
const DISALLOWED = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const DISALLOWED_ALL = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

export function hasDisallowedXmlChars(s: string): boolean {
  return DISALLOWED.test(s);
}

/** Replace every character XML 1.0 does not allow with U+FFFD (for human text: bodies, names). */
export function xmlSafeText(s: string): string {
  return DISALLOWED.test(s) ? s.replace(DISALLOWED_ALL, '\uFFFD') : s;
}

/** Cut a string to at most `max` UTF-16 units without splitting a surrogate pair, marking the cut with an ellipsis. */
export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  if (max < 1) return '';
  let end = max - 1;
  const last = s.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1; // don't leave a high surrogate without its pair
  return `${s.slice(0, end)}…`;
}

/**
 * Make valid JSON text safe for XML without changing its meaning: the only characters valid JSON text can carry that
 * XML 1.0 forbids are U+FFFE and U+FFFF inside strings (controls must already be escaped, RFC 8259 §7; the text came
 * from strict UTF-8, so it holds no lone surrogates). They become the JSON escapes \ufffe and \uffff, which decode to
 * the same string: the payload survives exactly.
 */
export function xmlSafeJson(json: string): string {
  return /[\uFFFE\uFFFF]/.test(json) ? json.replace(/\uFFFE/g, '\\ufffe').replace(/\uFFFF/g, '\\uffff') : json;
}
