/**
 * CONNECT rules aedes 1.2.0 does not enforce, as a pair of aedes hooks.
 *
 * [MQTT-3.1.3-8]: a zero-length ClientId with CleanSession=0 MUST get CONNACK return code 0x02 (identifier
 * rejected) and the connection closed. aedes accepts it and invents an id, giving the client a persistent session
 * nobody can ever resume.
 *
 * Why two hooks: only `preConnect` sees the CONNECT packet, but an error from it closes the connection without any
 * CONNACK (aedes' handleConnect calls `done(err)` directly). `authenticate` is the hook whose error is answered with
 * a CONNACK carrying the error's `returnCode` (2–5) before the close [MQTT-3.2.2-5] — but it only sees the client,
 * whose id aedes has already replaced. So `preConnect` marks the client and `authenticate` refuses it.
 */
import type { AuthenticateError, Client, ConnectPacket } from 'aedes';

/** CONNACK return code 0x02, "Connection Refused, identifier rejected" (MQTT 3.1.1 §3.2.2.3). */
export const IDENTIFIER_REJECTED = 2 as const;

export interface ConnectRules {
  readonly preConnect: (client: Client, packet: ConnectPacket, callback: (error: Error | null, success: boolean) => void) => void;
  readonly authenticate: (
    client: Client,
    username: Readonly<string | undefined>,
    password: Readonly<Buffer | undefined>,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ) => void;
}

/** The authentication that runs once the CONNECT passed these rules. */
export type NextAuthenticate = ConnectRules['authenticate'];

export function connectRules(onRefused: (client: Client, reason: string) => void, next?: NextAuthenticate): ConnectRules {
  const emptyIdWithSession = new WeakSet<Client>();
  return {
    preConnect: (client, packet, callback) => {
      // [MQTT-3.1.3-7] allows a zero-length ClientId only together with CleanSession=1.
      if (packet.clientId === '' && packet.clean !== true) emptyIdWithSession.add(client);
      callback(null, true);
    },
    authenticate: (client, _username, _password, done) => {
      if (emptyIdWithSession.delete(client)) {
        onRefused(client, 'identifier-rejected');
        // [MQTT-3.1.3-8] aedes writes CONNACK with this return code, then closes the connection [MQTT-3.2.2-5].
        const err = new Error('identifier rejected: a zero-length ClientId requires CleanSession=1') as AuthenticateError;
        err.returnCode = IDENTIFIER_REJECTED;
        return done(err, false);
      }
      if (next) return next(client, _username, _password, done);
      done(null, true);
    },
  };
}
