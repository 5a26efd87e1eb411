/**
 * Delivery modes: what a reading becomes on the XMPP side, and for whom. The delivery engine (delivery.ts) keeps the
 * promise — durable, ordered, confirmed by barriers, replayed after an outage — and asks the reading's mode to turn
 * it into stanzas, when it is first accepted and again on every replay (recipients may have changed meanwhile).
 *
 * The mode here (`chat`, `headline`, `normal`) sends one message per reading to each recipient who gets it now
 * (recipients.ts: the followers who are online, or all of them with `offline: store`), from the device JID. The stanza
 * is built once and re-addressed. `live` is live-delivery.ts.
 */
import type { Element } from '@xmpp/xml';
import { readingStanza, type ConvertLimits } from '../../convert/reading.js';
import type { Device } from '../../devices/device.js';
import { ok, type Result } from '../../errors.js';
import type { XmppLink } from '../../kernel/xmpp-link.js';
import type { Recipients } from './recipients.js';

/** What a reading becomes, ready to be written with its stanza id. */
export interface OutgoingReading {
  /** Addressees now; 0: nobody to tell (the reading is not kept). */
  readonly recipients: number;
  /** Write it with this stanza id; returns the number of stanzas written. */
  write(id: string): number;
}

/** The reading as a mode needs it. */
export interface ReadingData {
  /** The JSON text as the device sent it. */
  readonly json: string;
  readonly value: unknown;
  /** When the bridge received it (ms since epoch). */
  readonly receivedAt: number;
}

export interface PrepareOptions {
  /** Late delivery: an XEP-0203 stamp with this time. */
  readonly delayedSince?: Date;
  /** Only these recipients (a returning follower, a new subscriber) instead of everyone who gets it now. */
  readonly to?: readonly string[];
}

/** A delivery mode (the seam other modes implement). */
export interface ReadingDelivery {
  /** Build what the reading becomes, checked against the limits: a failure (e.g. STANZA_TOO_LARGE) rejects the reading. */
  prepare(device: Device, reading: ReadingData, opts?: PrepareOptions): Result<OutgoingReading>;
  /** The stanza one recipient would get now, without sending anything (previews). */
  preview(device: Device, reading: ReadingData, to: string): Result<Element>;
  /** Forget what is kept per recipient (unsubscribed) or per device (removed). */
  forget?(deviceJid: string, user?: string): void;
}

/** Reading stanza ids are `<instance>-<row id in base 36>` or `<instance>-q<time>-<n>`: well under this. */
export const MAX_ID_LENGTH = 40;

/** XEP-0334 hints for a mapping that does not want its readings archived. */
export function archiveHints(device: Device): readonly ('no-store' | 'no-permanent-store')[] {
  const d = device.mapping.delivery;
  if (d.archive) return [];
  // RFC 6121 offline storage is what `offline: store` asks for; only the archive (XEP-0313) is declined then.
  return d.offline === 'store' ? ['no-permanent-store'] : ['no-store', 'no-permanent-store'];
}

/**
 * A mode that sends each reading as one message, the same to every recipient but for its `to` (chat, headline, media):
 * the message is built once, then written per recipient. Subclasses say what the message is.
 */
export abstract class OneMessageDelivery implements ReadingDelivery {
  constructor(
    protected readonly link: Pick<XmppLink, 'domain' | 'send'>,
    protected readonly recipients: Recipients,
    protected readonly limits: ConvertLimits,
  ) {}

  /**
   * The size is measured for the longest recipient and the longest id the bridge uses, so no copy sent can exceed
   * the limit.
   */
  prepare(device: Device, reading: ReadingData, opts: PrepareOptions = {}): Result<OutgoingReading> {
    const recipients = opts.to ?? this.recipients.now(device);
    const built = this.message(device, reading, recipients, opts.delayedSince);
    if (!built.ok) return built;
    const stanza = built.value;
    const { link } = this;
    const log = this.recipients;
    return ok({
      recipients: recipients.length,
      write(id: string): number {
        stanza.attrs['id'] = id;
        for (const to of recipients) {
          stanza.attrs['to'] = to;
          link.send(stanza);
        }
        log.delivered(device, recipients, reading.receivedAt, stanza.getChildText('body') ?? '');
        return recipients.length;
      },
    });
  }

  preview(device: Device, reading: ReadingData, to: string): Result<Element> {
    const built = this.message(device, reading, [to]);
    if (built.ok) built.value.attrs['to'] = to;
    return built;
  }

  /** The message (before an id and a recipient are set on it), measured for the longest of `recipients`. */
  protected abstract message(device: Device, reading: ReadingData, recipients: readonly string[], delayedSince?: Date): Result<Element>;
}

export class ChatDelivery extends OneMessageDelivery {
  /** The message for every follower of the device, online or not (before an id and a recipient are set on it). */
  build(device: Device, json: string, value: unknown, delayedSince?: Date): Result<{ stanza: Element; recipients: readonly string[] }> {
    const recipients = this.recipients.followers(device);
    const built = this.message(device, { json, value, receivedAt: Date.now() }, recipients, delayedSince);
    return built.ok ? ok({ stanza: built.value, recipients }) : built;
  }

  protected message(device: Device, reading: ReadingData, recipients: readonly string[], delayedSince?: Date): Result<Element> {
    const longest = recipients.reduce((a, b) => (b.length > a.length ? b : a), device.jid);
    const built = readingStanza(
      {
        from: device.jid,
        id: ''.padEnd(MAX_ID_LENGTH, '0'),
        type: device.mapping.messageType,
        json: reading.json,
        value: reading.value,
        segments: device.segments,
        ...(device.mapping.body ? { body: device.mapping.body } : {}),
        ...(delayedSince ? { delayedSince, delayFrom: this.link.domain } : {}),
        hints: archiveHints(device),
      },
      longest,
      this.limits,
    );
    return built.ok ? ok(built.value.stanza) : built;
  }
}
