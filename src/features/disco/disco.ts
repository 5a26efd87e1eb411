/**
 * Service discovery (XEP-0030). The component answers disco#info (a gateway identity and its features) and
 * disco#items (the devices the requester may see, paged with XEP-0059 result set management, because a large fleet
 * would not fit in one stanza). A device answers disco#info with its identity, its features and, as an XEP-0128
 * extended-info form, its mapping, payload schema, reading topic and state. Devices the requester may not view are
 * indistinguishable from devices that do not exist (`item-not-found`).
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { DeviceRegistry } from '../../devices/registry.js';
import type { AccessPolicy } from '../../kernel/access-policy.js';
import type { DiscoRegistry } from '../../kernel/disco-registry.js';
import type { IqRequest } from '../../kernel/stanza-router.js';
import { formatTopic } from '../../mapping/topic-pattern.js';
import { errorElement, field } from '../../xmpp/stanzas.js';
import { NS_DATA, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_JSON, NS_PING, NS_RSM, NS_VERSION } from '../../xmpp/namespaces.js';

export const FORM_TYPE_DEVICE = 'urn:mqtt-xmpp-bridge:device:0';
/** Items returned when the requester does not ask for a page size. */
const DEFAULT_PAGE = 250;

export interface DiscoDeps {
  readonly domain: string;
  readonly name: string;
  readonly registry: DeviceRegistry;
  readonly access: AccessPolicy;
  /** What features contribute: component and device features, device nodes. */
  readonly contributions: DiscoRegistry;
}

export function discoInfoHandler(deps: DiscoDeps) {
  return (req: IqRequest): Element => {
    const to = req.toBare;
    const from = req.fromBare;
    const node = req.child.attrs['node'];
    if (to === deps.domain) {
      if (node) return deps.contributions.componentNodeInfo(node, from) ?? errorElement('DEVICE_UNKNOWN', `no node ${node}`);
      return xml(
        'query',
        { xmlns: NS_DISCO_INFO },
        xml('identity', { category: 'gateway', type: 'mqtt', name: deps.name }),
        ...features([NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_VERSION, NS_RSM, ...deps.contributions.componentFeaturesOf()]),
      );
    }
    // Hidden and unknown devices get one answer, the same for every node (access-policy.ts).
    const device = deps.access.visible(to, from);
    if (!device) return errorElement('DEVICE_UNKNOWN');
    if (node) return deps.contributions.nodeInfo(device, node, from) ?? errorElement('DEVICE_UNKNOWN', `no node ${node}`);
    const topic = formatTopic(device.mapping.topic, device.segments).topic ?? device.mapping.topic.source;
    return xml(
      'query',
      { xmlns: NS_DISCO_INFO },
      xml('identity', { category: 'client', type: 'bot', name: device.name }),
      ...features([NS_DISCO_INFO, NS_JSON, NS_PING, ...deps.contributions.deviceFeaturesOf(device)]),
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
  return (req: IqRequest): Element => {
    const to = req.toBare;
    const from = req.fromBare;
    const node = req.child.attrs['node'];
    if (to !== deps.domain) {
      const device = deps.access.visible(to, from);
      if (!device) return errorElement('DEVICE_UNKNOWN');
      if (!node) return xml('query', { xmlns: NS_DISCO_ITEMS }, ...deps.contributions.deviceItemsOf(device, from));
      const items = deps.contributions.nodeItems(device, node, from);
      return items ? xml('query', { xmlns: NS_DISCO_ITEMS, node }, ...items) : errorElement('DEVICE_UNKNOWN', `no node ${node}`);
    }
    // e.g. the commands node of the component: the admin commands this requester may run
    if (node) return xml('query', { xmlns: NS_DISCO_ITEMS, node }, ...deps.contributions.componentNodeItems(node, from));
    const visible = [...deps.registry.all()].filter((d) => deps.access.mayView(d, from)).sort((a, b) => (a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : 0));
    // XEP-0059 §2.1/§2.2: <max/> limits the page, <after/> continues after the last item of the previous page.
    const set = req.child.getChild('set', NS_RSM);
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
