/**
 * The XEP-0114 link to the XMPP server: `@xmpp/component` with the repairs this product needs.
 *
 * - Reconnects with capped exponential backoff and equal jitter, instead of the library's fixed 1 s loop.
 * - Treats `not-authorized` (wrong secret), `host-unknown` (domain not configured) and `conflict` (another instance
 *   holds the domain; Prosody allows one connection per component) as fatal: the library retries them once a second
 *   forever, and on `conflict` its start() never settles. Except one case: `conflict` answering the handshake of a
 *   *re*connect, which is the server still holding our own previous stream (it has not seen it end: it was frozen
 *   with unread data queued on it, or the cut never reached it). That is retried with backoff for `conflictRetryMs`.
 * - Gives one connection attempt one deadline, `handshakeTimeoutMs`, from TCP connect to the handshake answer: the
 *   library's own waits (2 s for the server's stream header and for the handshake answer) ended every attempt
 *   against a slow server early, with a TimeoutError that has no message.
 * - Decodes the byte stream with one StringDecoder per connection: the library decodes each TCP chunk on its own, so
 *   a multi-byte character split across chunks became two U+FFFD (large non-ASCII commands arrived corrupted).
 * - Keeps a throwing handler or an XML error (the ltx parser throws synchronously on an unknown entity such as
 *   `&foo;`) from escaping into the socket's data callback: a bad stanza ends this stream cleanly and the link
 *   reconnects, instead of an uncaught exception taking the process down.
 * - Speaks direct TLS for `xmpps://host:port` (XEP-0114 has no STARTTLS; ejabberd's `ejabberd_service` can require
 *   TLS from the first byte): the library only knows `xmpp:` (its socketParameters() returns nothing for another
 *   scheme, and the component's override then throws), so `connect` is replaced on the instance by one that opens a
 *   `tls.TLSSocket` — a net.Socket, so cork/uncork, writableLength and setNoDelay below keep working — verified
 *   against `ca` (default: Node's root store) and the host of the URL.
 * - Answers IQ requests itself (iq-answer.ts) and hands the library's middleware only IQ responses (its IQ caller):
 *   the middleware parses the addresses of every stanza into JID objects first, 5.8 % of the CPU per command.
 */
