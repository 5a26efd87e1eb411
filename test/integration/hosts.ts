/**
 * Names for federation tests: two XMPP servers on loopback need DNS names that resolve to their addresses. As root
 * we add them to /etc/hosts for the duration of a test (Prosody reads it with `unbound = { hoststxt = true }`), each
 * line tagged so that a run killed half-way is cleaned up by the next one.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const HOSTS = '/etc/hosts';
const TAG = '# mqtt-xmpp-bridge-test';

function withoutOurLines(text: string): string {
  return text
    .split('\n')
    .filter((l) => !l.endsWith(TAG))
    .join('\n');
}

/** Add `address names…` lines; returns a function that removes them again. */
export function addHosts(entries: Record<string, string[]>): () => void {
  if (process.getuid?.() !== 0) throw new Error('federation tests edit /etc/hosts and must run as root');
  const original = withoutOurLines(readFileSync(HOSTS, 'utf8'));
  const lines = Object.entries(entries).map(([addr, names]) => `${addr} ${names.join(' ')} ${TAG}`);
  writeFileSync(HOSTS, `${original.replace(/\n*$/, '\n')}${lines.join('\n')}\n`);
  return () => writeFileSync(HOSTS, withoutOurLines(readFileSync(HOSTS, 'utf8')));
}
