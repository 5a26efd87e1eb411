/**
 * Zigbee2MQTT importer: real `bridge/devices` payloads of Zigbee2MQTT 1.42.0 and 2.9.2 (test/fixtures/importers/
 * zigbee2mqtt, see its README for the sources), entries left out, options, bridge/info, events, and list diffs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { diffDevices } from '../../src/importers/diff.js';
import type { DeviceDescription, Property } from '../../src/importers/model.js';
import {
  describeZigbee2MqttDevice,
  importZigbee2MqttDevices,
  parseBridgeEvent,
  parseRenameResponse,
  zigbee2mqttSettings,
  type Zigbee2MqttImport,
} from '../../src/importers/zigbee2mqtt.js';
import { packageRoot } from '../../src/version.js';

const FIXTURES = join(packageRoot(), 'test/fixtures/importers/zigbee2mqtt');
const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));

function imported(payload: Buffer | string, options = {}): Zigbee2MqttImport {
  const r = importZigbee2MqttDevices(payload, options);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  return r.value;
}

function device(list: Zigbee2MqttImport, name: string): DeviceDescription {
  const d = list.devices.find((x) => x.name === name);
  assert.ok(d, `no device ${name}`);
  return d;
}

function prop(d: DeviceDescription, key: string): Property {
  const p = d.properties.find((x) => x.key === key);
  assert.ok(p, `no property ${key}`);
  return p;
}

/** A minimal 2.x entry with the given exposes. */
function entry(over: Record<string, unknown> = {}, exposes: unknown[] = []): Record<string, unknown> {
  return {
    ieee_address: '0x00000000000000aa',
    type: 'EndDevice',
    friendly_name: 'probe',
    supported: true,
    disabled: false,
    interview_state: 'SUCCESSFUL',
    definition: { source: 'native', model: 'M1', vendor: 'V', description: 'probe', exposes, options: [] },
    ...over,
  };
}

