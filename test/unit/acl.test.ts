import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Acl, filterCovers, filterProblems, type AclSubject } from '../../src/broker/acl.js';
import { loadConfig } from '../../src/config/load.js';
import { LoadError } from '../../src/errors.js';

const anon = (clientId = 'c1'): AclSubject => ({ kind: 'anonymous', clientId });
const device = (name: string, clientId = name): AclSubject => ({ kind: 'device', name, clientId });
const service = (name: string, clientId = name): AclSubject => ({ kind: 'service', name, clientId });

describe('ACL rules (pure)', function () {
  it('decides by the first rule that matches, and leaves the rest to the built-in rights', function () {
    const acl = new Acl([
      { action: 'allow', topic: 'test/nosubscribe', access: 'publish' },
      { action: 'deny', topic: 'test/nosubscribe' },
      { action: 'allow', topic: 'test/#', access: 'subscribe', who: ['device:*'] },
    ]);
    assert.equal(acl.decide(anon(), 'subscribe', 'test/nosubscribe', 'filter'), 'deny');
    assert.equal(acl.decide(anon(), 'publish', 'test/nosubscribe', 'topic'), 'allow', 'the earlier allow wins for publish');
    assert.equal(acl.decide(device('plug-kettle'), 'subscribe', 'test/other', 'filter'), 'allow');
    assert.equal(acl.decide(anon(), 'subscribe', 'test/other', 'filter'), undefined, 'no rule for anonymous: built-in rights');
    assert.equal(acl.decide(anon(), 'subscribe', 'plugs/x/set', 'filter'), undefined);
  });

  it('matches a SUBSCRIBE only when the requested filter lies within the rule; delivery is checked per topic', function () {
    const acl = new Acl([{ action: 'deny', topic: 'test/nosubscribe', access: 'subscribe' }]);
    // `#` is wider than the rule: not refused at SUBSCRIBE time...
    assert.equal(acl.decide(anon(), 'subscribe', '#', 'filter'), undefined);
    assert.equal(acl.decide(anon(), 'subscribe', 'test/+', 'filter'), undefined);
    // ...but each message forwarded on the denied topic is.
    assert.equal(acl.decide(anon(), 'subscribe', 'test/nosubscribe', 'topic'), 'deny');
    assert.equal(acl.decide(anon(), 'subscribe', 'test/ok', 'topic'), undefined);
  });

  it('selects clients with who: *, anonymous, device:*, service:*, device:NAME, service:NAME', function () {
    const rule = (who: string[]): Acl => new Acl([{ action: 'deny', topic: 't', who }]);
    const subjects = [anon(), device('plug-kettle'), device('plug-lamp'), service('z2m')];
    const denied = (who: string[]): boolean[] => subjects.map((s) => rule(who).decide(s, 'publish', 't', 'topic') === 'deny');
    assert.deepEqual(denied(['*']), [true, true, true, true]);
    assert.deepEqual(denied(['anonymous']), [true, false, false, false]);
    assert.deepEqual(denied(['device:*']), [false, true, true, false]);
    assert.deepEqual(denied(['service:*']), [false, false, false, true]);
    assert.deepEqual(denied(['device:plug-lamp', 'service:z2m']), [false, false, true, true]);
    assert.deepEqual(denied(['service:plug-lamp']), [false, false, false, false], 'kind and name must both match');
  });

  it('fills %u with the identity name and %c with the client id (Mosquitto patterns)', function () {
    const acl = new Acl([
      { action: 'allow', topic: 'home/%u/#', access: 'subscribe' },
      { action: 'allow', topic: 'clients/%c/inbox', access: 'subscribe' },
    ]);
    assert.equal(acl.decide(device('plug-kettle'), 'subscribe', 'home/plug-kettle/#', 'filter'), 'allow');
    assert.equal(acl.decide(device('plug-kettle'), 'subscribe', 'home/plug-lamp/#', 'filter'), undefined);
    assert.equal(acl.decide(device('plug-kettle', 'k-1'), 'subscribe', 'clients/k-1/inbox', 'filter'), 'allow');
    assert.equal(acl.decide(anon('a-9'), 'subscribe', 'clients/a-9/inbox', 'filter'), 'allow');
  });

  it('never lets an unusable %u or %c allow, and makes a deny rule with one deny', function () {
    const allow = new Acl([{ action: 'allow', topic: 'home/%u/#' }]);
    // An anonymous client has no %u; a name with "/" or a wildcard would change the filter's levels.
    assert.equal(allow.decide(anon(), 'subscribe', 'home//x', 'filter'), undefined);
    const deny = new Acl([{ action: 'deny', topic: 'clients/%c/secret' }]);
    assert.equal(deny.decide(anon('a/b'), 'publish', 'anything', 'topic'), 'deny', 'a client id holding "/" cannot slip past a deny rule');
    assert.equal(deny.decide(anon('#'), 'subscribe', '#', 'filter'), 'deny');
    assert.equal(deny.decide(anon('fine'), 'publish', 'anything', 'topic'), undefined);
  });

  it('filterCovers: a filter within another, wildcards in the inner one taken as what they match', function () {
    assert.equal(filterCovers('#', 'a/b'), true);
    assert.equal(filterCovers('a/#', 'a'), true, '"#" also matches the parent level [MQTT-4.7.1-2]');
    assert.equal(filterCovers('a/#', 'a/+/c'), true);
    assert.equal(filterCovers('a/+', 'a/b'), true);
    assert.equal(filterCovers('a/+', 'a/+'), true);
    assert.equal(filterCovers('a/+', 'a/#'), false, '"+" is one level, "#" is any number');
    assert.equal(filterCovers('a/+/c', 'a/#'), false);
    assert.equal(filterCovers('a/b', 'a/+'), false);
    assert.equal(filterCovers('a/b', 'a/b/c'), false);
    assert.equal(filterCovers('#', '$SYS/#'), false, '[MQTT-4.7.2-1]');
    assert.equal(filterCovers('$SYS/#', '$SYS/x'), true);
  });

  it('filterProblems: # alone and last, + alone in its level, not empty', function () {
    assert.deepEqual(filterProblems('a/+/#'), []);
    assert.deepEqual(filterProblems('home/%u/#'), []);
    assert.deepEqual(filterProblems('a/#/b'), ['"#" must be a whole level and the last one']);
    assert.deepEqual(filterProblems('a/b#'), ['"#" must be a whole level and the last one']);
    assert.deepEqual(filterProblems('a/b+'), ['"+" must be a whole level']);
    assert.deepEqual(filterProblems(''), ['a topic filter cannot be empty']);
  });
});

