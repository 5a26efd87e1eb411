/** The XML namespaces the bridge speaks, each defined once. Pure constants. */

export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'; // RFC 6120 §8.3
export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'; // XEP-0030
export const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items'; // XEP-0030
export const NS_RSM = 'http://jabber.org/protocol/rsm'; // XEP-0059
export const NS_DATA = 'jabber:x:data'; // XEP-0004
export const NS_XDATA_VALIDATE = 'http://jabber.org/protocol/xdata-validate'; // XEP-0122
export const NS_ADHOC = 'http://jabber.org/protocol/commands'; // XEP-0050
export const NS_PING = 'urn:xmpp:ping'; // XEP-0199
export const NS_VERSION = 'jabber:iq:version'; // XEP-0092
export const NS_JSON = 'urn:xmpp:json:0'; // XEP-0335
export const NS_DELAY = 'urn:xmpp:delay'; // XEP-0203
export const NS_RECEIPTS = 'urn:xmpp:receipts'; // XEP-0184
export const NS_CORRECT = 'urn:xmpp:message-correct:0'; // XEP-0308
export const NS_HINTS = 'urn:xmpp:hints'; // XEP-0334
export const NS_IDLE = 'urn:xmpp:idle:1'; // XEP-0319
export const NS_LAST = 'jabber:iq:last'; // XEP-0012
export const NS_NICK = 'http://jabber.org/protocol/nick'; // XEP-0172
export const NS_VCARD = 'vcard-temp'; // XEP-0054
export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub'; // XEP-0060
export const NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event'; // XEP-0060 §7.1.2
export const NS_PUBSUB_ERRORS = 'http://jabber.org/protocol/pubsub#errors'; // XEP-0060 §7.1.3
/** The bridge's own command IQ (docs/COMMANDS.md). */
export const NS_COMMAND = 'urn:mqtt-xmpp-bridge:command:0';
