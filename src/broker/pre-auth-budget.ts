/**
 * One memory budget shared by every connection the broker has not accepted yet.
 *
 * Before its CONNACK, a connection's bytes are held by the frame guard (an unfinished CONNECT, and what arrives
 * after a CONNECT until it is answered). Each connection is capped (MAX_CONNECT_BYTES), but thousands of connections
 * each holding an unfinished CONNECT would still add up: the budget bounds them in total. A connection whose bytes
 * would take the total over the budget is closed — the newest to ask, so the ones already holding their share
 * are not disturbed — and reported (`pre_auth_budget_exceeded`).
 */

/** Total bytes all not-yet-accepted connections may hold at once. */
export const PRE_AUTH_BUDGET_BYTES = 16 * 1024 * 1024;

export class PreAuthBudget {
  private used = 0;

  constructor(readonly limit: number = PRE_AUTH_BUDGET_BYTES) {}

  /** Bytes held now by all connections together. */
  get inUse(): number {
    return this.used;
  }

  /**
   * Moves one connection's share from `from` to `to` bytes. Growing beyond the budget is refused (false) and
   * changes nothing; shrinking always succeeds.
   */
  resize(from: number, to: number): boolean {
    const next = this.used - from + to;
    if (to > from && next > this.limit) return false;
    this.used = next;
    return true;
  }
}
