/**
 * Scenario N, the null bridge: aedes → XEP-0114 component with no mapping, no validation and no durability.
 * Every publish becomes <message from='CLIENTID@DOMAIN' to=RECIPIENT type='chat'> with the topic as body and the
 * payload as XEP-0335 JSON, written to the component socket the way the bridge writes (xml() + toString(), one
 * cork per event-loop iteration), and is acknowledged at once. What the bridge costs beyond this is its mapping.
 *
 *   node dist/bench/null-bridge.js SERVICE DOMAIN SECRET RECIPIENT     (IPC: start → {port}, memory, stop)
 */
import { Aedes } from 'aedes';
import { component } from '@xmpp/component';
import xml from '@xmpp/xml';
import { serveBroker } from './broker-child.js';

const [service, domain, secret, recipient] = process.argv.slice(2) as [string, string, string, string];
const xmpp = component({ service, domain, password: secret });
xmpp.on('error', () => undefined);
let corked = false;
let seq = 0;

const aedes = await Aedes.createBroker({
  authorizePublish: (client, packet, callback) => {
    const socket = xmpp.socket;
    if (socket && xmpp.status === 'online') {
      if (!corked) {
        corked = true;
        socket.cork();
        setImmediate(() => {
          corked = false;
          socket.uncork();
        });
      }
      const payload = typeof packet.payload === 'string' ? packet.payload : packet.payload.toString('utf8');
      const from = `${client?.id ?? 'anonymous'}@${domain}`;
      socket.write(xml('message', { from, to: recipient, type: 'chat', id: `n${(seq++).toString(36)}` }, xml('body', {}, packet.topic), xml('json', { xmlns: 'urn:xmpp:json:0' }, payload)).toString());
    }
    callback(null);
  },
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
