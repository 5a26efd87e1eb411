/**
 * Who may use the status page, its API and /metrics: whoever holds the admin token (`http.token`, from the config
 * file, a file, or BRIDGE_HTTP_TOKEN).
 *
 * - Scripts and Prometheus send it as `Authorization: Bearer <token>` (RFC 6750 §2.1) — never in a URL, where it would
 *   land in logs and browser history.
 * - The page logs in once with it (POST /login) and gets a session cookie: a random id, HttpOnly (page scripts cannot
 *   read it), SameSite=Strict (no other site can make the browser send it, so no cross-site request can act), Secure
 *   over HTTPS. Sessions live in memory, at most MAX_SESSIONS (the oldest go first), for SESSION_MS.
 * - Token comparison is constant-time over SHA-256 digests (the lengths of the token and the guess stay hidden).
 * - Failed logins are counted per source address; beyond a burst, that address is refused for a while (429) without
 *   a comparison, so guessing does not scale.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { TokenBucket } from '../../broker/token-bucket.js';

export const SESSION_COOKIE = 'mxb_session';
export const SESSION_MS = 12 * 60 * 60 * 1000;
const MAX_SESSIONS = 1000;
const MAX_TRACKED_ADDRESSES = 10_000;
/** Login failures per address: a burst of 5, then one every 10 s. */
const FAILURE_BURST = 5;
const FAILURES_PER_SECOND = 0.1;

export type LoginVerdict = 'ok' | 'wrong' | 'throttled';

export class AdminAuth {
  private readonly digest: Buffer;
  private readonly sessions: LRUCache<string, number>;
  private readonly failures = new LRUCache<string, TokenBucket>({ max: MAX_TRACKED_ADDRESSES });

  constructor(
    token: string,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.digest = sha256(token);
    this.sessions = new LRUCache({ max: MAX_SESSIONS });
  }

  /** Whether `candidate` is the token (constant time). */
  isToken(candidate: string): boolean {
    return timingSafeEqual(this.digest, sha256(candidate));
  }

  /** A login attempt from `address`; on success, the new session id. */
  login(candidate: string, address: string): { verdict: LoginVerdict; session?: string } {
    const now = this.now();
    const bucket = this.failures.get(address);
    if (bucket && bucket.available(now) < 1) return { verdict: 'throttled' };
    if (!this.isToken(candidate)) {
      let b = bucket;
      if (!b) this.failures.set(address, (b = new TokenBucket(FAILURES_PER_SECOND, FAILURE_BURST, now)));
      b.tryTake(now);
      return { verdict: 'wrong' };
    }
    const session = randomBytes(32).toString('base64url');
    this.sessions.set(session, now + SESSION_MS);
    return { verdict: 'ok', session };
  }

  logout(session: string | undefined): void {
    if (session !== undefined) this.sessions.delete(session);
  }

  /** Whether a request carries the token (bearer) or a live session. */
  allows(authorization: string | undefined, session: string | undefined): boolean {
    if (authorization !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      return m !== null && this.isToken(m[1]!);
    }
    if (session === undefined) return false;
    const expires = this.sessions.get(session);
    if (expires === undefined) return false;
    if (expires <= this.now()) {
      this.sessions.delete(session);
      return false;
    }
    return true;
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
