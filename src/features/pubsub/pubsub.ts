/**
 * XEP-0060 publish-subscribe on each device JID, hosted by the component, for programs and dashboards — on this
 * server or any other (the JID is reached over federation like any other). Each device is a PubSub service with one
 * leaf node, `readings`, whose items are its readings as XEP-0335 JSON, one item per reading (the change policy is for
 * people; programs get every reading), id = the time the bridge received it.
 *
 * Supported (XEP-0060 §5–§7): subscribe (§6.1, with the last item sent at once, §6.1.7) and unsubscribe (§6.2),
 * retrieving the requester's subscriptions (§5.6), the last N items or items by id (§6.5), notifications as `headline`
 * messages (§7.1.2: never stored offline, never archived); discovery of the node, its items and its features (§5.1–
 * §5.5). Nodes are the bridge's: publishing, creating, configuring and deleting are refused (`forbidden`, §7.1.3.1).
 *
 * Access is the mapping's viewers, checked on every request and on every notification (a reload may have changed
 * them). Subscriptions are bounded: 10 per account (its clients) and 1,000 per device (`too-many-subscriptions`). A device the requester may not view answers exactly like one that does not exist (`item-not-found`).
 * Subscriptions are durable (PubsubSubscriptionStore); notifications are best effort (not in the outbox).
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { xmlSafeJson } from '../../convert/xml-safe.js';
import type { Device } from '../../devices/device.js';
import { bareJid } from '../../devices/device-jid.js';
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { IqReply, IqRequest } from '../../kernel/stanza-router.js';
import { errorElement, field } from '../../xmpp/stanzas.js';
import { NS_DATA, NS_DISCO_INFO, NS_JSON, NS_PUBSUB, NS_PUBSUB_ERRORS, NS_PUBSUB_EVENT, NS_STANZAS } from '../../xmpp/namespaces.js';
import { ItemHistory, type Item } from './items.js';

/** The one node of every device. */
export const NODE = 'readings';

/** Subscriptions one account may hold on one device (its clients), and a device may have: durable state stays bounded. */
const MAX_PER_ACCOUNT = 10;
const MAX_PER_DEVICE = 1000;

/** XEP-0060 §10: what a device's PubSub service supports. */
const FEATURES = ['', '#subscribe', '#retrieve-items', '#retrieve-subscriptions', '#last-published', '#item-ids'].map((f) => `${NS_PUBSUB}${f}`);

export class PubsubFeature implements Feature {
  readonly name = 'pubsub';
  private readonly history = new ItemHistory();
  private readonly unsubscribe: (() => void)[] = [];
  private seq = 0;

  constructor(private readonly k: Kernel) {
    k.router.iq('set', NS_PUBSUB, 'pubsub', (req) => this.set(req));
    k.router.iq('get', NS_PUBSUB, 'pubsub', (req) => this.get(req));
    k.disco.deviceFeatures((d) => (d.mapping.pubsub.enabled ? FEATURES : []));
    k.disco.deviceItems((d) => (d.mapping.pubsub.enabled ? [xml('item', { jid: d.jid, node: NODE, name: `readings of ${d.name}` })] : []));
    k.disco.node({
      info: (d, node) => (node === NODE && d.mapping.pubsub.enabled ? this.nodeInfo(d) : undefined),
      items: (d, node) => (node === NODE && d.mapping.pubsub.enabled ? this.items(d, d.mapping.pubsub.items).map((i) => xml('item', { jid: d.jid, name: i.id })) : undefined),
    });
  }

