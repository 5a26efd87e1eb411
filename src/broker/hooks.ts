/**
 * The aedes hooks of the embedded broker: who a connection is (authenticate, then the client-id rule), and what it
 * may do (authorizeSubscribe, authorizePublish, authorizeForward). Policy lives in access.ts and sessions.ts; this
 * file adapts it to aedes' callbacks and reports what it refuses.
 *
 * Order within one CONNECT (aedes 1.2.0 handlers/connect.js): preConnect → authenticate → restore the subscriptions
 * of a persistent session (each through authorizeSubscribe again) → register the client, closing an older
 * connection with the same id [MQTT-3.1.4-2] → CONNACK → queued messages (each through authorizeForward). So a
 * client id held by another identity is refused in `authenticate`, before the takeover could close the holder, and
 * nothing of a session reaches a connection without passing the current identity's rights.
 */
import type { AedesOptions, AedesPublishPacket, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import type { BridgeConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { IDENTIFIER_REJECTED, identityKey, type AccessControl, type Identity } from './access.js';
import { connectRules, type NextAuthenticate } from './connect-rules.js';
import type { EventReporter } from './event-reporter.js';
import type { MqttSideHandlers } from './mqtt-side.js';
import type { PublishRateLimiter } from './publish-limiter.js';
import type { SessionTable } from './sessions.js';

export interface HookContext {
  readonly cfg: BridgeConfig['mqtt']['embedded'];
  readonly access: AccessControl;
  readonly sessions: SessionTable<Client>;
  readonly events: EventReporter;
  readonly limiter: PublishRateLimiter<Client> | undefined;
  readonly handlers: MqttSideHandlers;
  readonly log: Logger;
  /** `address:port` of the connection aedes handles (it only sees the guard around the socket). */
  readonly remoteOf: (conn: unknown) => string;
  /** Subject CN of a verified TLS client certificate on this connection. */
  readonly certificateNameOf: (conn: unknown) => string | undefined;
  /** A restored subscription the current identity may no longer hold: remove it from the stored session too. */
  readonly forgetSubscription: (client: Client, filter: string) => void;
}

export type BrokerHooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizeSubscribe' | 'authorizePublish' | 'authorizeForward'>>;

export function brokerHooks(ctx: HookContext): BrokerHooks {
  const { access, sessions, events, limiter, handlers } = ctx;
  const maxPayload = ctx.cfg.maxPayloadBytes;
  /** The identity each connection authenticated as; kept after it closes, for its Will. */
  const identities = new WeakMap<Client, Identity>();

  const refuse = (returnCode: number, reason: string, done: Parameters<NextAuthenticate>[3]): void => {
    // aedes answers with a CONNACK carrying this return code, then closes [MQTT-3.2.2-5].
    const err = new Error(reason) as AuthenticateError;
    err.returnCode = returnCode;
    done(err, false);
  };

  const authenticate: NextAuthenticate = (client, username, password, done) => {
    const remote = ctx.remoteOf(client.conn);
    access
      .authenticate({
        clientId: client.id,
        username: username ?? undefined,
        password: password ?? undefined,
        certificateName: ctx.certificateNameOf(client.conn),
        address: remote.slice(0, remote.lastIndexOf(':')),
      })
      .then((verdict) => {
        if (client.closed) return done(null, false); // gone while its password was checked; aedes drops the answer
        if (verdict.ok) {
          // Claimed in the same turn as the check, so two CONNECTs racing for one client id cannot both pass.
          const claim = sessions.claim(client.id, verdict.identity, access.deviceOf(verdict.identity, client.id), client);
          if (claim.ok) {
            identities.set(client, verdict.identity);
            return done(null, true);
          }
          verdict = { ok: false, returnCode: IDENTIFIER_REJECTED, reason: `client id ${client.id} is in use by another identity` };
        }
        if (verdict.returnCode === IDENTIFIER_REJECTED) {
          ctx.log.info({ clientId: client.id, username, remote, reason: verdict.reason }, 'MQTT CONNECT refused');
          events.record('connection_refused', client.id, { reason: 'client-id-in-use', clientId: client.id, username, remote, detail: verdict.reason });
        }
        refuse(verdict.returnCode, verdict.reason, done);
      })
      .catch((err: unknown) => {
        ctx.log.error({ err: (err as Error).message }, 'authentication failed unexpectedly');
        refuse(3, 'server unavailable', done); // CONNACK 0x03, server unavailable (§3.2.2.3)
      });
  };

  const rules = connectRules((client, reason) => {
    const remote = ctx.remoteOf(client.conn);
    ctx.log.info({ remote, reason }, 'MQTT CONNECT refused');
    events.record('connection_refused', reason, { reason, remote });
  }, authenticate);

  return {
    preConnect: rules.preConnect,
    authenticate: rules.authenticate,

    authorizeSubscribe: (client: Client, sub: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void) => {
      const identity = identities.get(client);
      if (identity && access.maySubscribe(identity, client.id, sub.topic)) return callback(null, sub);
      // Before CONNACK, aedes is restoring a persistent session: a subscription the identity may no longer hold
      // (its rights changed) is dropped from the stored session as well, not only left out of this connection.
      if (!client.connected) ctx.forgetSubscription(client, sub.topic);
      events.record('subscribe_denied', client.id, { clientId: client.id, identity: nameOf(identity), filter: sub.topic });
      // A null subscription is answered with the SUBACK failure code 0x80 [MQTT-3.9.3-2].
      callback(null, null);
    },

    authorizePublish: (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) => {
      // [MQTT-3.3.2-2] no wildcards in a topic name; aedes refuses them before this hook.
      if (packet.topic.startsWith('$SYS')) return callback(new Error('$SYS topics are reserved'));
      // A client publishes only what its identity may; a Will is checked the same way when it fires.
      const identity = client ? identities.get(client) : undefined;
      if (client && (!identity || !access.mayPublish(identity, client.id, packet.topic))) {
        events.record('publish_denied', client.id, { clientId: client.id, identity: nameOf(identity), topic: packet.topic });
        // [MQTT-3.3.5-2] a refused PUBLISH cannot be answered: the connection is closed.
        return callback(new Error(`not authorized to publish on ${packet.topic}`));
      }
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      if (payload.length > maxPayload) {
        // MQTT 3.1.1 cannot refuse a PUBLISH except by closing the connection (the error does that).
        handlers.onBrokerEvent('payload_too_large', { clientId: client?.id, topic: packet.topic, bytes: payload.length, limit: maxPayload });
        return callback(new Error('payload too large'));
      }
      const forward = (): void =>
        handlers.onPublish(
          { topic: packet.topic, payload, qos: packet.qos, retain: packet.retain, clientId: client?.id ?? undefined, replay: false },
          (err) => callback(err ?? null),
        );
      // Will messages come through here after their client has closed: they are not the client's rate to limit.
      if (!limiter || !client || client.closed) return forward();
      const verdict = limiter.admit(client, (err) => (err ? callback(err) : forward()));
      if (verdict !== 'passed') {
        const { messagesPerSecond, burst, policy } = ctx.cfg.rateLimit;
        events.record('rate_limited', client.id, { clientId: client.id, policy, messagesPerSecond, burst });
      }
    },

    // Every message on its way to a subscriber: live, retained (on SUBSCRIBE) and queued for a persistent session
    // (after CONNACK). The subscription was granted once; the rights are checked again for this topic, now.
    authorizeForward: (client: Client, packet: AedesPublishPacket) => {
      const identity = identities.get(client);
      if (identity && access.mayReceive(identity, client.id, packet.topic)) return packet;
      events.record('forward_denied', client.id, { clientId: client.id, identity: nameOf(identity), topic: packet.topic });
      return null;
    },
  };
}

function nameOf(identity: Identity | undefined): string {
  return identity ? identityKey(identity) : 'unauthenticated';
}
