/**
 * Cluster mode needs an XMPP server that accepts several connections for one component domain and spreads the
 * domain's stanzas over them: ejabberd does (without `domain_balancing`, docs/SCALING.md); Prosody accepts one
 * connection per component (a second gets `conflict`). The check asks the server's own domain for its identity
 * (XEP-0030 disco#info; Prosody names itself "Prosody" there unless its `name` option says otherwise): a Prosody is
 * refused at once, before a second instance finds out the hard way. A server that does not answer is given the
 * benefit of the doubt — the second connection's `conflict` then stops that instance, with the same explanation.
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { NS_DISCO_INFO } from '../../xmpp/namespaces.js';

/** The server's name from its disco#info answer (the identity of category `server`), if any. */
export function serverName(reply: Element): string | undefined {
  const query = reply.getChild('query', NS_DISCO_INFO);
  const identity = query?.getChildren('identity').find((i) => i.attrs['category'] === 'server');
  return identity?.attrs['name'] || undefined;
}

/** Why this server cannot carry a cluster, or undefined when it can (or cannot be told). */
export function clusterRefusal(name: string | undefined, serverDomain: string, componentDomain: string): string | undefined {
  if (name === undefined || !/prosody/i.test(name)) return undefined;
  return `cluster mode needs an XMPP server that accepts several connections for one component domain (ejabberd); ${serverDomain} runs ${name}, which accepts one connection for ${componentDomain}: run one bridge, or move the component to ejabberd (docs/SCALING.md)`;
}

/** The disco#info request to the server's domain. */
export function serverInfoRequest(serverDomain: string, componentDomain: string): Element {
  return xml('iq', { type: 'get', to: serverDomain, from: componentDomain }, xml('query', { xmlns: NS_DISCO_INFO }));
}

/** Appended to the fatal `conflict` on a first connection in cluster mode. */
export const CONFLICT_HINT = 'in cluster mode this means the XMPP server accepts one connection per component domain (Prosody does): cluster mode needs ejabberd';
