/**
 * Answers to commands that waited for their device across a bridge restart: the original IQ handler is gone, so
 * the answer is built afresh from the stored sender and stanza id, in the form the sender used.
 */
import xml from '@xmpp/xml';
import type { Result } from '../../errors.js';
import type { QueuedCommandRow } from '../../kernel/stores.js';
import type { XmppLink } from '../../kernel/xmpp-link.js';
import { adhocAnswer } from './adhoc.js';
import type { ChatService } from './chat.js';
import { commandAnswer } from './command-iq.js';
import type { CommandOutcome } from './downlink.js';

export function lateReplies(link: XmppLink, chat: ChatService) {
  return (row: QueuedCommandRow, r: Result<CommandOutcome>): void => {
    if (row.origin === 'chat' || row.replyId === undefined) {
      chat.lateReply(row.deviceJid, row.sender, r);
      return;
    }
    const child = row.origin === 'adhoc' ? adhocAnswer(row.command, undefined, r) : commandAnswer(row.command, r);
    const type = r.ok ? 'result' : 'error';
    link.send(xml('iq', { type, from: row.deviceJid, to: row.sender, id: row.replyId }, child));
  };
}
