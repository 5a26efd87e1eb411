/**
 * An in-memory XMPP component link for unit tests: what the bridge sends is recorded; what the server would deliver is
 * injected. IQ requests are answered through the bridge's stanza router with the real link's own answers
 * (src/xmpp/iq-answer.ts, RFC 6120 §8.2.3): a payload element → `result` with it, `<error/>` → `error` carrying the
 * request's payload and the error, `true` → empty `result`, nothing → `service-unavailable`, malformed → `bad-request`.
 *
 * The bridge's own IQ requests (delivery barriers) are answered at once by default, or held for the test to settle
 * (`holdRequests`), which is how barrier timeouts and lost streams are staged.
 */
import { EventEmitter } from 'node:events';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { IqServer, XmppLink, XmppLinkEvents } from '../../src/kernel/xmpp-link.js';
import { answerRequest, isIqRequest } from '../../src/xmpp/iq-answer.js';

export interface HeldRequest {
  readonly stanza: Element;
  resolve(reply?: Element): void;
  reject(err: Error): void;
}

export class FakeLink extends EventEmitter<XmppLinkEvents> implements XmppLink {
  /** Every stanza written while online, as written (cloned: the bridge re-addresses one element per recipient). */
  readonly sent: Element[] = [];
  readonly held: HeldRequest[] = [];
  holdRequests = false;
  pendingBytes = 0;
  starts = 0;
  private isOnline = false;
  private server: IqServer | undefined;
  private waiters: { pred: (el: Element) => boolean; resolve: (el: Element) => void }[] = [];

  constructor(readonly domain: string) {
    super();
  }

  get online(): boolean {
    return this.isOnline;
  }

  start(): Promise<void> {
    this.starts += 1;
    this.up();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.down();
    return Promise.resolve();
  }

  /** The stream is up (a new stream: the server forgot everything). */
  up(): void {
    if (this.isOnline) return;
    this.isOnline = true;
    this.emit('online');
  }

  /** The stream is gone. */
  down(): void {
    if (!this.isOnline) return;
    this.isOnline = false;
    this.emit('offline');
  }

  send(el: Element): boolean {
    if (!this.isOnline) return false;
    const copy = clone(el);
    this.sent.push(copy);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(copy)) return true;
      w.resolve(copy);
      return false;
    });
    return true;
  }

  request(el: Element, _timeoutMs: number): Promise<Element> {
    if (!this.isOnline) return Promise.reject(new Error('offline'));
    const stanza = clone(el);
    return new Promise<Element>((resolve, reject) => {
      const answer = (reply?: Element): void => resolve(reply ?? xml('iq', { type: 'result', id: stanza.attrs['id'], from: stanza.attrs['to'], to: stanza.attrs['from'] }));
      if (this.holdRequests) this.held.push({ stanza, resolve: answer, reject });
      else setImmediate(answer);
    });
  }

  onceDrained(fn: () => void): void {
    setImmediate(fn);
  }

  restart(): void {
    this.down();
    setImmediate(() => this.up());
  }

  serveIq(server: IqServer): void {
    this.server = server;
  }

  /** IQs taken by the diverter (cluster mode), in order. */
  readonly diverted: Element[] = [];
  private diverter: ((stanza: Element) => boolean) | undefined;

  divert(fn: (stanza: Element) => boolean): void {
    this.diverter = fn;
  }

  /** A forwarded stanza, handled as if delivered by the server (not diverted again). */
  handleForwarded(el: Element): void {
    void this.deliver(el);
  }

  /**
   * Deliver a stanza from the server; an IQ request resolves with the one reply the bridge sent for it (undefined
   * when the diverter took it for another instance).
   */
  async inject(el: Element): Promise<Element | undefined> {
    if (el.name === 'iq' && this.diverter?.(el)) {
      this.diverted.push(el);
      return undefined;
    }
    return this.deliver(el);
  }

  private async deliver(el: Element): Promise<Element | undefined> {
    if (el.name !== 'iq') {
      this.emit('stanza', el);
      return undefined;
    }
    if (!isIqRequest(el)) return undefined;
    // As the real link: a handler that throws is answered internal-server-error (the real one logs it too).
    const out = await answerRequest(el, this.server, () => undefined);
    this.sent.push(out);
    return out;
  }

  /** The first stanza sent from now on that matches. */
  next(pred: (el: Element) => boolean, what = 'a stanza', timeoutMs = 2000): Promise<Element> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (el: Element): void => {
        clearTimeout(timer);
        resolve(el);
      };
      this.waiters.push({ pred, resolve: done });
    });
  }

  /** Stanzas sent so far that match, and forget them (the next call sees only newer ones). */
  take(pred: (el: Element) => boolean = () => true): Element[] {
    const out: Element[] = [];
    for (let i = 0; i < this.sent.length; ) {
      if (pred(this.sent[i]!)) out.push(...this.sent.splice(i, 1));
      else i += 1;
    }
    return out;
  }
}

/** A deep copy (the bridge reuses one element for several recipients, changing its attributes in place). */
function clone(el: Element): Element {
  return xml(el.name, { ...el.attrs }, ...el.children.map((c) => (typeof c === 'string' ? c : clone(c))));
}
