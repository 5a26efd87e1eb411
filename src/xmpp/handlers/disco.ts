/**
 * Service discovery (XEP-0030). The component answers disco#info (a gateway identity and its features) and
 * disco#items (the devices the requester may see, paged with XEP-0059 result set management, because a large fleet
 * would not fit in one stanza). A device answers disco#info with its identity, its features and, as an XEP-0128
 * extended-info form, its mapping, payload schema, reading topic and state. Devices the requester may not view are
 * indistinguishable from devices that do not exist (`item-not-found`).
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { IqContext } from '@xmpp/component';
import type { Device } from '../../devices/device.js';
import { bareJid } from '../../devices/device-jid.js';
import type { DeviceRegistry } from '../../devices/registry.js';
import { formatTopic } from '../../mapping/topic-pattern.js';
import { errorElement, field, NS_DATA, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_JSON, NS_PING, NS_RSM, NS_VERSION } from '../stanzas.js';

export const FORM_TYPE_DEVICE = 'urn:mqtt-xmpp-bridge:device:0';
/** Items returned when the requester does not ask for a page size. */
const DEFAULT_PAGE = 250;

export interface DiscoDeps {
  readonly domain: string;
  readonly name: string;
  readonly registry: DeviceRegistry;
  readonly mayView: (device: Device, bare: string) => boolean;
  /** Extra features of devices (commands etc. register here). */
  readonly deviceFeatures: (device: Device) => readonly string[];
  readonly componentFeatures: () => readonly string[];
  /** disco#info on a node of a device (e.g. an ad-hoc command node), or undefined when there is no such node. */
  readonly nodeInfo?: (device: Device, node: string, from: string) => Element | undefined;
  /** disco#items on a node of a device (e.g. the ad-hoc commands node). */
  readonly nodeItems?: (device: Device, node: string, from: string) => Element[] | undefined;
}

export function discoInfoHandler(deps: DiscoDeps) {
  return (ctx: IqContext): Element => {
    const to = bareJid(ctx.stanza.attrs['to'] ?? '');
    const from = bareJid(ctx.stanza.attrs['from'] ?? '');
    const node = ctx.element.attrs['node'];
    if (node) {
      const device = deps.registry.byJid(to);
      const info = device && deps.mayView(device, from) ? deps.nodeInfo?.(device, node, from) : undefined;
      return info ?? errorElement('DEVICE_UNKNOWN', `no node ${node}`);
    }
    if (to === deps.domain) {
      return xml(
        'query',
        { xmlns: NS_DISCO_INFO },
        xml('identity', { category: 'gateway', type: 'mqtt', name: deps.name }),
        ...features([NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_VERSION, NS_RSM, ...deps.componentFeatures()]),
      );
    }
    const device = deps.registry.byJid(to);
    if (!device || !deps.mayView(device, from)) return errorElement('DEVICE_UNKNOWN');
    const topic = formatTopic(device.mapping.topic, device.segments).topic ?? device.mapping.topic.source;
    return xml(
      'query',
      { xmlns: NS_DISCO_INFO },
      xml('identity', { category: 'client', type: 'bot', name: device.name }),
      ...features([NS_DISCO_INFO, NS_JSON, NS_PING, ...deps.deviceFeatures(device)]),
      // XEP-0128: service discovery extensions.
      xml(
        'x',
        { xmlns: NS_DATA, type: 'result' },
        field({ var: 'FORM_TYPE', type: 'hidden' }, FORM_TYPE_DEVICE),
        field({ var: 'mapping', label: 'Mapping' }, device.mapping.id),
        field({ var: 'schema', label: 'Payload schema' }, device.mapping.schema.id),
        field({ var: 'topic', label: 'Reading topic' }, topic),
        field({ var: 'online', type: 'boolean', label: 'Online' }, device.online ? '1' : '0'),
        ...(device.lastSeen > 0 ? [field({ var: 'last-seen', label: 'Last seen' }, new Date(device.lastSeen).toISOString())] : []),
      ),
    );
  };
}

export function discoItemsHandler(deps: DiscoDeps) {
  return (ctx: IqContext): Element => {
    const to = bareJid(ctx.stanza.attrs['to'] ?? '');
    const from = bareJid(ctx.stanza.attrs['from'] ?? '');
    const node = ctx.element.attrs['node'];
    if (to !== deps.domain) {
      const device = deps.registry.byJid(to);
      if (!device || !deps.mayView(device, from)) return errorElement('DEVICE_UNKNOWN');
      if (!node) return xml('query', { xmlns: NS_DISCO_ITEMS });
      const items = deps.nodeItems?.(device, node, from);
      return items ? xml('query', { xmlns: NS_DISCO_ITEMS, node }, ...items) : errorElement('DEVICE_UNKNOWN', `no node ${node}`);
    }
    if (node) return xml('query', { xmlns: NS_DISCO_ITEMS, node }); // e.g. the commands node of the component: none
    const visible = [...deps.registry.all()].filter((d) => deps.mayView(d, from)).sort((a, b) => (a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : 0));
    // XEP-0059 §2.1/§2.2: <max/> limits the page, <after/> continues after the last item of the previous page.
    const set = ctx.element.getChild('set', NS_RSM);
    const max = Math.max(0, Math.min(Number(set?.getChildText('max') ?? DEFAULT_PAGE) || 0, 1000));
    const after = set?.getChildText('after') ?? undefined;
    let start = 0;
    if (after) {
      start = visible.findIndex((d) => d.jid === after) + 1;
      if (start === 0) return errorElement('DEVICE_UNKNOWN', 'the <after/> item is not in the list');
    }
    const page = visible.slice(start, start + max);
    const rsm =
      set || visible.length > page.length
        ? xml(
            'set',
            { xmlns: NS_RSM },
            page.length > 0 ? xml('first', { index: String(start) }, page[0]!.jid) : null,
            page.length > 0 ? xml('last', {}, page[page.length - 1]!.jid) : null,
            xml('count', {}, String(visible.length)),
          )
        : null;
    return xml('query', { xmlns: NS_DISCO_ITEMS }, ...page.map((d) => xml('item', { jid: d.jid, name: d.name })), rsm);
  };
}

function features(vars: readonly string[]): Element[] {
  return [...new Set(vars)].sort().map((v) => xml('feature', { var: v }));
}
