import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadProblem } from '../../src/errors.js';
import { loadMappings } from '../../src/mapping/load.js';
import type { Mapping } from '../../src/mapping/mapping.js';
import { matchTopic } from '../../src/mapping/topic-pattern.js';
import { SchemaRegistry } from '../../src/schemas/registry.js';
import { packageRoot } from '../../src/version.js';

const CLIMATE = 'urn:mqtt-xmpp-bridge:example:climate';

let dir: string;
let counter = 0;

function registry(): SchemaRegistry {
  const r = new SchemaRegistry();
  const problems: LoadProblem[] = [];
  r.loadAll([join(packageRoot(), 'schemas')], problems);
  assert.deepEqual(problems, []);
  return r;
}

function load(paths: readonly string[]): { mappings: Mapping[]; problems: LoadProblem[] } {
  const problems: LoadProblem[] = [];
  const mappings = loadMappings(paths, { registry: registry(), jidVariables: { serverDomain: 'example.org' } }, problems);
  return { mappings, problems };
}

/** A fresh directory holding the given files (JSON is YAML, so objects are written as JSON into .yaml files). */
function writeDir(files: Record<string, unknown>): string {
  const sub = join(dir, `case-${++counter}`);
  mkdirSync(sub);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(sub, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return sub;
}

/** Load one mapping file holding the given mappings; returns its path with the result. */
function loadOne(...mappings: Record<string, unknown>[]): { file: string; mappings: Mapping[]; problems: LoadProblem[] } {
  const file = join(writeDir({ 'm.yaml': { mappings } }), 'm.yaml');
  return { file, ...load([file]) };
}

/** A valid climate-like mapping, with overrides. */
function climate(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'climate', topic: 'sensors/{site}/{device}/telemetry', jid: '{site}-{device}', schema: CLIMATE, ...overrides };
}

