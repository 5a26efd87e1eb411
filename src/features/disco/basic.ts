/** XEP-0199 ping and XEP-0092 software version. */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { AccessPolicy } from '../../kernel/access-policy.js';
import type { IqRequest } from '../../kernel/stanza-router.js';
import { PRODUCT } from '../../version.js';
import { errorElement } from '../../xmpp/stanzas.js';
import { NS_VERSION } from '../../xmpp/namespaces.js';

/**
 * XEP-0199 §4.2/§4.3: the component and every device the requester may see answer pings with an empty result.
 * `onDomainPing` sees pings from the component's own domain to itself (delivery barriers) with their id.
 */
export function pingHandler(domain: string, access: AccessPolicy, onDomainPing: (id: string | undefined) => void = () => undefined) {
  return (req: IqRequest): Element | true => {
    const to = req.toBare;
    if (to === domain && req.fromBare === domain) onDomainPing(req.stanza.attrs['id']);
    if (to === domain) return true;
    return access.visible(to, req.fromBare) ? true : errorElement('DEVICE_UNKNOWN');
  };
}

/** XEP-0092: name and version of the component (the OS is left out on purpose: it helps attackers, not users). */
export function versionHandler(domain: string) {
  return (req: IqRequest): Element | undefined => {
    if (req.toBare !== domain) return undefined; // service-unavailable for devices, whether they exist or not
    return xml('query', { xmlns: NS_VERSION }, xml('name', {}, PRODUCT.name), xml('version', {}, PRODUCT.version));
  };
}
