/**
 * Generated reading schemas, command schemas and bodies, checked with the bridge's own machinery: Ajv from
 * src/schemas/ajv.ts, the chat syntax (src/convert/command-text.ts), XEP-0004 forms (src/convert/form.ts) and the
 * template language (src/mapping/template.ts). Devices come from the real Zigbee2MQTT 2.9.2 `bridge/devices` fixture
 * and the Homie convention examples.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { ValidateFunction } from 'ajv';
import { commandHelp, parseCommandText } from '../../src/convert/command-text.js';
import { formPayload, schemaForm } from '../../src/convert/form.js';
import { bodyFields, bodyTemplate, formatBody } from '../../src/importers/body.js';
import { commandSchema, generate, readingSchema, type JsonSchema } from '../../src/importers/generate.js';
import { HomieAccumulator } from '../../src/importers/homie.js';
import type { CommandDescription, DeviceDescription, Property } from '../../src/importers/model.js';
import { importZigbee2MqttDevices } from '../../src/importers/zigbee2mqtt.js';
import type { CommandSpec } from '../../src/mapping/mapping.js';
import { parseTemplate, pathLookup, renderTemplate } from '../../src/mapping/template.js';
import { parseTopicPattern } from '../../src/mapping/topic-pattern.js';
import { createAjv } from '../../src/schemas/ajv.js';
import { packageRoot } from '../../src/version.js';

const FIXTURES = join(packageRoot(), 'test/fixtures/importers');

const z2m = ((): readonly DeviceDescription[] => {
  const r = importZigbee2MqttDevices(readFileSync(join(FIXTURES, 'zigbee2mqtt/bridge-devices-2.9.2.json')));
  assert.ok(r.ok);
  return r.value.devices;
})();

function z2mDevice(name: string): DeviceDescription {
  const d = z2m.find((x) => x.name === name);
  assert.ok(d, name);
  return d;
}

function homieDevice(file: string, id: string): DeviceDescription {
  const acc = new HomieAccumulator();
  const { messages } = JSON.parse(readFileSync(join(FIXTURES, 'homie', file), 'utf8')) as { messages: { topic: string; payload: string }[] };
  for (const m of messages) acc.feed(m.topic, m.payload);
  const d = acc.descriptions().find((x) => x.hardwareId === id);
  assert.ok(d, id);
  return d;
}

const ajv = createAjv();
const compiled = new Map<string, ValidateFunction>();
function validator(schema: JsonSchema): ValidateFunction {
  const id = schema['$id'] as string;
  let v = compiled.get(id);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(id, v);
  }
  return v;
}

function command(d: DeviceDescription, name: string): CommandDescription {
  const c = d.commands.find((x) => x.name === name);
  assert.ok(c, `${d.name}: no command ${name}`);
  return c;
}

/** The CommandSpec a mapping would hold for a generated command. */
function spec(d: DeviceDescription, c: CommandDescription): CommandSpec {
  const schema = commandSchema(c, d.modelKey);
  const topic = parseTopicPattern('devices/probe/set').pattern;
  assert.ok(topic);
  return { name: c.name, ...(c.description ? { description: c.description } : {}), topic, schema: { id: schema['$id'] as string, file: '', schema, validate: validator(schema) }, qos: 1, retain: false };
}

function valid(schema: JsonSchema, value: unknown): boolean {
  return validator(schema)(value) === true;
}

