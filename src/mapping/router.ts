/**
 * Topic → target routing for the uplink hot path and the ACL.
 *
 * Patterns made only of literal levels (imported devices: `zigbee2mqtt/Kitchen lamp`) are found by one map lookup,
 * so a fleet of thousands of imported devices costs nothing per publish; the others are tried in order. Each distinct
 * topic's answer (target and segments, or "unmapped") is cached; the cache is an LRU, so a client publishing to
 * endless distinct topics costs a rescan, never unbounded memory, and the active topics stay cached.
 *
 * Routers are immutable: the live mapping set builds new ones and swaps them in (kernel/mapping-set.ts).
 */
import { LRUCache } from 'lru-cache';
import { matchTopic, type Segments, type TopicPattern } from './topic-pattern.js';

export interface Route<T> {
  readonly target: T;
  readonly segments: Segments;
}

export interface RouteEntry<T> {
  readonly pattern: TopicPattern;
  readonly target: T;
}

const NO_SEGMENTS: Segments = Object.freeze({});

/** Whether a pattern matches exactly one topic (no wildcards, no named segments). */
export function isLiteralPattern(p: TopicPattern): boolean {
  return p.levels.every((l) => l.kind === 'literal');
}

export class TopicRouter<T> {
  private readonly literal = new Map<string, Route<T>>();
  /** Literal topics claimed by more than one entry: the others, for `routeAll` (an availability topic several devices share). */
  private readonly shared = new Map<string, Route<T>[]>();
  private readonly patterned: RouteEntry<T>[] = [];
  /** `null` caches "unmapped". */
  private readonly cache: LRUCache<string, Route<T> | typeof UNMAPPED>;

  constructor(entries: readonly RouteEntry<T>[], maxCached = 100_000) {
    for (const e of entries) {
      if (isLiteralPattern(e.pattern)) {
        // First declared wins, as for patterns (the mapping set refuses overlaps where they matter).
        if (!this.literal.has(e.pattern.filter)) this.literal.set(e.pattern.filter, { target: e.target, segments: NO_SEGMENTS });
        else {
          const more = this.shared.get(e.pattern.filter) ?? [];
          more.push({ target: e.target, segments: NO_SEGMENTS });
          this.shared.set(e.pattern.filter, more);
        }
      } else this.patterned.push(e);
    }
    this.cache = new LRUCache({ max: maxCached });
  }

  route(topic: string): Route<T> | undefined {
    const hit = this.cache.get(topic);
    if (hit !== undefined) return hit === UNMAPPED ? undefined : hit;
    let found: Route<T> | undefined = this.literal.get(topic);
    if (!found) {
      for (const e of this.patterned) {
        const segments = matchTopic(e.pattern, topic);
        if (segments) {
          found = { target: e.target, segments };
          break;
        }
      }
    }
    this.cache.set(topic, found ?? UNMAPPED);
    return found;
  }

  /** Every entry matching the topic, in declaration order (not cached: for the rarer topics that several share). */
  routeAll(topic: string): Route<T>[] {
    const out: Route<T>[] = [];
    const first = this.literal.get(topic);
    if (first) out.push(first, ...(this.shared.get(topic) ?? []));
    for (const e of this.patterned) {
      const segments = matchTopic(e.pattern, topic);
      if (segments) out.push({ target: e.target, segments });
    }
    return out;
  }

  /** Entries by kind, for tests and diagnostics. */
  get counts(): { literal: number; patterned: number; cached: number } {
    return { literal: this.literal.size, patterned: this.patterned.length, cached: this.cache.size };
  }
}

const UNMAPPED = Object.freeze({ unmapped: true }) as unknown as Route<never>;
