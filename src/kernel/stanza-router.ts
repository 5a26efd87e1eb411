/**
 * One router for every stanza the component receives, by kind and namespace. Features register handlers; the link
 * hands stanzas in.
 *
 * IQ requests (`get`/`set`, RFC 6120 §8.2.3): routed by type and the payload's qualified name. Exactly one reply per
 * request, built by the link from what the handler returns: an element (the result's payload, or an `<error/>`),
 * `true` (an empty result), or undefined — and no handler at all — `service-unavailable` (RFC 6120 §8.4). A handler
 * that throws gets `internal-server-error` and is logged; nothing escapes into the stream.
 *
 * Messages and presence: every handler registered for the kind sees the stanza, in registration order. Messages of
 * type `error` are never handed to handlers (answering an error could loop between two entities, RFC 6120 §8.3.1).
 */
import type { Element } from '@xmpp/xml';
import { bareJid } from '../devices/device-jid.js';
import type { Logger } from '../log.js';
import { errorElement } from '../xmpp/stanzas.js';

/** The payload of an IQ reply: a result child or an `<error/>`, `true` for an empty result, undefined for none. */
export type IqReply = Element | true | undefined;

export interface IqRequest {
  readonly stanza: Element;
  /** The request's single payload element. */
  readonly child: Element;
  readonly type: 'get' | 'set';
  /** Full JID of the requester, as the server stamped it. */
  readonly from: string;
  readonly fromBare: string;
  /** Bare JID addressed (the component or a device). */
  readonly toBare: string;
}

export type IqHandler = (req: IqRequest) => IqReply | Promise<IqReply>;
export type StanzaHandler = (stanza: Element) => void | Promise<void>;

export class StanzaRouter {
  private readonly iqHandlers = new Map<string, IqHandler>();
  /** Handlers of IQs addressed to the component itself (its bare domain), ahead of the general ones. */
  private readonly componentIqHandlers = new Map<string, IqHandler>();
  private readonly messageHandlers: StanzaHandler[] = [];
  private readonly presenceHandlers: StanzaHandler[] = [];

  constructor(private readonly log: Logger) {}

  /**
   * Handle IQ requests of this type whose payload is `<name xmlns=ns/>`. One handler per (type, ns, name) and target:
   * `component` handles those addressed to the component JID itself (admin commands), ahead of the general handler.
   */
  iq(type: 'get' | 'set', ns: string, name: string, handler: IqHandler, target: 'any' | 'component' = 'any'): void {
    const key = iqKey(type, ns, name);
    const table = target === 'component' ? this.componentIqHandlers : this.iqHandlers;
    if (table.has(key)) throw new Error(`an IQ ${type} handler for {${ns}}${name} is already registered`);
    table.set(key, handler);
  }

  message(handler: StanzaHandler): void {
    this.messageHandlers.push(handler);
  }

  presence(handler: StanzaHandler): void {
    this.presenceHandlers.push(handler);
  }

  /** The reply payload for an IQ request (see the header for its meaning). */
  async handleIq(stanza: Element, child: Element): Promise<IqReply> {
    const type = stanza.attrs['type'];
    if (type !== 'get' && type !== 'set') return undefined;
    const key = iqKey(type, child.getNS() ?? '', child.name);
    const toBare = bareJid(stanza.attrs['to'] ?? '');
    // A JID without a local part is the component itself (RFC 7622 §3.2: the domain alone).
    const handler = (!toBare.includes('@') ? this.componentIqHandlers.get(key) : undefined) ?? this.iqHandlers.get(key);
    if (!handler) return undefined;
    const from = stanza.attrs['from'] ?? '';
    try {
      return await handler({ stanza, child, type, from, fromBare: bareJid(from), toBare });
    } catch (err) {
      this.log.error({ err: errorText(err), ns: child.getNS(), name: child.name }, 'IQ handler failed');
      return errorElement('INTERNAL');
    }
  }

  /** A message or presence stanza from the server. */
  handle(stanza: Element): void {
    if (stanza.name === 'message') {
      if (stanza.attrs['type'] === 'error') return;
      this.dispatch(this.messageHandlers, stanza);
    } else if (stanza.name === 'presence') {
      this.dispatch(this.presenceHandlers, stanza);
    }
  }

  private dispatch(handlers: readonly StanzaHandler[], stanza: Element): void {
    for (const h of handlers) {
      try {
        const r = h(stanza);
        if (r) r.catch((err: unknown) => this.log.error({ err: errorText(err), stanza: stanza.name }, 'stanza handler failed'));
      } catch (err) {
        this.log.error({ err: errorText(err), stanza: stanza.name }, 'stanza handler failed');
      }
    }
  }
}

function iqKey(type: string, ns: string, name: string): string {
  return `${type} {${ns}}${name}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.stack ?? err.message : String(err);
}