describe('Zigbee2MQTT importer: bridge/devices of 2.9.2', () => {
  const list = imported(fixture('bridge-devices-2.9.2.json'));

  it('imports every device but the coordinator, with nothing skipped', () => {
    assert.deepEqual(
      list.devices.map((d) => d.name),
      ['bulb', 'bulb_color_2', 'remote', '0x0017880104e45518', 'button', 'weather_sensor', 'power_plug', 'zigfred_plus', '0x000b57fffec6a5c2'],
    );
    assert.deepEqual(list.skipped, []);
  });

  it('describes the weather sensor completely', () => {
    const d = device(list, 'weather_sensor');
    const diag = { category: 'diagnostic', diagnostic: true } as const;
    const ro = { readable: true, settable: false, gettable: false } as const;
    assert.deepEqual(d, {
      source: 'zigbee2mqtt',
      hardwareId: '0x0017880104e45522',
      name: 'weather_sensor',
      manufacturer: 'Aqara',
      model: 'WSDCGQ11LM',
      modelKey: d.modelKey,
      properties: [
        { key: 'battery', label: 'Battery', description: 'Remaining battery in %, can take up to 24 hours before reported', ...ro, deviceClass: 'battery', ...diag, type: 'number', unit: '%', minimum: 0, maximum: 100 },
        { key: 'temperature', label: 'Temperature', description: 'Measured temperature value', ...ro, deviceClass: 'temperature', type: 'number', unit: '°C' },
        { key: 'humidity', label: 'Humidity', description: 'Measured relative humidity', ...ro, deviceClass: 'humidity', type: 'number', unit: '%' },
        { key: 'pressure', label: 'Pressure', description: 'The measured atmospheric pressure', ...ro, deviceClass: 'pressure', type: 'number', unit: 'hPa' },
        { key: 'voltage', label: 'Voltage', description: 'Voltage of the battery in millivolts', ...ro, deviceClass: 'voltage', ...diag, type: 'number', unit: 'mV' },
        { key: 'linkquality', label: 'Linkquality', description: 'Link quality (signal strength)', ...ro, deviceClass: 'linkquality', ...diag, type: 'number', unit: 'lqi', minimum: 0, maximum: 255 },
      ],
      state: [{ topic: 'zigbee2mqtt/weather_sensor', format: 'json' }],
      availability: { topics: [{ topic: 'zigbee2mqtt/weather_sensor/availability', online: 'online', offline: 'offline', format: 'json' }], mode: 'latest' },
      commands: [],
      warnings: [],
    });
    assert.match(d.modelKey, /^zigbee2mqtt:[0-9a-f]{32}$/);
  });

  it('flattens a light: binary with ON/OFF/TOGGLE, numeric ranges, presets beyond the range, config composites', () => {
    const d = device(list, 'bulb');
    assert.deepEqual(
      d.properties.map((p) => p.key),
      ['state', 'brightness', 'color_temp', 'color_temp_startup', 'level_config', 'effect', 'power_on_behavior', 'color_options', 'identify', 'linkquality'],
    );
    const state = prop(d, 'state');
    assert.equal(state.type, 'boolean');
    assert.deepEqual([state.valueOn, state.valueOff, state.valueToggle], ['ON', 'OFF', 'TOGGLE']);
    assert.deepEqual([state.readable, state.settable, state.gettable], [true, true, true]);
    assert.deepEqual([prop(d, 'brightness').minimum, prop(d, 'brightness').maximum], [0, 254]);
    const startup = prop(d, 'color_temp_startup');
    assert.equal(startup.unit, 'mired');
    assert.deepEqual(startup.extraValues, [65535], 'the "previous" preset lies beyond value_max');
    assert.ok(startup.presets?.some((p) => p.name === 'previous' && p.value === 65535));
    const effect = prop(d, 'effect');
    assert.deepEqual([effect.type, effect.readable, effect.settable], ['enum', false, true]);
    const options = prop(d, 'color_options');
    assert.deepEqual([options.type, options.category, options.diagnostic], ['object', 'config', true]);
    assert.deepEqual(options.properties?.map((p) => p.key), ['execute_if_off']);
  });

  it('merges a colour declared twice (x/y and hue/saturation) into one object', () => {
    const color = prop(device(list, 'bulb_color_2'), 'color');
    assert.equal(color.type, 'object');
    assert.deepEqual(color.properties?.map((p) => p.key), ['x', 'y', 'hue', 'saturation']);
    assert.equal(color.label, 'Color');
    assert.equal(color.description, undefined, 'the two declarations describe different encodings');
    assert.equal(device(list, 'bulb_color_2').properties.filter((p) => p.key === 'color').length, 1);
  });

  it('keeps endpoint properties (state_l1 … l7) with their endpoint', () => {
    const d = device(list, 'zigfred_plus');
    const keys = d.properties.map((p) => p.key);
    for (const k of ['state_l1', 'brightness_l1', 'color_l1', 'state_l5', 'state_l6', 'position_l6', 'tilt_l7']) assert.ok(keys.includes(k), k);
    assert.equal(prop(d, 'position_l6').endpoint, 'l6');
    assert.equal(prop(d, 'position_l6').label, 'Position');
    const set = d.commands.find((c) => c.name === 'set');
    assert.ok(set?.properties.some((p) => p.key === 'state_l6'));
  });

  it('marks action as momentary, and keeps its diagnostic category', () => {
    const action = prop(device(list, 'remote'), 'action');
    assert.deepEqual([action.momentary, action.diagnostic, action.type], [true, true, 'enum']);
    assert.equal(prop(device(list, 'remote'), 'battery').momentary, undefined);
  });

  it('builds set and get commands on <base>/<name>/set and /get', () => {
    const d = device(list, 'power_plug');
    assert.deepEqual(
      d.commands.map((c) => [c.name, c.topic, c.encoding]),
      [
        ['set', 'zigbee2mqtt/power_plug/set', { kind: 'json' }],
        ['get', 'zigbee2mqtt/power_plug/get', { kind: 'keys', key: 'properties' }],
      ],
    );
    assert.deepEqual(d.commands[0]!.properties.map((p) => p.key), ['state', 'power_outage_memory']);
    const field = d.commands[1]!.properties[0]!;
    assert.equal(field.key, 'properties');
    assert.deepEqual(field.items?.values, ['state', 'power', 'power_outage_memory']);
    assert.deepEqual(device(list, 'weather_sensor').commands, [], 'a sensor with nothing settable or gettable has no commands');
  });

  it('imports a device Zigbee2MQTT does not support natively, with a warning', () => {
    const d = device(list, '0x0017880104e45518');
    assert.equal(d.model, 'notSupportedModelID');
    assert.equal(d.warnings.length, 1);
    assert.match(d.warnings[0]!, /not supported natively/);
  });

  it('gives devices with equal exposes one model key, and others another', () => {
    assert.equal(device(list, 'bulb').modelKey, device(list, '0x000b57fffec6a5c2').modelKey);
    assert.notEqual(device(list, 'bulb').modelKey, device(list, 'bulb_color_2').modelKey);
    assert.equal(new Set(list.devices.map((d) => d.modelKey)).size, 8);
  });
});

