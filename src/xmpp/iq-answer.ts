/**
 * The one answer to an IQ request (RFC 6120 §8.2.3): a request (`get` or `set`) carries exactly one payload element
 * and is answered exactly once, with a `result` or an `error`, addresses swapped and the same id. An error answer
 * carries the request's payload and the `<error/>` (§8.3.1).
 *
 * The component link answers requests itself with these. xmpp.js' IQ callee does the same behind its middleware, which
 * first parses the `from` and `to` of every incoming stanza into JID objects that nothing here reads: with the XEP-0106
 * escape check of each local part, 5.8 % of the bridge's CPU on the command path (docs/PERFORMANCE.md).
 */
import xml, { type Element } from '@xmpp/xml';
import type { IqReply } from '../kernel/stanza-router.js';
import type { IqServer } from '../kernel/xmpp-link.js';
import { errorElement } from './stanzas.js';

/** An IQ the entity must answer: every IQ but a response (`result`, `error`) — a bad type is answered too. */
export function isIqRequest(stanza: Element): boolean {
  const type = stanza.attrs['type'];
  return stanza.name === 'iq' && type !== 'result' && type !== 'error';
}

/**
 * The answer to the request `stanza`: `bad-request` when it is malformed, else from what `server` returns (none:
 * service-unavailable); a server that throws is reported to `failed` and answered internal-server-error.
 */
export async function answerRequest(stanza: Element, server: IqServer | undefined, failed: (err: unknown, child: Element) => void): Promise<Element> {
  const child = requestPayload(stanza);
  if (!child) return malformedRequestAnswer(stanza);
  let reply: IqReply;
  try {
    reply = server ? await server(stanza, child) : undefined;
  } catch (err) {
    failed(err, child);
    reply = errorElement('INTERNAL');
  }
  return iqAnswer(stanza, reply);
}

/** The request's one payload element; undefined when the request is malformed (answered `bad-request`). */
export function requestPayload(stanza: Element): Element | undefined {
  const type = stanza.attrs['type'];
  if (type !== 'get' && type !== 'set') return undefined;
  const children = stanza.getChildElements();
  return children.length === 1 ? children[0] : undefined;
}

/** `bad-request` for a malformed request (no payload, several, or a type other than get/set). */
export function malformedRequestAnswer(stanza: Element): Element {
  return iqAnswer(stanza, errorElement('REQUEST_INVALID'));
}

/**
 * The answer to `stanza` from what its handler returned: a result with the payload (none for `true`), the error when
 * it is an `<error/>`, `service-unavailable` when nothing handled it (RFC 6120 §8.4).
 */
export function iqAnswer(stanza: Element, reply: IqReply): Element {
  const error = reply === undefined ? errorElement('NOT_IMPLEMENTED') : reply !== true && reply.name === 'error' ? reply : undefined;
  const answer = xml('iq', { to: stanza.attrs['from'], from: stanza.attrs['to'], id: stanza.attrs['id'], type: error ? 'error' : 'result' });
  if (error) {
    const payload = stanza.getChildElements()[0];
    if (payload) answer.append(payload);
    answer.append(error);
  } else if (reply !== true && reply !== undefined) {
    answer.append(reply);
  }
  return answer;
}