import { EventEmitter } from 'node:events';
import { isIP, type Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { connect as tlsConnect } from 'node:tls';
import { component, type Component } from '@xmpp/component';
import type { Element } from '@xmpp/xml';
import type { IqServer, XmppLink } from '../kernel/xmpp-link.js';
import { errorText, type Logger } from '../log.js';
import { answerRequest, isIqRequest } from './iq-answer.js';

export interface ComponentLinkOptions {
  readonly service: string;
  readonly domain: string;
  readonly secret: string;
  readonly log: Logger;
  /** First reconnect delay; doubles per failure up to maxDelayMs (equal jitter: half fixed, half random). */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Time allowed for one connection attempt: TCP connect, the server's stream header, the handshake answer. */
  readonly handshakeTimeoutMs?: number;
  /**
   * How long `conflict` answers to the handshake of a reconnect are retried, counted from the first one after the
   * link was lost; 0: never (a conflict is always fatal). A conflict on the very first connection, or one that ends a
   * stream that was online (another instance replaced us), is fatal at once.
   */
  readonly conflictRetryMs?: number;
  /** CA certificate(s) that sign the server certificate of an `xmpps://` service; default: Node's root store. */
  readonly ca?: Buffer;
  /** Start of the ids of IQ requests sent without one (kernel/xmpp-link.ts#requestIdPrefix names the instance). */
  readonly requestIdPrefix?: string;
  /** Said after the reason of a fatal `conflict` on the first connection (cluster mode: what the server must allow). */
  readonly conflictHint?: string;
}

/** Default port of an `xmpps://` service without one (the library's default for `xmpp://` too). */
const DEFAULT_COMPONENT_PORT = 5347;

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * How long Prosody 0.12 keeps a component stream whose end it never saw (measured, docs/RELIABILITY.md): after 840 s
 * of silence (its `read_timeout`) it writes a whitespace keepalive; a peer host that still exists answers with a
 * reset and the stream is gone at once, a dead path makes the kernel retransmit for up to 924.6 s more (tcp(7),
 * tcp_retries2 = 15). 30 minutes cover both.
 */
export const DEFAULT_CONFLICT_RETRY_MS = 1_800_000;
/** The library's wait for each step of closing the stream at stop() (its default). */
const CLOSE_STEP_TIMEOUT_MS = 2_000;

/** RFC 6120 §4.9.3 stream errors after which reconnecting cannot help. */
const FATAL_CONDITIONS = new Set(['not-authorized', 'host-unknown', 'conflict', 'improper-addressing', 'invalid-namespace']);

export class FatalLinkError extends Error {
  readonly condition: string;
  constructor(condition: string, message: string) {
    super(message);
    this.name = 'FatalLinkError';
    this.condition = condition;
  }
}

/** A wait on the link that ran out (a connection attempt, an IQ); named like the library's own TimeoutError. */
export class LinkTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

interface LinkEvents {
  online: [];
  offline: [];
  fatal: [FatalLinkError];
  /** A `conflict` on a reconnect, taken for the server still holding the previous stream: retried. */
  conflict: [{ waitedMs: number; giveUpInMs: number }];
  stanza: [Element];
}

export class ComponentLink extends EventEmitter<LinkEvents> implements XmppLink {
  readonly xmpp: Component;
  readonly domain: string;
  private readonly opts: ComponentLinkOptions;
  private readonly log: Logger;
  private decoder = new StringDecoder('utf8');
  private stopped = false;
  private isOnline = false;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private attempting = false;
  private fatalError: FatalLinkError | undefined;
  private corked = false;
  /** The link was online at least once: a later `conflict` may be the server still holding that stream. */
  private wasOnline = false;
  /** When the first `conflict` of this outage arrived; cleared once online. */
  private conflictSince: number | undefined;
  /** The library reports a handshake failure twice (the stream error, then the rejected handshake): handle it once. */
  private lastStreamError: unknown;
  /** The conflict being retried, already logged: the failed attempt need not log it again. */
  private retriedConflict: unknown;
  private retriedConflicts = 0;
  /** Cluster mode: IQs that belong to another instance are taken here (kernel/xmpp-link.ts#divert). */
  private diverter: ((stanza: Element) => boolean) | undefined;
  /** The library's handlers of incoming elements (its middleware: the IQ caller resolves responses), guarded. */
  private elementHandlers: ((el: Element) => void)[] = [];
  /** The handler of incoming IQ requests, answered here (iq-answer.ts). */
  private iqServer: IqServer | undefined;
  private requestSeq = 0;

  constructor(opts: ComponentLinkOptions) {
    super();
    this.opts = opts;
    this.log = opts.log;
    this.domain = opts.domain;
    this.xmpp = component({ service: opts.service, domain: opts.domain, password: opts.secret });
    this.xmpp.reconnect.stop(); // we schedule reconnects ourselves
    if (directTlsTarget(opts.service)) this.useDirectTls(opts.ca);
    this.repairInput();
    this.corkLibraryWrites();
    this.xmpp.on('error', (err: unknown) => this.onError(err));
    this.xmpp.on('status', (status: string) => this.onStatus(status));
    this.xmpp.on('stanza', (el: Element) => {
      // message and presence go to the link's listeners; IQs are dispatched with the library's elements (guardListeners)
      if (el.name === 'iq') return;
      try {
        this.emit('stanza', el);
      } catch (err) {
        this.log.warn({ err: errorText(err), stanza: el.name }, 'stanza handler failed');
      }
    });
    this.guardListeners('element');
  }

  get online(): boolean {
    return this.isOnline;
  }

  /** `conflict` answers retried because the server still held the previous stream (since start). */
  get conflictsRetried(): number {
    return this.retriedConflicts;
  }

  /** Bytes written but not yet handed to the kernel; used for backpressure. */
  get pendingBytes(): number {
    return this.xmpp.socket?.writableLength ?? 0;
  }

  /** Start connecting. Resolves once online; rejects if the server refuses us for good (fatal). */
  start(): Promise<void> {
    this.stopped = false;
    const result = new Promise<void>((resolve, reject) => {
      const onOnline = (): void => {
        this.off('fatal', onFatal);
        resolve();
      };
      const onFatal = (err: FatalLinkError): void => {
        this.off('online', onOnline);
        reject(err);
      };
      this.once('online', onOnline);
      this.once('fatal', onFatal);
    });
    void this.attempt();
    return result;
  }

  /** Serialize and write one stanza; false when the link is down (nothing written). */
  send(el: Element): boolean {
    const socket = this.xmpp.socket;
    if (!this.isOnline || !socket) return false;
    this.corkThisIteration(socket);
    socket.write(el.toString());
    return true;
  }

  /**
   * Stanzas written in one iteration of the event loop leave in one segment: corked now, uncorked in its check phase
   * (setImmediate), after every socket that was readable in this iteration has been read — each device's publish
   * arrives in a callback of its own, so uncorking after each callback cost one write(2) per reading.
   */
  private corkThisIteration(socket: Socket): void {
    if (this.corked) return;
    this.corked = true;
    socket.cork();
    setImmediate(() => {
      this.corked = false;
      socket.uncork();
    });
  }

  /**
   * What the library writes itself once online — the IQ callee's results and errors (command answers), the IQ
   * caller's requests (barriers) — joins the same corked segment: otherwise each command's answer cost a write(2).
   */
  private corkLibraryWrites(): void {
    const xmpp = this.xmpp as Component & LibraryInternals;
    const write = xmpp.write.bind(xmpp);
    xmpp.write = (text: string): Promise<void> => {
      const socket = xmpp.socket;
      if (this.isOnline && socket) this.corkThisIteration(socket);
      return write(text);
    };
  }

  /** Call `fn` once the socket has flushed what was written (at once when nothing is pending or the socket is gone). */
  onceDrained(fn: () => void): void {
    const socket = this.xmpp.socket;
    if (!socket || socket.writableLength === 0 || socket.destroyed) {
      setImmediate(fn);
      return;
    }
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      fn();
    };
    socket.once('drain', done);
    socket.once('close', done);
  }

  /** Drop the current stream (e.g. the server stopped answering); the link reconnects with backoff. */
  restart(): void {
    this.xmpp.socket?.destroy();
  }

  /**
   * The one handler of incoming IQ requests. The link answers each request itself, once (iq-answer.ts: bad-request for
   * a malformed one, service-unavailable when the handler returns nothing), not through the library's middleware.
   */
  serveIq(server: IqServer): void {
    this.iqServer = server;
  }

  divert(fn: (stanza: Element) => boolean): void {
    this.diverter = fn;
  }

  /** A stanza forwarded by another instance: handled as if it came from the server on this stream. */
  handleForwarded(stanza: Element): void {
    if (stanza.name === 'iq') this.dispatchElement(stanza);
    else this.emit('stanza', stanza);
  }

  /** An IQ request/response through the library's IQ caller (rejects on error reply or timeout). */
  async request(el: Element, timeoutMs: number): Promise<Element> {
    el.attrs['id'] ??= `${this.opts.requestIdPrefix ?? 'iq-'}${(this.requestSeq++).toString(36)}`;
    try {
      return await this.xmpp.iqCaller.request(el, timeoutMs);
    } catch (err) {
      // The library's timeout is an Error without a message: say what went unanswered, for how long.
      if (err instanceof Error && err.name === 'TimeoutError' && err.message === '') {
        const payload = el.getChildElements()[0];
        throw new LinkTimeoutError(`no reply to iq ${el.attrs['id'] ?? ''}${payload ? ` (${payload.name})` : ''} within ${timeoutMs} ms`);
      }
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.xmpp.status === 'offline' || this.xmpp.status === 'disconnect') return;
    // Closing waits for the server's </stream:stream> and the socket's end, each bounded by the library's timeout;
    // a connection attempt may have raised it to handshakeTimeoutMs, too long for a shutdown.
    (this.xmpp as Component & LibraryInternals).timeout = CLOSE_STEP_TIMEOUT_MS;
    try {
      await this.xmpp.stop();
    } catch (err) {
      this.log.debug({ err }, 'component stream did not close cleanly');
    }
  }

  private async attempt(): Promise<void> {
    if (this.stopped || this.attempting || this.fatalError) return;
    this.attempting = true;
    const { service, domain } = this.opts;
    const timeout = this.opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    const xmpp = this.xmpp as Component & LibraryInternals;
    let waitingFor = directTlsTarget(service) ? 'TLS connection' : 'TCP connection';
    let deadline: NodeJS.Timeout | undefined;
    let onOnline: (() => void) | undefined;
    let onError: ((err: unknown) => void) | undefined;
    try {
      this.log.debug({ service, domain }, 'connecting to the XMPP server');
      const online = new Promise<void>((resolve, reject) => {
        onOnline = resolve;
        onError = (err: unknown): void => reject(err instanceof Error ? err : new Error(errorText(err)));
        xmpp.once('online', onOnline);
        xmpp.once('error', onError);
      });
      // Awaited only once the stream is open: when connect() fails first (ECONNREFUSED while the server is down), the
      // library's 'error' event rejects it unobserved — which would end the process (an unhandled rejection).
      online.catch(() => undefined);
      // One deadline for the whole attempt. The library's own waits (open(): the server's stream header;
      // authenticate(): the handshake answer) take their timeout from `timeout`; they start after ours, so ours
      // fires first, and destroying the socket with it (below) rejects them at once: none outlives this attempt.
      const expired = new Promise<never>((_resolve, reject) => {
        deadline = setTimeout(() => reject(new LinkTimeoutError(`no ${waitingFor} within ${timeout} ms`)), timeout);
      });
      xmpp.timeout = timeout;
      const steps = (async (): Promise<void> => {
        await xmpp.connect(service);
        waitingFor = 'stream header from the server';
        await xmpp.open({ domain, timeout });
        waitingFor = 'answer to the handshake';
        await online;
      })();
      steps.catch(() => undefined); // observed through the race; a step may still reject after the deadline
      await Promise.race([steps, expired]);
    } catch (err) {
      if (!this.fatalError && !this.stopped) {
        // A retried conflict was reported by onError already.
        if (err !== this.retriedConflict) this.log.warn({ err: errorText(err), service }, 'XMPP server connection failed');
        // The 'disconnect' status of the closed socket schedules the next attempt. Destroying it with the error
        // settles the library's pending waits of this attempt.
        if (this.xmpp.socket) this.xmpp.socket.destroy(err instanceof LinkTimeoutError ? err : undefined);
        else this.scheduleReconnect();
      }
    } finally {
      clearTimeout(deadline);
      if (onOnline) xmpp.off('online', onOnline);
      if (onError) xmpp.off('error', onError);
      this.attempting = false;
    }
  }

  private onStatus(status: string): void {
    if (status === 'connect') {
      this.decoder = new StringDecoder('utf8');
      // Small stanzas must not wait for Nagle's algorithm (up to a delayed-ACK timeout, ~40 ms): we batch writes
      // ourselves (cork per event-loop turn).
      this.xmpp.socket?.setNoDelay(true);
    }
    if (status === 'online') {
      this.isOnline = true;
      this.wasOnline = true;
      this.conflictSince = undefined;
      this.failures = 0;
      this.log.info({ domain: this.domain }, 'component online');
      this.emit('online');
    } else if (status === 'disconnect') {
      const wasOnline = this.isOnline;
      this.isOnline = false;
      if (wasOnline) {
        this.log.warn({ domain: this.domain }, 'component offline');
        this.emit('offline');
      }
      if (!this.stopped && !this.fatalError) this.scheduleReconnect();
    }
  }

  private onError(err: unknown): void {
    if (this.fatalError) return;
    const condition = (err as { condition?: unknown }).condition;
    const name = (err as { name?: unknown }).name;
    if (name === 'StreamError' && typeof condition === 'string') {
      if (err === this.lastStreamError) return; // reported again by the library's rejected handshake
      this.lastStreamError = err;
      if (condition === 'conflict' && this.mayRetryConflict()) {
        this.retriedConflict = err;
        return;
      }
      if (FATAL_CONDITIONS.has(condition)) {
        this.fail(condition, (err as { text?: string }).text);
        return;
      }
    }
    this.log.debug({ err: errorText(err) }, 'component link error');
  }

  /**
   * `conflict` in answer to the handshake of a reconnect: Prosody allows one stream per component and still holds our
   * previous one until it sees it end — after reading everything queued on it when it was frozen, or, when the cut
   * never reached it, after its read timeout. Retried (with the usual backoff) for conflictRetryMs from the first
   * one; a conflict on the first connection (another instance holds the domain) or on a stream that was online
   * (another instance replaced it) is not.
   */
  private mayRetryConflict(): boolean {
    if (this.isOnline || !this.wasOnline) return false;
    const limit = this.opts.conflictRetryMs ?? DEFAULT_CONFLICT_RETRY_MS;
    const now = Date.now();
    this.conflictSince ??= now;
    const waited = now - this.conflictSince;
    if (waited >= limit) return false;
    this.retriedConflicts += 1;
    const info = { waitedMs: waited, giveUpInMs: limit - waited };
    this.log.warn({ domain: this.domain, ...info }, 'the XMPP server still holds the previous component stream (conflict); retrying');
    this.emit('conflict', info);
    return true;
  }

  private fail(condition: string, text: string | undefined): void {
    const retried = this.conflictSince !== undefined ? Math.round((Date.now() - this.conflictSince) / 1000) : undefined;
    const hint =
      condition === 'not-authorized'
        ? 'the component secret is wrong'
        : condition === 'conflict'
          ? `another component is already connected as ${this.domain}${retried !== undefined ? ` (refused for ${retried} s while reconnecting)` : ''}${this.opts.conflictHint ? `; ${this.opts.conflictHint}` : ''}`
          : condition === 'host-unknown'
            ? `the XMPP server has no component ${this.domain} configured`
            : 'the XMPP server refused the component';
    this.fatalError = new FatalLinkError(condition, `${hint} (stream error ${condition}${text ? `: ${text}` : ''})`);
    clearTimeout(this.timer);
    this.log.fatal({ condition, domain: this.domain }, this.fatalError.message);
    this.emit('fatal', this.fatalError);
  }

  private scheduleReconnect(): void {
    if (this.timer || this.stopped || this.fatalError) return;
    const initial = this.opts.initialDelayMs ?? 500;
    const max = this.opts.maxDelayMs ?? 30_000;
    // Exponential backoff with "equal jitter" (AWS architecture blog, "Exponential Backoff And Jitter"): half the
    // ceiling is waited for sure, half at random — attempts spread out, yet never come back at once.
    const ceiling = Math.min(max, initial * 2 ** Math.min(this.failures, 16));
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.failures += 1;
    this.log.info({ delayMs: delay }, 'reconnecting to the XMPP server');
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.attempt();
    }, delay);
  }

  /**
   * `xmpps://`: the socket is a TLS client socket; `connect()` resolves once the handshake is done and the server
   * certificate verified. The library's socket listeners are attached as for TCP (data → parser, close →
   * 'disconnect', error → 'error'), so the rest of the link is unchanged.
   */
  private useDirectTls(ca: Buffer | undefined): void {
    const xmpp = this.xmpp as Component & LibraryInternals;
    xmpp.connect = (service: string): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        const target = directTlsTarget(service);
        if (!target) return reject(new Error(`not an xmpps:// service: ${service}`));
        xmpp._status('connecting', service);
        const socket = tlsConnect({
          host: target.host,
          port: target.port,
          // SNI takes a DNS name only; the certificate is checked against the host (name or IP address) either way.
          ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
          ...(ca ? { ca } : {}),
          minVersion: 'TLSv1.2',
        });
        xmpp._attachSocket(socket);
        const settle = (err?: Error): void => {
          socket.off('secureConnect', onSecure);
          socket.off('error', onError);
          socket.off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onSecure = (): void => settle();
        const onError = (err: Error): void => settle(err);
        const onClose = (): void => settle(new Error(`connection to ${service} closed during the TLS handshake`));
        socket.once('secureConnect', onSecure);
        socket.once('error', onError);
        socket.once('close', onClose);
      });
  }

  /** One decoder per connection (multi-byte characters may straddle chunks) and no throw out of the data callback. */
  private repairInput(): void {
    const xmpp = this.xmpp;
    xmpp._onData = (data: Buffer): void => {
      const text = this.decoder.write(data);
      if (text.length === 0 || !xmpp.parser) return;
      try {
        xmpp.parser.write(text);
      } catch (err) {
        // ltx throws on malformed input (e.g. an unknown entity): end the stream; the link reconnects.
        this.log.warn({ err: errorText(err) }, 'malformed XML from the XMPP server; restarting the stream');
        xmpp._onParserError(err);
      }
    };
  }

  /**
   * Wrap the library's listeners so one throwing handler cannot abort the parser mid-chunk, and so an IQ another
   * instance must handle (cluster mode) is taken before any of them sees it.
   */
  private guardListeners(event: 'element'): void {
    const listeners = this.xmpp.listeners(event) as ((el: Element) => unknown)[];
    this.xmpp.removeAllListeners(event);
    this.elementHandlers = listeners.map((fn) => (el: Element) => {
      try {
        fn(el);
      } catch (err) {
        this.log.warn({ err: errorText(err), stanza: el.name }, 'stanza handler failed');
      }
    });
    this.xmpp.on(event, (el: Element) => {
      if (el.name === 'iq' && this.diverter) {
        try {
          if (this.diverter(el)) return;
        } catch (err) {
          this.log.warn({ err: errorText(err) }, 'IQ diversion failed; handled here');
        }
      }
      this.dispatchElement(el);
    });
  }

  /**
   * IQ requests are answered here; IQ responses go to the library's middleware, where its IQ caller resolves the
   * request waiting for them. Messages and presence reach the link's listeners through the library's 'stanza' event;
   * its middleware has nothing to do with them (and would parse both their addresses into JID objects first).
   */
  private dispatchElement(el: Element): void {
    if (isIqRequest(el)) {
      void this.answerIq(el);
      return;
    }
    if (el.name === 'message' || el.name === 'presence') return;
    for (const fn of this.elementHandlers) fn(el);
  }

  /** One answer to an IQ request (RFC 6120 §8.2.3), written as the handler settles. */
  private async answerIq(stanza: Element): Promise<void> {
    const answer = await answerRequest(stanza, this.iqServer, (err, child) =>
      this.log.error({ err: errorText(err), ns: child.getNS(), name: child.name }, 'IQ request failed'),
    );
    this.send(answer);
  }
}

/** The parts of xmpp.js's Connection used here beyond types/xmpp.d.ts. */
interface LibraryInternals {
  _attachSocket(socket: Socket): void;
  /** Every string the library sends goes through this (@xmpp/connection `write`). */
  write(text: string): Promise<void>;
  /** Default bound of the library's waits (open, handshake answer, close); 2 s in @xmpp/connection. */
  timeout: number;
  open(options: { domain: string; timeout?: number }): Promise<unknown>;
}

/** Host and port of an `xmpps://host[:port]` service; undefined for any other scheme. */
export function directTlsTarget(service: string): { host: string; port: number } | undefined {
  let url: URL;
  try {
    url = new URL(service);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'xmpps:' || url.hostname === '') return undefined;
  // An IPv6 literal keeps its brackets in URL.hostname.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: url.port === '' ? DEFAULT_COMPONENT_PORT : Number(url.port) };
}