describe('Zigbee2MQTT importer: bridge/devices of 1.42.0', () => {
  it('imports the 1.x list (interview_completed, no interview_state) with text availability when asked', () => {
    const list = imported(fixture('bridge-devices-1.42.0.json'), { availability: 'text' });
    assert.equal(list.devices.length, 9);
    assert.deepEqual(list.skipped, []);
    const d = device(list, 'weather_sensor');
    assert.deepEqual(d.availability, { topics: [{ topic: 'zigbee2mqtt/weather_sensor/availability', online: 'online', offline: 'offline', format: 'text' }], mode: 'latest' });
    assert.deepEqual(
      d.properties.map((p) => p.key),
      ['battery', 'temperature', 'humidity', 'pressure', 'voltage', 'linkquality'],
    );
  });

  it('gives an unchanged definition the same model key in both versions (key order does not matter)', () => {
    const v1 = imported(fixture('bridge-devices-1.42.0.json'));
    const v2 = imported(fixture('bridge-devices-2.9.2.json'));
    assert.equal(device(v1, 'weather_sensor').modelKey, device(v2, 'weather_sensor').modelKey);
  });
});

describe('Zigbee2MQTT importer: options', () => {
  const payload = JSON.stringify([entry({ friendly_name: 'kitchen/floor light' }, [{ type: 'binary', name: 'contact', property: 'contact', access: 1, value_on: false, value_off: true }])]);

  it('uses the base topic, and names with "/" and spaces as they are', () => {
    const d = imported(payload, { baseTopic: 'z2m/home' }).devices[0]!;
    assert.deepEqual(d.state, [{ topic: 'z2m/home/kitchen/floor light', format: 'json' }]);
    assert.equal(d.availability?.topics[0]?.topic, 'z2m/home/kitchen/floor light/availability');
  });

  it('leaves availability out when Zigbee2MQTT publishes none, with per-device overrides both ways', () => {
    assert.equal(imported(payload, { availability: false }).devices[0]!.availability, undefined);
    assert.ok(imported(payload, { availability: false, availabilityByDevice: { '0x00000000000000aa': true } }).devices[0]!.availability);
    assert.equal(imported(payload, { availability: 'json', availabilityByDevice: { '0x00000000000000aa': false } }).devices[0]!.availability, undefined);
    assert.ok(imported(payload, { availabilityByDevice: { constructor: false } }).devices[0]!.availability, 'only own keys count');
  });

  it('keeps inverted boolean values of a binary (contact: value_on false)', () => {
    const p = imported(payload).devices[0]!.properties[0]!;
    assert.deepEqual([p.type, p.valueOn, p.valueOff], ['boolean', false, true]);
  });

  it('refuses a base topic with wildcards', () => {
    const r = importZigbee2MqttDevices(payload, { baseTopic: 'zigbee2mqtt/#' });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.code, 'PAYLOAD_INVALID');
  });
});

