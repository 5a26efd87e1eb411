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
  /**
   * A first look at every incoming IQ, request or response, before anything else handles it (cluster mode: one that
   * belongs to another instance is forwarded there). Returning true means it was taken: nothing here routes, answers
   * or resolves it.
   */
  divert(fn: (stanza: Element) => boolean): void;
  /** Handle a stanza as if it had arrived on this stream (one forwarded by another instance); not diverted again. */
  handleForwarded(stanza: Element): void;
}

/**
 * Delivery barriers are pings from the component's domain to itself (the server routes them back); their ids start
 * with this prefix, naming the instance that sent them, so one bridge recognises another's on the same domain.
 */
export function barrierPrefix(instance: string): string {
  return `barrier-${instance}-`;
}

/**
 * Ids of the bridge's other IQ requests start with this prefix, naming the instance too: in cluster mode the server
 * may hand an IQ response to any connection of the domain (ejabberd picks one at random), and the id is how the one
 * that receives it finds the instance that asked.
 */
export function requestIdPrefix(instance: string): string {
  return `${instance}-iq-`;
}

/** The instance that sent the IQ request an id answers (barriers and other requests), if the id names one. */
export function requestOwner(id: string): string | undefined {
  return /^(?:barrier-)?([0-9a-f]{8})-/.exec(id)?.[1];
}

/**
 * XEP-0050 session ids start with the instance that opened the session: the next step of a multi-step command may
 * reach any instance of a cluster, and this is how it finds the one that holds the session.
 */
export function sessionIdPrefix(instance: string): string {
  return `${instance}-`;
}

export function sessionOwner(sessionid: string): string | undefined {
  return /^([0-9a-f]{8})-/.exec(sessionid)?.[1];
}
