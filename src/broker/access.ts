/**
 * Who may connect to the embedded broker, and what each may do there.
 *
 * Authentication: a username and password checked against the credential store (scrypt; a successful check is
 * remembered in memory until the credential changes, so reconnect storms cost one hash per device), or a TLS client
 * certificate whose subject CN names the identity. Anonymous clients only when the configuration says so.
 *
 * Password guessing (login-limiter.ts): every attempt that needs a hash draws on login budgets when it ARRIVES — the
 * source address's and the username's, or, from the address where that username last logged in successfully
 * (remembered in the database, so it survives a restart), the username's own "home" budget instead. An attempt no
 * budget admits is answered late and only a password already known to be right is accepted, without hashing. So a
 * burst of guesses costs `failureBurst` hashes and then `failuresPerMinute`, per address and per username, while a
 * device logging in from its usual address is not locked out by someone else's guesses. Certificate and anonymous
 * logins hash nothing and are never slowed down.
 *
 * Authorization: the operator's ACL rules (acl.ts) first — the first matching rule decides — then the rights derived
 * from the mappings (mapping/ownership.ts): a device may publish only on topics that map to its own identity
 * (readings, availability, state reports) and subscribe only to its own command topics (no wildcards); service
 * accounts get the topic filters stored with them; anonymous clients (when allowed) anything. Whatever the rules say,
 * only the bridge publishes under `<base>/bridge/` (requests under `<base>/bridge/request/` aside). A refused PUBLISH
 * closes the connection — MQTT 3.1.1 has no other way to refuse one [MQTT-3.3.5-2] — and a refused SUBSCRIBE gets
 * the SUBACK failure code 0x80 [MQTT-3.9.3-2].
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../log.js';
import type { Ownership } from '../mapping/ownership.js';
import { filterMatches } from '../mapping/topic-pattern.js';
import { verifyPassword, type Credential, type CredentialStore } from '../store/credentials.js';
import { Acl, filterCovers, type AclRule, type AclSubject } from './acl.js';
import { LoginLimiter } from './login-limiter.js';

export type Identity =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'device'; readonly name: string; readonly version: number | undefined }
  | {
      readonly kind: 'service';
      readonly name: string;
      readonly publish: readonly string[];
      readonly subscribe: readonly string[];
      readonly version: number | undefined;
    };

/** CONNACK return codes (MQTT 3.1.1 §3.2.2.3). */
export const IDENTIFIER_REJECTED = 2;
export const BAD_CREDENTIALS = 4;
export const NOT_AUTHORIZED = 5;

export type RefusalCode = typeof IDENTIFIER_REJECTED | typeof BAD_CREDENTIALS | typeof NOT_AUTHORIZED;
export type Verdict = { ok: true; identity: Identity } | { ok: false; returnCode: RefusalCode; reason: string };

export interface LoginAttempt {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly password: Buffer | undefined;
  /** Subject CN of a verified TLS client certificate. */
  readonly certificateName: string | undefined;
  /** Source address (without port). */
  readonly address: string;
}

export interface AccessOptions {
  readonly allowAnonymous: boolean;
  readonly failureBurst: number;
  readonly failuresPerMinute: number;
  readonly maxDelayMs: number;
  /** Operator rules (`mqtt.embedded.acl`), first match wins. */
  readonly acl?: readonly AclRule[];
  /** The bridge's base topic: only the bridge publishes under `<baseTopic>/bridge/`. */
  readonly baseTopic?: string;
}

/** `anonymous`, `device:NAME` or `service:NAME`: who holds a client id (sessions.ts). */
export function identityKey(identity: Identity): string {
  return identity.kind === 'anonymous' ? 'anonymous' : `${identity.kind}:${identity.name}`;
}

/** Login budgets and remembered passwords kept in memory; the least recently used are forgotten first. */
const MAX_TRACKED = 10_000;
const BAD: Verdict = { ok: false, returnCode: BAD_CREDENTIALS, reason: 'bad username or password' };
const THROTTLED: Verdict = { ok: false, returnCode: NOT_AUTHORIZED, reason: 'too many failed logins' };

function identityOf(cred: Credential): Identity {
  return cred.kind === 'service'
    ? { kind: 'service', name: cred.name, publish: cred.publish, subscribe: cred.subscribe, version: cred.updatedAt }
    : { kind: 'device', name: cred.name, version: cred.updatedAt };
}

export class AccessControl {
  /** Passwords that succeeded, as SHA-256 digests, per credential version: a reconnect costs no scrypt. */
  private readonly verified: LRUCache<string, { digest: Buffer; updatedAt: number }>;
  private readonly limiter: LoginLimiter;
  private readonly acl: Acl;
  private readonly bridgeTopic: string | undefined;

