/**
 * A token bucket: `rate` tokens per second flow in, at most `burst` are kept, and each publish takes one. Pure — the
 * caller passes the time (milliseconds on a monotonic clock), so the arithmetic is tested without timers.
 */

/** Tolerance for the floating-point sum of refills: 0.9999999999 tokens after exactly the computed wait is one. */
const EPSILON = 1e-9;

export class TokenBucket {
  private tokens: number;
  private last: number;

  /** Starts full: a client may send `burst` messages at once before the rate applies. */
  constructor(
    readonly rate: number,
    readonly burst: number,
    now: number,
  ) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`rate must be a positive number, got ${rate}`);
    if (!(burst >= 1)) throw new RangeError(`burst must be at least 1, got ${burst}`);
    this.tokens = burst;
    this.last = now;
  }

  /** Tokens available at `now` (fractional while one is filling up). */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** Takes one token if there is one; `false` leaves the bucket unchanged. */
  tryTake(now: number): boolean {
    this.refill(now);
    if (this.tokens + EPSILON < 1) return false;
    this.tokens = Math.max(0, this.tokens - 1);
    return true;
  }

  /** Milliseconds from `now` until one token is available: 0 if one already is. Rounded up to whole milliseconds. */
  waitMs(now: number): number {
    this.refill(now);
    const missing = 1 - this.tokens;
    if (missing <= EPSILON) return 0;
    return Math.ceil((missing * 1000) / this.rate - EPSILON);
  }

  private refill(now: number): void {
    // A clock that goes backwards (it should not: callers use a monotonic one) adds nothing rather than removing.
    if (now <= this.last) return;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
  }
}