describe('Zigbee2MQTT importer: entries left out', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['disabled', { disabled: true }, 'disabled'],
    ['2.x interview pending', { interview_state: 'PENDING' }, 'not_interviewed'],
    ['2.x interview in progress', { interview_state: 'IN_PROGRESS' }, 'not_interviewed'],
    ['1.x interviewing', { interview_state: undefined, interviewing: true, interview_completed: false }, 'not_interviewed'],
    ['1.x not interviewed', { interview_state: undefined, interviewing: false, interview_completed: false }, 'not_interviewed'],
    ['failed interview without definition', { interview_state: 'FAILED', definition: null }, 'interview_failed'],
    ['1.x unsupported (definition null)', { supported: false, definition: null }, 'unsupported'],
    ['name ending in /set', { friendly_name: 'lamp/set' }, 'bad_name'],
    ['name on the bridge topics', { friendly_name: 'bridge/devices' }, 'bad_name'],
    ['name with a wildcard', { friendly_name: 'lamp+1' }, 'bad_name'],
    ['name ending in /<digits>', { friendly_name: 'lamp/2' }, 'bad_name'],
    ['name with a control character', { friendly_name: 'lamp\u0000' }, 'bad_name'],
    ['exposes not a list', { definition: { model: 'M', exposes: {} } }, 'malformed'],
    ['no IEEE address', { ieee_address: undefined }, 'malformed'],
  ];
  for (const [what, over, reason] of cases) {
    it(`${what} → ${reason}`, () => {
      const r = describeZigbee2MqttDevice(entry(over));
      assert.ok(r && 'reason' in r, `expected a skip, got ${JSON.stringify(r)}`);
      assert.equal(r.reason, reason);
    });
  }

  it('leaves the coordinator out silently, and reports the rest of the list', () => {
    const list = imported(
      JSON.stringify([
        { ieee_address: '0x00124b00120144ae', type: 'Coordinator', friendly_name: 'Coordinator', definition: null },
        entry({ disabled: true, ieee_address: '0x01' }),
        entry({ ieee_address: '0x02' }),
        entry({ ieee_address: '0x02', friendly_name: 'twin' }),
        'not an object',
      ]),
    );
    assert.deepEqual(list.devices.map((d) => d.hardwareId), ['0x02']);
    assert.deepEqual(list.skipped.map((s) => s.reason), ['disabled', 'duplicate', 'malformed']);
  });

  it('imports a device whose interview failed but which has a definition, with a warning', () => {
    const d = describeZigbee2MqttDevice(entry({ interview_state: 'FAILED' }, [{ type: 'numeric', name: 'temperature', property: 'temperature', access: 1 }]));
    assert.ok(d && !('reason' in d));
    assert.match(d.warnings.join(' '), /interview failed/);
  });

  it('refuses payloads that are not a JSON array, not JSON, or nested too deeply', () => {
    const codes = ['{"a":1}', '[{', `${'['.repeat(100)}${']'.repeat(100)}`, new Uint8Array([0x5b, 0xff, 0x5d])].map((p) => {
      const r = importZigbee2MqttDevices(p);
      return r.ok ? 'ok' : r.error.code;
    });
    assert.deepEqual(codes, ['PAYLOAD_INVALID', 'PAYLOAD_NOT_JSON', 'PAYLOAD_TOO_DEEP', 'PAYLOAD_NOT_JSON']);
  });
});

describe('Zigbee2MQTT importer: exposes', () => {
  function props(exposes: unknown[]): { properties: readonly Property[]; warnings: readonly string[] } {
    const d = describeZigbee2MqttDevice(entry({}, exposes));
    assert.ok(d && !('reason' in d));
    return { properties: d.properties, warnings: d.warnings };
  }

  it('reads access bits 1/2/4 independently', () => {
    const { properties } = props([1, 2, 3, 4, 5, 6, 7].map((access) => ({ type: 'numeric', name: `n${access}`, property: `n${access}`, access })));
    assert.deepEqual(
      properties.map((p) => [p.readable, p.settable, p.gettable]),
      [
        [true, false, false],
        [false, true, false],
        [true, true, false],
        [false, false, true],
        [true, false, true],
        [false, true, true],
        [true, true, true],
      ],
    );
  });

  it('reads text, list (with item type and lengths), and string presets', () => {
    const { properties, warnings } = props([
      { type: 'text', name: 'hex', property: 'hex', access: 3 },
      {
        type: 'list',
        name: 'schedule',
        property: 'schedule',
        access: 3,
        length_min: 1,
        length_max: 4,
        item_type: { type: 'composite', name: 'slot', access: 3, features: [{ type: 'numeric', name: 'hour', property: 'hour', access: 3, value_min: 0, value_max: 23 }] },
      },
      { type: 'numeric', name: 'on_level', property: 'on_level', access: 7, value_min: 1, value_max: 254, presets: [{ name: 'previous', value: 'previous', description: 'Use previous value' }] },
    ]);
    assert.deepEqual(warnings, []);
    assert.equal(properties[0]!.type, 'string');
    const list = properties[1]!;
    assert.deepEqual([list.type, list.minItems, list.maxItems, list.items?.type, list.items?.key], ['array', 1, 4, 'object', 'slot']);
    assert.deepEqual(list.items?.properties?.map((p) => [p.key, p.maximum]), [['hour', 23]]);
    assert.deepEqual(properties[2]!.extraValues, ['previous']);
    assert.equal(properties[2]!.presets, undefined, 'a preset that is not a number is an extra value only');
  });

  it('imports the features of every specific wrapper, and of an unknown one with a warning', () => {
    const { properties, warnings } = props([
      ...['light', 'switch', 'cover', 'lock', 'fan', 'climate'].map((type) => ({ type, features: [{ type: 'binary', name: 'state', property: `state_${type}`, access: 7, value_on: 'ON', value_off: 'OFF' }] })),
      { type: 'valve', features: [{ type: 'numeric', name: 'position', property: 'valve_position', access: 7 }] },
    ]);
    assert.deepEqual(properties.map((p) => p.key), ['state_light', 'state_switch', 'state_cover', 'state_lock', 'state_fan', 'state_climate', 'valve_position']);
    assert.deepEqual(warnings, ['exposes[6]: unknown expose type "valve"; its features are imported']);
  });

  it('skips, with warnings, what cannot be a property: no property name, __proto__, unknown generic types', () => {
    const { properties, warnings } = props([
      { type: 'numeric', name: 'nameless', access: 1 },
      { type: 'numeric', name: 'x', property: '__proto__', access: 1 },
      { type: 'gauge', name: 'g', property: 'g', access: 1 },
      { type: 'enum', name: 'e', property: 'e', access: 1, values: [] },
      { type: 'numeric', name: 'ok', property: 'ok', access: 1 },
    ]);
    assert.deepEqual(properties.map((p) => [p.key, p.type]), [['e', 'string'], ['ok', 'number']]);
    assert.equal(warnings.length, 4);
  });

  it('merges a key declared twice: access bits or-ed, first type kept, a warning when types differ', () => {
    const { properties, warnings } = props([
      { type: 'climate', features: [{ type: 'numeric', name: 'local_temperature', property: 'local_temperature', access: 5, unit: '°C' }] },
      { type: 'numeric', name: 'local_temperature', property: 'local_temperature', access: 1, unit: '°C' },
      { type: 'enum', name: 'mode', property: 'mode', access: 1, values: ['a'] },
      { type: 'text', name: 'mode', property: 'mode', access: 2 },
    ]);
    assert.deepEqual(properties.map((p) => [p.key, p.type, p.readable, p.settable, p.gettable]), [
      ['local_temperature', 'number', true, false, true],
      ['mode', 'enum', true, true, false],
    ]);
    assert.deepEqual(warnings, ['property "mode" is declared twice with different types (enum, string); the first is used']);
  });
});

