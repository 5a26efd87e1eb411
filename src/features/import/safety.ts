/**
 * A device description against who published it (docs/IMPORT.md, "Safety"). Pure.
 *
 * A discovery message names topics the bridge will read (state, availability) and write (commands). It is accepted
 * only when
 *   1. its publisher is known — on the embedded broker every client authenticated, and a message without one (a
 *      retained message from before the bridge watched) is refused; a broker reached as a client does not say who
 *      published, and its own ACL is trusted (who may publish on the discovery prefix there decides);
 *   2. every topic lies within that publisher's MQTT rights: it may publish the state and availability topics, and
 *      subscribe to the command topics — the commands go to whoever the publisher is allowed to be;
 *   3. no topic is another device's: a state or availability topic that is another device's command topic, a state
 *      topic another device reads, a command topic on which another device reports or receives commands;
 *   4. no command topic is one the bridge or an importer reads for itself (the bridge's own topics, discovery).
 * So a discovery message can never point the bridge's commands at another device's topic, nor read another device's
 * commands as readings, whatever rights its publisher has.
 */
import type { Publisher } from '../../broker/mqtt-side.js';
import { descriptionTopics } from '../../importers/description-topics.js';
import type { DeviceDescription } from '../../importers/model.js';

export type SafetyCode = 'IMPORT_PUBLISHER_UNKNOWN' | 'IMPORT_TOPIC_FORBIDDEN' | 'IMPORT_TOPIC_TAKEN';

export interface SafetyRefusal {
  readonly code: SafetyCode;
  readonly reason: string;
  readonly topic?: string;
}

/** Who already uses a topic (JID local parts), from the mappings in force and those about to be. */
export interface TopicClaims {
  /** The device whose readings arrive on this topic. */
  readingOwner(topic: string): string | undefined;
  /** The device that reports on this topic (readings, availability, state echoes). */
  reportOwner(topic: string): string | undefined;
  /** The device whose commands are published on this topic. */
  commandOwner(topic: string): string | undefined;
  /** Why the bridge keeps this topic for itself (its own topics, discovery), if it does. */
  reserved(topic: string): string | undefined;
}

export function checkDescription(
  d: DeviceDescription,
  localpart: string,
  publisher: Publisher | undefined,
  knowsPublishers: boolean,
  claims: TopicClaims,
): SafetyRefusal | undefined {
  const topics = descriptionTopics(d);
  if (knowsPublishers && !publisher) {
    return { code: 'IMPORT_PUBLISHER_UNKNOWN', reason: 'the broker does not know who published this description (a retained message older than the bridge\'s subscription)' };
  }
  const who = publisher?.identity ?? 'the publisher';
  if (publisher) {
    for (const t of [...topics.state, ...topics.availability]) {
      if (!publisher.mayPublish(t)) return { code: 'IMPORT_TOPIC_FORBIDDEN', topic: t, reason: `${who} may not publish on ${t}, which the description says the device reports on` };
    }
    for (const t of topics.commands) {
      if (!publisher.maySubscribe(t)) return { code: 'IMPORT_TOPIC_FORBIDDEN', topic: t, reason: `${who} may not subscribe to ${t}: commands sent there would reach a device it does not speak for` };
    }
  }
  const other = (owner: string | undefined): boolean => owner !== undefined && owner !== localpart;
  for (const t of topics.state) {
    const r = claims.readingOwner(t);
    if (other(r)) return { code: 'IMPORT_TOPIC_TAKEN', topic: t, reason: `${t} carries the readings of device ${r}` };
  }
  for (const t of [...topics.state, ...topics.availability]) {
    const c = claims.commandOwner(t);
    if (other(c)) return { code: 'IMPORT_TOPIC_TAKEN', topic: t, reason: `${t} carries the commands of device ${c}` };
  }
  for (const t of topics.commands) {
    const reserved = claims.reserved(t);
    if (reserved !== undefined) return { code: 'IMPORT_TOPIC_TAKEN', topic: t, reason: `commands may not go to ${t}: ${reserved}` };
    const c = claims.commandOwner(t);
    if (other(c)) return { code: 'IMPORT_TOPIC_TAKEN', topic: t, reason: `${t} is the command topic of device ${c}` };
    const r = claims.reportOwner(t);
    if (other(r)) return { code: 'IMPORT_TOPIC_TAKEN', topic: t, reason: `device ${r} reports on ${t}: commands there would pass for its messages` };
  }
  return undefined;
}