  constructor(
    private readonly store: CredentialStore,
    private readonly ownership: Ownership,
    private readonly opts: AccessOptions,
    private readonly log: Logger,
    private readonly report: (type: string, key: string, data: Record<string, unknown>) => void,
    now: () => number = () => performance.now(),
  ) {
    this.verified = new LRUCache({ max: MAX_TRACKED });
    this.limiter = new LoginLimiter({ burst: opts.failureBurst, perMinute: opts.failuresPerMinute, maxDelayMs: opts.maxDelayMs, maxTracked: MAX_TRACKED }, now);
    this.acl = new Acl(opts.acl ?? []);
    this.bridgeTopic = opts.baseTopic !== undefined ? `${opts.baseTopic}/bridge` : undefined;
  }

  async authenticate(a: LoginAttempt): Promise<Verdict> {
    let verdict: Verdict;
    if (a.certificateName !== undefined) verdict = this.byCertificate(a);
    else if (a.username !== undefined && a.username !== '') verdict = await this.byPassword(a, a.username);
    else verdict = this.opts.allowAnonymous ? { ok: true, identity: { kind: 'anonymous' } } : { ok: false, returnCode: NOT_AUTHORIZED, reason: 'anonymous access is not allowed' };
    if (!verdict.ok) return this.failed(a, verdict);
    const taken = this.clientIdTaken(verdict.identity, a.clientId);
    // Right credentials, wrong client id: refused, but not a failed login (nothing was guessed).
    if (taken) return { ok: false, returnCode: IDENTIFIER_REJECTED, reason: taken };
    return verdict;
  }

  /**
   * Why `identity` may not use `clientId` because the mappings give that client id to a device (availability by
   * connection): only that device may use it, or an anonymous client when anonymous access is on.
   */
  private clientIdTaken(identity: Identity, clientId: string): string | undefined {
    if (identity.kind === 'anonymous') return undefined;
    const owner = this.ownership.clientIdOwner(clientId);
    if (owner === undefined || (identity.kind === 'device' && owner === identity.name)) return undefined;
    return `client id ${clientId} belongs to device ${owner}`;
  }

  /** Whether another process (the `device` CLI) changed the credential store since the last call: cheap, pollable. */
  credentialsChangedElsewhere(): boolean {
    return this.store.changedElsewhere();
  }

  /** Whether a session logged in as `identity` may continue: its credential is still there, unchanged (revocation). */
  stillValid(identity: Identity): boolean {
    if (identity.kind === 'anonymous') return true;
    const cred = this.store.lookup(identity.name);
    if ((cred?.updatedAt ?? undefined) !== identity.version) return false;
    // A certificate naming a service account carries that account's rights: they must still be the same kind.
    return cred === undefined || cred.kind === identity.kind;
  }

  mayPublish(identity: Identity, clientId: string, topic: string): boolean {
    // Only the bridge writes its own topics (state, info, devices, events), whatever the rules say; requests are the
    // one part of it clients write.
    if (this.isBridgeOwn(topic)) return false;
    const rule = this.rule(identity, clientId, 'publish', topic, 'topic');
    if (rule !== undefined) return rule === 'allow';
    switch (identity.kind) {
      case 'anonymous':
        return true;
      case 'device':
        return this.ownership.publisherOf(topic) === identity.name;
      case 'service':
        return identity.publish.some((f) => filterMatches(f, topic));
    }
  }

