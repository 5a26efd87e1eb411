/** XEP-0199 ping and XEP-0092 software version. */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { IqContext } from '@xmpp/component';
import type { Device } from '../../devices/device.js';
import { bareJid } from '../../devices/device-jid.js';
import type { DeviceRegistry } from '../../devices/registry.js';
import { PRODUCT } from '../../version.js';
import { errorElement, NS_VERSION } from '../stanzas.js';

/** XEP-0199 §4.2/§4.3: the component and every device the requester may see answer pings with an empty result. */
export function pingHandler(domain: string, registry: DeviceRegistry, mayView: (d: Device, bare: string) => boolean, onForeignBarrier: (id: string | undefined) => void = () => undefined) {
  return (ctx: IqContext): Element | true => {
    const to = bareJid(ctx.stanza.attrs['to'] ?? '');
    // Our delivery barriers come back to us through the server; someone else's means a second bridge on this domain.
    if (to === domain && bareJid(ctx.stanza.attrs['from'] ?? '') === domain) onForeignBarrier(ctx.stanza.attrs['id']);
    if (to === domain) return true;
    const device = registry.byJid(to);
    return device && mayView(device, bareJid(ctx.stanza.attrs['from'] ?? '')) ? true : errorElement('DEVICE_UNKNOWN');
  };
}

/** XEP-0092: name and version of the component (the OS is left out on purpose: it helps attackers, not users). */
export function versionHandler(domain: string) {
  return (ctx: IqContext): Element | undefined => {
    if (bareJid(ctx.stanza.attrs['to'] ?? '') !== domain) return undefined; // service-unavailable for devices
    return xml('query', { xmlns: NS_VERSION }, xml('name', {}, PRODUCT.name), xml('version', {}, PRODUCT.version));
  };
}
