/**
 * The import feature's pure rules: admission (mode, globs, cap, blocked), the safety of a description against its
 * publisher and the topics other devices use, and what a description becomes as a mapping (JID from the hardware id,
 * escaped; names; payload decodings; chat shortcuts).
 */
import assert from 'node:assert/strict';
import type { Publisher } from '../../src/broker/mqtt-side.js';
import type { DeviceDescription } from '../../src/importers/model.js';
import { admit, globMatches } from '../../src/features/import/policy.js';
import { checkDescription, type TopicClaims } from '../../src/features/import/safety.js';
import { ModelSchemaCache } from '../../src/features/import/schema-cache.js';
import { importLocalpart, importMappingId, importName, toMapping } from '../../src/features/import/to-mapping.js';

const light: DeviceDescription = {
  source: 'zigbee2mqtt',
  hardwareId: '0x000B57FFFEC6A5B2',
  name: 'kitchen/ceiling {1}',
  manufacturer: 'IKEA',
  model: 'LED1545G12',
  modelKey: 'zigbee2mqtt:test-light',
  properties: [
    { key: 'state', label: 'State', type: 'boolean', valueOn: 'ON', valueOff: 'OFF', valueToggle: 'TOGGLE', readable: true, settable: true, gettable: true },
    { key: 'brightness', label: 'Brightness', type: 'number', minimum: 0, maximum: 254, readable: true, settable: true, gettable: true },
    { key: 'action', label: 'Action', type: 'enum', values: ['single'], readable: true, settable: false, gettable: false, momentary: true },
  ],
  state: [{ topic: 'zigbee2mqtt/kitchen/ceiling {1}', format: 'json' }],
  availability: { topics: [{ topic: 'zigbee2mqtt/kitchen/ceiling {1}/availability', online: 'online', offline: 'offline', format: 'json' }], mode: 'latest' },
  commands: [
    {
      name: 'set',
      topic: 'zigbee2mqtt/kitchen/ceiling {1}/set',
      properties: [
        { key: 'state', type: 'boolean', valueOn: 'ON', valueOff: 'OFF', valueToggle: 'TOGGLE', readable: true, settable: true, gettable: true },
        { key: 'brightness', type: 'number', minimum: 0, maximum: 254, readable: true, settable: true, gettable: true },
      ],
      encoding: { kind: 'json' },
    },
  ],
  warnings: [],
};

const rights = (publish: string[], subscribe: string[]): Publisher => ({
  identity: 'service:gw',
  clientId: 'gw',
  mayPublish: (t) => publish.some((p) => t.startsWith(p)),
  maySubscribe: (t) => subscribe.some((p) => t.startsWith(p)),
});
const nobody: TopicClaims = { readingOwner: () => undefined, reportOwner: () => undefined, commandOwner: () => undefined, reserved: () => undefined };