describe('Zigbee2MQTT bridge/info → settings', () => {
  const info = (version: string, config: unknown): string => JSON.stringify({ version, commit: 'abc', config });

  it('2.x: availability.enabled, JSON payloads, per-device overrides, base topic', () => {
    const r = zigbee2mqttSettings(info('2.9.2', { mqtt: { base_topic: 'z2m' }, availability: { enabled: true }, devices: { '0x01': { friendly_name: 'a', availability: false }, '0x02': { friendly_name: 'b' } } }));
    assert.deepEqual(r.ok && r.value, { version: '2.9.2', major: 2, baseTopic: 'z2m', availability: 'json', availabilityByDevice: { '0x01': false } });
    const off = zigbee2mqttSettings(info('2.0.0', { availability: { enabled: false } }));
    assert.equal(off.ok && off.value.availability, false);
  });

  it('1.x: availability true or an object; text unless legacy_availability_payload is false', () => {
    const on = zigbee2mqttSettings(info('1.42.0', { availability: true }));
    assert.equal(on.ok && on.value.availability, 'text');
    const json = zigbee2mqttSettings(info('1.42.0', { availability: { active: { timeout: 10 } }, advanced: { legacy_availability_payload: false } }));
    assert.equal(json.ok && json.value.availability, 'json');
    const old = zigbee2mqttSettings(info('1.20.0', { advanced: { availability_timeout: 60 } }));
    assert.equal(old.ok && old.value.availability, 'text');
    const none = zigbee2mqttSettings(info('1.42.0', {}));
    assert.equal(none.ok && none.value.availability, false);
  });

  it('refuses an info without a version', () => {
    const r = zigbee2mqttSettings('{"config":{}}');
    assert.equal(!r.ok && r.error.code, 'PAYLOAD_INVALID');
  });
});

