/**
 * How many password hashes login attempts may cost: a budget per key (a source address, a username, a username at its
 * home address), each a token bucket of `burst` hashes refilled at `perMinute`. Pure apart from the clock, which is
 * injected.
 *
 * An attempt counts when it ARRIVES, not when its hash resolves: it is admitted only if every budget it draws on has
 * a token left after the attempts already being hashed, and it holds that reservation while it is hashed. So 50
 * guesses sent in parallel are 50 attempts against the same few tokens, not 50 hashes that all start before the
 * first failure is recorded. A success gives its reservation back (a device logging in is not a guess); a failure
 * spends the token.
 *
 * An attempt that is not admitted waits before it is answered, longer the more attempts each exhausted budget has
 * refused since it last admitted one (250 ms doubling, capped), so a guesser also loses time.
 *
 * The tables are LRU caches of bounded size: a key that is in use stays, and the least recently used one is
 * forgotten first (it then starts again with a full budget). A flood of new source addresses therefore forgets
 * other idle addresses, never the budget an attacker is hammering right now.
 */
import { LRUCache } from 'lru-cache';
import { TokenBucket } from './token-bucket.js';

export interface LoginLimits {
  /** Hashes a key may cost at once. */
  readonly burst: number;
  /** Hashes per minute flowing back into each budget. */
  readonly perMinute: number;
  /** Longest wait before an attempt that was not admitted is answered. */
  readonly maxDelayMs: number;
  /** Budgets kept (least recently used forgotten first). */
  readonly maxTracked?: number;
}

export type Admission =
  | { readonly admitted: true; readonly release: (succeeded: boolean) => void }
  | { readonly admitted: false; readonly delayMs: number };

interface Budget {
  readonly bucket: TokenBucket;
  /** Admitted attempts still being hashed. */
  inFlight: number;
  /** Attempts refused since this budget last admitted one (how long the next refusal waits). */
  refused: number;
}

const DEFAULT_MAX_TRACKED = 10_000;
const FIRST_DELAY_MS = 250;

export class LoginLimiter {
  private readonly budgets: LRUCache<string, Budget>;

  constructor(
    private readonly limits: LoginLimits,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.budgets = new LRUCache({ max: limits.maxTracked ?? DEFAULT_MAX_TRACKED });
  }

  /**
   * Reserve one hash on every budget in `keys`, or say how long to hold the refusal. `retry`: the same attempt asks
   * again after its wait, and a second refusal does not lengthen the next one's.
   */
  admit(keys: readonly string[], retry = false): Admission {
    const t = this.now();
    const budgets = keys.map((k) => this.budget(k, t));
    const exhausted = budgets.filter((b) => b.bucket.available(t) - b.inFlight < 1);
    if (exhausted.length === 0) {
      for (const b of budgets) {
        b.inFlight += 1;
        b.refused = 0;
      }
      let released = false;
      return {
        admitted: true,
        release: (succeeded) => {
          if (released) return;
          released = true;
          const at = this.now();
          for (const b of budgets) {
            b.inFlight -= 1;
            // A failure spends the token it reserved; a success leaves the budget as it was.
            if (!succeeded) b.bucket.tryTake(at);
          }
        },
      };
    }
    let refused = 0;
    for (const b of exhausted) refused = Math.max(refused, retry ? b.refused : ++b.refused);
    return { admitted: false, delayMs: Math.min(this.limits.maxDelayMs, FIRST_DELAY_MS * 2 ** Math.min(refused - 1, 16)) };
  }

  private budget(key: string, t: number): Budget {
    let b = this.budgets.get(key);
    if (!b) {
      b = { bucket: new TokenBucket(this.limits.perMinute / 60, this.limits.burst, t), inFlight: 0, refused: 0 };
      this.budgets.set(key, b);
    }
    return b;
  }
}
