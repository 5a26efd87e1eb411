/**
 * XEP-0050 ad-hoc commands: each device command is a command node whose XEP-0004 form is generated from the
 * command's JSON Schema, so clients that render forms (Gajim, Psi+, Movim…) get a real UI.
 *
 *   execute (no form)      → status='executing' with the form and a <complete/> action
 *   complete / execute
 *     with a submitted form → the downlink runs it → status='completed' with a note
 *   cancel                 → status='canceled'
 * Errors use the catalogue's stanza errors, plus the XEP-0050 §4.6 application conditions where they apply.
 */
import { randomBytes } from 'node:crypto';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { LRUCache } from 'lru-cache';
import type { Device } from '../../devices/device.js';
import { formPayload, schemaForm } from '../../convert/form.js';
import type { Result } from '../../errors.js';
import type { AccessPolicy } from '../../kernel/access-policy.js';
import type { IqRequest } from '../../kernel/stanza-router.js';
import { errorElement } from '../../xmpp/stanzas.js';
import { NS_ADHOC, NS_DATA, NS_DISCO_INFO, NS_STANZAS } from '../../xmpp/namespaces.js';
import type { CommandOutcome, Downlink } from './downlink.js';

const SESSION_TTL_MS = 10 * 60_000;
/** Open multi-step sessions at most: a flood of `execute` requests cannot grow memory (the oldest are forgotten). */
const MAX_SESSIONS = 10_000;

interface Session {
  readonly from: string;
  readonly deviceJid: string;
  readonly node: string;
}

export class AdhocCommands {
  private readonly sessions = new LRUCache<string, Session>({ max: MAX_SESSIONS, ttl: SESSION_TTL_MS });

  constructor(
    private readonly downlink: Downlink,
    private readonly access: AccessPolicy,
    /** Start of the session ids this instance opens (kernel/xmpp-link.ts#sessionIdPrefix). */
    private readonly sessionPrefix = '',
  ) {}

  /** disco#items on the commands node: the device's commands, for its operators. */
  items(device: Device, from: string): Element[] {
    if (!this.access.mayOperate(device, from)) return [];
    return device.mapping.commands.map((c) => xml('item', { jid: device.jid, node: c.name, name: c.description ?? c.name }));
  }

  /** disco#info on one command node (XEP-0050 §2.2). */
  info(device: Device, node: string): Element | undefined {
    const c = device.mapping.commands.find((x) => x.name === node);
    if (!c) return undefined;
    return xml(
      'query',
      { xmlns: NS_DISCO_INFO, node },
      xml('identity', { category: 'automation', type: 'command-node', name: c.description ?? c.name }),
      xml('feature', { var: NS_ADHOC }),
      xml('feature', { var: NS_DATA }),
    );
  }

  handler() {
    return async (req: IqRequest): Promise<Element> => {
      const el = req.child;
      const node = el.attrs['node'] ?? '';
      const from = req.fromBare;
      const deviceJid = req.toBare;
      const action = el.attrs['action'] ?? 'execute';

      const auth = this.downlink.authorize(from, deviceJid, node);
      if (!auth.ok) return errorElement(auth.error.code, auth.error.message);
      const { device, command } = auth.value;

      let sessionid = el.attrs['sessionid'];
      if (sessionid !== undefined) {
        const s = this.sessions.get(sessionid);
        if (!s || s.from !== from || s.deviceJid !== deviceJid || s.node !== node) return adhocError('bad-sessionid');
      }
      if (action === 'cancel') {
        if (sessionid) this.sessions.delete(sessionid);
        return xml('command', { xmlns: NS_ADHOC, node, sessionid: sessionid ?? '', status: 'canceled' });
      }
      if (action !== 'execute' && action !== 'complete') return adhocError('bad-action');

      const submitted = el.getChild('x', NS_DATA);
      if (!submitted) {
        sessionid ??= `${this.sessionPrefix}${randomBytes(8).toString('hex')}`;
        this.sessions.set(sessionid, { from, deviceJid, node });
        return xml(
          'command',
          { xmlns: NS_ADHOC, node, sessionid, status: 'executing' },
          xml('actions', { execute: 'complete' }, xml('complete')),
          schemaForm(command.schema.schema, `${device.name}: ${command.description ?? command.name}`, `Fill in the fields and complete to send "${command.name}".`),
        );
      }
      if (sessionid) this.sessions.delete(sessionid);
      const payload = formPayload(command.schema.schema, submitted);
      if (!payload.ok) return errorElement(payload.error.code, payload.error.message);
      const r = await this.downlink.execute({
        from,
        deviceJid,
        name: command.name,
        json: JSON.stringify(payload.value),
        origin: 'adhoc',
        replyTo: { jid: req.from || from, ...(req.stanza.attrs['id'] ? { id: req.stanza.attrs['id'] } : {}) },
      });
      return adhocAnswer(node, sessionid, r);
    };
  }

}

/** XEP-0050 §4.6: bad-request with an application-specific condition. */
function adhocError(condition: 'bad-action' | 'bad-sessionid'): Element {
  return xml('error', { type: 'modify' }, xml('bad-request', { xmlns: NS_STANZAS }), xml(condition, { xmlns: NS_ADHOC }));
}

/** The IQ payload completing an ad-hoc command: status completed with a note, or the error. */
export function adhocAnswer(node: string, sessionid: string | undefined, r: Result<CommandOutcome>): Element {
  if (!r.ok) return errorElement(r.error.code, r.error.message);
  const { command, confirmation, topic, file } = r.value;
  const what = file ? ` ${file.mediaType}, ${file.size} bytes (SHA-256 ${file.sha256})` : '';
  const note = confirmation !== undefined ? `${command.name}:${what} done, the device confirmed it.` : `${command.name}:${what} sent on ${topic}.`;
  return xml('command', { xmlns: NS_ADHOC, node, sessionid: sessionid ?? randomBytes(8).toString('hex'), status: 'completed' }, xml('note', { type: 'info' }, note));
}
