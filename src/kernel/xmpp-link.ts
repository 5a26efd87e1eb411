/**
 * The XMPP edge as the rest of the bridge sees it: a stream to the server (XEP-0114) that comes and goes. The real
 * one is xmpp/component.ts; tests use an in-memory one (test/support/fake-link.ts) that records what is sent and
 * injects what the server would deliver.
 */
import type { EventEmitter } from 'node:events';
import type { Element } from '@xmpp/xml';
import type { IqReply } from './stanza-router.js';

/** The server refused the component for good (wrong secret, unknown domain, domain taken): reconnecting cannot help. */
export interface FatalRefusal extends Error {
  readonly condition: string;
}

export interface XmppLinkEvents {
  online: [];
  offline: [];
  fatal: [FatalRefusal];
  /** A message or presence stanza (IQ requests go to the server handler, IQ responses to `request`). */
  stanza: [Element];
  /** A reconnect was refused with `conflict` (the server still holds the previous stream): retried until `giveUpInMs`. */
  conflict: [{ waitedMs: number; giveUpInMs: number }];
}

/** Answers one IQ request; the link turns the payload into exactly one `result` or `error` (see stanza-router.ts). */
export type IqServer = (stanza: Element, child: Element) => Promise<IqReply>;

export interface XmppLink extends EventEmitter<XmppLinkEvents> {
  /** The component domain: device JIDs are `<local>@<domain>`. */
  readonly domain: string;
  readonly online: boolean;
  /** Bytes written but not yet handed to the kernel (backpressure). */
  readonly pendingBytes: number;
  /** Start connecting; resolves once online, rejects on a fatal refusal. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Write one stanza; false when the link is down (nothing written). */
  send(el: Element): boolean;
  /** An IQ request and its response (rejects on an error reply — a `StanzaError` — or on timeout). */
  request(el: Element, timeoutMs: number): Promise<Element>;
  /** `fn` once what was written has been flushed (at once when nothing is pending). */
  onceDrained(fn: () => void): void;
  /** Drop the current stream (the server stopped answering); the link reconnects. */
  restart(): void;
  /** The one handler of incoming IQ requests. */
  serveIq(server: IqServer): void;
}

/**
 * Delivery barriers are pings from the component's domain to itself (the server routes them back); their ids start
 * with this prefix, naming the instance that sent them, so one bridge recognises another's on the same domain.
 */
export function barrierPrefix(instance: string): string {
  return `barrier-${instance}-`;
}