describe('import rules', () => {
  describe('admission', () => {
    const cfg = { mode: 'approve' as const, allow: [] as string[], deny: ['*test*'], maxDevices: 2 };

    it('denies by glob over id and name, keeps blocked devices out, caps new devices, and sets the status by mode', () => {
      assert.deepEqual(admit({ hardwareId: '0x1', name: 'Test lamp' }, cfg, undefined, 0), { kind: 'refuse', code: 'IMPORT_DENIED', reason: 'matches the deny glob "*test*"' });
      assert.deepEqual(admit({ hardwareId: '0x1', name: 'lamp' }, { ...cfg, allow: ['0x2*'] }, undefined, 0), { kind: 'refuse', code: 'IMPORT_DENIED', reason: 'matches no allow glob' });
      assert.deepEqual(admit({ hardwareId: '0x1', name: 'lamp' }, cfg, { status: 'blocked' }, 0), { kind: 'ignore' });
      assert.deepEqual(admit({ hardwareId: '0x1', name: 'lamp' }, cfg, undefined, 2), { kind: 'refuse', code: 'IMPORT_LIMIT', reason: 'the source already has 2 devices (maxDevices)' });
      assert.deepEqual(admit({ hardwareId: '0x1', name: 'lamp' }, cfg, { status: 'approved' }, 2), { kind: 'import', status: 'approved' }, 'a known device keeps its place');
      assert.deepEqual(admit({ hardwareId: '0x1', name: 'lamp' }, cfg, undefined, 0), { kind: 'import', status: 'pending' });
      assert.deepEqual(admit({ hardwareId: '0x1', name: 'lamp' }, { ...cfg, mode: 'auto' }, undefined, 0), { kind: 'import', status: 'approved', decidedBy: 'auto' });
      assert.deepEqual(admit({ hardwareId: '0x1', name: 'lamp' }, { ...cfg, mode: 'auto' }, { status: 'pending' }, 1), { kind: 'import', status: 'approved', decidedBy: 'auto' });
    });

    it('matches globs case-insensitively, over the whole text, with * and ? only', () => {
      assert.equal(globMatches('0x00158d*', '0x00158D0001A2B3C4'), true);
      assert.equal(globMatches('lamp?', 'lamp12'), false);
      assert.equal(globMatches('a.b', 'axb'), false, 'a dot is a dot');
      assert.equal(globMatches('kitchen/*', 'Kitchen/ceiling'), true);
    });
  });

  describe('safety', () => {
    const local = '0x000b57fffec6a5b2';
    it('accepts a description whose topics lie within its publisher\'s rights', () => {
      assert.equal(checkDescription(light, local, rights(['zigbee2mqtt/'], ['zigbee2mqtt/']), true, nobody), undefined);
    });

    it('refuses an unknown publisher where the broker knows publishers, and trusts an external broker', () => {
      assert.equal(checkDescription(light, local, undefined, true, nobody)?.code, 'IMPORT_PUBLISHER_UNKNOWN');
      assert.equal(checkDescription(light, local, undefined, false, nobody), undefined);
    });

    it('refuses a state topic the publisher may not publish, and a command topic it may not subscribe to', () => {
      const noState = checkDescription(light, local, rights(['zigbee2mqtt/other'], ['zigbee2mqtt/']), true, nobody);
      assert.deepEqual([noState?.code, noState?.topic], ['IMPORT_TOPIC_FORBIDDEN', 'zigbee2mqtt/kitchen/ceiling {1}']);
      const noCommand = checkDescription(light, local, rights(['zigbee2mqtt/'], ['zigbee2mqtt/other']), true, nobody);
      assert.deepEqual([noCommand?.code, noCommand?.topic], ['IMPORT_TOPIC_FORBIDDEN', 'zigbee2mqtt/kitchen/ceiling {1}/set']);
    });

    it('refuses, whatever the rights, topics of other devices and topics the bridge keeps — but not its own', () => {
      const all = rights([''], ['']);
      const claims = (c: Partial<TopicClaims>): TopicClaims => ({ ...nobody, ...c });
      const code = (c: Partial<TopicClaims>): string | undefined => checkDescription(light, local, all, true, claims(c))?.code;
      assert.equal(code({ readingOwner: (t) => (t === 'zigbee2mqtt/kitchen/ceiling {1}' ? 'plug' : undefined) }), 'IMPORT_TOPIC_TAKEN');
      assert.equal(code({ commandOwner: (t) => (t.endsWith('/availability') ? 'plug' : undefined) }), 'IMPORT_TOPIC_TAKEN', 'reading another device\'s commands');
      assert.equal(code({ commandOwner: (t) => (t.endsWith('/set') ? 'plug' : undefined) }), 'IMPORT_TOPIC_TAKEN');
      assert.equal(code({ reportOwner: (t) => (t.endsWith('/set') ? 'plug' : undefined) }), 'IMPORT_TOPIC_TAKEN', 'commands passing for another device\'s reports');
      assert.equal(code({ reserved: (t) => (t.endsWith('/set') ? 'the bridge\'s own topics' : undefined) }), 'IMPORT_TOPIC_TAKEN');
      assert.equal(code({ readingOwner: () => local, commandOwner: () => local, reportOwner: () => local }), undefined, 'its own topics (an update)');
    });
  });

  describe('the mapping of a description', () => {
    it('forms the JID from the hardware id (folded, escaped), never the name; the mapping id is a slug', () => {
      assert.deepEqual(importLocalpart('{id}', '0x000B57FFFEC6A5B2'), { ok: true, value: '0x000b57fffec6a5b2' });
      assert.deepEqual(importLocalpart('zb-{id}', 'Mac:AA BB'), { ok: true, value: 'zb-mac\\3aaa\\20bb' });
      assert.equal(importMappingId('zigbee2mqtt', '0x000B57FFFEC6A5B2'), 'zigbee2mqtt-0x000b57fffec6a5b2');
      assert.equal(importMappingId('homie', 'kitchen-light'), 'homie-kitchen-light');
      assert.match(importMappingId('homeassistant', 'Mac:AA BB'), /^homeassistant-mac-aa-bb-[0-9a-f]{8}$/, 'a hash keeps two ids apart that one slug would merge');
      assert.equal(importName('{name} ({model})', light), 'kitchen/ceiling {1} (LED1545G12)');
    });

    it('reads the state topic as JSON merged, forgets the momentary action, and answers on/off/toggle in a chat', () => {
      const m = toMapping(light, { jid: '{id}', name: '{name}', access: { viewers: ['*@{serverDomain}'], operators: [] }, messageType: 'chat', jidVariables: { serverDomain: 'example.org' } }, new ModelSchemaCache());
      assert.ok(m.ok);
      const mapping = m.value;
      assert.deepEqual(mapping.topic.levels, [
        { kind: 'literal', text: 'zigbee2mqtt' },
        { kind: 'literal', text: 'kitchen' },
        { kind: 'literal', text: 'ceiling {1}' },
      ]);
      assert.deepEqual(mapping.sources?.[0]?.decodings, [{ format: 'json', true: ['true'], false: ['false'], integer: false, momentary: [['action']] }]);
      assert.equal(mapping.jid.parts.length, 1);
      assert.equal(mapping.name?.source, 'kitchen/ceiling {1}');
      assert.deepEqual(mapping.aliases, { on: 'set state=ON', off: 'set state=OFF', toggle: 'set state=TOGGLE' });
      assert.deepEqual(mapping.availability?.topics.map((t) => [t.topic.source, t.online, t.offline]), [['zigbee2mqtt/kitchen/ceiling {1}/availability', ['online'], ['offline']]]);
      assert.equal(mapping.access.viewers[0]!.test('alice@example.org'), true);
      assert.deepEqual(mapping.commands.map((c) => [c.name, c.topic.source, c.payload]), [['set', 'zigbee2mqtt/kitchen/ceiling {1}/set', undefined]]);
      assert.equal(mapping.schema.validate({ state: 'ON', brightness: 12, update: {} }), true, 'devices add keys');
      assert.equal(mapping.schema.validate({ brightness: 999 }), false);
    });

    it('compiles each model once and frees it with its last device', () => {
      const cache = new ModelSchemaCache();
      let generated = 0;
      const gen = () => {
        generated += 1;
        return { readingSchema: { $id: 'urn:x:reading', type: 'object' }, commands: [], body: { fields: [], template: '' } };
      };
      const a = cache.acquire('m1', gen, 'f', 'dev-a');
      const b = cache.acquire('m1', gen, 'f', 'dev-b');
      assert.equal(a.reading.validate, b.reading.validate);
      assert.equal(generated, 1);
      cache.release('m1', 'dev-a');
      assert.equal(cache.models, 1);
      cache.release('m1', 'dev-b');
      assert.equal(cache.models, 0);
      cache.acquire('m1', gen, 'f', 'dev-c'); // the same $id again: it was removed from Ajv
      assert.equal(generated, 2);
    });
  });
});
