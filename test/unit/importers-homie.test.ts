/**
 * Homie importer: Homie 5 descriptions and Homie 4 attribute trees (test/fixtures/importers/homie, built from the
 * examples of the Homie convention; see its README), gathered by the accumulator in any order.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HomieAccumulator, homie5Description, type HomieUpdate } from '../../src/importers/homie.js';
import type { DeviceDescription, Property } from '../../src/importers/model.js';
import { packageRoot } from '../../src/version.js';

interface Message {
  readonly topic: string;
  readonly payload: string;
  readonly from: string;
}

function messages(file: string): Message[] {
  return (JSON.parse(readFileSync(join(packageRoot(), 'test/fixtures/importers/homie', file), 'utf8')) as { messages: Message[] }).messages;
}

function feedAll(acc: HomieAccumulator, list: readonly Message[]): HomieUpdate[] {
  return list.flatMap((m) => acc.feed(m.topic, m.payload));
}

function devices(updates: readonly HomieUpdate[]): DeviceDescription[] {
  return updates.flatMap((u) => (u.kind === 'device' ? [u.description] : []));
}

function only(acc: HomieAccumulator): DeviceDescription {
  const all = acc.descriptions();
  assert.equal(all.length, 1);
  return all[0]!;
}

const rw = { readable: true, settable: true, gettable: false } as const;
const ro = { readable: true, settable: false, gettable: false } as const;

describe('Homie 5', () => {
  it('describes the kitchen light completely', () => {
    const acc = new HomieAccumulator();
    const updates = feedAll(acc, messages('homie5-kitchen-light.json'));
    assert.equal(updates.length, 1, 'one description, once $state and $description are both known');
    const power: Property = { key: 'power', label: 'Power', ...rw, deviceClass: 'power', type: 'boolean', booleanLabels: { false: 'off', true: 'on' } };
    const brightness: Property = { key: 'brightness', label: 'Brightness', ...rw, unit: '%', deviceClass: 'brightness', type: 'integer', minimum: 0, maximum: 100 };
    const d = only(acc);
    assert.deepEqual(d, {
      source: 'homie',
      hardwareId: 'kitchen-light',
      name: 'Kitchen light',
      modelKey: d.modelKey,
      properties: [{ key: 'light', label: 'Light', type: 'object', properties: [power, brightness], readable: true, settable: false, gettable: false }],
      state: [
        { topic: 'homie/5/kitchen-light/light/power', path: ['light', 'power'], key: 'power', format: 'boolean', trueValue: 'true', falseValue: 'false' },
        { topic: 'homie/5/kitchen-light/light/brightness', path: ['light', 'brightness'], key: 'brightness', format: 'number' },
      ],
      availability: {
        topics: [{ topic: 'homie/5/kitchen-light/$state', online: 'ready', offline: 'lost', format: 'text', moreOffline: ['disconnected'] }],
        mode: 'all',
        sleeping: 'sleeping',
      },
      commands: [
        {
          name: 'set-light-power',
          description: 'Set Light Power',
          topic: 'homie/5/kitchen-light/light/power/set',
          properties: [power],
          encoding: { kind: 'value', key: 'power', on: 'true', off: 'false' },
          qos: 2,
          retain: false,
        },
        {
          name: 'set-light-brightness',
          description: 'Set Light Brightness',
          topic: 'homie/5/kitchen-light/light/brightness/set',
          properties: [brightness],
          encoding: { kind: 'value', key: 'brightness' },
          qos: 2,
          retain: false,
        },
      ],
      warnings: [],
    });
    assert.match(d.modelKey, /^homie:[0-9a-f]{32}$/);
  });

  it('describes the super car: every datatype of the example, settable ones as commands', () => {
    const acc = new HomieAccumulator();
    const list = messages('homie5-super-car.json');
    // $state "init" first: nothing until the device says it is ready.
    assert.deepEqual(feedAll(acc, list.slice(0, 2)), []);
    assert.equal(devices(feedAll(acc, list.slice(2))).length, 1);
    const d = only(acc);
    assert.equal(d.name, 'Supercar');
    assert.deepEqual(
      d.properties.map((n) => [n.key, n.label, n.properties?.map((p) => [p.key, p.type, p.minimum, p.maximum, p.unit, p.values])]),
      [
        ['wheels', 'Wheels', [['angle', 'number', -45, 45, '°', undefined]]],
        [
          'engine',
          'Car engine',
          [
            ['speed', 'integer', 0, 8000, 'rpm', undefined],
            ['direction', 'enum', undefined, undefined, undefined, ['forward', 'reverse']],
            ['temperature', 'number', -20, 120, '°C', undefined],
          ],
        ],
        [
          'lights',
          'Lights',
          [
            ['intensity', 'integer', 0, 100, '%', undefined],
            ['color', 'string', undefined, undefined, undefined, undefined],
          ],
        ],
      ],
    );
    const temperature = d.properties[1]!.properties![2]!;
    assert.deepEqual({ ...temperature }, { key: 'temperature', label: 'Engine temperature', ...ro, unit: '°C', deviceClass: 'temperature', type: 'number', minimum: -20, maximum: 120 });
    assert.deepEqual(d.commands.map((c) => [c.name, c.topic]), [
      ['set-engine-direction', 'homie/5/super-car/engine/direction/set'],
      ['set-lights-intensity', 'homie/5/super-car/lights/intensity/set'],
      ['set-lights-color', 'homie/5/super-car/lights/color/set'],
    ]);
    assert.deepEqual(d.state.find((s) => s.key === 'temperature'), { topic: 'homie/5/super-car/engine/temperature', path: ['engine', 'temperature'], key: 'temperature', format: 'number' });
    assert.deepEqual(d.state.find((s) => s.key === 'direction')?.format, 'enum');
    assert.match(d.properties[2]!.properties![1]!.description ?? '', /rgb or hsv/);
  });

  it('makes a child device follow its root: a lost root means a lost child', () => {
    const acc = new HomieAccumulator();
    assert.deepEqual(devices(feedAll(acc, messages('homie5-hierarchy.json'))).map((d) => d.hardwareId), ['bridge', 'dualrelay', 'light1', 'light2']);
    const light1 = acc.descriptions().find((d) => d.hardwareId === 'light1')!;
    assert.deepEqual(light1.availability?.topics, [
      { topic: 'homie/5/light1/$state', online: 'ready', offline: 'lost', format: 'text', moreOffline: ['disconnected'] },
      { topic: 'homie/5/bridge/$state', online: 'ready', offline: 'lost', format: 'text', moreOnline: ['init', 'disconnected', 'sleeping'] },
    ]);
    assert.equal(acc.descriptions().find((d) => d.hardwareId === 'bridge')!.availability?.topics.length, 1);
    assert.deepEqual(light1.commands.map((c) => c.name), ['set-relay-power']);
  });

  it('yields again when the description changes, not when it is repeated', () => {
    const acc = new HomieAccumulator();
    const list = messages('homie5-kitchen-light.json');
    feedAll(acc, list);
    const doc = JSON.parse(list[1]!.payload) as { version: number; name: string };
    assert.deepEqual(acc.feed('homie/5/kitchen-light/$description', list[1]!.payload), []);
    assert.deepEqual(acc.feed('homie/5/kitchen-light/$state', 'ready'), []);
    const renamed = devices(acc.feed('homie/5/kitchen-light/$description', JSON.stringify({ ...doc, version: 2, name: 'Pantry light' })));
    assert.deepEqual(renamed.map((d) => d.name), ['Pantry light']);
  });

  it('removes a device on an empty $state, and forgets it', () => {
    const acc = new HomieAccumulator();
    feedAll(acc, messages('homie5-kitchen-light.json'));
    assert.deepEqual(acc.feed('homie/5/kitchen-light/$state', ''), [{ kind: 'removed', deviceId: 'kitchen-light' }]);
    assert.deepEqual(acc.descriptions(), []);
    assert.deepEqual(acc.feed('homie/5/kitchen-light/$state', ''), []);
  });

  it('rejects bad ids, other versions, malformed and oversized descriptions', () => {
    const acc = new HomieAccumulator({ limits: { maxDescriptionBytes: 2000 } });
    const reject = (topic: string, payload: string): HomieUpdate[] => [...acc.feed(topic.replace('$description', '$state'), 'ready'), ...acc.feed(topic, payload)];
    const codes = [
      reject('homie/5/Kitchen/$description', '{}'),
      reject('homie/5/a/$description', JSON.stringify({ homie: '4.0', version: 1 })),
      reject('homie/5/b/$description', '{"homie":'),
      reject('homie/5/c/$description', JSON.stringify({ homie: '5.0' })),
      reject('homie/5/d/$description', JSON.stringify({ homie: '5.0', version: 1, name: 'x'.repeat(3000) })),
      reject('homie/5/e/$description', JSON.stringify({ homie: '5.0', version: 1, root: 'Not An Id' })),
    ].map((u) => u.map((x) => (x.kind === 'rejected' ? x.code : x.kind)));
    assert.deepEqual(codes, [['bad_id', 'bad_id'], ['unsupported_version'], ['not_json'], ['invalid_description'], ['too_large'], ['invalid_description']]);
    assert.deepEqual(acc.descriptions(), []);
  });

  it('accepts a corrected description after a rejection', () => {
    const acc = new HomieAccumulator();
    acc.feed('homie/5/x/$state', 'ready');
    assert.equal(acc.feed('homie/5/x/$description', '{')[0]?.kind, 'rejected');
    assert.equal(acc.feed('homie/5/x/$description', JSON.stringify({ homie: '5.0', version: 2 }))[0]?.kind, 'device');
  });

  it('leaves out, with warnings, properties with an unknown datatype or illegal format, and illegal ids', () => {
    const r = homie5Description('homie', 'dev', {
      homie: '5.0',
      version: 1,
      nodes: {
        n: {
          properties: {
            ok: { datatype: 'float', format: ':10:0.5' },
            weird: { datatype: 'quaternion' },
            range: { datatype: 'integer', format: '10:1' },
            steps: { datatype: 'integer', format: '1.5:2' },
            e: { datatype: 'enum', format: 'a,,b' },
            dup: { datatype: 'enum', format: 'a,a' },
            c: { datatype: 'color', format: 'cmyk' },
            Bad: { datatype: 'string' },
          },
        },
        'Bad-Node': { properties: {} },
      },
    });
    assert.ok(r.ok);
    assert.deepEqual(r.description.properties.map((n) => n.properties?.map((p) => [p.key, p.maximum, p.step])), [[['ok', 10, 0.5]]]);
    assert.equal(r.description.warnings.length, 8);
  });

  it('maps every datatype to a type and a payload format', () => {
    const datatypes = ['integer', 'float', 'boolean', 'string', 'enum', 'color', 'datetime', 'duration', 'json'];
    const props = Object.fromEntries(datatypes.map((t) => [t, { datatype: t, ...(t === 'enum' ? { format: 'a,b' } : t === 'color' ? { format: 'xyz' } : {}), retained: t !== 'string' }]));
    const r = homie5Description('homie', 'dev', { homie: '5.0', version: 1, nodes: { n: { properties: props } } });
    assert.ok(r.ok);
    assert.deepEqual(r.description.warnings, []);
    assert.deepEqual(
      r.description.properties[0]!.properties!.map((p) => [p.key, p.type]),
      [['integer', 'integer'], ['float', 'number'], ['boolean', 'boolean'], ['string', 'string'], ['enum', 'enum'], ['color', 'string'], ['datetime', 'string'], ['duration', 'string'], ['json', 'json']],
    );
    assert.deepEqual(r.description.state.map((s) => s.format), ['number', 'number', 'boolean', 'text', 'enum', 'text', 'text', 'text', 'json']);
    assert.equal(r.description.state[3]!.emptyValue, '\u0000', 'Homie 5: one 0x00 byte is the empty string');
    assert.equal(r.description.properties[0]!.properties![3]!.momentary, true, 'a non-retained property is momentary');
  });

  it('publishes commands for non-retained properties with QoS 0', () => {
    const r = homie5Description('homie', 'coffee', { homie: '5.0', version: 1, nodes: { machine: { properties: { brew: { datatype: 'boolean', settable: true, retained: false } } } } });
    assert.ok(r.ok);
    assert.deepEqual(r.description.commands.map((c) => [c.name, c.qos, c.retain]), [['set-machine-brew', 0, false]]);
  });
});

describe('Homie 4', () => {
  it('gathers the super car attribute by attribute, and yields it only once complete', () => {
    const acc = new HomieAccumulator();
    const list = messages('homie4-super-car.json');
    const fromSpec = list.filter((m) => m.from.startsWith('spec'));
    // The spec lists wheels and lights, and speed and direction, without describing them: not complete.
    assert.deepEqual(feedAll(acc, fromSpec), []);
    const updates = feedAll(acc, list.filter((m) => m.from === 'added'));
    assert.ok(devices(updates).length >= 1);
    const d = only(acc);
    assert.equal(d.name, 'Super car');
    assert.deepEqual(d.availability, {
      topics: [{ topic: 'homie/super-car/$state', online: 'ready', offline: 'lost', format: 'text', moreOffline: ['disconnected'], moreOnline: ['alert'] }],
      mode: 'all',
      sleeping: 'sleeping',
    });
    const engine = d.properties.find((n) => n.key === 'engine')!;
    assert.equal(engine.label, 'Car engine');
    assert.deepEqual(engine.properties!.find((p) => p.key === 'temperature'), { key: 'temperature', label: 'Engine temperature', ...ro, unit: '°C', deviceClass: 'temperature', type: 'number', minimum: -20, maximum: 120 });
    assert.deepEqual(d.state.find((s) => s.key === 'temperature')?.topic, 'homie/super-car/engine/temperature');
    assert.deepEqual(d.commands.map((c) => [c.name, c.topic, c.qos]), [
      ['set-engine-direction', 'homie/super-car/engine/direction/set', 1],
      ['set-lights-intensity', 'homie/super-car/lights/intensity/set', 1],
      ['set-lights-color', 'homie/super-car/lights/color/set', 1],
    ]);
  });

  it('yields the same description whatever order the retained messages arrive in', () => {
    const list = messages('homie4-super-car.json');
    const forward = new HomieAccumulator();
    feedAll(forward, list);
    const backward = new HomieAccumulator();
    feedAll(backward, [...list].reverse());
    const interleaved = new HomieAccumulator();
    feedAll(interleaved, [...list.filter((_, i) => i % 2 === 1), ...list.filter((_, i) => i % 2 === 0)]);
    assert.deepEqual(only(backward), only(forward));
    assert.deepEqual(only(interleaved), only(forward));
  });

  it('describes the kitchen light with a settable boolean', () => {
    const acc = new HomieAccumulator();
    feedAll(acc, messages('homie4-kitchen-light.json'));
    const d = only(acc);
    const power: Property = { key: 'power', label: 'Power', ...rw, deviceClass: 'power', type: 'boolean' };
    assert.deepEqual(d.properties, [{ key: 'light', label: 'Light', type: 'object', properties: [power], readable: true, settable: false, gettable: false }]);
    assert.deepEqual(d.commands, [
      {
        name: 'set-light-power',
        description: 'Set Light Power',
        topic: 'homie/kitchen-light/light/power/set',
        properties: [power],
        encoding: { kind: 'value', key: 'power', on: 'true', off: 'false' },
        qos: 1,
        retain: false,
      },
    ]);
    assert.deepEqual(d.state, [{ topic: 'homie/kitchen-light/light/power', path: ['light', 'power'], key: 'power', format: 'boolean', trueValue: 'true', falseValue: 'false' }]);
  });

  it('waits while $state is init, and for the format of an enum', () => {
    const acc = new HomieAccumulator();
    const base = [
      ['homie/fan/$homie', '4.0.0'],
      ['homie/fan/$state', 'init'],
      ['homie/fan/$nodes', 'motor'],
      ['homie/fan/motor/$properties', 'speed'],
      ['homie/fan/motor/speed/$datatype', 'enum'],
    ] as const;
    for (const [t, p] of base) assert.deepEqual(acc.feed(t, p), []);
    assert.deepEqual(acc.feed('homie/fan/$state', 'ready'), [], 'the enum has no format yet');
    const u = acc.feed('homie/fan/motor/speed/$format', 'low, high');
    assert.equal(u.length, 1);
    assert.deepEqual(devices(u)[0]!.properties[0]!.properties![0]!.values, ['low', 'high'], 'Homie 4 enum values are trimmed');
    assert.equal(devices(u)[0]!.name, 'fan', 'without $name the id is the name');
  });

  it('removes a device when $homie is cleared', () => {
    const acc = new HomieAccumulator();
    feedAll(acc, messages('homie4-kitchen-light.json'));
    assert.deepEqual(acc.feed('homie/kitchen-light/$homie', ''), [{ kind: 'removed', deviceId: 'kitchen-light' }]);
    assert.deepEqual(acc.descriptions(), []);
  });

  it('rejects other versions and devices whose attributes exceed the byte limit', () => {
    const acc = new HomieAccumulator({ limits: { maxDeviceBytes: 1000 } });
    acc.feed('homie/old/$homie', '3.0.1');
    acc.feed('homie/old/$state', 'ready');
    assert.deepEqual(acc.feed('homie/old/$nodes', ''), []);
    assert.deepEqual(acc.feed('homie/old/$nodes', 'a').map((u) => u.kind === 'rejected' && u.code), ['unsupported_version']);
    const big = acc.feed('homie/big/$name', 'x'.repeat(2000));
    assert.deepEqual(big.map((u) => u.kind === 'rejected' && u.code), ['too_large']);
    assert.deepEqual(acc.feed('homie/big/$name', 'x'.repeat(2000)), [], 'reported once');
  });
});

describe('Homie accumulator limits and noise', () => {
  it('tracks at most maxDevices devices', () => {
    const acc = new HomieAccumulator({ limits: { maxDevices: 2 } });
    acc.feed('homie/5/a/$state', 'ready');
    acc.feed('homie/b/$homie', '4.0.0');
    assert.deepEqual(acc.feed('homie/5/c/$state', 'ready').map((u) => u.kind === 'rejected' && u.code), ['too_many_devices']);
    acc.feed('homie/5/a/$state', '');
    assert.deepEqual(acc.feed('homie/5/c/$state', 'ready'), [], 'room again once a device is removed');
  });

  it('refuses more nodes or properties than allowed', () => {
    const nodes = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`n${i}`, { properties: {} }]));
    const r = homie5Description('homie', 'd', { homie: '5.0', version: 1, nodes }, { maxDevices: 1, maxNodes: 4, maxPropertiesPerNode: 1, maxDescriptionBytes: 1e6, maxDeviceBytes: 1e6 });
    assert.deepEqual(!r.ok && r.code, 'too_large');
  });

  it('ignores property values, $target, other domains, unknown attributes and payloads that are not UTF-8', () => {
    const acc = new HomieAccumulator();
    const noise: [string, string | Uint8Array][] = [
      ['homie/5/kitchen-light/light/power', 'true'],
      ['homie/5/kitchen-light/light/brightness/$target', '100'],
      ['homie/5/kitchen-light/$log/warn', 'battery low'],
      ['other/5/x/$state', 'ready'],
      ['homie/x/$implementation', 'esp8266'],
      ['homie/x', 'y'],
      ['homie/5/x/$state', new Uint8Array([0xff, 0xfe])],
    ];
    for (const [t, p] of noise) assert.deepEqual(acc.feed(t, p), [], t);
    assert.deepEqual(acc.descriptions(), []);
  });

  it('works under another domain, and lists the filters to subscribe', () => {
    const acc = new HomieAccumulator({ domain: 'devices' });
    acc.feed('devices/5/k/$state', 'ready');
    const u = acc.feed('devices/5/k/$description', JSON.stringify({ homie: '5.0', version: 1, nodes: { n: { properties: { p: { datatype: 'integer', settable: true } } } } }));
    assert.equal(devices(u)[0]?.commands[0]?.topic, 'devices/5/k/n/p/set');
    assert.deepEqual(acc.filters().slice(0, 3), ['devices/5/+/$state', 'devices/5/+/$description', 'devices/+/$homie']);
    assert.ok(acc.filters().includes('devices/+/+/+/$datatype'));
  });
});