  maySubscribe(identity: Identity, clientId: string, filter: string): boolean {
    const rule = this.rule(identity, clientId, 'subscribe', filter, 'filter');
    if (rule !== undefined) return rule === 'allow';
    switch (identity.kind) {
      case 'anonymous':
        return true;
      case 'device':
        return !/[+#]/.test(filter) && this.ownership.commandTopicOwner(filter) === identity.name;
      case 'service':
        // The requested filter must lie within a granted one.
        return identity.subscribe.some((f) => filterCovers(f, filter));
    }
  }

  /** Whether a message on `topic` may be forwarded to this subscriber now (queued and retained ones included). */
  mayReceive(identity: Identity, clientId: string, topic: string): boolean {
    const rule = this.rule(identity, clientId, 'subscribe', topic, 'topic');
    if (rule !== undefined) return rule === 'allow';
    switch (identity.kind) {
      case 'anonymous':
        return true;
      case 'device':
        return this.ownership.commandTopicOwner(topic) === identity.name;
      case 'service':
        return identity.subscribe.some((f) => filterMatches(f, topic));
    }
  }

  /** The device a session speaks for by who it is: its own device identity, or the device its client id stands for. */
  deviceOf(identity: Identity, clientId: string): string | undefined {
    return identity.kind === 'device' ? identity.name : this.ownership.clientIdOwner(clientId);
  }

  /**
   * Whether a service account is the gateway of the device that owns `commandTopic`: it may publish that device's
   * readings or availability (a monitoring account that may only read is not).
   */
  isGatewayFor(identity: Identity, clientId: string, commandTopic: string): boolean {
    return identity.kind === 'service' && this.ownership.reportTopicsOf(commandTopic).some((t) => this.mayPublish(identity, clientId, t));
  }

  /** The operator rules' decision; none at all (the common case) costs nothing per message. */
  private rule(identity: Identity, clientId: string, access: 'publish' | 'subscribe', topic: string, mode: 'topic' | 'filter'): 'allow' | 'deny' | undefined {
    return this.acl.size === 0 ? undefined : this.acl.decide(subjectOf(identity, clientId), access, topic, mode);
  }

  private isBridgeOwn(topic: string): boolean {
    const base = this.bridgeTopic;
    if (base === undefined || !topic.startsWith(base)) return false;
    if (topic === base) return true;
    return topic.startsWith(`${base}/`) && !topic.startsWith(`${base}/request/`);
  }

  private byCertificate(a: LoginAttempt): Verdict {
    const name = a.certificateName!;
    if (a.username && a.username !== name) return { ok: false, returnCode: NOT_AUTHORIZED, reason: `username ${a.username} does not match the certificate (${name})` };
    const cred = this.store.lookup(name);
    if (cred?.kind === 'service') return { ok: true, identity: identityOf(cred) };
    return { ok: true, identity: { kind: 'device', name, version: cred?.updatedAt } };
  }

  private async byPassword(a: LoginAttempt, name: string): Promise<Verdict> {
    const cred = this.store.lookup(name);
    if (cred && a.password && this.isKnownPassword(cred, a.password)) return this.succeeded(cred, a.address);
    // Which budgets this attempt draws on: from the address where this credential last logged in, its own;
    // elsewhere, the address's and the username's (an unknown username costs no hash but still counts).
    const keys = cred === undefined ? [`a:${a.address}`] : cred.loginAddress === a.address ? [`h:${name}`] : [`a:${a.address}`, `u:${name}`];
    let admission = this.limiter.admit(keys);
    if (!admission.admitted) {
      await sleep(admission.delayMs);
      // Successes give their reservation back: a NAT full of new devices gets in as the budget frees up.
      admission = this.limiter.admit(keys, true);
      if (!admission.admitted) return THROTTLED;
    }
    if (!cred || !a.password) {
      admission.release(false);
      return BAD;
    }
    const ok = await verifyPassword(a.password.toString('utf8'), cred.hash);
    admission.release(ok);
    if (!ok) return BAD;
    this.verified.set(name, { digest: digest(a.password), updatedAt: cred.updatedAt });
    return this.succeeded(cred, a.address);
  }

  private succeeded(cred: Credential, address: string): Verdict {
    if (cred.loginAddress !== address) this.store.recordLogin(cred.name, address, Date.now());
    return { ok: true, identity: identityOf(cred) };
  }

  /** A password that succeeded before, for a credential unchanged since: no hashing. */
  private isKnownPassword(cred: Credential, password: Buffer): boolean {
    const cached = this.verified.get(cred.name);
    return cached !== undefined && cached.updatedAt === cred.updatedAt && timingSafeEqual(cached.digest, digest(password));
  }

  private failed(a: LoginAttempt, verdict: Extract<Verdict, { ok: false }>): Verdict {
    const throttled = verdict === THROTTLED;
    this.log.info({ address: a.address, clientId: a.clientId, username: a.username, reason: verdict.reason }, 'MQTT login refused');
    this.report('login_failed', a.address, { address: a.address, username: a.username, reason: verdict.reason, throttled });
    return verdict;
  }
}

function subjectOf(identity: Identity, clientId: string): AclSubject {
  return identity.kind === 'anonymous' ? { kind: 'anonymous', clientId } : { kind: identity.kind, name: identity.name, clientId };
}

function digest(password: Buffer): Buffer {
  return createHash('sha256').update(password).digest();
}

function sleep(ms: number): Promise<void> {
  // Unreferenced: a held answer never keeps a stopping process alive (aedes drops the late answer of a closed client).
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
