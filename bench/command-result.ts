/**
 * What the bridge answers a command it published (features/commands/command-iq.ts, status `published`), for the
 * downlink's references (iq-echo.ts, null-bridge.ts): they answer the same stanza, so a command costs the XMPP server
 * and the commander the same bytes whichever of the three answers it. The device `SITE-DEVICE@DOMAIN` has its
 * command topic at `sensors/SITE/DEVICE/set`, as in the benchmark's mapping.
 */
import xml, { type Element } from '@xmpp/xml';
import { NS_COMMAND } from '../src/xmpp/namespaces.js';

export function commandResult(stanza: Element, command: Element): { topic: string; answer: Element } | undefined {
  const local = String(stanza.attrs['to']).split('@')[0] ?? '';
  const dash = local.indexOf('-');
  const name = command.attrs['name'];
  if (dash < 0 || typeof name !== 'string') return undefined;
  const topic = `sensors/${local.slice(0, dash)}/${local.slice(dash + 1)}/set`;
  return { topic, answer: xml('command', { xmlns: NS_COMMAND, name, status: 'published', topic }) };
}
