/**
 * Password guessing against AccessControl, with the real credential store (SQLite in a temp directory, real scrypt)
 * and a clock that stands still, so no budget refills during a test: every figure is exact.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessControl, type AccessOptions, type Verdict } from '../../src/broker/access.js';
import { createLogger } from '../../src/log.js';
import type { TopicOwnership } from '../../src/mapping/ownership.js';
import { CredentialStore } from '../../src/store/credentials.js';
import { openDatabase, type Db } from '../../src/store/db.js';

const BURST = 5;
/** No client id stands for a device here. */
const ownership = { clientIdOwner: () => undefined } as unknown as TopicOwnership;

/** The CONNACK code of a verdict: 0 accepted, 4 hashed and wrong, 5 refused without hashing (or not allowed). */
const code = (v: Verdict): number => (v.ok ? 0 : v.returnCode);
const count = (codes: number[], c: number): number => codes.filter((x) => x === c).length;

describe('AccessControl: password guessing', function () {
  this.timeout(30_000);
  let dir: string;
  let db: Db;
  let store: CredentialStore;
  const passwords: Record<string, string> = {};

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'bridge-access-test-'));
    db = openDatabase(dir);
    store = new CredentialStore(db);
    for (const name of ['plug-lamp', 'plug-kettle', 'mallory', ...Array.from({ length: 10 }, (_, i) => `dev-${i}`)]) passwords[name] = await store.add(name, 'device');
  });
  after(function () {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function access(extra: Partial<AccessOptions> = {}): AccessControl {
    const opts = { allowAnonymous: false, failureBurst: BURST, failuresPerMinute: 1, maxDelayMs: 1, ...extra };
    // The clock stands still: no budget refills while a test runs.
    return new AccessControl(store, ownership, opts, createLogger({ level: 'silent' }), () => undefined, () => 1000);
  }

  const attempt = (a: AccessControl, username: string | undefined, password: string | undefined, address: string): Promise<Verdict> =>
    a.authenticate({ clientId: `c-${Math.random()}`, username, password: password === undefined ? undefined : Buffer.from(password), certificateName: undefined, address });

  it('counts attempts when they arrive: of 50 parallel guesses for one username from one address, only the burst is hashed', async function () {
    const a = access();
    const codes = (await Promise.all(Array.from({ length: 50 }, (_, i) => attempt(a, 'plug-lamp', `guess-${i}`, '10.1.0.1')))).map(code);
    console.log(`      50 parallel guesses, one username, one address: ${count(codes, 4)} hashed, ${count(codes, 5)} refused unhashed`);
    assert.equal(count(codes, 4), BURST);
    assert.equal(count(codes, 5), 50 - BURST);
  });

  it('counts per username: 50 parallel guesses from 50 addresses cost the username only its burst', async function () {
    const a = access();
    const codes = (await Promise.all(Array.from({ length: 50 }, (_, i) => attempt(a, 'plug-kettle', `guess-${i}`, `10.2.0.${i + 1}`)))).map(code);
    console.log(`      50 parallel guesses, one username, 50 addresses: ${count(codes, 4)} hashed`);
    assert.equal(count(codes, 4), BURST);
    assert.equal(count(codes, 5), 50 - BURST);
  });

  it('counts per address: 50 parallel guesses over 10 usernames from one address cost the address only its burst', async function () {
    const a = access();
    const codes = (await Promise.all(Array.from({ length: 50 }, (_, i) => attempt(a, `dev-${i % 10}`, `guess-${i}`, '10.3.0.1')))).map(code);
    console.log(`      50 parallel guesses, 10 usernames, one address: ${count(codes, 4)} hashed`);
    assert.equal(count(codes, 4), BURST);
  });

  it('does not refill an address budget when someone logs in from there with a right password', async function () {
    const a = access();
    assert.equal(code(await attempt(a, 'mallory', passwords['mallory'], '10.4.0.1')), 0);
    const first = [];
    for (let i = 0; i < BURST + 1; i++) first.push(code(await attempt(a, 'dev-1', `guess-${i}`, '10.4.0.1')));
    assert.deepEqual(first, [...Array<number>(BURST).fill(4), 5]);
    // Mallory's own password is known (no hash): she gets in, and her address is no less throttled for it.
    assert.equal(code(await attempt(a, 'mallory', passwords['mallory'], '10.4.0.1')), 0);
    assert.equal(code(await attempt(a, 'dev-2', 'guess', '10.4.0.1')), 5);
  });

  it("lets a device in from the address it last logged in from, after someone else's bursts and a restart", async function () {
    // plug-lamp logs in once from 10.5.0.1: the address is remembered in the database.
    assert.equal(code(await attempt(access(), 'plug-lamp', passwords['plug-lamp'], '10.5.0.1')), 0);
    // A restart: nothing in memory, not even the password that worked.
    const a = access();
    // Bursts against the lamp's username from elsewhere, and against another username from the lamp's own address.
    await Promise.all(Array.from({ length: 50 }, (_, i) => attempt(a, 'plug-lamp', `guess-${i}`, '10.5.0.2')));
    await Promise.all(Array.from({ length: 50 }, (_, i) => attempt(a, 'plug-kettle', `guess-${i}`, '10.5.0.1')));
    assert.equal(code(await attempt(a, 'dev-3', 'guess', '10.5.0.1')), 5, 'the address is throttled');
    assert.equal(code(await attempt(a, 'plug-lamp', 'guess', '10.5.0.3')), 5, 'the username is throttled');
    // The lamp, from home, with its password: hashed on its own budget, and accepted.
    assert.equal(code(await attempt(a, 'plug-lamp', passwords['plug-lamp'], '10.5.0.1')), 0);
  });

  it('never refuses an anonymous client (when anonymous access is on) because its address is throttled', async function () {
    const a = access({ allowAnonymous: true });
    await Promise.all(Array.from({ length: 20 }, (_, i) => attempt(a, 'dev-4', `guess-${i}`, '10.6.0.1')));
    assert.equal(code(await attempt(a, 'dev-4', 'guess', '10.6.0.1')), 5);
    assert.equal(code(await attempt(a, undefined, undefined, '10.6.0.1')), 0);
  });

  it('keeps the budgets in an LRU table: a flood of new addresses forgets idle ones, never the one being hammered', async function () {
    const a = access();
    const hammered = '10.7.0.1';
    const idle = '10.7.0.2';
    for (const address of [hammered, idle]) for (let i = 0; i <= BURST; i++) await attempt(a, 'nobody', 'guess', address);
    assert.equal(code(await attempt(a, 'nobody', 'guess', hammered)), 5);
    // 10,050 new addresses, one failed login each (more than the table holds), while the hammered one keeps trying.
    for (let i = 0; i < 10_050; i++) {
      await attempt(a, 'nobody', 'guess', `11.${i >> 8}.${i & 255}.1`);
      if (i % 100 === 0) assert.equal(code(await attempt(a, 'nobody', 'guess', hammered)), 5, `after ${i} new addresses`);
    }
    assert.equal(code(await attempt(a, 'nobody', 'guess', hammered)), 5, 'still throttled');
    assert.equal(code(await attempt(a, 'nobody', 'guess', idle)), 4, 'the idle address was forgotten: a fresh budget');
  });
});
