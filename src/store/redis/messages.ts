/**
 * What instances tell each other over Redis pub/sub: state changes on the shared `events` channel (every instance
 * applies them to its local copy) and messages to one instance on its `inbox` channel. JSON, one object per message,
 * each naming its sender (`i`) so an instance skips its own.
 */
import type { ForwardedOutcome } from '../../kernel/cluster.js';
import type { UserPresenceChange } from '../../kernel/user-presence.js';
import type { DeviceRow, ImportRow, LatestReadingRow, PresenceRequestState, QueuedCommandRow } from '../../kernel/stores.js';

export type StateMessage =
  | { readonly i: string; readonly k: 'device'; readonly row: DeviceRow }
  | { readonly i: string; readonly k: 'device-'; readonly jid: string }
  /** Devices heard from (last-seen times, ms) since the sender's previous `seen`. */
  | { readonly i: string; readonly k: 'seen'; readonly at: Readonly<Record<string, number>> }
  | { readonly i: string; readonly k: 'sub'; readonly d: string; readonly u: string; readonly on: boolean }
  | { readonly i: string; readonly k: 'cmd'; readonly row: QueuedCommandRow }
  | { readonly i: string; readonly k: 'cmd-'; readonly id: number }
  /** The sender left the cluster (a clean stop): the others look at the membership at once, not at their next heartbeat. */
  | { readonly i: string; readonly k: 'left' }
  /** A device's availability changed (o: online, s: asleep), held by instance h (a connection there), '' for none. */
  | { readonly i: string; readonly k: 'av'; readonly d: string; readonly o: boolean; readonly h: string; readonly s?: boolean }
  /** Import rows written (descriptions seen, decisions), or removed (`gone`: their `<source> <key>` fields). */
  | { readonly i: string; readonly k: 'imp'; readonly rows: readonly ImportRow[]; readonly gone: readonly string[] }
  /** Latest readings written behind since the sender's previous batch; `gone`: devices removed. */
  | { readonly i: string; readonly k: 'lt'; readonly rows: readonly LatestReadingRow[]; readonly gone: readonly string[] }
  /** An XEP-0060 subscription made (on) or removed. */
  | { readonly i: string; readonly k: 'ps'; readonly d: string; readonly n: string; readonly u: string; readonly on: boolean }
  /** A device's presence request to a user and its answer (s), or its removal (s: null). */
  | { readonly i: string; readonly k: 'pr'; readonly d: string; readonly u: string; readonly s: PresenceRequestState | null }
  /** A change of which users are online (a resource available or gone), or of which devices see a user's presence. */
  | { readonly i: string; readonly k: 'up'; readonly c: UserPresenceChange };

export type InboxMessage =
  /** An IQ that reached the sender but belongs to the receiver (kernel/xmpp-link.ts#divert), as XML. */
  | { readonly i: string; readonly k: 'stanza'; readonly xml: string }
  /** The outcome of a held command whose sender's request the receiver holds. */
  | { readonly i: string; readonly k: 'answer'; readonly row: QueuedCommandRow; readonly outcome: ForwardedOutcome };

/** A message as its sender writes it (the sender's id is added on the way out). */
export type Unsigned<M> = M extends unknown ? Omit<M, 'i'> : never;

/** A message off the wire, or undefined when it is not one of ours (another program on the channel, a bad version). */
export function parseMessage<T extends { readonly k: string }>(text: string, kinds: readonly string[]): T | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const m = value as { i?: unknown; k?: unknown };
  return typeof m.i === 'string' && typeof m.k === 'string' && kinds.includes(m.k) ? (value as T) : undefined;
}

export const STATE_KINDS = ['device', 'device-', 'seen', 'sub', 'cmd', 'cmd-', 'av', 'left', 'imp', 'lt', 'ps', 'pr', 'up'] as const;
export const INBOX_KINDS = ['stanza', 'answer'] as const;
