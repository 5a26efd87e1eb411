/**
 * Chat with a device: a person sends "help" or a command line (see convert/command-text.ts) from any XMPP client and
 * gets a reply; a XEP-0184 receipt, when asked for, means the command reached the broker (and, with a declared state
 * echo, that the device confirmed it). Errors come back as a readable reply, never as silence.
 *
 * A message carrying a file — an XEP-0066 `jabber:x:oob` URL, as clients send an uploaded image — runs the device's
 * command that takes files from a chat (`file.oob` in its mapping), with the URL in the command's file field.
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { commandHelp, parseCommandText } from '../../convert/command-text.js';
import { confirmationText } from '../../convert/reading.js';
import { truncate, xmlSafeText } from '../../convert/xml-safe.js';
import { bareJid } from '../../devices/device-jid.js';
import type { Result } from '../../errors.js';
import type { AccessPolicy } from '../../kernel/access-policy.js';
import type { XmppLink } from '../../kernel/xmpp-link.js';
import type { Logger } from '../../log.js';
import { errorReply } from '../../xmpp/stanzas.js';
import { NS_OOB, NS_RECEIPTS } from '../../xmpp/namespaces.js';
import type { CommandOutcome, Downlink } from './downlink.js';

export class ChatService {
  constructor(
    private readonly link: XmppLink,
    private readonly access: AccessPolicy,
    private readonly downlink: Downlink,
    private readonly log: Logger,
  ) {}

  /** An incoming <message/> addressed to the component or a device. */
  async handle(stanza: Element): Promise<void> {
    const type = stanza.attrs['type'] ?? 'normal';
    // Never answer errors (loops, RFC 6120 §8.3.1 — the router drops them already), group chats or headlines; chat
    // states without a body need no answer either.
    if (type === 'error' || type === 'groupchat' || type === 'headline') return;
    const body = stanza.getChildText('body');
    const from = stanza.attrs['from'];
    const to = stanza.attrs['to'];
    if (body === null || !from || !to) return;
    const target = bareJid(to);
    const sender = bareJid(from);

    if (target === this.link.domain) {
      this.reply(stanza, 'This is an MQTT bridge: every device has its own JID. Discover them with service discovery (disco#items) on this address, then write "help" to a device.');
      return;
    }
    // A device the sender may not view answers exactly as a JID that names no device.
    const device = this.access.visible(target, sender);
    if (!device) {
      this.link.send(errorReply(stanza, 'DEVICE_UNKNOWN'));
      return;
    }
    // XEP-0066 §3: the URL of a file the sender shares (their client uploaded it, XEP-0363, and sends its GET URL).
    const oob = stanza.getChild('x', NS_OOB)?.getChildText('url')?.trim();
    if (oob) {
      const command = device.mapping.commands.find((c) => c.file?.oob === true);
      if (!command?.file) {
        this.reply(stanza, `✗ ${device.name} takes no files in a chat; write "help" for its commands`);
        return;
      }
      const r = await this.downlink.execute({
        from: sender,
        deviceJid: device.jid,
        name: command.name,
        json: JSON.stringify({ [command.file.key]: oob }),
        origin: 'chat',
        replyTo: { jid: from, ...(stanza.attrs['id'] ? { id: stanza.attrs['id'] } : {}) },
      });
      this.reply(stanza, outcomeText(r), r.ok);
      return;
    }
    const parsed = parseCommandText(body, device.mapping.commands, device.mapping.aliases);
    if (parsed.kind === 'help') {
      this.reply(stanza, commandHelp(device.name, device.mapping.commands, device.mapping.aliases));
      return;
    }
    if (parsed.kind === 'error') {
      this.reply(stanza, `✗ ${parsed.message}`);
      return;
    }
    const r = await this.downlink.execute({
      from: sender,
      deviceJid: device.jid,
      name: parsed.command.name,
      json: parsed.json,
      origin: 'chat',
      replyTo: { jid: from, ...(stanza.attrs['id'] ? { id: stanza.attrs['id'] } : {}) },
    });
    this.reply(stanza, outcomeText(r), r.ok);
  }

  /** Answer a command queued before a restart: no original stanza any more, just who asked. */
  lateReply(deviceJid: string, to: string, r: Result<CommandOutcome>): void {
    this.link.send(xml('message', { from: deviceJid, to, type: 'chat' }, xml('body', {}, xmlSafeText(outcomeText(r)))));
  }

  private reply(to: Element, text: string, delivered = false): void {
    const id = to.attrs['id'];
    const thread = to.getChildText('thread');
    // XEP-0184 §5.4: acknowledge only what was actually delivered onwards, in a message of its own.
    if (delivered && id && to.getChild('request', NS_RECEIPTS)) {
      this.link.send(xml('message', { from: bareJid(to.attrs['to'] ?? ''), to: to.attrs['from'], id: `receipt-${id}` }, xml('received', { xmlns: NS_RECEIPTS, id })));
    }
    this.link.send(
      xml(
        'message',
        { from: bareJid(to.attrs['to'] ?? ''), to: to.attrs['from'], type: to.attrs['type'] === 'normal' ? 'normal' : 'chat' },
        xml('body', {}, xmlSafeText(text)),
        thread !== null ? xml('thread', {}, xmlSafeText(thread)) : null,
      ),
    );
    this.log.debug({ to: to.attrs['from'], text }, 'chat reply');
  }
}

/** One line a person reads: the outcome of a command. */
export function outcomeText(r: Result<CommandOutcome>): string {
  if (!r.ok) return `✗ ${r.error.code.toLowerCase().replace(/_/g, ' ')}: ${r.error.message}`;
  const { command, topic, confirmation, queued, device, file } = r.value;
  const when = queued ? ' (held while the device was offline)' : '';
  const what = file ? ` ${file.mediaType}, ${file.size} bytes (SHA-256 ${file.sha256})` : '';
  if (confirmation === undefined) return `✓ ${command.name}:${what} sent on ${topic}${when}`;
  // The device's state report, formatted like its readings.
  const state = confirmationText(confirmation, device.segments, device.mapping.body, (v) => device.mapping.schema.validate(v) === true);
  return `✓ ${command.name}:${what} confirmed${when} — ${truncate(state, 200)}`;
}
