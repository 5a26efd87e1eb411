/**
 * The delivery mode of binary readings (a `ReadingDelivery`, like chat-delivery.ts and live-delivery.ts): the reading
 * is the media metadata, and its message is `<body>URL</body>` + XEP-0066 `<x xmlns='jabber:x:oob'><url>URL</url></x>`
 * + the metadata as XEP-0335 JSON, to the recipients the device's delivery policy names (recipients.ts). Conversations
 * and Dino show the file inline when the body equals the OOB URL; Gajim reads the OOB element. Built again from the
 * stored JSON on a replay, and for a returning follower (the device's latest snapshot).
 */
import xml, { type Element } from '@xmpp/xml';
import { mediaBody, parseMediaMeta } from '../../convert/media.js';
import { readingStanza } from '../../convert/reading.js';
import type { Device } from '../../devices/device.js';
import { fail, ok, type Result } from '../../errors.js';
import { parseTemplate } from '../../mapping/template.js';
import { NS_OOB } from '../../xmpp/namespaces.js';
import { archiveHints, MAX_ID_LENGTH, OneMessageDelivery, type ReadingData } from '../uplink/chat-delivery.js';

const URL_BODY = parseTemplate('{body}', { rich: true }).template!;

export class MediaDelivery extends OneMessageDelivery {
  protected message(device: Device, reading: ReadingData, recipients: readonly string[], delayedSince?: Date): Result<Element> {
    const meta = parseMediaMeta(reading.value);
    if (!meta) return fail('PAYLOAD_INVALID', 'a binary reading without its media metadata');
    const longest = recipients.reduce((a, b) => (b.length > a.length ? b : a), device.jid);
    // The body is the URL (a mapping's own body template may say more); the JSON element is the metadata as stored.
    const built = readingStanza(
      {
        from: device.jid,
        id: ''.padEnd(MAX_ID_LENGTH, '0'),
        type: device.mapping.messageType,
        json: reading.json,
        value: device.mapping.body ? meta : { body: mediaBody(meta) },
        segments: device.mapping.body ? device.segments : {},
        body: device.mapping.body ?? URL_BODY,
        ...(delayedSince ? { delayedSince, delayFrom: this.link.domain } : {}),
        hints: archiveHints(device),
      },
      longest,
      this.limits,
    );
    if (!built.ok) return built;
    // XEP-0066: the same URL as the body, so clients show the file inline.
    if (meta.url) built.value.stanza.append(xml('x', { xmlns: NS_OOB }, xml('url', {}, meta.url)));
    return ok(built.value.stanza);
  }
}
