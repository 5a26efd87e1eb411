/**
 * Which instance of a cluster an incoming IQ belongs to (pure). ejabberd hands a stanza for the component domain to
 * any of its connections; most need no particular instance (every one has the shared state), but two do:
 *   - a response (`result`/`error`) to an IQ request the bridge sent: its id names the instance that waits for it
 *     (delivery barriers, kernel/xmpp-link.ts#requestOwner);
 *   - the next step of a multi-step XEP-0050 command: its `sessionid` names the instance holding the session.
 */
import type { Element } from '@xmpp/xml';
import { requestOwner, sessionOwner } from '../../kernel/xmpp-link.js';
import { NS_ADHOC } from '../../xmpp/namespaces.js';

/** The instance an IQ must be handled by, or undefined when any may handle it. */
export function iqOwner(stanza: Element): string | undefined {
  if (stanza.name !== 'iq') return undefined;
  const type = stanza.attrs['type'];
  if (type === 'result' || type === 'error') return requestOwner(stanza.attrs['id'] ?? '');
  if (type !== 'get' && type !== 'set') return undefined;
  const sessionid = stanza.getChild('command', NS_ADHOC)?.attrs['sessionid'];
  return sessionid ? sessionOwner(sessionid) : undefined;
}

/** Whether an IQ is a request (it must be answered: here, when the instance it belongs to is gone). */
export function isIqRequest(stanza: Element): boolean {
  const type = stanza.attrs['type'];
  return stanza.name === 'iq' && (type === 'get' || type === 'set');
}
