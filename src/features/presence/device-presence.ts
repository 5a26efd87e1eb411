/**
 * The presence a device shows (pure): available while its MQTT side is alive, with its latest reading as the status
 * text ("21.5 °C, 40 % RH", RFC 6121 §4.7.2.2) so a roster shows current values without any message; `xa` with an
 * XEP-0319 idle time when no reading came for the mapping's `idleAfter` (a stale device), `xa` too while it says it is
 * asleep (availability `sleeping`); unavailable with
 * the reason, or the last value, when its MQTT side is gone.
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { readingBody } from '../../convert/reading.js';
import { truncate, xmlSafeText } from '../../convert/xml-safe.js';
import type { Device } from '../../devices/device.js';
import { presence } from '../../xmpp/stanzas.js';
import { NS_IDLE } from '../../xmpp/namespaces.js';

/** Status texts are short: clients show them in one line of a roster. */
const MAX_STATUS_CHARS = 200;

export interface Shown {
  /** The status text: the latest reading as the mapping's body renders it; undefined when there is none (yet). */
  readonly text: string | undefined;
  /** Since when the device is idle (ms since epoch), or undefined. */
  readonly idleSince: number | undefined;
}

/** The status text of a reading, or undefined when the mapping keeps readings out of presence. */
export function statusText(device: Device, value: unknown): string | undefined {
  if (!device.mapping.delivery.status) return undefined;
  try {
    return truncate(xmlSafeText(readingBody(value, device.segments, device.mapping.body)), MAX_STATUS_CHARS);
  } catch {
    return undefined; // nested too deeply to render: no status rather than none at all
  }
}

/** Whether a device that last reported at `lastReading` is idle at `now`, and since when. */
export function idleSince(device: Device, lastReading: number, now: number): number | undefined {
  const after = device.mapping.idleAfter;
  if (!device.online || after <= 0 || lastReading <= 0) return undefined;
  return now - lastReading > after * 1000 ? lastReading : undefined;
}

export function devicePresence(device: Device, to: string, shown: Shown, reason?: string): Element {
  if (!device.online) {
    const text = reason !== undefined ? reasonText(reason) : shown.text;
    return presence(device.jid, to, 'unavailable', text ? [xml('status', {}, text)] : []);
  }
  const children: Element[] = [];
  // RFC 6121 §4.7.2.1: `xa` — away for an extended period (an asleep device, Homie `sleeping`, is away, not gone);
  // XEP-0319 §3: since when.
  if (shown.idleSince !== undefined || device.asleep) children.push(xml('show', {}, 'xa'));
  const text = device.asleep ? (shown.text ? `${shown.text} (asleep)` : 'asleep') : shown.text;
  if (text) children.push(xml('status', {}, text));
  if (shown.idleSince !== undefined) children.push(xml('idle', { xmlns: NS_IDLE, since: new Date(shown.idleSince).toISOString() }));
  return presence(device.jid, to, undefined, children);
}

export function reasonText(reason: string): string {
  switch (reason) {
    case 'disconnected':
      return 'disconnected from MQTT';
    case 'availability-topic':
      return 'reported offline';
    case 'timeout':
      return 'not heard from';
    default:
      return reason;
  }
}
