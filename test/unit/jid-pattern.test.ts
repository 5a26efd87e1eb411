import assert from 'node:assert/strict';
import { anyMatch, parseJidPattern, type JidPattern } from '../../src/mapping/jid-pattern.js';

const VARS = { serverDomain: 'example.org' };

function jp(source: string): JidPattern {
  const { pattern, error } = parseJidPattern(source, VARS);
  assert.equal(error, undefined);
  assert.ok(pattern);
  return pattern;
}

/** The JIDs of `candidates` that the pattern accepts. */
function accepted(source: string, candidates: readonly string[]): string[] {
  const p = jp(source);
  return candidates.filter((j) => p.test(j));
}

const PEOPLE = ['alice@example.org', 'bob@example.org', 'carol@sub.example.org', 'dave@a.b.example.org', 'eve@evilexample.org', 'mallory@example.org.evil', 'example.org'];

describe('parseJidPattern', () => {
  it('"*" accepts anyone on any server', () => {
    assert.deepEqual(accepted('*', PEOPLE), PEOPLE);
    assert.equal(jp('*').source, '*');
  });

  it('a bare domain accepts the accounts on that domain only', () => {
    assert.deepEqual(accepted('example.org', PEOPLE), ['alice@example.org', 'bob@example.org']);
  });

  it('"*@domain" is the same as the bare domain', () => {
    assert.deepEqual(accepted('*@example.org', PEOPLE), ['alice@example.org', 'bob@example.org']);
  });

  it('"*@*.domain" accepts subdomains but not the domain itself', () => {
    assert.deepEqual(accepted('*@*.example.org', PEOPLE), ['carol@sub.example.org', 'dave@a.b.example.org']);
  });

  it('an exact JID accepts that account only', () => {
    assert.deepEqual(accepted('alice@example.org', PEOPLE), ['alice@example.org']);
    assert.equal(jp('alice@example.org').test('xalice@example.org'), false);
  });

  it('"*" inside a local part matches any run of characters, but never "@"', () => {
    const p = jp('ops-*@example.org');
    assert.equal(p.test('ops-1@example.org'), true);
    assert.equal(p.test('ops-@example.org'), true);
    assert.equal(p.test('dev-1@example.org'), false);
    assert.equal(jp('*@example.org').test('a@b@example.org'), false);
  });

  it('treats "." literally', () => {
    assert.equal(jp('alice@example.org').test('alice@exampleXorg'), false);
  });

  it('matches case-insensitively (RFC 7622 §3.2, §3.3)', () => {
    const p = jp('Alice@Example.ORG');
    assert.equal(p.test('alice@example.org'), true);
    assert.equal(p.test('ALICE@EXAMPLE.ORG'), true);
    assert.equal(p.source, 'Alice@Example.ORG');
  });

  it('replaces {serverDomain}', () => {
    assert.deepEqual(accepted('*@{serverDomain}', PEOPLE), ['alice@example.org', 'bob@example.org']);
    assert.deepEqual(accepted('{serverDomain}', PEOPLE), ['alice@example.org', 'bob@example.org']);
  });

  it('refuses an unknown variable', () => {
    assert.deepEqual(parseJidPattern('*@{domain}', VARS), { error: 'unknown variable {domain} in JID pattern "*@{domain}"' });
    assert.deepEqual(parseJidPattern('*@{serverDomain}', {}), { error: 'unknown variable {serverDomain} in JID pattern "*@{serverDomain}"' });
  });

  it('refuses a resource', () => {
    assert.deepEqual(parseJidPattern('alice@example.org/phone', VARS), { error: 'JID pattern "alice@example.org/phone" must be a bare JID (no resource)' });
  });

  it('refuses two "@"', () => {
    assert.deepEqual(parseJidPattern('a@b@example.org', VARS), { error: 'JID pattern "a@b@example.org" has more than one "@"' });
  });

  it('refuses an empty pattern', () => {
    assert.deepEqual(parseJidPattern('', VARS), { error: 'empty JID pattern' });
    assert.deepEqual(parseJidPattern('   ', VARS), { error: 'empty JID pattern' });
  });
});

describe('anyMatch', () => {
  it('is true when one pattern matches', () => {
    const list = [jp('alice@example.org'), jp('*@*.example.org')];
    assert.equal(anyMatch(list, 'carol@sub.example.org'), true);
    assert.equal(anyMatch(list, 'alice@example.org'), true);
    assert.equal(anyMatch(list, 'bob@example.org'), false);
    assert.equal(anyMatch([], 'alice@example.org'), false);
  });
});
