/**
 * Delivery modes: what a reading becomes on the XMPP side, and for whom. The delivery engine (delivery.ts) keeps the
 * promise — durable, ordered, confirmed by barriers, replayed after an outage — and asks the reading's mode to turn
 * it into stanzas, when it is first accepted and again on every replay (recipients may have changed meanwhile).
 *
 * The mode here sends one message per recipient (`chat`, `headline` or `normal`, per mapping), from the device JID:
 * recipients are the device's presence subscribers (when the mapping notifies them) and the mapping's listed JIDs.
 * The stanza is built once and re-addressed.
 */
import type { Element } from '@xmpp/xml';
import { readingStanza, type ConvertLimits } from '../../convert/reading.js';
import type { Device } from '../../devices/device.js';
import { ok, type Result } from '../../errors.js';
import type { SubscriptionStore } from '../../kernel/stores.js';
import type { XmppLink } from '../../kernel/xmpp-link.js';

/** What a reading becomes, ready to be written with its stanza id. */
export interface OutgoingReading {
  /** Addressees now; 0: nobody to tell (the reading is not kept). */
  readonly recipients: number;
  /** Write it with this stanza id; returns the number of stanzas written. */
  write(id: string): number;
}

/** A delivery mode (the seam other modes implement). */
export interface ReadingDelivery {
  /**
   * Build what the reading becomes, checked against the limits: a failure (e.g. STANZA_TOO_LARGE) rejects the
   * reading. `delayedSince` asks for an XEP-0203 stamp (late delivery).
   */
  prepare(device: Device, json: string, value: unknown, delayedSince?: Date): Result<OutgoingReading>;
}

/** Reading stanza ids are `<instance>-<row id in base 36>` or `<instance>-q<time>-<n>`: well under this. */
const MAX_ID_LENGTH = 40;

export class ChatDelivery implements ReadingDelivery {
  constructor(
    private readonly link: Pick<XmppLink, 'domain' | 'send'>,
    private readonly subscriptions: SubscriptionStore,
    private readonly limits: ConvertLimits,
  ) {}

  recipients(device: Device): string[] {
    const { mapping, jid } = device;
    const out = new Set<string>(mapping.notify.jids);
    if (mapping.notify.subscribers) for (const s of this.subscriptions.of(jid)) out.add(s);
    return [...out];
  }

  /**
   * The size is measured for the longest recipient and the longest id the bridge uses, so no copy sent can exceed
   * the limit.
   */
  prepare(device: Device, json: string, value: unknown, delayedSince?: Date): Result<OutgoingReading> {
    const built = this.build(device, json, value, delayedSince);
    if (!built.ok) return built;
    const { stanza, recipients } = built.value;
    const link = this.link;
    return ok({
      recipients: recipients.length,
      write(id: string): number {
        stanza.attrs['id'] = id;
        for (const to of recipients) {
          stanza.attrs['to'] = to;
          link.send(stanza);
        }
        return recipients.length;
      },
    });
  }

  /** The message and its recipients (before an id and a recipient are set on it). */
  build(device: Device, json: string, value: unknown, delayedSince?: Date): Result<{ stanza: Element; recipients: readonly string[] }> {
    const recipients = this.recipients(device);
    const longest = recipients.reduce((a, b) => (b.length > a.length ? b : a), device.jid);
    const built = readingStanza(
      {
        from: device.jid,
        id: ''.padEnd(MAX_ID_LENGTH, '0'),
        type: device.mapping.messageType,
        json,
        value,
        segments: device.segments,
        ...(device.mapping.body ? { body: device.mapping.body } : {}),
        ...(delayedSince ? { delayedSince, delayFrom: this.link.domain } : {}),
      },
      longest,
      this.limits,
    );
    if (!built.ok) return built;
    return ok({ stanza: built.value.stanza, recipients });
  }
}
