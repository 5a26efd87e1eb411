/**
 * JID patterns for access lists (`viewers`, `operators`, notify lists).
 *
 *   `*`                  anyone, on any server
 *   `example.org`        anyone whose bare JID is on example.org (same as `*@example.org`)
 *   `*@example.org`      likewise
 *   `*@*.example.org`    anyone on a subdomain of example.org
 *   `alice@example.org`  exactly that account (any resource)
 *   `ops-*@example.org`  `*` matches any run of characters inside the local part or the domain
 *   `{serverDomain}`     replaced by the XMPP server domain the component is attached to, so one mapping file
 *                        serves every deployment (`*@{serverDomain}` = the server's own users)
 *
 * Matching is on the bare JID and case-insensitive (RFC 7622 §3.2, §3.3). Pure: no I/O.
 */

export interface JidPattern {
  readonly source: string;
  test(bareJid: string): boolean;
}

const VARIABLE = /\{([A-Za-z]+)\}/g;

export function parseJidPattern(source: string, vars: Readonly<Record<string, string>>): { pattern?: JidPattern; error?: string } {
  let unknown: string | undefined;
  const expanded = source.replace(VARIABLE, (m, name: string) => {
    const v = vars[name];
    if (v === undefined) unknown = name;
    return v ?? m;
  });
  if (unknown !== undefined) return { error: `unknown variable {${unknown}} in JID pattern "${source}"` };
  const text = expanded.trim().toLowerCase();
  if (text.length === 0) return { error: 'empty JID pattern' };
  if (text.includes('/')) return { error: `JID pattern "${source}" must be a bare JID (no resource)` };
  if ((text.match(/@/g) ?? []).length > 1) return { error: `JID pattern "${source}" has more than one "@"` };
  if (text === '*') return { pattern: { source, test: () => true } };
  const full = text.includes('@') ? text : `*@${text}`;
  const re = new RegExp(`^${full.split('*').map(escapeRegex).join('[^@]*')}$`);
  return { pattern: { source, test: (bare) => re.test(bare.toLowerCase()) } };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function anyMatch(patterns: readonly JidPattern[], bareJid: string): boolean {
  for (const p of patterns) if (p.test(bareJid)) return true;
  return false;
}
