/**
 * Reading delivery: one message per recipient, from the device JID. Recipients are the device's presence subscribers
 * (when the mapping notifies them) and the mapping's listed JIDs.
 */
import type { Element } from '@xmpp/xml';
import { readingStanza, type ConvertLimits } from '../convert/reading.js';
import { fail, ok, type Result } from '../errors.js';
import type { Metrics } from '../observe/metrics.js';
import type { Reading } from '../pipeline/uplink.js';
import type { SubscriptionStore } from '../store/subscriptions.js';
import type { ComponentLink } from './component.js';

export class ReadingSender {
  private seq = 0;
  /** Ids are unique per process start and increase, so receivers can order and de-duplicate. */
  private readonly idPrefix = `r${Date.now().toString(36)}-`;

  constructor(
    private readonly link: ComponentLink,
    private readonly subscriptions: SubscriptionStore,
    private readonly limits: ConvertLimits,
    private readonly metrics: Metrics,
  ) {}

  recipients(reading: Reading): string[] {
    const { mapping, jid } = reading.device;
    const out = new Set<string>(mapping.notify.jids);
    if (mapping.notify.subscribers) for (const s of this.subscriptions.of(jid)) out.add(s);
    return [...out];
  }

  /** Build and send; the result says how many stanzas went out, or why none could. */
  send(reading: Reading): Result<number> {
    const to = this.recipients(reading);
    if (to.length === 0) {
      this.metrics.inc('readings_without_recipients_total');
      return ok(0);
    }
    const built = readingStanza(
      {
        from: reading.device.jid,
        id: `${this.idPrefix}${(this.seq++).toString(36)}`,
        type: reading.device.mapping.messageType,
        json: reading.json,
        value: reading.value,
        segments: reading.device.segments,
        ...(reading.device.mapping.body ? { body: reading.device.mapping.body } : {}),
      },
      to[0]!,
      this.limits,
    );
    if (!built.ok) return built;
    if (!this.link.online) {
      return fail('XMPP_OFFLINE');
    }
    const stanza: Element = built.value.stanza;
    for (const recipient of to) {
      stanza.attrs['to'] = recipient;
      this.link.send(stanza);
    }
    this.metrics.inc('readings_delivered_total');
    this.metrics.inc('stanzas_sent_total', undefined, to.length);
    return ok(to.length);
  }
}
