/**
 * Per-client publish rate limit for the embedded broker, applied in aedes' `authorizePublish` hook.
 *
 * `delay` holds a publish by not calling the hook's callback until a token is available. aedes does not read more
 * of that client's socket while a publish of the current batch is unfinished, so TCP backpressure slows the device
 * down and nothing is lost: its QoS 1/2 publishes are acknowledged late, not dropped. `disconnect` refuses the
 * publish with an error, which makes aedes close the connection (MQTT 3.1.1 has no other way to refuse a PUBLISH).
 *
 * Held publishes are kept per client in arrival order (one timer per client), so a client's messages still reach
 * the bridge in the order it sent them, and `release` drops them all when the client goes away.
 *
 * Bounds, measured with aedes 1.2.0: aedes dispatches every packet of one socket read at once, so a client can have
 * one read's worth of publishes held (with 12-byte QoS 0 publishes: ≈ 7,300 held, ≈ 15 MB RSS), for at most
 * held ÷ rate seconds. Its next packets, PINGREQ included, wait unread behind them, so aedes' keep-alive timer
 * ([MQTT-3.1.2-24], 1.5 × the client's keep alive) also bounds the hold: a client throttled for longer is
 * disconnected, and re-sends its unacknowledged QoS 1/2 publishes when it reconnects. A socket the client has
 * closed is noticed the same way, as a paused socket reads no end-of-stream.
 */
import { TokenBucket } from './token-bucket.js';

export type RatePolicy = 'delay' | 'disconnect';

export interface RateLimitOptions {
  readonly messagesPerSecond: number;
  readonly burst: number;
  readonly policy: RatePolicy;
}

/** What happened to one publish: went through at once, held for later, or refused (the client will be closed). */
export type Verdict = 'passed' | 'delayed' | 'refused';

export class RateLimitError extends Error {
  constructor(readonly rate: number) {
    super(`publish rate above ${rate} messages per second`);
    this.name = 'RateLimitError';
  }
}

type Proceed = (err?: Error) => void;

interface ClientState {
  readonly bucket: TokenBucket;
  readonly held: Proceed[];
  timer: NodeJS.Timeout | undefined;
}

export class PublishRateLimiter<K extends object> {
  private readonly clients = new Map<K, ClientState>();
  private heldCount = 0;

  constructor(
    private readonly opts: RateLimitOptions,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether the configuration asks for a limit at all (`messagesPerSecond` 0 = none). */
  static enabled(opts: RateLimitOptions): boolean {
    return opts.messagesPerSecond > 0;
  }

  /**
   * One publish of `key`'s client: `proceed()` is called now (a token was free), later in arrival order (`delay`), or
   * now with a `RateLimitError` (`disconnect`).
   */
  admit(key: K, proceed: Proceed): Verdict {
    const now = this.now();
    let state = this.clients.get(key);
    if (!state) {
      state = { bucket: new TokenBucket(this.opts.messagesPerSecond, this.opts.burst, now), held: [], timer: undefined };
      this.clients.set(key, state);
    }
    // Publishes already waiting go first, even if a token has just become free.
    if (state.held.length === 0 && state.bucket.tryTake(now)) {
      proceed();
      return 'passed';
    }
    if (this.opts.policy === 'disconnect') {
      proceed(new RateLimitError(this.opts.messagesPerSecond));
      return 'refused';
    }
    state.held.push(proceed);
    this.heldCount += 1;
    this.schedule(key, state);
    return 'delayed';
  }

  /** The client is gone: its held publishes are dropped (never acknowledged, so a QoS 1/2 client sends them again). */
  release(key: K): number {
    const state = this.clients.get(key);
    if (!state) return 0;
    this.clients.delete(key);
    if (state.timer) clearTimeout(state.timer);
    const dropped = state.held.length;
    this.heldCount -= dropped;
    state.held.length = 0;
    return dropped;
  }

  releaseAll(): void {
    for (const key of [...this.clients.keys()]) this.release(key);
  }

  /** Publishes held right now, all clients together. */
  get held(): number {
    return this.heldCount;
  }

  /** Clients with limiter state (connected clients that have published). */
  get clientCount(): number {
    return this.clients.size;
  }

  private schedule(key: K, state: ClientState): void {
    if (state.timer) return;
    const wait = Math.max(1, state.bucket.waitMs(this.now()));
    state.timer = setTimeout(() => {
      state.timer = undefined;
      this.drain(key, state);
    }, wait);
    state.timer.unref(); // held publishes never keep the process alive; the broker's listeners do while it runs
  }

  private drain(key: K, state: ClientState): void {
    if (this.clients.get(key) !== state) return; // released meanwhile
    while (state.held.length > 0 && state.bucket.tryTake(this.now())) {
      const proceed = state.held.shift()!;
      this.heldCount -= 1;
      proceed();
      if (this.clients.get(key) !== state) return; // the callback closed the client
    }
    if (state.held.length > 0) this.schedule(key, state);
  }
}
