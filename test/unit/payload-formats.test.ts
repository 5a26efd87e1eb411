/**
 * Payload formats in the mapping language, with the core and in-memory edges: per-topic formats (JSON, text,
 * number, boolean words, enum words, Home Assistant value templates), several topics of one device merged into one
 * reading, updates of one event-loop turn coalesced, momentary fields forgotten after their reading; availability
 * from several topics (all / any / latest, JSON and template payloads, sleeping = xa); command payload encodings.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { decodePayload, forget, mergeState } from '../../src/convert/decode.js';
import { encodeCommand } from '../../src/convert/command-payload.js';
import type { LoadProblem } from '../../src/errors.js';
import { compileTemplate } from '../../src/importers/template.js';
import { loadMappings } from '../../src/mapping/load.js';
import type { PayloadDecoding } from '../../src/mapping/mapping.js';
import { SchemaRegistry } from '../../src/schemas/registry.js';
import { startTestBridge, type TestBridge } from '../support/test-bridge.js';

const NS_JSON = 'urn:xmpp:json:0';
const USER = 'alice@example.org';
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const readings = (t: TestBridge): unknown[] =>
  t.link.take((el) => el.name === 'message' && el.attrs['to'] === USER && el.getChild('json', NS_JSON) !== undefined).map((el) => JSON.parse(el.getChildText('json', NS_JSON)!) as unknown);
const decoding = (d: Partial<PayloadDecoding> & Pick<PayloadDecoding, 'format'>): PayloadDecoding => ({ true: ['true'], false: ['false'], integer: false, momentary: [], ...d });

const openSchema = { $id: 'urn:test:open', type: 'object' };
const plugSet = { $id: 'urn:test:plug-set', type: 'object', properties: { power: { type: 'boolean' }, dimmer: { type: 'integer', minimum: 0, maximum: 100 } }, additionalProperties: false };
const getSchema = { $id: 'urn:test:get', type: 'object', properties: { properties: { type: 'array', items: { enum: ['state', 'brightness'] } } }, required: ['properties'] };

/** A Tasmota plug written by hand: POWER as a word, the sensor JSON merged, the dimmer as a number. */
const tasmota = {
  id: 'tasmota',
  topic: 'stat/{device}/POWER',
  payload: { format: 'boolean', key: 'power', trueValues: ['ON'], falseValues: ['OFF'] },
  topics: [
    { topic: 'tele/{device}/SENSOR', payload: { format: 'json' } },
    { topic: 'stat/{device}/Dimmer', payload: { format: 'number', key: 'dimmer', integer: true } },
    { topic: 'stat/{device}/Mode', payload: { format: 'enum', key: 'mode' } },
    { topic: 'stat/{device}/Note', payload: { format: 'text', key: 'note', empty: '\u0000' } },
    { topic: 'stat/{device}/Event', payload: { format: 'json', momentary: ['action'] } },
    { topic: 'tele/{device}/STATE', payload: { format: 'number', key: 'temperature', template: '{{ value_json.T | float }}' } },
  ],
  jid: 'tasmota-{device}',
  schema: 'urn:test:open',
  notify: { jids: [USER] },
  // Every reading to the listed JID, online or not: these tests are about decoding (gating: gating.test.ts).
  delivery: { offline: 'store' },
  availability: {
    topics: [{ topic: 'tele/{device}/LWT', online: 'Online', offline: 'Offline' }, { topic: 'zb/{device}/availability', template: '{{ value_json.state }}' }],
    mode: 'all',
    sleeping: 'sleeping',
  },
  commands: [
    { name: 'power', topic: 'cmnd/{device}/POWER', schema: 'urn:test:plug-set', payload: { format: 'value', key: 'power', trueValue: 'ON', falseValue: 'OFF' } },
    { name: 'dim', topic: 'cmnd/{device}/Dimmer', schema: 'urn:test:plug-set', payload: { format: 'template', key: 'dimmer', template: '{{ (value * 2.55) | round | int }}' } },
    { name: 'restart', topic: 'cmnd/{device}/Restart', schema: 'urn:test:open', payload: { format: 'fixed', payload: '1' } },
    { name: 'get', topic: 'cmnd/{device}/get', schema: 'urn:test:get', payload: { format: 'keys', key: 'properties' } },
  ],
  access: { viewers: ['*@example.org'], operators: ['*@example.org'] },
};

