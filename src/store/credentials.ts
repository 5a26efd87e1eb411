/**
 * MQTT credentials, hashed with scrypt (RFC 7914) and a per-credential salt; the password itself is never stored
 * and is shown once, when created or rotated. Read on every login, so the CLI can change them while the bridge runs;
 * `changedElsewhere()` tells the bridge cheaply that another process (the CLI) wrote the database, so it can re-check
 * the credentials of connected clients (revocation).
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Db } from './db.js';

export type CredentialKind = 'device' | 'service';

export interface Credential {
  readonly name: string;
  readonly kind: CredentialKind;
  /** Service accounts: topic filters they may publish to / subscribe to. */
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
  readonly createdAt: number;
  /** Changes when the password is rotated: a login made with an older password no longer stands. */
  readonly updatedAt: number;
  /** Source address of the last successful password login, if any. */
  readonly loginAddress: string | undefined;
}

/** Interactive-login cost (N = 2^14, r = 8): tens of milliseconds per guess; successful logins are cached. */
const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: 64 * 1024 * 1024 });
  return timingSafeEqual(actual, expected);
}

/** A random password: 24 bytes, base64url (192 bits). */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

type Row = {
  name: string;
  kind: CredentialKind;
  hash: string;
  publish: string;
  subscribe: string;
  created_at: number;
  updated_at: number;
  login_address: string | null;
};

export class CredentialStore {
  private readonly selectOne;
  private readonly selectAll;
  private readonly insert;
  private readonly updateHash;
  private readonly remove;
  private readonly updateLogin;
  private dataVersion: number;

  constructor(private readonly db: Db) {
    this.selectOne = db.prepare('SELECT * FROM credentials WHERE name = ?');
    this.selectAll = db.prepare('SELECT * FROM credentials ORDER BY name');
    this.insert = db.prepare('INSERT INTO credentials (name, kind, hash, publish, subscribe, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    // updated_at always moves forward, even for two rotations within one millisecond: it is what tells a login made
    // with the previous password from one made with this one.
    this.updateHash = db.prepare('UPDATE credentials SET hash = ?, updated_at = MAX(?, updated_at + 1) WHERE name = ?');
    this.remove = db.prepare('DELETE FROM credentials WHERE name = ?');
    this.updateLogin = db.prepare('UPDATE credentials SET login_address = ?, login_at = ? WHERE name = ?');
    this.dataVersion = this.readDataVersion();
  }

  /**
   * Whether another connection (the CLI, in another process) committed to the database since the last call. SQLite's
   * `PRAGMA data_version` changes exactly then, and never for this connection's own writes; reading it costs
   * microseconds, so it can be polled every second.
   */
  changedElsewhere(): boolean {
    const v = this.readDataVersion();
    if (v === this.dataVersion) return false;
    this.dataVersion = v;
    return true;
  }

  /** Remember where a credential last logged in with its password (a write only when the address changes). */
  recordLogin(name: string, address: string, at: number): void {
    this.updateLogin.run(address, at, name);
  }

  /** The credential and its hash, for a login. */
  lookup(name: string): (Credential & { hash: string }) | undefined {
    const row = this.selectOne.get(name) as Row | undefined;
    return row ? { ...toCredential(row), hash: row.hash } : undefined;
  }

  list(): Credential[] {
    return (this.selectAll.all() as Row[]).map(toCredential);
  }

  /** Create a credential; returns the generated password (shown once). */
  async add(name: string, kind: CredentialKind, rights: { publish?: readonly string[]; subscribe?: readonly string[] } = {}): Promise<string> {
    if (this.lookup(name)) throw new Error(`"${name}" already exists; use rotate to give it a new password`);
    const password = generatePassword();
    const now = Date.now();
    this.insert.run(name, kind, await hashPassword(password), JSON.stringify(rights.publish ?? []), JSON.stringify(rights.subscribe ?? []), now, now);
    return password;
  }

  /** A new password for an existing credential; the old one stops working at once. */
  async rotate(name: string): Promise<string> {
    if (!this.lookup(name)) throw new Error(`no credential "${name}"`);
    const password = generatePassword();
    this.updateHash.run(await hashPassword(password), Date.now(), name);
    return password;
  }

  delete(name: string): boolean {
    return this.remove.run(name).changes > 0;
  }

  private readDataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }
}

function toCredential(r: Row): Credential {
  return {
    name: r.name,
    kind: r.kind,
    publish: JSON.parse(r.publish) as string[],
    subscribe: JSON.parse(r.subscribe) as string[],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    loginAddress: r.login_address ?? undefined,
  };
}
