/** Helpers of the import integration tests. */
import xml from '@xmpp/xml';
import type { EventName, EventPayloads } from '../../src/kernel/events.js';
import type { RunningBridge, XmppUser } from './harness.js';

const DOMAIN = 'iot.localhost';
const NS_ITEMS = 'http://jabber.org/protocol/disco#items';

/** The next bus event of that name matching `pred`, within the timeout. */
export function nextEvent<K extends EventName>(run: RunningBridge, name: K, pred: (d: EventPayloads[K]) => boolean = () => true, timeoutMs = 10_000): Promise<EventPayloads[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${name} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = run.bridge.kernel.bus.on(name, (d) => {
      if (!pred(d)) return;
      clearTimeout(timer);
      off();
      resolve(d);
    });
  });
}

export async function discoItems(user: XmppUser): Promise<Map<string, string>> {
  const reply = await user.iq(xml('iq', { type: 'get', to: DOMAIN }, xml('query', { xmlns: NS_ITEMS })));
  return new Map(reply.getChild('query', NS_ITEMS)!.getChildren('item').map((i) => [i.attrs['jid']!, i.attrs['name']!]));
}

