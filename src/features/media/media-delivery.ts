/**
 * The delivery mode of binary readings (a `ReadingDelivery`, like chat-delivery.ts): the reading is the media
 * metadata, and its message is `<body>URL</body>` + XEP-0066 `<x xmlns='jabber:x:oob'><url>URL</url></x>` + the
 * metadata as XEP-0335 JSON, to the same recipients as any reading of the device. Conversations and Dino show the file
 * inline when the body equals the OOB URL; Gajim reads the OOB element. Built again from the stored JSON on a replay.
 */
import xml from '@xmpp/xml';
import { mediaBody, parseMediaMeta } from '../../convert/media.js';
import type { Device } from '../../devices/device.js';
import { fail, ok, type Result } from '../../errors.js';
import { parseTemplate } from '../../mapping/template.js';
import type { XmppLink } from '../../kernel/xmpp-link.js';
import { NS_OOB } from '../../xmpp/namespaces.js';
import type { ChatDelivery, OutgoingReading, ReadingDelivery } from '../uplink/chat-delivery.js';

const BODY = parseTemplate('{body}', { rich: true }).template!;

export class MediaDelivery implements ReadingDelivery {
  constructor(
    private readonly chat: ChatDelivery,
    private readonly link: Pick<XmppLink, 'send'>,
  ) {}

  prepare(device: Device, json: string, value: unknown, delayedSince?: Date): Result<OutgoingReading> {
    const meta = parseMediaMeta(value);
    if (!meta) return fail('PAYLOAD_INVALID', 'a binary reading without its media metadata');
    // The chat mode builds and measures the message; the body is the URL and the OOB element carries it again.
    const built = this.chat.build({ ...device, mapping: { ...device.mapping, body: BODY } }, json, { ...meta, body: mediaBody(meta) }, delayedSince);
    if (!built.ok) return built;
    const { stanza, recipients } = built.value;
    if (meta.url) stanza.append(xml('x', { xmlns: NS_OOB }, xml('url', {}, meta.url)));
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
}