describe('payload formats', () => {
  describe('decoding (pure)', () => {
    it('reads each format and places the value at its key', () => {
      assert.deepEqual(decodePayload([decoding({ format: 'number', path: ['t'] })], utf8(' 21.5 ')), { ok: true, value: [{ path: ['t'], value: 21.5 }] });
      assert.deepEqual(decodePayload([decoding({ format: 'number', path: ['t'], integer: true })], utf8('21.5')), { ok: true, value: [{ path: ['t'], value: 22 }] });
      assert.deepEqual(decodePayload([decoding({ format: 'boolean', path: ['on'], true: ['ON'], false: ['OFF'] })], utf8('OFF')), { ok: true, value: [{ path: ['on'], value: false }] });
      assert.deepEqual(decodePayload([decoding({ format: 'enum', path: ['m'] })], utf8(' heat\n')), { ok: true, value: [{ path: ['m'], value: 'heat' }] });
      assert.deepEqual(decodePayload([decoding({ format: 'text', path: ['n'], empty: '\u0000' })], utf8('\u0000')), { ok: true, value: [{ path: ['n'], value: '' }] });
      assert.deepEqual(decodePayload([decoding({ format: 'json', path: ['c'] })], utf8('[1,2]')), { ok: true, value: [{ path: ['c'], value: [1, 2] }] });
      assert.deepEqual(decodePayload([decoding({ format: 'json' })], utf8('{"a":1}')), { ok: true, value: [{ path: [], value: { a: 1 } }] });
    });

    it('refuses what a format cannot read, with a stable code', () => {
      const code = (d: PayloadDecoding, p: string): string | undefined => {
        const r = decodePayload([d], utf8(p));
        return r.ok ? undefined : r.error.code;
      };
      assert.equal(code(decoding({ format: 'number', path: ['t'] }), 'warm'), 'PAYLOAD_INVALID');
      assert.equal(code(decoding({ format: 'boolean', path: ['b'], true: ['ON'], false: ['OFF'] }), 'MAYBE'), 'PAYLOAD_INVALID');
      assert.equal(code(decoding({ format: 'json' }), '[1]'), 'PAYLOAD_INVALID', 'an array cannot be merged');
      assert.equal(code(decoding({ format: 'json' }), '{'), 'PAYLOAD_NOT_JSON');
      assert.equal(code(decoding({ format: 'text', path: ['t'] }), '\xff'), undefined);
      const r = decodePayload([decoding({ format: 'text', path: ['t'] })], Buffer.from([0xff, 0xfe]));
      assert.equal(r.ok ? 'ok' : r.error.code, 'PAYLOAD_INVALID', 'not UTF-8');
    });

    it('applies every decoding of a topic to one payload, a template missing its key setting nothing', () => {
      const ds = [
        decoding({ format: 'number', path: ['temperature'], template: '{{ value_json.AM2301.Temperature }}' }),
        decoding({ format: 'number', path: ['humidity'], template: '{{ value_json.AM2301.Humidity }}' }),
        decoding({ format: 'number', path: ['power'], template: '{{ value_json.ENERGY.Power }}' }),
      ];
      assert.deepEqual(decodePayload(ds, utf8('{"AM2301":{"Temperature":21.5,"Humidity":45}}')), {
        ok: true,
        value: [
          { path: ['temperature'], value: 21.5 },
          { path: ['humidity'], value: 45 },
        ],
      });
    });

    it('merges into a copy of the state (nested paths kept), and forgets momentary fields', () => {
      const before = { kitchen: { light: true, level: 3 }, action: 'x' };
      const after = mergeState(before, [
        { path: ['kitchen', 'level'], value: 4 },
        { path: [], value: JSON.parse('{"__proto__":{"polluted":1},"b":2}') as unknown },
      ]);
      assert.deepEqual(before, { kitchen: { light: true, level: 3 }, action: 'x' }, 'the previous state is untouched');
      assert.equal(JSON.stringify(after), '{"kitchen":{"light":true,"level":4},"action":"x","__proto__":{"polluted":1},"b":2}');
      assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
      assert.deepEqual(forget(after, [['action'], ['kitchen', 'light'], ['absent']]), JSON.parse('{"kitchen":{"level":4},"__proto__":{"polluted":1},"b":2}'));
    });
  });

  describe('the mapping language', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'formats-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    function load(mapping: Record<string, unknown>): LoadProblem[] {
      writeFileSync(join(dir, 's.json'), JSON.stringify(openSchema));
      writeFileSync(join(dir, 'g.json'), JSON.stringify(getSchema));
      writeFileSync(join(dir, 'p.json'), JSON.stringify(plugSet));
      const file = join(dir, 'm.json');
      writeFileSync(file, JSON.stringify({ mappings: [mapping] }));
      const problems: LoadProblem[] = [];
      const registry = new SchemaRegistry();
      registry.loadAll([join(dir, 's.json'), join(dir, 'g.json'), join(dir, 'p.json')], problems);
      loadMappings([file], { registry, jidVariables: { serverDomain: 'example.org' } }, problems);
      return problems;
    }

    it('compiles sources, availability topics and command payloads', () => {
      assert.deepEqual(load(tasmota), []);
    });

    it('reports each mistake with its path', () => {
      const problems = load({
        ...tasmota,
        payload: { format: 'number' },
        topics: [
          { topic: 'tele/{other}/SENSOR', payload: { format: 'json', template: '{% for x in y %}{% endfor %}' } },
          { topic: 'stat/{device}/POWER', payload: { format: 'boolean', key: 'p', trueValues: 'on', falseValues: 'on' } },
        ],
        commands: [{ name: 'x', topic: 'cmnd/{device}/X', schema: 'urn:test:plug-set', payload: { format: 'value', key: 'nope' } }],
      });
      assert.deepEqual(
        problems.map((p) => `${p.path}: ${p.message}`),
        [
          '/mappings/0/payload/key: a number payload needs "key": where its value lands in the reading',
          '/mappings/0/topics/0/topic: {other} is not a segment of the topic',
          '/mappings/0/topics/0/topic: must contain segment {device} to identify the device',
          '/mappings/0/topics/0/payload/template: TEMPLATE_UNSUPPORTED: the "for" statement is not supported',
          '/mappings/0/topics/1/payload: a payload cannot mean both true and false',
          '/mappings/0/commands/0/payload/key: "nope" is not a property of schema urn:test:plug-set',
        ],
      );
    });
  });

  describe('with the core', () => {
    let t: TestBridge;
    afterEach(() => t?.stop());

    async function start(mapping: Record<string, unknown> = tasmota): Promise<void> {
      t = await startTestBridge({ mappings: [mapping], schemas: [openSchema, plugSet, getSchema] });
    }

    it('merges several topics into one reading; updates of one turn make one reading', async () => {
      await start();
      // One read from a socket: the relay's word and the sensor JSON, in the same turn.
      await Promise.all([t.side.device('stat/plug1/POWER', 'ON'), t.side.device('tele/plug1/SENSOR', '{"ENERGY":{"Power":12}}')]);
      assert.deepEqual(readings(t), [{ power: true, ENERGY: { Power: 12 } }]);
      await t.side.device('stat/plug1/Dimmer', '40.4');
      await t.side.device('stat/plug1/Mode', 'eco ');
      await t.side.device('stat/plug1/Note', '\u0000');
      await t.side.device('tele/plug1/STATE', '{"T":"19.5"}');
      assert.deepEqual(readings(t), [
        { power: true, ENERGY: { Power: 12 }, dimmer: 40 },
        { power: true, ENERGY: { Power: 12 }, dimmer: 40, mode: 'eco' },
        { power: true, ENERGY: { Power: 12 }, dimmer: 40, mode: 'eco', note: '' },
        { power: true, ENERGY: { Power: 12 }, dimmer: 40, mode: 'eco', note: '', temperature: 19.5 },
      ]);
    });

    it('keeps a momentary field in its reading only', async () => {
      await start();
      await t.side.device('stat/plug1/Event', '{"action":"single","battery":90}');
      await t.side.device('stat/plug1/POWER', 'OFF');
      assert.deepEqual(readings(t), [
        { action: 'single', battery: 90 },
        { battery: 90, power: false },
      ]);
    });

    it('rejects a payload its format cannot read, and the state stays as it was', async () => {
      await start();
      const rejected: string[] = [];
      t.bridge.kernel.bus.on('reading_rejected', (e) => void rejected.push(`${e.code} ${e.topic}`));
      await t.side.device('stat/plug1/POWER', 'ON');
      await t.side.device('stat/plug1/POWER', 'MAYBE');
      await t.side.device('stat/plug1/Dimmer', '41');
      assert.deepEqual(rejected, ['PAYLOAD_INVALID stat/plug1/POWER']);
      assert.deepEqual(readings(t), [{ power: true }, { power: true, dimmer: 41 }]);
    });

    it('combines availability topics (mode all): both must say online; sleeping shows xa', async () => {
      await start();
      await t.side.device('stat/plug1/POWER', 'ON'); // the device exists
      await t.link.inject(xml('presence', { to: 'tasmota-plug1@iot.example.org', from: USER, type: 'subscribe' }));
      t.link.take();
      const presences = (): string[] =>
        t.link
          .take((el) => el.name === 'presence' && el.attrs['to'] === USER)
          .map((el) => `${el.attrs['type'] ?? 'available'}${el.getChildText('show') ? `/${el.getChildText('show')}` : ''}`);
      t.side.route('tele/plug1/LWT', utf8('Online'));
      assert.deepEqual(presences(), [], 'one topic of two is not enough');
      t.side.route('zb/plug1/availability', utf8('{"state":"online"}'));
      assert.deepEqual(presences(), ['available']);
      t.side.route('tele/plug1/LWT', utf8('sleeping'));
      assert.deepEqual(presences(), ['available/xa']);
      t.side.route('zb/plug1/availability', utf8('{"state":"offline"}'));
      assert.deepEqual(presences(), ['unavailable']);
      t.side.route('zb/plug1/availability', utf8('{"state":"whatever"}'));
      assert.deepEqual(presences(), [], 'an unknown word leaves the state as it was');
    });

    it('encodes commands: a field as a word, through a template, a fixed payload, a list of keys', async () => {
      await start();
      t.side.route('tele/plug1/LWT', utf8('Online'));
      t.side.route('zb/plug1/availability', utf8('{"state":"online"}'));
      await t.side.device('stat/plug1/POWER', 'OFF');
      const sent: string[] = [];
      for (const [name, json] of [
        ['power', '{"power":true}'],
        ['dim', '{"dimmer":50}'],
        ['restart', '{}'],
        ['get', '{"properties":["state","brightness"]}'],
      ] as const) {
        const published = t.side.next((p) => p.topic.startsWith('cmnd/plug1/'), `the ${name} command`);
        const reply = await t.link.inject(commandIq(name, json));
        assert.equal(reply?.attrs['type'], 'result', String(reply));
        const p = await published;
        sent.push(`${p.topic} ${p.payload.toString()}`);
      }
      assert.deepEqual(sent, ['cmnd/plug1/POWER ON', 'cmnd/plug1/Dimmer 127', 'cmnd/plug1/Restart 1', 'cmnd/plug1/get {"state":"","brightness":""}']);
    });
  });

  it('encodeCommand: values as text, booleans by their words, objects as JSON; a missing field is refused', () => {
    const tpl = compileTemplate('{{ position | int }}', { variables: ['value', 'position'] });
    assert.ok(tpl.ok);
    assert.deepEqual(encodeCommand({ format: 'value', path: ['v'] }, '', { v: 21.5 }), { ok: true, value: '21.5' });
    assert.deepEqual(encodeCommand({ format: 'value', path: ['v'] }, '', { v: false }), { ok: true, value: 'false' });
    assert.deepEqual(encodeCommand({ format: 'value', path: ['v'] }, '', { v: { x: 1 } }), { ok: true, value: '{"x":1}' });
    assert.deepEqual(encodeCommand({ format: 'template', path: ['position'], template: tpl.value, aliases: ['position'] }, '', { position: '42' }), { ok: true, value: '42' });
    assert.deepEqual(encodeCommand(undefined, '{"a" : 1}', { a: 1 }), { ok: true, value: '{"a" : 1}' }, 'JSON as written');
    const missing = encodeCommand({ format: 'value', path: ['v'] }, '{}', {});
    assert.equal(missing.ok ? 'ok' : missing.error.code, 'COMMAND_INVALID');
  });
});

function commandIq(name: string, json: string): Element {
  return xml(
    'iq',
    { type: 'set', to: 'tasmota-plug1@iot.example.org', from: `${USER}/x`, id: `c-${name}` },
    xml('command', { xmlns: 'urn:mqtt-xmpp-bridge:command:0', name }, xml('json', { xmlns: NS_JSON }, json)),
  );
}