describe('mqtt.embedded.acl in the configuration', function () {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'bridge-acl-test-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  function load(acl: string): ReturnType<typeof loadConfig> {
    const file = join(dir, `bridge-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, `xmpp:\n  domain: iot.example.org\n  secret: s\nmqtt:\n  embedded:\n    acl:\n${acl}`);
    return loadConfig(file, {});
  }

  it('takes ordered rules, filling access and who', function () {
    const { config } = load(
      [
        '      - { action: deny, topic: test/nosubscribe, access: subscribe }',
        "      - { action: allow, topic: 'home/%u/#', who: ['device:*'] }",
        "      - { action: deny, topic: '#', who: [anonymous] }",
      ].join('\n') + '\n',
    );
    assert.deepEqual(config.mqtt.embedded.acl, [
      { action: 'deny', topic: 'test/nosubscribe', access: 'subscribe', who: ['*'] },
      { action: 'allow', topic: 'home/%u/#', access: 'both', who: ['device:*'] },
      { action: 'deny', topic: '#', access: 'both', who: ['anonymous'] },
    ]);
  });

  it('reports a malformed filter, an unknown action and an unknown selector, each with its path', function () {
    try {
      load(['      - { action: deny, topic: a/#/b }', '      - { action: permit, topic: x }', '      - { action: deny, topic: x, who: [everyone] }'].join('\n') + '\n');
      assert.fail('expected a LoadError');
    } catch (err) {
      assert.ok(err instanceof LoadError, String(err));
      const paths = err.problems.map((p) => p.path);
      assert.ok(paths.includes('/mqtt/embedded/acl/0/topic'), paths.join(', '));
      assert.ok(paths.includes('/mqtt/embedded/acl/1/action'), paths.join(', '));
      assert.ok(paths.includes('/mqtt/embedded/acl/2/who/0'), paths.join(', '));
    }
  });
});