describe('loadMappings', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bridge-mapping-test-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('the shipped mappings', () => {
    it('load with the shipped schemas: climate, door, plug', () => {
      const { mappings, problems } = load([join(packageRoot(), 'mappings')]);
      assert.deepEqual(problems, []);
      assert.deepEqual(
        mappings.map((m) => [m.id, m.topic.filter, m.jid.source, m.schema.id, m.index]),
        [
          ['climate', 'sensors/+/+/telemetry', '{site}-{device}', 'urn:mqtt-xmpp-bridge:example:climate', 0],
          ['door', 'zigbee2mqtt/door/+', 'door-{device}', 'urn:mqtt-xmpp-bridge:example:door', 0],
          ['plug', 'plugs/+/state', 'plug-{device}', 'urn:mqtt-xmpp-bridge:example:plug', 0],
        ],
      );
    });

    it('apply defaults and compile access patterns with {serverDomain}', () => {
      const { mappings } = load([join(packageRoot(), 'mappings')]);
      const [climateMapping, door, plug] = mappings;
      assert.equal(climateMapping!.messageType, 'chat');
      assert.deepEqual(climateMapping!.notify, { subscribers: true, jids: [] });
      assert.equal(climateMapping!.availability?.clientId?.source, 'climate-{site}-{device}');
      assert.deepEqual([door!.availability?.topics[0]?.online, door!.availability?.topics[0]?.offline, door!.availability?.timeout], [['online'], ['offline'], 3600]);
      assert.equal(plug!.availability?.topics[0]?.topic.filter, 'plugs/+/availability');
      assert.equal(plug!.access.operators[0]!.test('alice@example.org'), true);
      assert.equal(plug!.access.operators[0]!.test('alice@elsewhere.org'), false);
      assert.deepEqual(matchTopic(climateMapping!.topic, 'sensors/home/kitchen/telemetry'), { site: 'home', device: 'kitchen' });
    });
  });

  it('accepts a valid mapping', () => {
    const { file, mappings, problems } = loadOne(climate({ body: '{temperature|.1} °C in {site}', notify: { jids: ['Alice@Example.org'] } }));
    assert.deepEqual(problems, []);
    assert.equal(mappings.length, 1);
    assert.equal(mappings[0]!.file, file);
    assert.deepEqual(mappings[0]!.notify.jids, ['alice@example.org']);
  });

  describe('delivery, change policy, PubSub and invitations', () => {
    it('defaults: chat, offline latest, daily live period, archived, status on; no change policy; PubSub with 10 items', () => {
      const { mappings, problems } = loadOne(climate());
      assert.deepEqual(problems, []);
      const m = mappings[0]!;
      assert.deepEqual(m.delivery, { mode: 'chat', offline: 'latest', period: 'day', archive: true, status: true });
      assert.equal(m.changes, undefined);
      assert.deepEqual(m.pubsub, { enabled: true, items: 10 });
      assert.deepEqual(m.invite, []);
      assert.equal(m.idleAfter, 900);
    });

    it('compiles a change policy: deadbands absolute and %, intervals in ms, per-field rules', () => {
      const { mappings, problems } = loadOne(
        climate({ changes: { deadband: '5%', minInterval: 60, maxInterval: 900, fields: { temperature: { deadband: 0.2 }, humidity: { minInterval: 1.5 } } } }),
      );
      assert.deepEqual(problems, []);
      const c = mappings[0]!.changes!;
      assert.deepEqual(c.deadband, { kind: 'percent', value: 5 });
      assert.equal(c.minIntervalMs, 60_000);
      assert.equal(c.maxIntervalMs, 900_000);
      assert.deepEqual(c.fields.get('temperature'), { deadband: { kind: 'absolute', value: 0.2 } });
      assert.deepEqual(c.fields.get('humidity'), { minIntervalMs: 1500 });
    });

    it('takes the mode from messageType when delivery.mode is absent; live messages are chat', () => {
      assert.equal(loadOne(climate({ messageType: 'headline' })).mappings[0]!.delivery.mode, 'headline');
      const live = loadOne(climate({ delivery: { mode: 'live', period: 'hour' } })).mappings[0]!;
      assert.equal(live.messageType, 'chat');
      assert.equal(live.delivery.period, 'hour');
    });

    it('refuses live with offline: store, an unknown change field, maxInterval below minInterval, a bad deadband', () => {
      const { file, problems } = loadOne(
        climate({ delivery: { mode: 'live', offline: 'store' }, changes: { minInterval: 60, maxInterval: 30, fields: { pressure: { deadband: 1 } } } }),
      );
      assert.deepEqual(problems.map((p) => `${p.file} ${p.path}`).sort(), [
        `${file} /mappings/0/changes/fields/pressure`,
        `${file} /mappings/0/changes/maxInterval`,
        `${file} /mappings/0/delivery/offline`,
      ]);
      assert.ok(loadOne(climate({ changes: { deadband: 'five' } })).problems.some((p) => p.path === '/mappings/0/changes/deadband'));
    });

    it('expands {serverDomain} in invite and notify.jids; an invitee must be a viewer', () => {
      const ok = loadOne(climate({ invite: ['ops@{serverDomain}'], notify: { jids: ['Watcher@{serverDomain}'] }, access: { viewers: ['*@{serverDomain}'] } }));
      assert.deepEqual(ok.problems, []);
      assert.deepEqual(ok.mappings[0]!.invite, ['ops@example.org']);
      assert.deepEqual(ok.mappings[0]!.notify.jids, ['watcher@example.org']);
      const bad = loadOne(climate({ invite: ['ops@elsewhere.example'], access: { viewers: ['*@{serverDomain}'] } }));
      assert.deepEqual(bad.problems.map((p) => p.path), ['/mappings/0/invite/0']);
    });
  });

  it('refuses a topic segment the jid does not use', () => {
    const { file, mappings, problems } = loadOne(climate({ jid: 'climate-{device}' }));
    assert.deepEqual(mappings, []);
    assert.deepEqual(problems, [{ file, path: '/mappings/0/jid', message: 'segment {site} of the topic is not used, so different topics would map to one JID' }]);
  });

  it('refuses a jid placeholder that is not a topic segment', () => {
    const { file, problems } = loadOne(climate({ jid: '{site}-{device}-{room}' }));
    assert.deepEqual(problems, [{ file, path: '/mappings/0/jid', message: '{room} is not a segment of the topic' }]);
  });

  it('refuses two adjacent jid segments', () => {
    const { file, problems } = loadOne(climate({ jid: 'c-{site}{device}' }));
    assert.deepEqual(problems, [{ file, path: '/mappings/0/jid', message: 'two segments must be separated by literal text, or JIDs cannot be told apart' }]);
  });

  it('refuses jid literal text that would need XEP-0106 escaping', () => {
    const { file, problems } = loadOne(climate({ jid: 'c@{site}-{device}' }), climate({ id: 'other', topic: 'other/{site}/{device}', jid: 'o {site}-{device}' }));
    assert.deepEqual(problems, [
      { file, path: '/mappings/0/jid', message: 'literal text "c@" contains a character a JID local part cannot hold unescaped' },
      { file, path: '/mappings/1/jid', message: 'literal text "o " contains a character a JID local part cannot hold unescaped' },
    ]);
  });

  it('refuses anonymous wildcards in the topic', () => {
    const { file, problems } = loadOne(climate({ topic: 'sensors/{site}/+/{device}' }));
    assert.deepEqual(problems, [{ file, path: '/mappings/0/topic', message: 'use named segments ({name}) instead of "+" or "#", so every device gets its own JID' }]);
  });

  it('reports topic grammar errors at the topic', () => {
    const { file, problems } = loadOne(climate({ topic: 'sensors/{site}/x{device}' }));
    assert.deepEqual(problems, [{ file, path: '/mappings/0/topic', message: 'level 3 ("x{device}"): a named segment must fill a whole level, like {name}' }]);
  });

  it('refuses an unknown schema reference', () => {
    const { file, problems } = loadOne(climate({ schema: 'urn:example:nope' }));
    assert.deepEqual(problems, [{ file, path: '/mappings/0/schema', message: '"urn:example:nope" is neither the $id of a loaded schema nor a schema file' }]);
  });

  it('resolves a schema file relative to the mapping file', () => {
    const sub = writeDir({
      'm.yaml': { mappings: [climate({ schema: './local.schema.json', body: '{level}' })] },
      'local.schema.json': { type: 'object', properties: { level: { type: 'number' } } },
    });
    const { mappings, problems } = load([join(sub, 'm.yaml')]);
    assert.deepEqual(problems, []);
    assert.equal(mappings[0]!.schema.file, join(sub, 'local.schema.json'));
  });

  it('refuses a body placeholder that is neither a schema property nor a topic segment', () => {
    const { file, problems } = loadOne(climate({ body: '{temperature} {device} {pressure.hpa}' }));
    assert.deepEqual(problems, [
      { file, path: '/mappings/0/body', message: `placeholder {pressure.hpa} is neither a property of schema ${CLIMATE} nor a topic segment` },
    ]);
  });

  it('refuses body placeholders named like Object.prototype members', () => {
    const { file, problems } = loadOne(climate({ body: '{constructor} {toString}' }));
    assert.deepEqual(problems, [
      { file, path: '/mappings/0/body', message: `placeholder {constructor} is neither a property of schema ${CLIMATE} nor a topic segment` },
      { file, path: '/mappings/0/body', message: `placeholder {toString} is neither a property of schema ${CLIMATE} nor a topic segment` },
    ]);
  });

  it('refuses an availability topic or client id that does not identify the device', () => {
    const { file, problems } = loadOne(climate({ availability: { topic: 'sensors/{device}/availability', clientId: 'c-{site}' } }));
    assert.deepEqual(problems, [
      { file, path: '/mappings/0/availability/clientId', message: 'must contain segment {device} to identify the device' },
      { file, path: '/mappings/0/availability/topic', message: 'must contain segment {site} to identify the device' },
    ]);
  });

  it('refuses an availability topic equal to the reading topic, and equal online/offline words', () => {
    const { file, problems } = loadOne(climate({ availability: { topic: 'sensors/{site}/{device}/telemetry', online: 'ON', offline: 'on' } }));
    assert.deepEqual(problems, [
      { file, path: '/mappings/0/availability/topic', message: 'must differ from the reading topic' },
      { file, path: '/mappings/0/availability', message: 'online and offline payloads must differ' },
    ]);
  });

  it('refuses bad access patterns, each at its index', () => {
    const { file, problems } = loadOne(climate({ access: { viewers: ['*@{serverDomain}', '*@{domain}'], operators: ['alice@example.org/phone'] } }));
    assert.deepEqual(problems, [
      { file, path: '/mappings/0/access/viewers/1', message: 'unknown variable {domain} in JID pattern "*@{domain}"' },
      { file, path: '/mappings/0/access/operators/0', message: 'JID pattern "alice@example.org/phone" must be a bare JID (no resource)' },
    ]);
  });

  it('refuses an unknown top-level key, and unknown or invalid mapping keys (schema check)', () => {
    const { file, mappings, problems } = loadOne(climate({ id: 'Climate X', messageType: 'shout', colour: 'red' }));
    const top = writeDir({ 'm.yaml': { mappings: [climate()], extra: true } });
    const second = load([join(top, 'm.yaml')]);
    assert.deepEqual(mappings, []);
    assert.deepEqual(
      [...problems].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
      [
        { file, path: '/mappings/0/colour', message: 'is not a known property' },
        { file, path: '/mappings/0/id', message: 'must match pattern "^[a-z0-9][a-z0-9_-]*$"' },
        { file, path: '/mappings/0/messageType', message: 'must be one of "chat", "headline", "normal"' },
      ],
    );
    assert.deepEqual(second.problems, [{ file: join(top, 'm.yaml'), path: '/extra', message: 'is not a known property' }]);
  });

  it('refuses missing required keys and an empty mapping list', () => {
    const a = writeDir({ 'm.yaml': { mappings: [{ id: 'x', topic: 'a/{b}' }] }, 'n.yaml': { mappings: [] } });
    const { problems } = load([a]);
    assert.deepEqual(problems, [
      { file: join(a, 'm.yaml'), path: '/mappings/0/jid', message: 'is required' },
      { file: join(a, 'm.yaml'), path: '/mappings/0/schema', message: 'is required' },
      { file: join(a, 'n.yaml'), path: '/mappings', message: 'must NOT have fewer than 1 items' },
    ]);
  });

  it('reports several problems of one file at once, for every mapping', () => {
    const { file, mappings, problems } = loadOne(
      climate({ topic: 'sensors/+/{device}/#', jid: 'x@{site}{device}', schema: 'urn:example:nope', body: '{a|zz}' }),
      climate({ id: 'second', topic: 'second/{device}', jid: 'second-{device}-{room}' }),
    );
    assert.deepEqual(mappings, []);
    // The order within one mapping is not part of the contract: compare sorted by path, then message.
    const key = (p: LoadProblem): string => `${p.path}\u0000${p.message}`;
    const sorted = [...problems].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    assert.deepEqual(sorted, [
      { file, path: '/mappings/0/body', message: 'placeholder {a|zz}: unknown filter "zz" (use ".N" for N decimals or "yes/no" for a boolean)' },
      { file, path: '/mappings/0/jid', message: 'literal text "x@" contains a character a JID local part cannot hold unescaped' },
      { file, path: '/mappings/0/jid', message: 'two segments must be separated by literal text, or JIDs cannot be told apart' },
      { file, path: '/mappings/0/jid', message: '{site} is not a segment of the topic' },
      { file, path: '/mappings/0/schema', message: '"urn:example:nope" is neither the $id of a loaded schema nor a schema file' },
      { file, path: '/mappings/0/topic', message: 'use named segments ({name}) instead of "+" or "#", so every device gets its own JID' },
      { file, path: '/mappings/1/jid', message: '{room} is not a segment of the topic' },
    ]);
  });

  describe('checks across mappings', () => {
    it('refuses an id used in two files, at the later file', () => {
      const sub = writeDir({
        'a.yaml': { mappings: [climate({ id: 'dup', topic: 'a/{device}', jid: 'a-{device}' })] },
        'b.yaml': { mappings: [climate({ id: 'ok', topic: 'b/{device}', jid: 'b-{device}' }), climate({ id: 'dup', topic: 'c/{device}', jid: 'c-{device}' })] },
      });
      const { mappings, problems } = load([sub]);
      assert.equal(mappings.length, 3);
      assert.deepEqual(problems, [{ file: join(sub, 'b.yaml'), path: '/mappings/1/id', message: `id "dup" is already used in ${join(sub, 'a.yaml')}` }]);
    });

    it('refuses overlapping topics', () => {
      const { file, problems } = loadOne(
        climate({ id: 'one', topic: 'sensors/{site}/{device}', jid: 'one-{site}-{device}' }),
        climate({ id: 'two', topic: 'sensors/home/{device}', jid: 'two-{device}' }),
        climate({ id: 'three', topic: 'plugs/{device}', jid: 'three-{device}' }),
      );
      assert.deepEqual(problems, [
        { file, path: '/mappings/1/topic', message: 'overlaps the topic of mapping "one" (sensors/{site}/{device}): a reading would be claimed twice' },
      ]);
    });

    it('refuses jid templates of the same shape (case-insensitive)', () => {
      const { file, problems } = loadOne(
        climate({ id: 'one', topic: 'a/{site}/{device}', jid: 'x-{site}-{device}' }),
        climate({ id: 'two', topic: 'b/{s}/{d}', jid: 'X-{s}-{d}' }),
      );
      assert.deepEqual(problems, [
        { file, path: '/mappings/1/jid', message: 'has the same shape as the jid of mapping "one" (x-{site}-{device}): add a distinguishing prefix such as "two-"' },
      ]);
    });
  });

  it('reports a YAML syntax error in a mapping file', () => {
    const sub = writeDir({ 'm.yaml': 'mappings:\n  - id: a\n    topic: [x\n' });
    const { problems } = load([join(sub, 'm.yaml')]);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.file, join(sub, 'm.yaml'));
    assert.match(problems[0]!.message, /^YAML /);
  });

  it('reports a missing path, and a directory without mapping files', () => {
    const missing = join(dir, 'nope');
    assert.deepEqual(load([missing]).problems, [{ file: missing, path: '', message: 'no such file or directory' }]);
    const empty = writeDir({ 'README.txt': 'not a mapping' });
    assert.deepEqual(load([empty]).problems, [{ file: empty, path: '', message: 'no mapping files found' }]);
  });
});
