/**
 * Topic → mapping routing for the uplink hot path: each distinct topic is matched against the mappings once and the
 * answer (mapping and segments, or "unmapped") is cached. The cache is bounded; when full it starts over, so a client
 * publishing to endless distinct topics costs a rescan, never unbounded memory.
 */
import type { Mapping } from './mapping.js';
import { matchTopic, type Segments, type TopicPattern } from './topic-pattern.js';

export interface Route<T> {
  readonly target: T;
  readonly segments: Segments;
}

export class TopicRouter<T> {
  private readonly cache = new Map<string, Route<T> | null>();

  constructor(
    private readonly entries: readonly { pattern: TopicPattern; target: T }[],
    private readonly maxCached = 100_000,
  ) {}

  route(topic: string): Route<T> | undefined {
    const hit = this.cache.get(topic);
    if (hit !== undefined) return hit ?? undefined;
    let found: Route<T> | null = null;
    for (const e of this.entries) {
      const segments = matchTopic(e.pattern, topic);
      if (segments) {
        found = { target: e.target, segments };
        break;
      }
    }
    if (this.cache.size >= this.maxCached) this.cache.clear();
    this.cache.set(topic, found);
    return found ?? undefined;
  }
}

export function readingRouter(mappings: readonly Mapping[]): TopicRouter<Mapping> {
  return new TopicRouter(mappings.map((m) => ({ pattern: m.topic, target: m })));
}

export function availabilityRouter(mappings: readonly Mapping[]): TopicRouter<Mapping> {
  return new TopicRouter(mappings.flatMap((m) => (m.availability?.topic ? [{ pattern: m.availability.topic, target: m }] : [])));
}
