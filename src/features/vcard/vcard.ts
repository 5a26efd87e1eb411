/**
 * Names everywhere: vCard-temp (XEP-0054) for the component and every device, from the mapping's `name` and
 * `description`, so clients show "kitchen climate (home)" instead of a bare JID (the XEP-0172 nick rides on the
 * device's subscription requests, presence.ts). Read-only: a vCard set is not handled (`service-unavailable`). A
 * device the requester may not view answers like one that does not exist (`item-not-found`).
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { xmlSafeText } from '../../convert/xml-safe.js';
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { IqRequest } from '../../kernel/stanza-router.js';
import { errorElement } from '../../xmpp/stanzas.js';
import { NS_VCARD } from '../../xmpp/namespaces.js';

export class VcardFeature implements Feature {
  readonly name = 'vcard';

  constructor(private readonly k: Kernel) {
    k.router.iq('get', NS_VCARD, 'vCard', (req) => this.vcard(req));
    k.disco.componentFeature(NS_VCARD);
    k.disco.deviceFeatures(() => [NS_VCARD]);
  }

  start(): void {}

  stop(): void {}

  private vcard(req: IqRequest): Element {
    if (req.toBare === this.k.xmpp.domain) {
      const name = this.k.config.xmpp.name;
      return card(name, name, 'MQTT devices as XMPP contacts: each device has its own JID.');
    }
    const device = this.k.access.visible(req.toBare, req.fromBare);
    if (!device) return errorElement('DEVICE_UNKNOWN');
    return card(device.name, device.name, device.mapping.description);
  }
}

/** XEP-0054 §3.1: FN (the formatted name clients display), NICKNAME, DESC. */
function card(fn: string, nick: string, desc: string | undefined): Element {
  return xml(
    'vCard',
    { xmlns: NS_VCARD },
    xml('FN', {}, xmlSafeText(fn)),
    xml('NICKNAME', {}, xmlSafeText(nick)),
    desc !== undefined ? xml('DESC', {}, xmlSafeText(desc)) : null,
  );
}
