/**
 * Reading stanzas: one message per recipient, from the device JID. Recipients are the device's presence subscribers
 * (when the mapping notifies them) and the mapping's listed JIDs. The stanza is built once and re-addressed.
 */
import type { Element } from '@xmpp/xml';
import { readingStanza, type ConvertLimits } from '../convert/reading.js';
import type { Device } from '../devices/device.js';
import { ok, type Result } from '../errors.js';
import type { SubscriptionStore } from '../store/subscriptions.js';

/** Reading stanza ids are `<instance>-<row id in base 36>` or `<instance>-q<time>-<n>`: well under this. */
const MAX_ID_LENGTH = 40;

export interface BuiltReading {
  readonly stanza: Element;
  readonly recipients: readonly string[];
}

export class ReadingStanzas {
  constructor(
    private readonly subscriptions: SubscriptionStore,
    private readonly limits: ConvertLimits,
    private readonly domain: string,
  ) {}

  recipients(device: Device): string[] {
    const { mapping, jid } = device;
    const out = new Set<string>(mapping.notify.jids);
    if (mapping.notify.subscribers) for (const s of this.subscriptions.of(jid)) out.add(s);
    return [...out];
  }

  /**
   * Build (and size-check) the message; `delayedSince` adds an XEP-0203 stamp for late delivery. The size is measured
   * for the longest recipient and the longest id the bridge uses, so no copy sent can exceed the limit.
   */
  build(device: Device, json: string, value: unknown, id: string, delayedSince?: Date): Result<BuiltReading> {
    const recipients = this.recipients(device);
    const longest = recipients.reduce((a, b) => (b.length > a.length ? b : a), device.jid);
    const built = readingStanza(
      {
        from: device.jid,
        id: id.length >= MAX_ID_LENGTH ? id : id.padEnd(MAX_ID_LENGTH, '0'),
        type: device.mapping.messageType,
        json,
        value,
        segments: device.segments,
        ...(device.mapping.body ? { body: device.mapping.body } : {}),
        ...(delayedSince ? { delayedSince, delayFrom: this.domain } : {}),
      },
      longest,
      this.limits,
    );
    if (!built.ok) return built;
    built.value.stanza.attrs['id'] = id;
    return ok({ stanza: built.value.stanza, recipients });
  }
}
