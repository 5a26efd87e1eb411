/**
 * Scenario N, the null bridge: aedes → XEP-0114 component with no mapping, no validation and no durability.
 * Every publish becomes <message from='CLIENTID@DOMAIN' to=RECIPIENT type='chat'> with the topic as body and the
 * payload as XEP-0335 JSON, written to the component socket the way the bridge writes (xml() + toString(), one
 * cork per event-loop iteration), and is acknowledged at once. What the bridge costs beyond this is its mapping.
 *
 * The downlink's null bridge the same way round: a command IQ to `SITE-DEVICE@DOMAIN` becomes a PUBLISH of its JSON
 * on `sensors/SITE/DEVICE/set` (QoS 0 for the command `set0`, else 1), answered with the bridge's result for a
 * published command once aedes has taken it — no access check, no validation, no audit, no events. What the bridge's
 * downlink costs beyond this is its own work; what this costs beyond a bare component (iq-echo.ts) is the MQTT side.
 *
 *   node dist/bench/null-bridge.js SERVICE DOMAIN SECRET RECIPIENT     (IPC: start → {port}, memory, stop)
 */
import { Aedes } from 'aedes';
import { component } from '@xmpp/component';
import xml, { type Element } from '@xmpp/xml';
import { serveBroker } from './broker-child.js';
import { commandResult } from './command-result.js';
import { NS_COMMAND } from '../src/xmpp/namespaces.js';

const [service, domain, secret, recipient] = process.argv.slice(2) as [string, string, string, string];
const xmpp = component({ service, domain, password: secret });
xmpp.on('error', () => undefined);
let corked = false;
let seq = 0;

/** The component socket corked until the end of this event-loop iteration (as the bridge's link does). */
function cork(): NonNullable<typeof xmpp.socket> | undefined {
  const socket = xmpp.socket;
  if (!socket || xmpp.status !== 'online') return undefined;
  if (!corked) {
    corked = true;
    socket.cork();
    setImmediate(() => {
      corked = false;
      socket.uncork();
    });
  }
  return socket;
}

function write(text: string): void {
  cork()?.write(text);
}
// The library writes the IQ answers: they join the same corked segment.
xmpp.on('stanza', () => cork());

const aedes = await Aedes.createBroker({
  authorizePublish: (client, packet, callback) => {
    const payload = typeof packet.payload === 'string' ? packet.payload : packet.payload.toString('utf8');
    const from = `${client?.id ?? 'anonymous'}@${domain}`;
    write(xml('message', { from, to: recipient, type: 'chat', id: `n${(seq++).toString(36)}` }, xml('body', {}, packet.topic), xml('json', { xmlns: 'urn:xmpp:json:0' }, payload)).toString());
    callback(null);
  },
});
xmpp.iqCallee.set(NS_COMMAND, 'command', ({ stanza, element }) => {
  const json = element.getChildText('json');
  const command = commandResult(stanza, element);
  if (json === null || !command) return false;
  const qos: 0 | 1 = element.attrs['name'] === 'set0' ? 0 : 1;
  const packet = { cmd: 'publish' as const, topic: command.topic, payload: Buffer.from(json), qos, retain: false, dup: false };
  return new Promise<Element>((resolve) => aedes.publish(packet, () => resolve(command.answer)));
});

serveBroker(aedes, {
  start: async () => {
    await xmpp.start();
    xmpp.socket?.setNoDelay(true);
  },
  stop: async () => {
    await xmpp.stop().catch(() => undefined);
  },
});
