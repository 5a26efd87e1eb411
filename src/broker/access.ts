/**
 * Who may connect to the embedded broker, and what each may do there.
 *
 * Authentication: a username and password checked against the credential store (scrypt; a successful check is
 * remembered in memory until the credential changes, so reconnect storms cost one hash per device), or a TLS client
 * certificate whose subject CN names the identity. Anonymous clients only when the configuration says so. Failed
 * logins are counted per source address; beyond a burst, further attempts from that address are answered late
 * (exponential delay, capped), and only passwords that already succeeded before (held in memory) are accepted: new
 * guesses are refused without being hashed, so guessing neither scales nor burns CPU, while known devices behind
 * the same address (a NAT) still get in.
 *
 * Authorization, derived from the mappings (mapping/ownership.ts): a device may publish only on topics that map to
 * its own identity (readings, availability, state reports) and subscribe only to its own command topics (no
 * wildcards); service accounts get the topic filters stored with them; anonymous clients (when allowed) may do
 * anything. A refused PUBLISH closes the connection — MQTT 3.1.1 has no other way to refuse one [MQTT-3.3.5-2] — and
 * a refused SUBSCRIBE gets the SUBACK failure code 0x80 [MQTT-3.9.3-2].
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Ownership } from '../mapping/ownership.js';
import { filterMatches } from '../mapping/topic-pattern.js';
import { verifyPassword, type Credential, type CredentialStore } from '../store/credentials.js';
import { TokenBucket } from './token-bucket.js';

export type Identity =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'device'; readonly name: string }
  | { readonly kind: 'service'; readonly name: string; readonly publish: readonly string[]; readonly subscribe: readonly string[] };

/** CONNACK return codes (MQTT 3.1.1 §3.2.2.3). */
export const BAD_CREDENTIALS = 4;
export const NOT_AUTHORIZED = 5;

export type Verdict = { ok: true; identity: Identity } | { ok: false; returnCode: typeof BAD_CREDENTIALS | typeof NOT_AUTHORIZED; reason: string };

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
}

const MAX_TRACKED_ADDRESSES = 10_000;
const BAD: Verdict = { ok: false, returnCode: BAD_CREDENTIALS, reason: 'bad username or password' };

function identityOf(cred: Credential): Identity {
  return cred.kind === 'service' ? { kind: 'service', name: cred.name, publish: cred.publish, subscribe: cred.subscribe } : { kind: 'device', name: cred.name };
}
const FIRST_DELAY_MS = 250;

export class AccessControl {
  private readonly verified = new Map<string, { digest: Buffer; updatedAt: number }>();
  private readonly failures = new Map<string, { bucket: TokenBucket; excess: number }>();

