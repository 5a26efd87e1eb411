/**
 * Availability payloads → online/offline/asleep. Pure.
 *
 * Accepted forms, compared case-insensitively with the topic's words:
 *   plain text          `online`, `Offline` (Tasmota LWT "Online"/"Offline", Homie `$state`)
 *   a JSON string       `"online"`
 *   a JSON object       `{"state": "online"}` (Zigbee2MQTT availability)
 * A topic's own online and offline words are matched first, then the mapping's `sleeping` word; anything else is
 * unrecognized (undefined) and leaves the device as it was (Homie `init`).
 *
 * Several topics combine by mode (Home Assistant `availability_mode`): `latest` — the last message decides; `all` —
 * online only when every topic says so (one not heard from yet counts as offline), asleep when none is offline and
 * one sleeps; `any` — online when one says so, else asleep when one sleeps, else offline.
 */

import { decodeSparkplug, parseSparkplugTopic } from './sparkplug.js';

export type AvailabilityState = 'online' | 'offline' | 'asleep';

/** Payloads longer than this are not availability words. */
const MAX_WORD_BYTES = 1024;

/** The word a payload carries (plain, a JSON string, or `{"state": …}`), trimmed; undefined when it carries none. */
export function availabilityWord(payload: Uint8Array): string | undefined {
  if (payload.length === 0 || payload.length > MAX_WORD_BYTES) return undefined;
  return unwrap(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8').trim());
}

/** A word against a topic's words and the sleeping word. */
export function classifyWord(word: string, online: readonly string[], offline: readonly string[], sleeping?: string): AvailabilityState | undefined {
  const w = word.trim().toLowerCase();
  if (online.some((x) => x.toLowerCase() === w)) return 'online';
  if (offline.some((x) => x.toLowerCase() === w)) return 'offline';
  if (sleeping !== undefined && sleeping.toLowerCase() === w) return 'asleep';
  return undefined;
}

/** The device's state from the last state of each of its topics (`undefined`: not heard from yet). */
export function combineAvailability(mode: 'all' | 'any', states: readonly (AvailabilityState | undefined)[]): AvailabilityState {
  if (mode === 'all') {
    if (states.length === 0 || states.some((s) => s === undefined || s === 'offline')) return 'offline';
    return states.includes('asleep') ? 'asleep' : 'online';
  }
  if (states.includes('online')) return 'online';
  return states.includes('asleep') ? 'asleep' : 'offline';
}

/** One word for online and one for offline (the single-topic form of mapping files). */
export function availabilityOf(payload: Uint8Array, online: string, offline: string): boolean | undefined {
  const word = availabilityWord(payload);
  if (word === undefined) return undefined;
  const state = classifyWord(word, [online], [offline]);
  return state === undefined ? undefined : state === 'online';
}

/**
 * A Sparkplug B message on an availability topic: BIRTH and DATA say online, DEATH offline — an NDEATH only when it
 * carries the bdSeq of the current birth (Sparkplug 3.0 §7.1: the Will of an earlier session is stale).
 */
export function sparkplugWord(topic: string, payload: Uint8Array, bdSeq: number | string | undefined, online: readonly string[], offline: readonly string[]): string | undefined {
  const t = parseSparkplugTopic(topic);
  if (!t) return undefined;
  if (t.type === 'NDEATH' && bdSeq !== undefined) {
    const p = decodeSparkplug(payload);
    if (!p.ok || p.value.metrics.find((m) => m.name === 'bdSeq')?.value !== bdSeq) return undefined;
  }
  return t.type.endsWith('DEATH') ? offline[0] : online[0];
}

function unwrap(text: string): string {
  if (!text.startsWith('{') && !text.startsWith('"')) return text;
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'string') return v;
    if (v !== null && typeof v === 'object' && typeof (v as Record<string, unknown>)['state'] === 'string') {
      return (v as Record<string, string>)['state']!;
    }
  } catch {
    // not JSON: compare the text as it is
  }
  return text;
}