describe('generated reading schemas', () => {
  it('accept the documented Zigbee2MQTT state payloads and refuse wrong ones', () => {
    const weather = readingSchema(z2mDevice('weather_sensor'));
    assert.equal(weather['$schema'], 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(valid(weather, { temperature: 27.34, humidity: 44.72 }), true);
    assert.equal(valid(weather, { temperature: 'hot' }), false);
    assert.equal(valid(weather, { battery: 101 }), false);
    const bulb = readingSchema(z2mDevice('bulb'));
    // zigbee2mqtt.io, MQTT topics and messages: the state of an IKEA LED1545G12.
    assert.equal(valid(bulb, { state: 'ON', brightness: 215, color_temp: 325 }), true);
    assert.equal(valid(bulb, { state: 'MAYBE' }), false);
    assert.equal(valid(bulb, { brightness: 300 }), false);
    assert.equal(valid(readingSchema(z2mDevice('button')), { action: 'single' }), true);
    assert.equal(valid(readingSchema(z2mDevice('button')), { action: 'twist' }), false);
  });

  it('let devices add keys, and accept null placeholders and the cleared action ""', () => {
    const schema = readingSchema(z2mDevice('remote'));
    assert.equal(schema['additionalProperties'], true);
    assert.equal(valid(schema, { battery: null, action: '', linkquality: 120, last_seen: '2024-01-01T00:00:00Z', update: { state: 'idle' } }), true);
    assert.equal(valid(readingSchema(z2mDevice('weather_sensor')), { temperature: null }), true);
  });

  it('type binaries by their values, and accept preset values beyond the range', () => {
    const plug = readingSchema(z2mDevice('power_plug')) as { properties: Record<string, JsonSchema> };
    assert.deepEqual(plug.properties['state']!['enum'], ['ON', 'OFF', null]);
    assert.deepEqual(plug.properties['power_outage_memory']!['type'], ['boolean', 'null']);
    const bulb = readingSchema(z2mDevice('bulb'));
    assert.equal(valid(bulb, { color_temp_startup: 65535 }), true);
    assert.equal(valid(bulb, { color_temp_startup: 600 }), false);
  });

  it('leave non-readable properties out, and nest composites', () => {
    const bulb = readingSchema(z2mDevice('bulb_color_2')) as { properties: Record<string, JsonSchema> };
    assert.equal(bulb.properties['effect'], undefined, 'effect is settable only');
    assert.deepEqual(Object.keys(bulb.properties['color']!['properties'] as object), ['x', 'y', 'hue', 'saturation']);
    assert.equal(valid(bulb, { color: { x: 0.3, y: 0.4, hex: '#ff0000' } }), true);
    assert.equal(valid(bulb, { color: { x: 'left' } }), false);
  });

  it('are equal for devices of one model key', () => {
    assert.deepEqual(readingSchema(z2mDevice('bulb')), readingSchema(z2mDevice('0x000b57fffec6a5c2')));
  });

  it('describe Homie readings nested by node, booleans as JSON booleans', () => {
    const car = homieDevice('homie5-super-car.json', 'super-car');
    const schema = readingSchema(car);
    assert.equal(valid(schema, { engine: { temperature: 21.5, speed: 3000, direction: 'forward' }, lights: { color: 'rgb,255,0,0' } }), true);
    assert.equal(valid(schema, { engine: { temperature: 130 } }), false, 'format -20:120');
    assert.equal(valid(schema, { engine: { speed: 1.5 } }), false, 'integer');
    assert.equal(valid(schema, { engine: { direction: 'sideways' } }), false);
    const light = readingSchema(homieDevice('homie5-kitchen-light.json', 'kitchen-light'));
    assert.equal(valid(light, { light: { power: true, brightness: 100 } }), true);
    assert.equal(valid(light, { light: { power: 'true' } }), false);
  });

  it('type Homie json values as an object or array, and lists as arrays of their items', () => {
    const p = (over: Partial<Property>): Property => ({ key: 'k', type: 'string', readable: true, settable: false, gettable: false, ...over });
    const schema = readingSchema({
      modelKey: 'test:1',
      properties: [
        p({ key: 'doc', type: 'json' }),
        p({ key: 'list', type: 'array', items: p({ key: 'i', type: 'enum', values: ['a', 'b'] }), minItems: 1, maxItems: 2 }),
      ],
    });
    assert.equal(valid(schema, { doc: { a: 1 }, list: ['a'] }), true);
    assert.equal(valid(schema, { doc: [1] }), true);
    assert.equal(valid(schema, { doc: 1 }), false);
    assert.equal(valid(schema, { list: ['a', 'b', 'a'] }), false, 'three items');
    assert.equal(valid(schema, { list: ['a', 'a'] }), true, 'a device may repeat values in its own list');
    assert.equal(valid(schema, { list: ['c'] }), false);
    assert.equal(valid(schema, { list: [] }), false);
  });
});

describe('generated command schemas', () => {
  it('take the settable fields, refuse unknown ones, and need at least one (json encoding)', () => {
    const bulb = z2mDevice('bulb');
    const set = commandSchema(command(bulb, 'set'), bulb.modelKey);
    assert.equal(set['additionalProperties'], false);
    assert.equal(valid(set, { state: 'TOGGLE', brightness: 254 }), true);
    assert.equal(valid(set, {}), false);
    assert.equal(valid(set, { brigthness: 10 }), false);
    assert.equal(valid(set, { brightness: 255 }), false);
    assert.equal(valid(set, { color_temp_startup: 65535 }), true);
    const colour = z2mDevice('bulb_color_2');
    assert.equal(valid(commandSchema(command(colour, 'set'), colour.modelKey), { color: { hex: '#ff0000' } }), true, 'Zigbee2MQTT accepts more colour forms than it declares');
  });

  it('make get a list of the gettable properties', () => {
    const plug = z2mDevice('power_plug');
    const get = commandSchema(command(plug, 'get'), plug.modelKey);
    assert.deepEqual(get['required'], ['properties']);
    assert.equal(valid(get, { properties: ['state', 'power'] }), true);
    assert.equal(valid(get, { properties: [] }), false);
    assert.equal(valid(get, { properties: ['state', 'state'] }), false);
    assert.equal(valid(get, { properties: ['energy'] }), false, 'energy is not gettable on this plug');
  });

  it('require the one field of a value command (Homie)', () => {
    const light = homieDevice('homie5-kitchen-light.json', 'kitchen-light');
    const power = commandSchema(command(light, 'set-light-power'), light.modelKey);
    assert.deepEqual(power['required'], ['power']);
    assert.equal(valid(power, { power: true }), true);
    assert.equal(valid(power, {}), false);
    assert.equal(valid(power, { power: 'on' }), false);
    const brightness = commandSchema(command(light, 'set-light-brightness'), light.modelKey);
    assert.equal(valid(brightness, { brightness: 101 }), false);
  });

  it('take no fields for a fixed payload', () => {
    const c: CommandDescription = { name: 'press', topic: 't', properties: [], encoding: { kind: 'fixed', payload: 'PRESS' } };
    const s = commandSchema(c, 'test:press');
    assert.equal(valid(s, {}), true);
    assert.equal(valid(s, { x: 1 }), false);
    assert.equal(s['required'], undefined);
  });
});

describe('generated commands in chat', () => {
  it('parse "set state=on brightness=100" into the Zigbee2MQTT /set JSON, valid for the schema', () => {
    const bulb = z2mDevice('bulb');
    const specs = bulb.commands.map((c) => spec(bulb, c));
    const r = parseCommandText('set state=on brightness=100', specs, {});
    assert.equal(r.kind, 'command');
    assert.ok(r.kind === 'command');
    assert.equal(r.json, '{"state":"ON","brightness":100}');
    assert.equal(r.command.schema.validate(JSON.parse(r.json)), true);
    const get = parseCommandText('get properties=state,brightness', specs, {});
    assert.ok(get.kind === 'command');
    assert.equal(get.json, '{"properties":["state","brightness"]}');
    assert.equal(get.command.schema.validate(JSON.parse(get.json)), true);
  });

  it('list the fields with their choices and ranges in help', () => {
    const plug = z2mDevice('power_plug');
    const help = commandHelp('power_plug', plug.commands.map((c) => spec(plug, c)), {});
    assert.match(help, /set \[state=ON\|OFF\|TOGGLE\] \[power_outage_memory=boolean\] — Set one or more values/);
    assert.match(help, /get properties=state\|power\|power_outage_memory,… — Ask the device to report values/);
    const bulb = z2mDevice('bulb');
    assert.match(commandHelp('bulb', bulb.commands.map((c) => spec(bulb, c)), {}), /\[brightness=number\(0\.\.254\)\]/);
  });

  it('parse a Homie command by its name, typing the value', () => {
    const light = homieDevice('homie5-kitchen-light.json', 'kitchen-light');
    const specs = light.commands.map((c) => spec(light, c));
    const r = parseCommandText('set-light-power power=on', specs, {});
    assert.ok(r.kind === 'command');
    assert.equal(r.json, '{"power":true}');
    assert.equal(r.command.schema.validate(JSON.parse(r.json)), true);
  });
});

describe('generated commands as XEP-0004 forms', () => {
  const fieldOf = (form: Element, name: string): Element => {
    const f = form.getChildren('field').find((x) => x.attrs['var'] === name);
    assert.ok(f, name);
    return f;
  };

  it('give choices, ranges, labels with units, and round-trip a submission', () => {
    const bulb = z2mDevice('bulb');
    const schema = commandSchema(command(bulb, 'set'), bulb.modelKey);
    const form = schemaForm(schema, 'bulb: set');
    const state = fieldOf(form, 'state');
    assert.equal(state.attrs['type'], 'list-single');
    assert.deepEqual(state.getChildren('option').map((o) => o.getChildText('value')), ['ON', 'OFF', 'TOGGLE']);
    const brightness = fieldOf(form, 'brightness');
    assert.equal(brightness.attrs['type'], 'text-single');
    const range = brightness.getChild('validate')?.getChild('range');
    assert.deepEqual([range?.attrs['min'], range?.attrs['max']], ['0', '254']);
    assert.equal(fieldOf(form, 'color_temp').attrs['label'], 'Color temp (mired)');
    assert.equal(fieldOf(form, 'color_temp_startup').attrs['type'], 'text-single', 'numbers with extra values are entered as JSON');
    const submit = xml(
      'x',
      { xmlns: 'jabber:x:data', type: 'submit' },
      xml('field', { var: 'state' }, xml('value', {}, 'ON')),
      xml('field', { var: 'brightness' }, xml('value', {}, '128')),
      xml('field', { var: 'color_temp_startup' }, xml('value', {}, '65535')),
    );
    const payload = formPayload(schema, submit);
    assert.ok(payload.ok);
    assert.deepEqual(payload.value, { state: 'ON', brightness: 128, color_temp_startup: 65535 });
    assert.equal(valid(schema, payload.value), true);
  });

  it('offer the gettable properties as a multiple choice', () => {
    const plug = z2mDevice('power_plug');
    const form = schemaForm(commandSchema(command(plug, 'get'), plug.modelKey), 'get');
    const f = fieldOf(form, 'properties');
    assert.equal(f.attrs['type'], 'list-multi');
    assert.ok(f.getChild('required'));
    assert.deepEqual(f.getChildren('option').map((o) => o.getChildText('value')), ['state', 'power', 'power_outage_memory']);
  });

  it('give a Homie boolean a boolean field and its range-checked sibling a number field', () => {
    const light = homieDevice('homie5-kitchen-light.json', 'kitchen-light');
    const power = fieldOf(schemaForm(commandSchema(command(light, 'set-light-power'), light.modelKey), 'power'), 'power');
    assert.equal(power.attrs['type'], 'boolean');
    assert.ok(power.getChild('required'));
    assert.match(power.getChildText('desc') ?? '', /true = on, false = off/);
    const brightness = fieldOf(schemaForm(commandSchema(command(light, 'set-light-brightness'), light.modelKey), 'b'), 'brightness');
    assert.equal(brightness.getChild('validate')?.attrs['datatype'], 'xs:integer');
    assert.equal(brightness.attrs['label'], 'Brightness (%)');
  });
});

describe('generated bodies', () => {
  function template(d: DeviceDescription): string {
    return generate(d).body.template;
  }

  it('read like "Temperature 21.5 °C · Humidity 45 %", without diagnostics', () => {
    assert.equal(template(z2mDevice('weather_sensor')), 'Temperature {temperature} °C · Humidity {humidity} % · Pressure {pressure} hPa');
    assert.equal(template(z2mDevice('power_plug')), 'State {state} · Power {power} W · Energy {energy} kWh');
    assert.equal(template(z2mDevice('button')), 'Action {action}', 'the action event stays although it is filed as diagnostic');
  });

  it('put the most relevant first and stop at six fields', () => {
    assert.equal(template(z2mDevice('zigfred_plus')), 'Action {action} · State l1 {state_l1} · State l2 {state_l2} · State l3 {state_l3} · State l4 {state_l4} · State l5 {state_l5}');
    assert.equal(template(homieDevice('homie5-super-car.json', 'super-car')).split(' · ').length, 6);
    assert.ok(template(homieDevice('homie5-super-car.json', 'super-car')).startsWith('Engine temperature {engine.temperature} °C'));
  });

  it('are templates the mapping loader accepts, rendering a full reading', () => {
    for (const d of [...z2m, homieDevice('homie5-super-car.json', 'super-car')]) {
      const source = template(d);
      const { template: t, errors } = parseTemplate(source, { rich: true });
      assert.deepEqual(errors, [], `${d.name}: ${source}`);
      assert.ok(t);
    }
    const { template: t } = parseTemplate(template(z2mDevice('weather_sensor')), { rich: true });
    assert.equal(renderTemplate(t!, pathLookup({ temperature: 21.5, humidity: 45, pressure: 1013 })), 'Temperature 21.5 °C · Humidity 45 % · Pressure 1013 hPa');
  });

  it('name booleans with words, and leave absent fields out when formatted', () => {
    const contact: Property = { key: 'contact', deviceClass: 'contact', type: 'boolean', valueOn: false, valueOff: true, readable: true, settable: false, gettable: false };
    const temperature: Property = { key: 'temperature', label: 'Temperature', unit: '°C', type: 'number', readable: true, settable: false, gettable: false };
    const fields = bodyFields([contact, temperature]);
    assert.equal(bodyTemplate(fields), 'contact {contact|closed/open} · Temperature {temperature} °C');
    assert.equal(formatBody(fields, { contact: true, temperature: 21.5 }), 'contact closed · Temperature 21.5 °C');
    assert.equal(formatBody(fields, { contact: false }), 'contact open');
    assert.equal(formatBody(fields, { temperature: null, other: 1 }), '');
    const car = homieDevice('homie5-super-car.json', 'super-car');
    assert.equal(formatBody(generate(car).body.fields, { engine: { temperature: 21.5 } }), 'Engine temperature 21.5 °C');
  });

  it('escape braces of labels and units, and leave out what the template language cannot name', () => {
    const p = (over: Partial<Property>): Property => ({ key: 'k', type: 'number', readable: true, settable: false, gettable: false, ...over });
    const fields = bodyFields([p({ key: 'a', label: 'Set {a}', unit: '}' }), p({ key: '1st', label: 'First' }), p({ key: 'b', label: 'Diag', diagnostic: true })]);
    assert.deepEqual(fields.map((f) => f.path.join('.')), ['a', '1st']);
    const source = bodyTemplate(fields);
    assert.equal(source, 'Set {{a}} {a} }}');
    const { template: t, errors } = parseTemplate(source, { rich: true });
    assert.deepEqual(errors, []);
    assert.equal(renderTemplate(t!, pathLookup({ a: 1 })), 'Set {a} 1 }');
    assert.equal(formatBody(fields, { '1st': 2 }), 'First 2');
  });

  it('is empty for a device with nothing to show', () => {
    assert.equal(template(homieDevice('homie5-hierarchy.json', 'bridge')), '');
  });
});