  constructor(
    private readonly store: CredentialStore,
    private readonly ownership: Ownership,
    private readonly opts: AccessOptions,
    private readonly log: Logger,
    private readonly report: (type: string, key: string, data: Record<string, unknown>) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async authenticate(a: LoginAttempt): Promise<Verdict> {
    const throttle = this.throttled(a.address);
    if (throttle > 0) await new Promise((r) => setTimeout(r, throttle));
    let verdict: Verdict;
    if (a.certificateName !== undefined) verdict = this.byCertificate(a);
    else if (throttle > 0) {
      // Too many failures from here: only a password known to be right is accepted; nothing is hashed.
      verdict = a.username ? this.byKnownPassword(a.username, a.password) : { ok: false, returnCode: NOT_AUTHORIZED, reason: 'too many failed logins from this address' };
      if (!verdict.ok) verdict = { ok: false, returnCode: NOT_AUTHORIZED, reason: 'too many failed logins from this address' };
    } else if (a.username !== undefined && a.username !== '') verdict = await this.byPassword(a.username, a.password);
    else verdict = this.opts.allowAnonymous ? { ok: true, identity: { kind: 'anonymous' } } : { ok: false, returnCode: NOT_AUTHORIZED, reason: 'anonymous access is not allowed' };
    if (verdict.ok && verdict.identity.kind === 'device') {
      // A device may not use the client id that stands for another device (it would fake that one's presence).
      const owner = this.ownership.clientIdOwner(a.clientId);
      if (owner !== undefined && owner !== verdict.identity.name) verdict = { ok: false, returnCode: NOT_AUTHORIZED, reason: `client id ${a.clientId} belongs to device ${owner}` };
    }
    if (!verdict.ok) return this.failed(a, verdict.returnCode, verdict.reason);
    this.failures.delete(a.address);
    return verdict;
  }

  mayPublish(identity: Identity, topic: string): boolean {
    switch (identity.kind) {
      case 'anonymous':
        return true;
      case 'device':
        return this.ownership.publisherOf(topic) === identity.name;
      case 'service':
        return identity.publish.some((f) => filterMatches(f, topic));
    }
  }

  maySubscribe(identity: Identity, filter: string): boolean {
    switch (identity.kind) {
      case 'anonymous':
        return true;
      case 'device':
        return !/[+#]/.test(filter) && this.ownership.commandTopicOwner(filter) === identity.name;
      case 'service':
        // The requested filter must lie within a granted one (its wildcards matched as literal levels).
        return identity.subscribe.some((f) => filterMatches(f, filter));
    }
  }

  private byCertificate(a: LoginAttempt): Verdict {
    const name = a.certificateName!;
    if (a.username && a.username !== name) return { ok: false, returnCode: NOT_AUTHORIZED, reason: `username ${a.username} does not match the certificate (${name})` };
    const cred = this.store.lookup(name);
    if (cred?.kind === 'service') return { ok: true, identity: { kind: 'service', name, publish: cred.publish, subscribe: cred.subscribe } };
    return { ok: true, identity: { kind: 'device', name } };
  }

  private async byPassword(name: string, password: Buffer | undefined): Promise<Verdict> {
    const known = this.byKnownPassword(name, password);
    if (known.ok) return known;
    const cred = this.store.lookup(name);
    if (!cred || !password || !(await verifyPassword(password.toString('utf8'), cred.hash))) return BAD;
    this.verified.set(name, { digest: createHash('sha256').update(password).digest(), updatedAt: cred.updatedAt });
    return { ok: true, identity: identityOf(cred) };
  }

  /** A password that succeeded before, for a credential unchanged since: no hashing. */
  private byKnownPassword(name: string, password: Buffer | undefined): Verdict {
    const cred = this.store.lookup(name);
    const cached = this.verified.get(name);
    if (!cred || !password || !cached || cached.updatedAt !== cred.updatedAt) return BAD;
    return timingSafeEqual(cached.digest, createHash('sha256').update(password).digest()) ? { ok: true, identity: identityOf(cred) } : BAD;
  }

  /** Milliseconds to hold an answer to this address, 0 when it is not throttled. */
  private throttled(address: string): number {
    const f = this.failures.get(address);
    if (!f || f.bucket.available(this.now()) >= 1) return 0;
    return Math.min(this.opts.maxDelayMs, FIRST_DELAY_MS * 2 ** Math.min(f.excess, 16));
  }

  private failed(a: LoginAttempt, returnCode: typeof BAD_CREDENTIALS | typeof NOT_AUTHORIZED, reason: string): Verdict {
    let f = this.failures.get(a.address);
    if (!f) {
      if (this.failures.size >= MAX_TRACKED_ADDRESSES) this.failures.clear();
      f = { bucket: new TokenBucket(this.opts.failuresPerMinute / 60, this.opts.failureBurst, this.now()), excess: 0 };
      this.failures.set(a.address, f);
    }
    if (!f.bucket.tryTake(this.now())) f.excess += 1;
    this.log.info({ address: a.address, clientId: a.clientId, username: a.username, reason }, 'MQTT login refused');
    this.report('login_failed', a.address, { address: a.address, username: a.username, reason, throttled: f.excess > 0 });
    return { ok: false, returnCode, reason };
  }
}