  start(): void {
    const { bus } = this.k;
    this.unsubscribe.push(
      bus.on('reading', ({ reading, replay }) => {
        if (!replay) this.publish(reading.device, reading.receivedAt, reading.json);
      }),
      bus.on('device_removed', ({ device }) => this.history.forget(device.jid)),
    );
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** A new reading: a new item, and a notification to every subscriber who may still view the device. */
  private publish(device: Device, receivedAt: number, json: string): void {
    const p = device.mapping.pubsub;
    if (!p.enabled) return;
    const item = this.history.add(device.jid, receivedAt, json, p.items);
    const subscribers = this.k.stores.pubsub.of(device.jid, NODE);
    if (subscribers.size === 0) return;
    const message = this.notification(device, item);
    for (const to of subscribers) {
      if (!this.k.access.mayView(device, bareJid(to))) continue;
      message.attrs['to'] = to;
      message.attrs['id'] = `${this.k.stores.instanceId}-p${(this.seq++).toString(36)}`;
      this.k.xmpp.send(message);
      this.k.metrics.inc('pubsub_notifications_total');
    }
  }

  /** XEP-0060 §7.1.2.1: an event notification with the item, as a headline (not stored offline, not archived). */
  private notification(device: Device, item: Item): Element {
    return xml('message', { from: device.jid, to: '', type: 'headline', id: '' }, xml('event', { xmlns: NS_PUBSUB_EVENT }, xml('items', { node: NODE }, itemElement(item))));
  }

  private set(req: IqRequest): IqReply {
    const found = this.node(req);
    if ('error' in found) return found.error;
    const { device, op } = found;
    switch (op.name) {
      case 'subscribe':
        return this.subscribe(req, device, op);
      case 'unsubscribe':
        return this.unsubscribeJid(req, device, op);
      case 'publish':
      case 'retract':
      case 'purge':
      case 'delete':
      case 'create':
      case 'configure':
        // §7.1.3.1: only the bridge publishes on its devices' nodes.
        return errorElement('FORBIDDEN');
      default:
        return unsupported(op.name);
    }
  }

  private get(req: IqRequest): IqReply {
    const found = this.node(req);
    if ('error' in found) return found.error;
    const { device, op } = found;
    switch (op.name) {
      case 'items':
        return this.retrieve(device, op);
      case 'subscriptions':
        return xml(
          'pubsub',
          { xmlns: NS_PUBSUB },
          xml(
            'subscriptions',
            {},
            ...[...this.k.stores.pubsub.of(device.jid, NODE)].filter((j) => bareJid(j) === req.fromBare).map((j) => xml('subscription', { node: NODE, jid: j, subscription: 'subscribed' })),
          ),
        );
      default:
        return unsupported(op.name);
    }
  }

  /** The device (visible to the requester) and the operation; the node named by the operation must be ours. */
  private node(req: IqRequest): { device: Device; op: Element } | { error: Element } {
    const device = this.k.access.visible(req.toBare, req.fromBare);
    if (!device || !device.mapping.pubsub.enabled) return { error: errorElement('DEVICE_UNKNOWN') };
    const op = req.child.getChildElements()[0];
    if (!op) return { error: errorElement('COMMAND_INVALID', 'an empty pubsub request') };
    const node = op.attrs['node'];
    // §5.6 (subscriptions of the whole service) may omit the node; everything else names it (§6.1.3.3).
    if (node === undefined && op.name !== 'subscriptions') return { error: pubsubError('bad-request', 'modify', 'nodeid-required') };
    if (node !== undefined && node !== NODE) return { error: errorElement('DEVICE_UNKNOWN', `no node ${node}`) };
    return { device, op };
  }

  private subscribe(req: IqRequest, device: Device, op: Element): IqReply {
    const jid = op.attrs['jid'];
    // §6.1.3.1: one may only subscribe oneself (the bare JID or one of one's own full JIDs).
    if (!jid || bareJid(jid) !== req.fromBare) return pubsubError('bad-request', 'modify', 'invalid-jid');
    const existing = this.k.stores.pubsub.of(device.jid, NODE);
    if (!existing.has(jid)) {
      let mine = 0;
      for (const s of existing) if (bareJid(s) === req.fromBare) mine += 1;
      // §6.1.3.9: a subscription limit.
      if (mine >= MAX_PER_ACCOUNT || existing.size >= MAX_PER_DEVICE) return pubsubError('not-allowed', 'cancel', 'too-many-subscriptions');
    }
    if (this.k.stores.pubsub.add(device.jid, NODE, jid)) this.k.bus.emit('pubsub_subscribed', { device, node: NODE, subscriber: jid });
    // §6.1.7: the last published item, right after the result.
    const last = this.items(device, 1)[0];
    if (last) {
      setImmediate(() => {
        const m = this.notification(device, last);
        m.attrs['to'] = jid;
        m.attrs['id'] = `${this.k.stores.instanceId}-p${(this.seq++).toString(36)}`;
        this.k.xmpp.send(m);
      });
    }
    return xml('pubsub', { xmlns: NS_PUBSUB }, xml('subscription', { node: NODE, jid, subscription: 'subscribed' }));
  }

  private unsubscribeJid(req: IqRequest, device: Device, op: Element): IqReply {
    const jid = op.attrs['jid'];
    if (!jid || bareJid(jid) !== req.fromBare) return pubsubError('bad-request', 'modify', 'invalid-jid');
    // §6.2.3.2: not subscribed.
    if (!this.k.stores.pubsub.delete(device.jid, NODE, jid)) return pubsubError('unexpected-request', 'cancel', 'not-subscribed');
    this.k.bus.emit('pubsub_unsubscribed', { device, node: NODE, subscriber: jid });
    return true;
  }

  /** §6.5: the last items (all kept, or `max_items`), or the ones named. */
  private retrieve(device: Device, op: Element): Element {
    const keep = device.mapping.pubsub.items;
    const ids = op.getChildren('item').map((i) => i.attrs['id']).filter((id): id is string => id !== undefined);
    const max = Number(op.attrs['max_items']);
    const items = ids.length > 0 ? this.byIds(device, ids) : this.items(device, Number.isInteger(max) && max > 0 ? Math.min(max, keep) : keep);
    return xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node: NODE }, ...items.map(itemElement)));
  }

  /** The last `n` items; at least the device's latest reading when it has one. */
  private items(device: Device, n: number): readonly Item[] {
    const kept = this.history.last(device.jid, n);
    if (kept.length > 0) return kept;
    const latest = this.k.stores.latest.get(device.jid);
    return latest ? [{ id: new Date(latest.receivedAt).toISOString(), json: latest.json }] : [];
  }

  private byIds(device: Device, ids: readonly string[]): Item[] {
    const found = this.history.byIds(device.jid, ids);
    if (found.length > 0) return found;
    return this.items(device, 1).filter((i) => ids.includes(i.id));
  }

  /** disco#info on the node (XEP-0060 §5.4): a leaf, with its meta-data. */
  private nodeInfo(device: Device): Element {
    return xml(
      'query',
      { xmlns: NS_DISCO_INFO, node: NODE },
      xml('identity', { category: 'pubsub', type: 'leaf' }),
      xml('feature', { var: NS_PUBSUB }),
      xml(
        'x',
        { xmlns: NS_DATA, type: 'result' },
        field({ var: 'FORM_TYPE', type: 'hidden' }, `${NS_PUBSUB}#meta-data`),
        field({ var: 'pubsub#title', label: 'Title' }, `readings of ${device.name}`),
        field({ var: 'pubsub#type', label: 'Payload type' }, NS_JSON),
        field({ var: 'pubsub#max_items', label: 'Items kept' }, String(device.mapping.pubsub.items)),
      ),
    );
  }
}

function itemElement(item: Item): Element {
  return xml('item', { id: item.id }, xml('json', { xmlns: NS_JSON }, xmlSafeJson(item.json)));
}

/** A stanza error with its XEP-0060 application condition (§7.1.3 etc.). */
function pubsubError(condition: string, type: string, specific: string, feature?: string): Element {
  return xml('error', { type }, xml(condition, { xmlns: NS_STANZAS }), xml(specific, { xmlns: NS_PUBSUB_ERRORS, ...(feature ? { feature } : {}) }));
}

/** §4.6 / §7.1.3.x: a request this service does not implement. */
function unsupported(op: string): Element {
  return pubsubError('feature-not-implemented', 'cancel', 'unsupported', op);
}
