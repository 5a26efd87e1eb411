/** An aedes broker on a loopback TCP port in a bench child process, driven over IPC: start → {port}, memory, stop. */
import { createServer } from 'node:net';
import type { Aedes } from 'aedes';
import { serve } from './common.js';
import { gcAndMeasure } from './memory-sample.js';

export interface BrokerHooks {
  /** Before listening (e.g. connect the component). */
  readonly start?: () => Promise<void>;
  /** After the broker closed. */
  readonly stop?: () => Promise<void>;
}

export function serveBroker(aedes: Aedes, hooks: BrokerHooks = {}): void {
  const server = createServer((socket) => aedes.handle(socket));
  serve({
    start: async () => {
      await hooks.start?.();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const a = server.address();
      return { port: typeof a === 'object' && a ? a.port : 0 };
    },
    memory: () => gcAndMeasure(),
    stop: async () => {
      server.close();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await hooks.stop?.();
      setImmediate(() => process.exit(0));
      return true;
    },
  });
}
