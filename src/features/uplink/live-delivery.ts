/**
 * The `live` delivery mode: one message per device, recipient and period (an hour, a day or a week, local time) that
 * later readings correct in place with XEP-0308 — Conversations, Gajim and Dino replace the text of the message without
 * a new notification, so a chat window holds one line per day that always shows the current value.
 *
 * Per recipient, the first reading of a period is sent as a message of its own (the "original"); the next ones are
 * corrections that name the original's id (XEP-0308 §3: a correction always refers to the original message), carry
 * XEP-0334 `no-store`/`no-permanent-store` hints (a correction is not worth archiving or keeping offline), and are not
 * sent at all when the text a person sees would not change. A recipient who has not had the period's original (they
 * were away, or started following) gets a new original.
 *
 * What is kept: one (original id, period, text) per device and recipient, in memory; after a restart each recipient
 * gets a new original.
 */
import type { Element } from '@xmpp/xml';
import { readingStanza, type ConvertLimits } from '../../convert/reading.js';
import type { Device } from '../../devices/device.js';
import { ok, type Result } from '../../errors.js';
import type { DeliveryPolicy } from '../../mapping/mapping.js';
import type { XmppLink } from '../../kernel/xmpp-link.js';
import { NS_CORRECT } from '../../xmpp/namespaces.js';
import { archiveHints, MAX_ID_LENGTH, type OutgoingReading, type PrepareOptions, type ReadingData, type ReadingDelivery } from './chat-delivery.js';
import type { Recipients } from './recipients.js';

interface Thread {
  /** Id of the period's original message, as this recipient got it. */
  readonly original: string;
  readonly period: string;
  /** The text the recipient sees now. */
  body: string;
}

export class LiveDelivery implements ReadingDelivery {
  /** device JID → recipient → the message they see. */
  private readonly threads = new Map<string, Map<string, Thread>>();

  constructor(
    private readonly link: Pick<XmppLink, 'domain' | 'send'>,
    private readonly recipients: Recipients,
    private readonly limits: ConvertLimits,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  prepare(device: Device, reading: ReadingData, opts: PrepareOptions = {}): Result<OutgoingReading> {
    const recipients = opts.to ?? this.recipients.now(device);
    const built = this.build(device, reading, recipients, opts.delayedSince);
    if (!built.ok) return built;
    const { original, correction, replace, body } = built.value;
    return ok({
      recipients: recipients.length,
      write: (id: string): number => {
        const period = periodKey(device.mapping.delivery.period, this.clock());
        let threads = this.threads.get(device.jid);
        if (!threads) this.threads.set(device.jid, (threads = new Map<string, Thread>()));
        let sent = 0;
        for (const to of recipients) {
          const t = threads.get(to);
          if (t && t.period === period && t.original !== id) {
            if (t.body === body) continue; // the text would not change: nothing to correct
            correction.attrs['id'] = id;
            correction.attrs['to'] = to;
            replace.attrs['id'] = t.original;
            this.link.send(correction);
            t.body = body;
          } else {
            original.attrs['id'] = id;
            original.attrs['to'] = to;
            this.link.send(original);
            threads.set(to, { original: id, period, body });
          }
          sent += 1;
        }
        this.recipients.delivered(device, recipients, reading.receivedAt, body);
        return sent;
      },
    });
  }

  preview(device: Device, reading: ReadingData, to: string): Result<Element> {
    const built = this.build(device, reading, [to]);
    if (!built.ok) return built;
    const t = this.threads.get(device.jid)?.get(to);
    const period = periodKey(device.mapping.delivery.period, this.clock());
    const el = t && t.period === period ? built.value.correction : built.value.original;
    if (t && t.period === period) built.value.replace.attrs['id'] = t.original;
    el.attrs['to'] = to;
    return ok(el);
  }

  forget(deviceJid: string, user?: string): void {
    if (user === undefined) this.threads.delete(deviceJid);
    else this.threads.get(deviceJid)?.delete(user);
  }

  /** Both forms of the message; the size limit is checked on the correction, the larger one, for the longest recipient. */
  private build(
    device: Device,
    reading: ReadingData,
    recipients: readonly string[],
    delayedSince?: Date,
  ): Result<{ original: Element; correction: Element; replace: Element; body: string }> {
    const longest = recipients.reduce((a, b) => (b.length > a.length ? b : a), device.jid);
    const base = {
      from: device.jid,
      id: ''.padEnd(MAX_ID_LENGTH, '0'),
      type: 'chat' as const,
      json: reading.json,
      value: reading.value,
      segments: device.segments,
      ...(device.mapping.body ? { body: device.mapping.body } : {}),
      ...(delayedSince ? { delayedSince, delayFrom: this.link.domain } : {}),
    };
    const correction = readingStanza({ ...base, replace: ''.padEnd(MAX_ID_LENGTH, '0'), hints: ['no-store', 'no-permanent-store'] }, longest, this.limits);
    if (!correction.ok) return correction;
    const original = readingStanza({ ...base, hints: archiveHints(device) }, longest, this.limits);
    if (!original.ok) return original;
    const replace = correction.value.stanza.getChild('replace', NS_CORRECT)!;
    return ok({ original: original.value.stanza, correction: correction.value.stanza, replace, body: original.value.stanza.getChildText('body') ?? '' });
  }
}

/** The period a moment belongs to, in local time: a new period starts a new message. */
export function periodKey(period: DeliveryPolicy['period'], at: Date): string {
  const y = at.getFullYear();
  const m = at.getMonth() + 1;
  const d = at.getDate();
  switch (period) {
    case 'hour':
      return `${y}-${m}-${d}T${at.getHours()}`;
    case 'day':
      return `${y}-${m}-${d}`;
    case 'week': {
      // Weeks start on Monday: the key is the date of that Monday.
      const monday = new Date(y, m - 1, d - ((at.getDay() + 6) % 7));
      return `w${monday.getFullYear()}-${monday.getMonth() + 1}-${monday.getDate()}`;
    }
  }
}
