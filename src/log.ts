/**
 * Structured logging (pino). One root logger per process; components take child loggers that carry their context
 * (`deviceId`, `jid`, `topic`), so a line can always be traced to a device without parsing prose.
 */
import { pino } from 'pino';
import type { Logger, LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  level: LevelWithSilent;
  /** Destination file descriptor or path; default stdout. */
  destination?: number | string;
}

/** Keys whose values must never reach a log line, wherever they appear (secrets; issue: secure by default). */
const REDACT = ['secret', 'password', 'token', 'authorization', 'cookie', '*.secret', '*.password', '*.token', '*.authorization', '*.cookie', 'xmpp.secret', 'config.xmpp.secret', 'config.http.token'];

export function createLogger(opts: LogOptions): Logger {
  const destination = pino.destination({ dest: opts.destination ?? 1, sync: false });
  return pino(
    {
      level: opts.level,
      base: { name: 'mqtt-xmpp-bridge' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

