/**
 * How a shared store writes through: the change and its announcement in one MULTI/EXEC, so no instance can read the
 * change without the announcement following it, nor hear the announcement of a change that did not happen.
 * Failures are logged, never thrown into the hot path that made the change (the local copy already has it; a
 * reconnect resynchronises: state.ts).
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { Logger } from '../../log.js';
import type { Keys } from './connection.js';
import type { StateMessage, Unsigned } from './messages.js';

/** A StateMessage without its sender (the writer adds it). */
export type Announcement = Unsigned<StateMessage>;

export class Writer {
  constructor(
    readonly redis: Redis,
    readonly keys: Keys,
    readonly instance: string,
    readonly log: Logger,
  ) {}

  /** `ops` on a MULTI, followed by the announcement to the other instances. */
  write(what: string, ops: (m: ChainableCommander) => void, note: Announcement | undefined): void {
    const m = this.redis.multi();
    ops(m);
    if (note) m.publish(this.keys.events, JSON.stringify({ i: this.instance, ...note }));
    m.exec().catch((err: unknown) => this.log.error({ err: (err as Error).message, what }, 'shared state write failed'));
  }

  /** An announcement alone (nothing stored). */
  announce(note: Announcement): void {
    this.redis.publish(this.keys.events, JSON.stringify({ i: this.instance, ...note })).catch((err: unknown) => {
      this.log.debug({ err: (err as Error).message, kind: note.k }, 'announcement failed');
    });
  }
}
