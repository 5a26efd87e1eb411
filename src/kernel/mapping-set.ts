/**
 * The live mapping set: the one owner of the mappings in force, and of everything derived from them — the reading and
 * availability routers, topic and client-id ownership (the MQTT ACL), the per-mapping watched topics.
 *
 * A change (mappings added, replaced, removed — from a file reload, an importer, the request API) is checked as a
 * whole against the rest of the set first (mapping/cross-check.ts) and applied atomically or not at all: the derived
 * routers are rebuilt aside and swapped in at once, so the uplink never sees half a change. Then the registry follows
 * (devices re-pointed, restored or removed) and `mappings_changed` tells the features (MQTT subscriptions, presence,
 * availability, bridge topics…).
 *
 * A mapping whose fingerprint did not change is kept as it is (same object), so an unchanged mapping's devices,
 * caches and subscriptions are untouched by a reload.
 */
import { fail, ok, type LoadProblem, type Result } from '../errors.js';
import type { DeviceRegistry } from '../devices/registry.js';
import { crossCheck } from '../mapping/cross-check.js';
import { readingTopics, type Mapping, type MappingOrigin } from '../mapping/mapping.js';
import { TopicOwnership, type Ownership } from '../mapping/ownership.js';
import { TopicRouter, type Route } from '../mapping/router.js';
import { templateMatcher } from '../mapping/template.js';
import type { Segments } from '../mapping/topic-pattern.js';
import type { EventBus, MappingsChange } from './events.js';

export interface ClientIdMatch {
  readonly mapping: Mapping;
  readonly segments: Segments;
}

/** Everything derived from one version of the set; immutable, swapped as a whole. */
class MappingIndex {
  readonly list: readonly Mapping[];
  readonly readings: TopicRouter<Mapping>;
  readonly availability: TopicRouter<Mapping>;
  readonly ownership: TopicOwnership;
  private readonly clientIds: readonly { mapping: Mapping; match: (s: string) => Record<string, string> | undefined }[];

  constructor(mappings: readonly Mapping[], registry: DeviceRegistry) {
    this.list = mappings;
    this.readings = new TopicRouter(mappings.flatMap((m) => readingTopics(m).map((pattern) => ({ pattern, target: m }))));
    this.availability = new TopicRouter(mappings.flatMap((m) => (m.availability?.topics ?? []).map((t) => ({ pattern: t.topic, target: m }))));
    this.ownership = new TopicOwnership(mappings, (m, s) => registry.identify(m, s));
    this.clientIds = mappings.flatMap((m) => (m.availability?.clientId ? [{ mapping: m, match: templateMatcher(m.availability.clientId) }] : []));
  }

  clientIdMatches(clientId: string): ClientIdMatch[] {
    const out: ClientIdMatch[] = [];
    for (const { mapping, match } of this.clientIds) {
      const segments = match(clientId);
      if (segments) out.push({ mapping, segments });
    }
    return out;
  }
}

export type ChangeResult = Result<MappingsChange> & { readonly problems?: readonly LoadProblem[] };

export class MappingSet implements Ownership {
  private byId = new Map<string, Mapping>();
  private index: MappingIndex;

  constructor(
    private readonly registry: DeviceRegistry,
    private readonly bus: EventBus,
  ) {
    this.index = new MappingIndex([], registry);
  }

  /** The mappings in force, in the order they were declared. */
  all(): readonly Mapping[] {
    return this.index.list;
  }

