/**
 * XEP-0012 last activity. On a device JID (§4, like an offline-user query): the seconds since the device last sent a
 * reading, with its latest reading as the text; on the component (§6): the seconds since the bridge started. A device
 * the requester may not view answers like one that does not exist (access-policy.ts).
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { Device } from '../../devices/device.js';
import type { AccessPolicy } from '../../kernel/access-policy.js';
import type { IqRequest } from '../../kernel/stanza-router.js';
import { errorElement } from '../../xmpp/stanzas.js';
import { NS_LAST } from '../../xmpp/namespaces.js';

export interface LastActivityDeps {
  readonly domain: string;
  readonly access: AccessPolicy;
  readonly startedAt: number;
  /** When the device last sent a reading (ms since epoch; 0: never), and its status text. */
  readonly lastReading: (device: Device) => { readonly at: number; readonly text: string | undefined };
  readonly now?: () => number;
}

export function lastActivityHandler(deps: LastActivityDeps) {
  const now = deps.now ?? Date.now;
  return (req: IqRequest): Element => {
    if (req.toBare === deps.domain) return xml('query', { xmlns: NS_LAST, seconds: String(seconds(now() - deps.startedAt)) });
    const device = deps.access.visible(req.toBare, req.fromBare);
    if (!device) return errorElement('DEVICE_UNKNOWN');
    const { at, text } = deps.lastReading(device);
    const last = at > 0 ? at : device.lastSeen;
    // A device never heard from has no last activity to tell: 0 seconds, no text.
    return xml('query', { xmlns: NS_LAST, seconds: String(last > 0 ? seconds(now() - last) : 0) }, text ?? '');
  };
}

function seconds(ms: number): number {
  return Math.max(0, Math.floor(ms / 1000));
}
