/**
 * Structured logging (pino). One root logger per process; components take child loggers that carry their context
 * (`deviceId`, `jid`, `topic`), so a line can always be traced to a device without parsing prose.
 */
import { inspect } from 'node:util';
import { pino } from 'pino';
import type { Logger, LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  level: LevelWithSilent;
  /** Destination file descriptor or path; default stdout. A file is created owner-only (0600). */
  destination?: number | string;
}

/** Mode of a log file the bridge creates: its lines carry JIDs, topics and command details. */
export const LOG_FILE_MODE = 0o600;

/** Keys whose values must never reach a log line, wherever they appear (secrets; issue: secure by default). */
const REDACT = ['secret', 'password', 'token', 'authorization', 'cookie', '*.secret', '*.password', '*.token', '*.authorization', '*.cookie', 'xmpp.secret', 'config.xmpp.secret', 'config.http.token'];

export function createLogger(opts: LogOptions): Logger {
  const dest = opts.destination ?? 1;
  const destination = pino.destination({ dest, sync: false, ...(typeof dest === 'string' ? { mode: LOG_FILE_MODE } : {}) });
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

/**
 * The text of a thrown value for a log line or a message, never empty: @xmpp/events rejects a timed-out wait with a
 * `TimeoutError` that has no message (logged as `"err":""` before), and libraries may throw strings or plain objects.
 */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    if (err.message !== '') return err.message;
    return err.name !== 'Error' ? err.name : 'Error without a message';
  }
  if (typeof err === 'string') return err !== '' ? err : 'empty error string';
  return `non-Error value thrown: ${inspect(err, { depth: 2, breakLength: Infinity })}`;
}