  get(id: string): Mapping | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.byId.size;
  }

  /** The mapping a reading topic belongs to, with its segments (hot path; cached per topic). */
  route(topic: string): Route<Mapping> | undefined {
    return this.index.readings.route(topic);
  }

  /** The mapping an availability topic belongs to. */
  routeAvailability(topic: string): Route<Mapping> | undefined {
    return this.index.availability.route(topic);
  }

  /** Every mapping an availability topic belongs to: a gateway's or an edge node's state can stand for several devices. */
  routeAvailabilityAll(topic: string): Route<Mapping>[] {
    return this.index.availability.routeAll(topic);
  }

  /** Mappings whose availability follows this MQTT client id, with the segments it carries. */
  clientIdMatches(clientId: string): ClientIdMatch[] {
    return this.index.clientIdMatches(clientId);
  }

  /** The device a device-published topic belongs to (readings, availability, state reports): the MQTT ACL. */
  publisherOf(topic: string): string | undefined {
    return this.index.ownership.publisherOf(topic);
  }

  /** The device whose command topic this is. */
  commandTopicOwner(topic: string): string | undefined {
    return this.index.ownership.commandTopicOwner(topic);
  }

  /** The topics a device reports on, given one of its command topics (a gateway publishing for it may receive them). */
  reportTopicsOf(commandTopic: string): string[] {
    return this.index.ownership.reportTopicsOf(commandTopic);
  }

  /** The device an MQTT client id stands for (availability by connection), if any. */
  clientIdOwner(clientId: string): string | undefined {
    return this.index.ownership.clientIdOwner(clientId);
  }

  /**
   * Add or replace (`upsert`, by id) and remove mappings, atomically: every problem the change would cause is
   * returned and nothing is applied, or all of it is.
   */
  apply(upsert: readonly Mapping[], remove: readonly string[] = []): ChangeResult {
    const upserting = new Set(upsert.map((m) => m.id));
    const next = new Map(this.byId);
    const added: Mapping[] = [];
    const replaced: { before: Mapping; after: Mapping }[] = [];
    const removed: Mapping[] = [];
    const problems: LoadProblem[] = [];
    for (const id of remove) {
      const m = this.byId.get(id);
      // Removed and given again in the same change: a replacement, handled below.
      if (m && !upserting.has(id)) {
        next.delete(id);
        removed.push(m);
      }
    }
    const candidates: Mapping[] = [];
    for (const m of upsert) {
      const before = this.byId.get(m.id);
      if (before && !sameOrigin(before.origin, m.origin)) {
        problems.push({ file: m.file, path: `/mappings/${m.index}/id`, message: `id "${m.id}" is already used by ${describeOrigin(before.origin)}` });
        continue;
      }
      if (before?.fingerprint === m.fingerprint) continue; // unchanged: the object in force stays
      next.set(m.id, m);
      candidates.push(m);
      if (before) replaced.push({ before, after: m });
      else added.push(m);
    }
    const changing = new Set(candidates);
    problems.push(...crossCheck(candidates, [...next.values()].filter((m) => !changing.has(m))));
    if (problems.length > 0) return { ...fail('MAPPING_INVALID', `${problems.length} problem${problems.length === 1 ? '' : 's'} in the change`), problems };

    const change: MappingsChange = { added, replaced, removed };
    if (added.length + replaced.length + removed.length === 0) return ok(change);
    // Declaration order: what was there keeps its place (replacements too), new ones go last.
    const order = [...this.byId.keys()].filter((id) => next.has(id));
    for (const id of next.keys()) if (!this.byId.has(id)) order.push(id);
    this.byId = new Map(order.map((id) => [id, next.get(id)!]));
    this.index = new MappingIndex([...this.byId.values()], this.registry);
    this.registry.follow(change);
    this.bus.emit('mappings_changed', change);
    return ok(change);
  }

  /**
   * Make the mappings of one origin exactly `mappings` (a mapping file reload, an importer's full list): unchanged
   * ones stay, changed ones are replaced, new ones added, missing ones removed — atomically, as `apply`.
   */
  replaceOrigin(owns: (o: MappingOrigin) => boolean, mappings: readonly Mapping[]): ChangeResult {
    const keep = new Set(mappings.map((m) => m.id));
    const remove = [...this.byId.values()].filter((m) => owns(m.origin) && !keep.has(m.id)).map((m) => m.id);
    return this.apply(mappings, remove);
  }
}

function sameOrigin(a: MappingOrigin, b: MappingOrigin): boolean {
  if (a.kind !== b.kind) return false;
  return a.kind !== 'import' || (b.kind === 'import' && a.source === b.source);
}

export function describeOrigin(o: MappingOrigin): string {
  switch (o.kind) {
    case 'file':
      return o.file;
    case 'import':
      return `the ${o.source} import (${o.id})`;
    case 'api':
      return 'the request API';
  }
}
