/**
 * The device-JID grammar: how topic segments become the local part of a device JID.
 *
 *   device JID  = localpart "@" component-domain
 *   localpart   = the mapping's `jid` template rendered with topic segments, where each segment value is
 *                 1. case-folded (JID local parts compare case-insensitively: RFC 7622 §3.3, PRECIS
 *                    UsernameCaseMapped), then Unicode NFC-normalized (RFC 8264 §10),
 *                 2. escaped per XEP-0106 §4.2 (space " & ' / : < > @ and a backslash that would start an escape
 *                    sequence become \20 \22 \26 \27 \2f \3a \3c \3e \40 \5c),
 *   and the template's literal text is restricted to characters that need no escaping.
 *
 * A segment that cannot be escaped is refused (error code JID_INVALID), never altered: an empty value, a value with
 * control or unassigned characters, or a local part that would begin or end with a space (XEP-0106 §4.3 forbids a
 * leading or trailing \20) or exceed 1023 bytes (RFC 7622 §3.3.1).
 *
 * Two different topics can still fold to one JID (`Kitchen` and `kitchen`): the device registry detects that at
 * run time (JID_COLLISION) and the first device keeps the JID.
 *
 * Pure: no I/O.
 */
import type { Template } from '../mapping/template.js';
import type { Segments } from '../mapping/topic-pattern.js';

/** XEP-0106 §3 Table 1: the characters that must be escaped in a local part, and their escapes. */
const ESCAPES: Readonly<Record<string, string>> = {
  ' ': '\\20',
  '"': '\\22',
  '&': '\\26',
  "'": '\\27',
  '/': '\\2f',
  ':': '\\3a',
  '<': '\\3c',
  '>': '\\3e',
  '@': '\\40',
  '\\': '\\5c',
};
const ESCAPE_CODES = new Set(['20', '22', '26', '27', '2f', '3a', '3c', '3e', '40', '5c']);

/** Characters a template literal may not contain: anything XEP-0106 would escape. */
export const LITERAL_FORBIDDEN = /[ "&'/:<>@\\]/;

/**
 * Disallowed anywhere in a local part (RFC 7613/8265 IdentifierClass): controls, unassigned code points,
 * surrogates, private use, and separators other than the space (which is escaped).
 */
const DISALLOWED = /[\p{Cc}\p{Cn}\p{Cs}\p{Co}\p{Zl}\p{Zp}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/u;

/**
 * XEP-0106 §4.2 escaping of one string. A backslash is escaped only where it would start an escape sequence;
 * `following` is the text that will come after `s` in the local part, so a final backslash is judged in context.
 */
export function escapeLocal(s: string, following = ''): string {
  const ahead = s + following.slice(0, 2);
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') {
      const next = ahead.slice(i + 1, i + 3).toLowerCase();
      out += ESCAPE_CODES.has(next) ? '\\5c' : '\\';
    } else {
      out += ESCAPES[c] ?? c;
    }
  }
  return out;
}

/** XEP-0106 §4.3 unescaping (for display: disco names, logs). */
export function unescapeLocal(s: string): string {
  return s.replace(/\\([0-9a-f]{2})/gi, (m, hex: string) => (ESCAPE_CODES.has(hex.toLowerCase()) ? String.fromCharCode(parseInt(hex, 16)) : m));
}

export type LocalpartResult = { ok: true; localpart: string } | { ok: false; reason: string };

/** Render a JID template with segment values into a valid local part, or say why it cannot be done. */
export function formLocalpart(template: Template, segments: Segments): LocalpartResult {
  let out = '';
  for (const [i, part] of template.parts.entries()) {
    if (part.kind === 'text') {
      out += part.text;
      continue;
    }
    if (part.kind === 'join') return { ok: false, reason: 'a JID template cannot hold optional items' };
    const name = part.path[0]!;
    const raw = segments[name];
    if (raw === undefined) return { ok: false, reason: `no value for segment {${name}}` };
    if (raw.length === 0) return { ok: false, reason: `segment {${name}} is empty` };
    const folded = raw.toLowerCase().normalize('NFC');
    if (DISALLOWED.test(folded)) return { ok: false, reason: `segment {${name}} contains a character not allowed in a JID` };
    const next = template.parts[i + 1];
    out += escapeLocal(folded, next?.kind === 'text' ? next.text : '');
  }
  // XEP-0106 §4.3: the escaped form must not begin or end with \20.
  if (out.startsWith('\\20') || out.endsWith('\\20')) return { ok: false, reason: 'the local part would begin or end with a space' };
  if (out.length === 0) return { ok: false, reason: 'the local part is empty' };
  if (Buffer.byteLength(out, 'utf8') > 1023) return { ok: false, reason: 'the local part is longer than 1023 bytes' };
  return { ok: true, localpart: out };
}

/** Bare JID of a device. */
export function deviceJid(localpart: string, domain: string): string {
  return `${localpart}@${domain}`;
}

/** Split a bare or full JID string into parts (no validation beyond structure; the server validated it). */
export function splitJid(jid: string): { local: string; domain: string; resource: string } {
  const slash = jid.indexOf('/');
  const bare = slash < 0 ? jid : jid.slice(0, slash);
  const resource = slash < 0 ? '' : jid.slice(slash + 1);
  const at = bare.indexOf('@');
  return at < 0 ? { local: '', domain: bare.toLowerCase(), resource } : { local: bare.slice(0, at).toLowerCase(), domain: bare.slice(at + 1).toLowerCase(), resource };
}

/** The bare JID of a JID string, lower-cased (local part and domain are case-insensitive; RFC 7622 §3.2, §3.3). */
export function bareJid(jid: string): string {
  const { local, domain } = splitJid(jid);
  return local ? `${local}@${domain}` : domain;
}
