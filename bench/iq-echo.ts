/**
 * The downlink's reference: a bare @xmpp/component on the bridge's domain that answers every IQ request with an
 * empty `result` at once. A command then costs the XMPP server the same two stanzas as through the bridge (the IQ
 * in from the commander's c2s stream, the result back to it), with nothing else behind it: the server's own
 * round-trip ceiling.
 *
 *   node dist/bench/iq-echo.js   (IPC: start {service, domain, secret}, stop)
 */
import { component, type Component } from '@xmpp/component';
import { serve } from './common.js';

let xmpp: Component | undefined;
const NS_COMMAND = 'urn:mqtt-xmpp-bridge:command:0';

serve({
  start: async (a: { service: string; domain: string; secret: string }) => {
    const c = component({ service: a.service, domain: a.domain, password: a.secret });
    c.on('error', () => undefined);
    c.reconnect.stop();
    // The library's IQ callee answers `result` (no payload) for a handler that returns true.
    c.iqCallee.set(NS_COMMAND, 'command', () => true);
    await c.start();
    c.socket?.setNoDelay(true);
    xmpp = c;
    return true;
  },
  stop: async () => {
    await xmpp?.stop().catch(() => undefined);
    setImmediate(() => process.exit(0));
    return true;
  },
});
