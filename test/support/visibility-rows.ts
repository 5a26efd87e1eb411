/**
 * The stanzas that can name a device, as table rows for the visibility tests (unit, with in-memory edges, and
 * integration, through a real server): for each, a hidden device must answer exactly like a non-existent one.
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';

const NS_ADHOC = 'http://jabber.org/protocol/commands';
const NS_COMMAND = 'urn:mqtt-xmpp-bridge:command:0';
const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const pubsub = (...children: Element[]): Element => xml('pubsub', { xmlns: NS_PUBSUB }, ...children);

/** Two mappings of plug-like devices: `open-*` visible to every user of `userDomain`, `secret-*` to its boss only. */
export function visibilityMappings(userDomain: string): Record<string, unknown>[] {
  const device = (id: string, viewers: string[]): Record<string, unknown> => ({
    id,
    topic: `${id}/{device}/state`,
    jid: `${id}-{device}`,
    name: `{device} (${id})`,
    schema: 'urn:mqtt-xmpp-bridge:example:plug',
    commands: [{ name: 'set', topic: `${id}/{device}/set`, schema: 'urn:mqtt-xmpp-bridge:example:plug-set', ttl: 0 }],
    access: { viewers, operators: viewers },
  });
  return [device('open', [`*@${userDomain}`]), device('secret', [`boss@${userDomain}`])];
}

/** One stanza that names a device, from a user. */
export type Probe = (to: string, from: string) => Element;

const iq = (type: 'get' | 'set', to: string, from: string, child: Element): Element => xml('iq', { type, to, from, id: 'q1' }, child);
const setForm = (): Element => xml('x', { xmlns: 'jabber:x:data', type: 'submit' }, xml('field', { var: 'state' }, xml('value', {}, 'ON')));

export const IQ_ROWS: [string, Probe][] = [
  ['disco#info', (to, from) => iq('get', to, from, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }))],
  ['disco#info on the command node', (to, from) => iq('get', to, from, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info', node: 'set' }))],
  ['disco#info on an unknown node', (to, from) => iq('get', to, from, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info', node: 'nope' }))],
  ['disco#items', (to, from) => iq('get', to, from, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' }))],
  ['disco#items on the commands node', (to, from) => iq('get', to, from, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items', node: NS_ADHOC }))],
  ['ping', (to, from) => iq('get', to, from, xml('ping', { xmlns: 'urn:xmpp:ping' }))],
  ['version', (to, from) => iq('get', to, from, xml('query', { xmlns: 'jabber:iq:version' }))],
  ['command IQ', (to, from) => iq('set', to, from, xml('command', { xmlns: NS_COMMAND, name: 'set' }, xml('json', { xmlns: 'urn:xmpp:json:0' }, '{"state":"ON"}')))],
  ['command IQ without a name', (to, from) => iq('set', to, from, xml('command', { xmlns: NS_COMMAND }))],
  ['command IQ naming an unknown command', (to, from) => iq('set', to, from, xml('command', { xmlns: NS_COMMAND, name: 'explode' }))],
  ['command IQ with invalid JSON', (to, from) => iq('set', to, from, xml('command', { xmlns: NS_COMMAND, name: 'set' }, xml('json', { xmlns: 'urn:xmpp:json:0' }, '{')))],
  ['ad-hoc execute', (to, from) => iq('set', to, from, xml('command', { xmlns: NS_ADHOC, node: 'set', action: 'execute' }))],
  ['ad-hoc complete with a form', (to, from) => iq('set', to, from, xml('command', { xmlns: NS_ADHOC, node: 'set', action: 'complete' }, setForm()))],
  ['ad-hoc cancel', (to, from) => iq('set', to, from, xml('command', { xmlns: NS_ADHOC, node: 'set', action: 'cancel', sessionid: 'abc' }))],
  ['ad-hoc on an unknown node', (to, from) => iq('set', to, from, xml('command', { xmlns: NS_ADHOC, node: 'explode', action: 'execute' }))],
  ['vCard', (to, from) => iq('get', to, from, xml('vCard', { xmlns: 'vcard-temp' }))],
  ['last activity', (to, from) => iq('get', to, from, xml('query', { xmlns: 'jabber:iq:last' }))],
  ['disco#info on the PubSub node', (to, from) => iq('get', to, from, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info', node: 'readings' }))],
  ['disco#items on the PubSub node', (to, from) => iq('get', to, from, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items', node: 'readings' }))],
  ['PubSub items', (to, from) => iq('get', to, from, pubsub(xml('items', { node: 'readings' })))],
  ['PubSub subscriptions', (to, from) => iq('get', to, from, pubsub(xml('subscriptions', {})))],
  ['PubSub subscribe', (to, from) => iq('set', to, from, pubsub(xml('subscribe', { node: 'readings', jid: from })))],
  ['PubSub unsubscribe', (to, from) => iq('set', to, from, pubsub(xml('unsubscribe', { node: 'readings', jid: from })))],
  ['PubSub publish', (to, from) => iq('set', to, from, pubsub(xml('publish', { node: 'readings' }, xml('item', {}))))],
];

export const STANZA_ROWS: [string, Probe][] = [
  ['chat "help"', (to, from) => xml('message', { to, from, type: 'chat', id: 'm1' }, xml('body', {}, 'help'))],
  ['chat command line', (to, from) => xml('message', { to, from, type: 'chat', id: 'm2' }, xml('body', {}, 'set state=ON'))],
  ['chat garbage', (to, from) => xml('message', { to, from, type: 'chat', id: 'm3' }, xml('body', {}, 'xyzzy'))],
  ['presence subscribe', (to, from) => xml('presence', { to, from: from.split('/')[0]!, type: 'subscribe' })],
  ['presence probe', (to, from) => xml('presence', { to, from, type: 'probe' })],
  ['presence unsubscribe', (to, from) => xml('presence', { to, from: from.split('/')[0]!, type: 'unsubscribe' })],
];

