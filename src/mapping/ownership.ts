/**
 * Which device a topic (or an MQTT client id) belongs to, derived from the mappings: the basis of the per-device
 * MQTT ACL. A device may publish its readings, its availability and its state reports, and subscribe to its own
 * command topics — never another device's. Pure apart from the routers' caches.
 */
import type { Result } from '../errors.js';
import { readingTopics, type Mapping } from './mapping.js';
import { TopicRouter } from './router.js';
import { templateMatcher } from './template.js';
import { formatTopic, type Segments, type TopicPattern } from './topic-pattern.js';

export type Identify = (mapping: Mapping, segments: Segments) => Result<{ id: string }>;

/** The questions the MQTT ACL asks (answered by the live mapping set, from its current TopicOwnership). */
export interface Ownership {
  publisherOf(topic: string): string | undefined;
  commandTopicOwner(topic: string): string | undefined;
  /** The topics a device reports on (readings, availability), given one of its command topics: a gateway's rights. */
  reportTopicsOf(commandTopic: string): string[];
  clientIdOwner(clientId: string): string | undefined;
}

export class TopicOwnership implements Ownership {
  private readonly published: TopicRouter<Mapping>;
  private readonly commands: TopicRouter<Mapping>;
  private readonly clientIds: { mapping: Mapping; match: (s: string) => Record<string, string> | undefined }[];

  constructor(
    mappings: readonly Mapping[],
    private readonly identify: Identify,
  ) {
    const entries = (pick: (m: Mapping) => TopicPattern[]): { pattern: TopicPattern; target: Mapping }[] =>
      mappings.flatMap((m) => pick(m).map((pattern) => ({ pattern, target: m })));
    this.published = new TopicRouter(
      entries((m) => [...readingTopics(m), ...(m.availability?.topics ?? []).map((t) => t.topic), ...m.commands.flatMap((c) => (c.confirm ? [c.confirm.topic] : []))]),
    );
    this.commands = new TopicRouter(entries((m) => m.commands.map((c) => c.topic)));
    this.clientIds = mappings.flatMap((m) => (m.availability?.clientId ? [{ mapping: m, match: templateMatcher(m.availability.clientId) }] : []));
  }

  /** The device a device-published topic belongs to (readings, availability, state reports). */
  publisherOf(topic: string): string | undefined {
    return this.owner(this.published, topic);
  }

  /** The device whose command topic this is. */
  commandTopicOwner(topic: string): string | undefined {
    return this.owner(this.commands, topic);
  }

  /**
   * The topics the device that owns this command topic reports on (its readings and availability topic): a client
   * allowed to publish them speaks for that device, as a gateway does for the devices behind it.
   */
  reportTopicsOf(commandTopic: string): string[] {
    const route = this.commands.route(commandTopic);
    if (!route) return [];
    const m = route.target;
    return [...readingTopics(m), ...(m.availability?.topics ?? []).map((t) => t.topic)].flatMap((p) => formatTopic(p, route.segments).topic ?? []);
  }

  /** The device an MQTT client id stands for (availability by connection), if any. */
  clientIdOwner(clientId: string): string | undefined {
    for (const { mapping, match } of this.clientIds) {
      const segments = match(clientId);
      if (!segments) continue;
      const id = this.identify(mapping, segments);
      if (id.ok) return id.value.id;
    }
    return undefined;
  }

  private owner(router: TopicRouter<Mapping>, topic: string): string | undefined {
    const route = router.route(topic);
    if (!route) return undefined;
    const id = this.identify(route.target, route.segments);
    return id.ok ? id.value.id : undefined;
  }
}
