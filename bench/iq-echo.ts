/**
 * The downlink's reference: a bare @xmpp/component on its own domain that answers every command IQ at once with the
 * result the bridge gives a published command (`<command name status='published' topic/>`, commandResult in
 * null-bridge.ts). A command then costs the XMPP server the same two stanzas as through the bridge (the IQ in from the
 * commander's c2s stream, the same result back to it), with nothing else behind it: the server's own round-trip
 * ceiling.
 *
 *   node dist/bench/iq-echo.js   (IPC: start {service, domain, secret}, stop)
 */
import { component, type Component } from '@xmpp/component';
import { serve } from './common.js';
import { commandResult } from './command-result.js';
import { NS_COMMAND } from '../src/xmpp/namespaces.js';

let xmpp: Component | undefined;

serve({
  start: async (a: { service: string; domain: string; secret: string }) => {
    const c = component({ service: a.service, domain: a.domain, password: a.secret });
    c.on('error', () => undefined);
    c.reconnect.stop();
    c.iqCallee.set(NS_COMMAND, 'command', ({ stanza, element }) => commandResult(stanza, element)?.answer ?? false);
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