describe('Zigbee2MQTT events', () => {
  it('parses the documented bridge/event examples', () => {
    const events = (JSON.parse(readFileSync(join(FIXTURES, 'bridge-events.json'), 'utf8')) as unknown[]).map((e) => {
      const r = parseBridgeEvent(JSON.stringify(e));
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      return r.value;
    });
    const ieeeAddress = '0x90fd9ffffe6494fc';
    assert.deepEqual(events, [
      { type: 'device_joined', ieeeAddress, friendlyName: ieeeAddress },
      { type: 'device_announce', ieeeAddress, friendlyName: ieeeAddress },
      { type: 'device_interview', status: 'started', ieeeAddress, friendlyName: ieeeAddress },
      { type: 'device_interview', status: 'successful', ieeeAddress, friendlyName: ieeeAddress, supported: true, model: 'LED1624G9', vendor: 'IKEA' },
      { type: 'device_interview', status: 'failed', ieeeAddress, friendlyName: ieeeAddress },
      { type: 'device_leave', ieeeAddress, friendlyName: 'my_bulb' },
    ]);
  });

  it('passes other event types through as "other", and refuses malformed events', () => {
    const other = parseBridgeEvent('{"type":"permit_join_changed","data":{}}');
    assert.deepEqual(other.ok && other.value, { type: 'other', eventType: 'permit_join_changed' });
    for (const bad of ['[]', '{"data":{}}', '{"type":"device_leave"}', '{"type":"device_leave","data":{}}', '{"type":"device_interview","data":{"ieee_address":"0x1","status":"done"}}', 'nope']) {
      assert.equal(parseBridgeEvent(bad).ok, false, bad);
    }
  });

  it('reads a rename from the rename response, and refuses a refused rename', () => {
    const r = parseRenameResponse('{"data":{"from":"0x90fd9ffffe6494fc","to":"kitchen/bulb","homeassistant_rename":false},"status":"ok"}');
    assert.deepEqual(r.ok && r.value, { type: 'device_renamed', from: '0x90fd9ffffe6494fc', to: 'kitchen/bulb' });
    const refused = parseRenameResponse('{"data":{},"status":"error","error":"Friendly name already in use"}');
    assert.equal(refused.ok, false);
    assert.match(!refused.ok ? refused.error.message : '', /already in use/);
  });
});

describe('Device list diff', () => {
  const before = imported(fixture('bridge-devices-2.9.2.json')).devices;

  it('finds nothing between a list and itself', () => {
    const d = diffDevices(before, before);
    assert.deepEqual([d.joined, d.left, d.renamed, d.changed], [[], [], [], []]);
    assert.equal(d.unchanged.length, before.length);
  });

  it('finds joined, left, renamed (same IEEE, new name) and re-interviewed devices', () => {
    const raw = JSON.parse(fixture('bridge-devices-2.9.2.json').toString('utf8')) as Record<string, unknown>[];
    const next = raw
      .filter((e) => e['friendly_name'] !== 'remote')
      .map((e) => {
        if (e['friendly_name'] === 'bulb') return { ...e, friendly_name: 'living/bulb' };
        if (e['friendly_name'] === 'button') {
          const def = e['definition'] as Record<string, unknown>;
          return { ...e, definition: { ...def, exposes: [...(def['exposes'] as unknown[]), { type: 'numeric', name: 'x', property: 'x', access: 1 }] } };
        }
        if (e['friendly_name'] === 'power_plug') return { ...e, software_build_id: '2.0' };
        return e;
      });
    next.push(entry({ ieee_address: '0x00000000000000ff', friendly_name: 'new_sensor' }));
    const d = diffDevices(before, imported(JSON.stringify(next)).devices);
    assert.deepEqual(d.joined.map((x) => x.name), ['new_sensor']);
    assert.deepEqual(d.left.map((x) => x.name), ['remote']);
    assert.deepEqual(d.renamed.map((x) => [x.before.name, x.after.name, x.after.state[0]?.topic]), [['bulb', 'living/bulb', 'zigbee2mqtt/living/bulb']]);
    assert.deepEqual(d.changed.map((x) => [x.after.name, x.what]), [
      ['button', ['definition']],
      ['power_plug', ['identity']],
    ]);
    assert.equal(d.unchanged.length, before.length - 4);
  });

  it('matches hardware ids case-insensitively, and reports moved topics of an unrenamed device', () => {
    const d0 = before[0]!;
    const moved = { ...d0, hardwareId: d0.hardwareId.toUpperCase(), state: [{ topic: 'elsewhere', format: 'json' as const }] };
    const d = diffDevices([d0], [moved]);
    assert.deepEqual([d.joined.length, d.left.length, d.renamed.length], [0, 0, 0]);
    assert.deepEqual(d.changed.map((x) => x.what), [['topics']]);
  });
});
