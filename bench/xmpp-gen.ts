/**
 * Scenario X's load generator, the XMPP ceiling: a bare @xmpp/component writing pre-built reading stanzas (the same
 * shape and size as the bridge's) open loop, paced like the device simulator.
 *
 *   node dist/bench/xmpp-gen.js   (IPC: start {service, domain, secret}, run {…}, stop)
 */
import { component, type Component } from '@xmpp/component';
import { lagMs, pace, serve } from './common.js';

let xmpp: Component | undefined;

interface GenRunArgs {
  readonly runId: number;
  readonly rate: number;
  readonly total: number;
  readonly startAtUs: number;
  readonly devices: number;
  readonly to: string;
  readonly domain: string;
}

function run(a: GenRunArgs): Promise<{ offered: number; sent: number; lagMaxMs: number; ms: number }> {
  const socket = xmpp?.socket;
  if (!socket) throw new Error('not connected');
  // Pre-built: everything but the numbers that make each message unique.
  const heads = Array.from(
    { length: a.devices },
    (_, i) => `<message from='bench-d${i}@${a.domain}' to='${a.to}' type='chat' id='x${a.runId}-`,
  );
  const mid = `'><body>21.5 °C, 45 % RH</body><json xmlns='urn:xmpp:json:0'>{"temperature":`;
  const tail = `}</json></message>`;
  return pace(
    a,
    (k, due) => {
      const temperature = 18 + (k % 100) / 10;
      socket.write(
        `${heads[k % a.devices]!}${k}${mid}${temperature},"humidity":${40 + (k % 20)},"battery":97,"t":${Math.round(due)},"s":${k},"r":${a.runId}${tail}`,
      );
    },
    (emitAll) => {
      socket.cork();
      emitAll();
      socket.uncork();
    },
  ).then((p) => ({ offered: a.total, sent: a.total, lagMaxMs: lagMs(p.lagMaxUs), ms: p.ms }));
}

serve({
  start: async (a: { service: string; domain: string; secret: string }) => {
    xmpp = component({ service: a.service, domain: a.domain, password: a.secret });
    xmpp.on('error', () => undefined);
    xmpp.reconnect.stop();
    await xmpp.start();
    xmpp.socket?.setNoDelay(true);
    return true;
  },
  run: (a: GenRunArgs) => run(a),
  stop: async () => {
    await xmpp?.stop().catch(() => undefined);
    setImmediate(() => process.exit(0));
    return true;
  },
});
