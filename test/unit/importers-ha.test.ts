/**
 * Home Assistant MQTT discovery → device descriptions (src/importers/homeassistant.ts and its helpers): topic forms,
 * abbreviations, `~`, device-based discovery, availability, every platform, aggregation into one device, removal,
 * hostile payloads, the field-key rule, and the reading of a state message by all the sources of its topic.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { descriptionTopics } from '../../src/importers/description-topics.js';
import { ENTITY_ABBREVIATIONS } from '../../src/importers/ha-abbreviations.js';
import { HomeAssistantDiscovery, type HaFeedOutcome, type HaResult } from '../../src/importers/homeassistant.js';
import type { CommandDescription, DeviceDescription } from '../../src/importers/model.js';
import { readState } from '../../src/importers/state-reading.js';

const DEV = { identifiers: ['dev1'], name: 'Kitchen node', manufacturer: 'ACME', model: 'K1', sw_version: '1.2' };

function feed(ha: HomeAssistantDiscovery, topic: string, payload: unknown): HaResult<HaFeedOutcome> {
  return ha.feed(topic, typeof payload === 'string' ? payload : JSON.stringify(payload));
}

function accepted(ha: HomeAssistantDiscovery, topic: string, payload: unknown): HaFeedOutcome {
  const r = feed(ha, topic, payload);
  assert.ok(r.ok, `expected ${topic} to be accepted: ${r.ok ? '' : `${r.error.code} ${r.error.message}`}`);
  return r.value;
}

function code(r: HaResult<unknown>): string {
  return r.ok ? 'ok' : r.error.code;
}

function only(ha: HomeAssistantDiscovery): DeviceDescription {
  const all = ha.devices();
  assert.equal(all.length, 1, `expected one device, got ${all.map((d) => d.hardwareId).join(', ')}`);
  return all[0]!;
}

function cmd(d: DeviceDescription, name: string): CommandDescription {
  const c = d.commands.find((x) => x.name === name);
  assert.ok(c, `no command ${name} in ${d.commands.map((x) => x.name).join(', ')}`);
  return c;
}

describe('importers: Home Assistant discovery — topics, abbreviations, ~', () => {
  it('accepts <prefix>/<component>/[<node_id>/]<object_id>/config and refuses other topics', () => {
    const ha = new HomeAssistantDiscovery();
    const cfg = { state_topic: 's/t', device: DEV };
    assert.equal(code(feed(ha, 'homeassistant/sensor/obj/config', cfg)), 'ok');
    assert.equal(code(feed(ha, 'homeassistant/sensor/node-1/obj_2/config', cfg)), 'ok');
    for (const t of ['homeassistant/sensor/obj', 'homeassistant/sensor/a/b/c/config', 'homeassistant/sensor/o bj/config', 'other/sensor/obj/config', 'homeassistant/sen-sor/obj/config', 'homeassistant/sensor/obj/config/x']) {
      assert.equal(code(feed(ha, t, cfg)), 'HA_TOPIC', t);
    }
    const custom = new HomeAssistantDiscovery({ prefix: 'ha' });
    assert.equal(code(feed(custom, 'ha/sensor/obj/config', cfg)), 'ok');
    assert.deepEqual(custom.subscriptions(), ['ha/+/+/config', 'ha/+/+/+/config']);
  });

  it('reads abbreviated entity, device, origin and availability keys as the full ones', () => {
    const full = new HomeAssistantDiscovery();
    accepted(full, 'homeassistant/switch/n/relay/config', {
      name: 'Relay',
      state_topic: 'n/relay/state',
      command_topic: 'n/relay/set',
      payload_on: '1',
      payload_off: '0',
      unique_id: 'u1',
      availability: [{ topic: 'n/status', payload_available: 'up', payload_not_available: 'down' }],
      device: { identifiers: ['n1'], name: 'Node', manufacturer: 'M', model: 'X', sw_version: '3' },
      origin: { name: 'fw', sw_version: '1', support_url: 'https://example.invalid' },
    });
    const short = new HomeAssistantDiscovery();
    accepted(short, 'homeassistant/switch/n/relay/config', {
      name: 'Relay',
      stat_t: 'n/relay/state',
      cmd_t: 'n/relay/set',
      pl_on: '1',
      pl_off: '0',
      uniq_id: 'u1',
      avty: [{ t: 'n/status', pl_avail: 'up', pl_not_avail: 'down' }],
      dev: { ids: ['n1'], name: 'Node', mf: 'M', mdl: 'X', sw: '3' },
      o: { name: 'fw', sw: '1', url: 'https://example.invalid' },
    });
    assert.deepEqual(only(short), only(full));
    assert.equal(only(short).manufacturer, 'M');
    assert.deepEqual(only(short).availability, { topics: [{ topic: 'n/status', online: 'up', offline: 'down' }], mode: 'latest' });
  });

  it('holds the abbreviation table of homeassistant/components/mqtt/abbreviations.py, with the keys old firmware sends', () => {
    assert.equal(ENTITY_ABBREVIATIONS.get('stat_t'), 'state_topic');
    assert.equal(ENTITY_ABBREVIATIONS.get('cmps'), 'components');
    assert.equal(ENTITY_ABBREVIATIONS.get('p'), 'platform');
    assert.equal(ENTITY_ABBREVIATIONS.get('o'), 'origin');
    assert.equal(ENTITY_ABBREVIATIONS.get('def_ent_id'), 'default_entity_id');
    assert.equal(ENTITY_ABBREVIATIONS.get('obj_id'), 'object_id');
    assert.equal(ENTITY_ABBREVIATIONS.get('whit_val_cmd_t'), 'white_value_command_topic');
    assert.ok(ENTITY_ABBREVIATIONS.size > 280);
  });

  it('replaces ~ at the start or the end of *_topic values and availability topics, nowhere else', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/switch/x/config', {
      '~': 'home/plug',
      name: 'keep ~ here',
      stat_t: '~/state',
      cmd_t: 'cmd/~',
      avty: [{ t: '~/avail' }],
      dev: { ids: 'p1' },
    });
    const d = only(ha);
    assert.deepEqual(descriptionTopics(d), { state: ['home/plug/state'], commands: ['cmd/home/plug'], availability: ['home/plug/avail'] });
    assert.equal(d.properties[0]!.label, 'keep ~ here');
  });
});

describe('importers: Home Assistant discovery — device-based discovery', () => {
  const deviceConfig = {
    dev: { ids: 'ea334450945afc', name: 'Kitchen', mf: 'Bla electronics', mdl: 'xya', sw: '1.0' },
    o: { name: 'bla2mqtt', sw: '2.1', url: 'https://bla2mqtt.example.com/support' },
    cmps: {
      some_unique_component_id1: { p: 'sensor', device_class: 'temperature', unit_of_measurement: '°C', value_template: '{{ value_json.temperature}}', unique_id: 'temp01ae_t' },
      some_unique_id2: { p: 'sensor', device_class: 'humidity', unit_of_measurement: '%', value_template: '{{ value_json.humidity}}', unique_id: 'temp01ae_h' },
      own_topic: { p: 'binary_sensor', state_topic: 'sensorBedroom/door', unique_id: 'temp01ae_d' },
      a_fan: { p: 'fan', command_topic: 'x/fan', unique_id: 'f' },
    },
    state_topic: 'sensorBedroom/state',
    qos: 2,
    avty_t: 'sensorBedroom/avail',
  };

  it('imports every component as one device; shared options are inherited unless a component sets its own', () => {
    const ha = new HomeAssistantDiscovery();
    const out = accepted(ha, 'homeassistant/device/temp01ae/config', deviceConfig);
    assert.deepEqual(out.changed, ['ea334450945afc']);
    assert.deepEqual(
      out.skipped.map((s) => [s.component, s.code]),
      [['a_fan', 'HA_UNSUPPORTED_PLATFORM']],
    );
    const d = only(ha);
    assert.equal(d.name, 'Kitchen');
    assert.deepEqual(
      d.properties.map((p) => [p.key, p.type, p.unit]),
      [
        ['own_topic', 'boolean', undefined],
        ['some_unique_component_id1', 'number', '°C'],
        ['some_unique_id2', 'number', '%'],
      ],
    );
    assert.deepEqual(descriptionTopics(d), { state: ['sensorBedroom/door', 'sensorBedroom/state'], commands: [], availability: ['sensorBedroom/avail'] });
    assert.deepEqual(ha.stats().unsupportedPlatforms, { fan: 1 });
  });

  it('an empty payload removes every component of the message, and the device with them', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/device/temp01ae/config', deviceConfig);
    const out = accepted(ha, 'homeassistant/device/temp01ae/config', '');
    assert.deepEqual(out.removed, ['ea334450945afc']);
    assert.deepEqual(ha.devices(), []);
  });

  it('refuses a device message without components, without a device, or whose components lack a platform', () => {
    const ha = new HomeAssistantDiscovery();
    assert.equal(code(feed(ha, 'homeassistant/device/x/config', { dev: { ids: 'a' } })), 'HA_INVALID');
    assert.equal(code(feed(ha, 'homeassistant/device/x/config', { cmps: { a: { p: 'sensor', stat_t: 'a' } } })), 'HA_INVALID');
    assert.equal(code(feed(ha, 'homeassistant/device/x/config', { dev: { ids: 'a' }, cmps: { a: { stat_t: 'a' } } })), 'HA_INVALID');
    assert.equal(code(feed(ha, 'homeassistant/device/x/config', { dev: { ids: 'a' }, cmps: { a: { p: 'fan' }, b: { p: 'vacuum' } } })), 'HA_UNSUPPORTED_PLATFORM');
    assert.deepEqual(ha.stats().unsupportedPlatforms, { fan: 1, vacuum: 1 });
  });
});

describe('importers: Home Assistant discovery — platforms', () => {
  it('sensor: a number with its unit and class, text without unit, diagnostic by category; state_topic is required', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/sensor/n/t/config', { stat_t: 'n/t', unit_of_meas: '°C', dev_cla: 'temperature', dev: DEV });
    accepted(ha, 'homeassistant/sensor/n/ssid/config', { stat_t: 'n/ssid', ent_cat: 'diagnostic', dev: DEV });
    accepted(ha, 'homeassistant/sensor/n/mode/config', { stat_t: 'n/mode', dev_cla: 'enum', ops: ['a', 'b'], dev: DEV });
    const d = only(ha);
    assert.deepEqual(
      d.properties.map((p) => ({ key: p.key, type: p.type, unit: p.unit, cls: p.deviceClass, diag: p.diagnostic, values: p.values })),
      [
        { key: 'mode', type: 'enum', unit: undefined, cls: 'enum', diag: undefined, values: ['a', 'b'] },
        { key: 'ssid', type: 'string', unit: undefined, cls: undefined, diag: true, values: undefined },
        { key: 't', type: 'number', unit: '°C', cls: 'temperature', diag: undefined, values: undefined },
      ],
    );
    assert.equal(code(feed(ha, 'homeassistant/sensor/n/bad/config', { dev: DEV })), 'HA_INVALID');
  });

  it('binary_sensor and switch: payload_on/off, state_on/off, and a set command with the on/off payloads', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/binary_sensor/n/door/config', { stat_t: 'n/door', pl_on: 'open', pl_off: 'closed', dev: DEV });
    accepted(ha, 'homeassistant/switch/n/plug/config', { stat_t: 'n/plug', cmd_t: 'n/plug/set', pl_on: 'turn_on', pl_off: 'turn_off', stat_on: 'is_on', stat_off: 'is_off', ret: true, qos: 1, dev: DEV });
    const d = only(ha);
    assert.deepEqual(d.state, [
      { topic: 'n/door', key: 'door', format: 'boolean', trueValue: 'open', falseValue: 'closed' },
      { topic: 'n/plug', key: 'plug', format: 'boolean', trueValue: 'is_on', falseValue: 'is_off' },
    ]);
    assert.deepEqual(cmd(d, 'set-plug'), {
      name: 'set-plug',
      topic: 'n/plug/set',
      properties: [{ key: 'plug', type: 'boolean', readable: false, settable: true, gettable: false }],
      encoding: { kind: 'value', key: 'plug', on: 'turn_on', off: 'turn_off' },
      qos: 1,
      retain: true,
    });
    assert.deepEqual(readState(d, 'n/door', 'open').values, { door: true });
    assert.deepEqual(readState(d, 'n/plug', 'is_off').values, { plug: false });
    assert.deepEqual(readState(d, 'n/plug', 'turn_on').values, {}); // neither state text: no value
  });

  it('light, default schema: on/off and brightness, with their own topics and templates', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/light/n/lamp/config', {
      cmd_t: 'n/lamp/set',
      stat_t: 'n/lamp/state',
      stat_val_tpl: '{{ value_json.s }}',
      bri_cmd_t: 'n/lamp/bri/set',
      bri_cmd_tpl: '{"b": {{ value }}}',
      bri_stat_t: 'n/lamp/state',
      bri_val_tpl: '{{ value_json.b }}',
      bri_scl: 100,
      dev: DEV,
    });
    const d = only(ha);
    assert.deepEqual(
      d.properties.map((p) => [p.key, p.type, p.minimum, p.maximum]),
      [
        ['lamp', 'boolean', undefined, undefined],
        ['lamp_brightness', 'integer', 0, 100],
      ],
    );
    assert.deepEqual(cmd(d, 'set-lamp').encoding, { kind: 'value', key: 'lamp', on: 'ON', off: 'OFF' });
    assert.deepEqual(cmd(d, 'set-lamp_brightness').encoding, { kind: 'template', key: 'lamp_brightness', template: '{"b": {{ value }}}' });
    assert.deepEqual(readState(d, 'n/lamp/state', '{"s":"ON","b":40}').values, { lamp: true, lamp_brightness: 40 });
  });

  it('light, json schema: the state object as one field, one JSON command with the settable features', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/light/n/strip/config', {
      schema: 'json',
      cmd_t: 'n/strip/set',
      stat_t: 'n/strip',
      supported_color_modes: ['color_temp', 'xy'],
      brightness: true,
      brightness_scale: 254,
      effect: true,
      effect_list: ['blink', 'none'],
      dev: DEV,
    });
    const d = only(ha);
    assert.equal(d.properties[0]!.type, 'object');
    assert.deepEqual(
      d.properties[0]!.properties!.map((p) => p.key),
      ['state', 'brightness', 'color_temp', 'color', 'color_mode', 'effect'],
    );
    const c = cmd(d, 'set-strip');
    assert.deepEqual(c.encoding, { kind: 'json' });
    assert.deepEqual(
      c.properties.map((p) => [p.key, p.type, p.maximum]),
      [
        ['state', 'enum', undefined],
        ['brightness', 'integer', 254],
        ['color_temp', 'integer', 500],
        ['color', 'object', undefined],
        ['effect', 'enum', undefined],
      ],
    );
    assert.deepEqual(readState(d, 'n/strip', '{"state":"ON","brightness":9}').values, { strip: { state: 'ON', brightness: 9 } });
  });

  it('number and select: ranges, options, command templates', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/number/n/level/config', { stat_t: 'n/level', cmd_t: 'n/level/set', min: 0.5, max: 10, step: 0.5, unit_of_meas: 'bar', cmd_tpl: '{"level": {{ value }}}', dev: DEV });
    accepted(ha, 'homeassistant/select/n/mode/config', { stat_t: 'n/mode', cmd_t: 'n/mode/set', ops: ['eco', 'comfort'], dev: DEV });
    const d = only(ha);
    const level = d.properties.find((p) => p.key === 'level')!;
    assert.deepEqual([level.type, level.minimum, level.maximum, level.step, level.unit, level.settable], ['number', 0.5, 10, 0.5, 'bar', true]);
    assert.deepEqual(cmd(d, 'set-level').encoding, { kind: 'template', key: 'level', template: '{"level": {{ value }}}' });
    assert.deepEqual(d.properties.find((p) => p.key === 'mode')!.values, ['eco', 'comfort']);
    assert.deepEqual(cmd(d, 'set-mode').encoding, { kind: 'value', key: 'mode' });
    assert.equal(code(feed(ha, 'homeassistant/select/n/bad/config', { cmd_t: 'n/x', dev: DEV })), 'HA_INVALID');
    assert.equal(code(feed(ha, 'homeassistant/number/n/bad/config', { cmd_t: 'n/x', min: 5, max: 1, dev: DEV })), 'HA_INVALID');
  });

  it('button: a press command with its fixed payload, a constant command template rendered once', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/button/n/reboot/config', { cmd_t: 'n/reboot', name: 'Reboot', dev: DEV });
    accepted(ha, 'homeassistant/button/n/beep/config', { cmd_t: 'n/beep', pl_prs: 'go', cmd_tpl: '{"action": "{{ value }}"}', dev: DEV });
    const d = only(ha);
    assert.deepEqual(d.properties, []);
    assert.deepEqual(cmd(d, 'press-reboot').encoding, { kind: 'fixed', payload: 'PRESS' });
    assert.equal(cmd(d, 'press-reboot').description, 'Reboot');
    assert.deepEqual(cmd(d, 'press-beep').encoding, { kind: 'fixed', payload: '{"action": "go"}' });
  });

  it('climate: mode, target and current temperature, fan mode, action; commands on their topics', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/climate/n/hvac/config', {
      mode_cmd_t: 'n/hvac/mode/set',
      mode_stat_t: 'n/hvac/mode',
      modes: ['off', 'heat'],
      temp_cmd_t: 'n/hvac/target/set',
      temp_stat_t: 'n/hvac/target',
      curr_temp_t: 'n/hvac/current',
      fan_mode_cmd_t: 'n/hvac/fan/set',
      fan_mode_stat_t: 'n/hvac/fan',
      fan_modes: ['low', 'high'],
      act_t: 'n/hvac/action',
      min_temp: 5,
      max_temp: 30,
      temp_step: 0.5,
      temp_unit: 'C',
      dev: DEV,
    });
    const d = only(ha);
    assert.deepEqual(
      d.properties.map((p) => [p.key, p.type, p.settable, p.unit ?? null]),
      [
        ['hvac_mode', 'enum', true, null],
        ['hvac_temperature', 'number', true, '°C'],
        ['hvac_current_temperature', 'number', false, '°C'],
        ['hvac_fan_mode', 'enum', true, null],
        ['hvac_action', 'string', false, null],
      ],
    );
    assert.deepEqual(
      d.commands.map((c) => [c.name, c.topic]),
      [
        ['set-hvac_mode', 'n/hvac/mode/set'],
        ['set-hvac_temperature', 'n/hvac/target/set'],
        ['set-hvac_fan_mode', 'n/hvac/fan/set'],
      ],
    );
    const t = d.properties.find((p) => p.key === 'hvac_temperature')!;
    assert.deepEqual([t.minimum, t.maximum, t.step], [5, 30, 0.5]);
  });

  it('cover: open/close/stop payloads (null disables one), position with set_position_template over `position`', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/cover/n/blind/config', {
      cmd_t: 'n/blind/set',
      stat_t: 'n/blind/state',
      pl_stop: null,
      pos_t: 'n/blind/pos',
      set_pos_t: 'n/blind/pos/set',
      set_pos_tpl: '{"position": {{ position }}}',
      dev: DEV,
    });
    const d = only(ha);
    assert.deepEqual(
      d.commands.map((c) => [c.name, c.encoding]),
      [
        ['open-blind', { kind: 'fixed', payload: 'OPEN' }],
        ['close-blind', { kind: 'fixed', payload: 'CLOSE' }],
        ['set-blind_position', { kind: 'template', key: 'blind_position', template: '{"position": {{ position }}}', aliases: ['position'] }],
      ],
    );
    assert.deepEqual(
      d.properties.map((p) => [p.key, p.type, p.minimum, p.maximum]),
      [
        ['blind', 'string', undefined, undefined],
        ['blind_position', 'integer', 0, 100],
      ],
    );
  });

  it('lock: lock/unlock (and open when announced) commands, the state as text', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/lock/n/door/config', { cmd_t: 'n/door/set', stat_t: 'n/door', pl_open: 'OPEN', pl_lock: 'L', dev: DEV });
    const d = only(ha);
    assert.deepEqual(
      d.commands.map((c) => [c.name, c.encoding]),
      [
        ['lock-door', { kind: 'fixed', payload: 'L' }],
        ['unlock-door', { kind: 'fixed', payload: 'UNLOCK' }],
        ['open-door', { kind: 'fixed', payload: 'OPEN' }],
      ],
    );
    assert.equal(d.properties[0]!.type, 'string');
    assert.deepEqual(readState(d, 'n/door', 'LOCKED').values, { door: 'LOCKED' });
  });

  it('counts the platforms it does not import', () => {
    const ha = new HomeAssistantDiscovery();
    for (const p of ['fan', 'vacuum', 'fan', 'alarm_control_panel']) assert.equal(code(feed(ha, `homeassistant/${p}/n/x/config`, { cmd_t: 'a', dev: DEV })), 'HA_UNSUPPORTED_PLATFORM');
    assert.deepEqual(ha.stats().unsupportedPlatforms, { fan: 2, vacuum: 1, alarm_control_panel: 1 });
    assert.deepEqual(ha.stats().rejected, { HA_UNSUPPORTED_PLATFORM: 4 });
  });
});

describe('importers: Home Assistant discovery — availability', () => {
  it('availability lists with their mode, payloads and templates; availability_topic with the entity payloads', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/sensor/n/a/config', {
      stat_t: 'n/a',
      avty_mode: 'all',
      avty: [{ t: 'bridge/state', val_tpl: '{{ value_json.state }}' }, { t: 'n/avail', pl_avail: '1', pl_not_avail: '0' }],
      dev: DEV,
    });
    assert.deepEqual(only(ha).availability, {
      topics: [
        { topic: 'bridge/state', online: 'online', offline: 'offline', template: '{{ value_json.state }}' },
        { topic: 'n/avail', online: '1', offline: '0' },
      ],
      mode: 'all',
    });
    const single = new HomeAssistantDiscovery();
    accepted(single, 'homeassistant/sensor/n/b/config', { stat_t: 'n/b', avty_t: 'n/lwt', pl_avail: 'Online', pl_not_avail: 'Offline', avty_mode: 'any', dev: DEV });
    assert.deepEqual(only(single).availability, { topics: [{ topic: 'n/lwt', online: 'Online', offline: 'Offline' }], mode: 'any' });
    assert.equal(code(feed(single, 'homeassistant/sensor/n/c/config', { stat_t: 'n/c', avty_t: 'n/l', avty_mode: 'most', dev: DEV })), 'HA_INVALID');
    assert.equal(code(feed(single, 'homeassistant/sensor/n/c/config', { stat_t: 'n/c', avty: [{ pl_avail: 'x' }], dev: DEV })), 'HA_INVALID');
  });

  it('a device without availability topics has none', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/sensor/n/a/config', { stat_t: 'n/a', dev: DEV });
    assert.equal(only(ha).availability, undefined);
  });
});

describe('importers: Home Assistant discovery — one device from many entities', () => {
  it('groups entities by identifiers and by connections; the hardware id is identifiers[0], never the name', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/sensor/a/config', { stat_t: 's/a', uniq_id: 'a', dev: { ids: ['X1', 'alt'], name: 'Box', cns: [['mac', 'AA:BB:CC:DD:EE:FF']] } });
    accepted(ha, 'homeassistant/sensor/b/config', { stat_t: 's/b', uniq_id: 'b', dev: { ids: ['alt'] } });
    accepted(ha, 'homeassistant/sensor/c/config', { stat_t: 's/c', uniq_id: 'c', dev: { cns: [['mac', 'aa:bb:cc:dd:ee:ff']] } });
    accepted(ha, 'homeassistant/sensor/d/config', { stat_t: 's/d', uniq_id: 'd', dev: { ids: ['Y'], name: 'Other' } });
    const [x, y] = ha.devices();
    assert.deepEqual(
      [x!.hardwareId, x!.name, x!.properties.map((p) => p.key)],
      ['X1', 'Box', ['a', 'b', 'c']],
    );
    assert.deepEqual([y!.hardwareId, y!.name], ['Y', 'Other']);
    // Renaming the device changes the name only.
    const out = accepted(ha, 'homeassistant/sensor/a/config', { stat_t: 's/a', uniq_id: 'a', dev: { ids: ['X1', 'alt'], name: 'Renamed', cns: [['mac', 'AA:BB:CC:DD:EE:FF']] } });
    assert.deepEqual(out.changed, ['X1']);
    assert.equal(ha.device('X1')!.name, 'Renamed');
  });

  it('without a device block, the unique_id names a device of its own; without either, it is refused', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/sensor/a/config', { stat_t: 's/a', uniq_id: 'solo', name: 'Solo' });
    assert.deepEqual([only(ha).hardwareId, only(ha).name], ['solo', 'Solo']);
    assert.equal(code(feed(ha, 'homeassistant/sensor/b/config', { stat_t: 's/b', name: 'nobody' })), 'HA_NO_IDENTITY');
  });

  it('an empty retained config removes its entity; the device goes with its last entity', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/sensor/n/a/config', { stat_t: 's/a', dev: DEV });
    accepted(ha, 'homeassistant/sensor/n/b/config', { stat_t: 's/b', dev: DEV });
    assert.deepEqual(accepted(ha, 'homeassistant/sensor/n/a/config', ''), { changed: ['dev1'], removed: [], skipped: [] });
    assert.deepEqual(only(ha).properties.map((p) => p.key), ['b']);
    assert.deepEqual(ha.feed('homeassistant/sensor/n/b/config', new Uint8Array(0)), { ok: true, value: { changed: [], removed: ['dev1'], skipped: [] } });
    assert.deepEqual(ha.devices(), []);
    assert.deepEqual(accepted(ha, 'homeassistant/sensor/n/b/config', ''), { changed: [], removed: [], skipped: [] });
    assert.equal(ha.stats().removals, 2);
  });

  it('moving an entity to another device updates both', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/sensor/n/a/config', { stat_t: 's/a', dev: { ids: 'one' } });
    accepted(ha, 'homeassistant/sensor/n/b/config', { stat_t: 's/b', dev: { ids: 'one' } });
    const out = accepted(ha, 'homeassistant/sensor/n/b/config', { stat_t: 's/b', dev: { ids: 'two' } });
    assert.deepEqual([...out.changed].sort(), ['one', 'two']);
    assert.deepEqual(
      ha.devices().map((d) => [d.hardwareId, d.properties.map((p) => p.key)]),
      [
        ['one', ['a']],
        ['two', ['b']],
      ],
    );
  });

  it('re-sending the same config changes nothing', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/sensor/n/a/config', { stat_t: 's/a', dev: DEV });
    assert.deepEqual(accepted(ha, 'homeassistant/sensor/n/a/config', { stat_t: 's/a', dev: DEV }).changed, []);
  });

  it('field keys: the object id without its node id or device identifier prefix, snake case, clashes suffixed', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/sensor/522851_ENERGY_Today/config', { stat_t: 's/1', dev: { ids: ['522851'] } });
    accepted(ha, 'homeassistant/sensor/node7/node7-Power-W/config', { stat_t: 's/2', dev: { ids: ['522851'] } });
    accepted(ha, 'homeassistant/binary_sensor/power_w/config', { stat_t: 's/3', dev: { ids: ['522851'] } });
    accepted(ha, 'homeassistant/sensor/E8DB84D1E2D4-tempc/config', { stat_t: 's/4', dev: { ids: ['E8:DB:84:D1:E2:D4', '522851'] } });
    assert.deepEqual(
      only(ha).properties.map((p) => p.key),
      // In discovery-id order ("binary_sensor …" first): the sensor that clashes with the binary sensor gets the suffix.
      ['power_w', 'energy_today', 'tempc', 'power_w_sensor'],
    );
  });

  it('two entities of one state topic set their fields from one message (one reading)', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/sensor/n/t/config', { stat_t: 'n/state', val_tpl: '{{ value_json.t | float | round(1) }}', unit_of_meas: '°C', dev: DEV });
    accepted(ha, 'homeassistant/sensor/n/h/config', { stat_t: 'n/state', val_tpl: '{{ value_json.h }}', unit_of_meas: '%', dev: DEV });
    accepted(ha, 'homeassistant/binary_sensor/n/low/config', { stat_t: 'n/state', val_tpl: "{{ 'ON' if value_json.batt < 10 else 'OFF' }}", dev: DEV });
    const d = only(ha);
    assert.deepEqual(readState(d, 'n/state', '{"t":"21.46","h":40,"batt":5}'), { values: { h: 40, low: true, t: 21.5 }, problems: [] });
    // A message with some keys only sets those fields.
    assert.deepEqual(readState(d, 'n/state', '{"h":41}'), { values: { h: 41 }, problems: [] });
    assert.deepEqual(readState(d, 'n/state', '{"t":"warm"}').problems.map((p) => [p.key, p.code]), [['t', 'STATE_TEMPLATE']]);
  });
});

describe('importers: Home Assistant discovery — templates outside the subset', () => {
  it('drops the source that uses one, keeps the rest of the entity, counts the construct', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/switch/n/s/config', { stat_t: 'n/s', val_tpl: "{{ states('x') }}", cmd_t: 'n/s/set', dev: DEV });
    const d = only(ha);
    assert.deepEqual(d.state, []);
    assert.deepEqual(d.commands.map((c) => c.name), ['set-s']);
    assert.match(d.warnings.join('\n'), /value_template not used \(TEMPLATE_UNSUPPORTED/);
    assert.deepEqual(ha.stats().unsupportedTemplates, { "function 'states'": 1 });
  });

  it('refuses an entity left with nothing to read or set', () => {
    const ha = new HomeAssistantDiscovery();
    const r = feed(ha, 'homeassistant/sensor/n/s/config', { stat_t: 'n/s', val_tpl: '{% for x in value_json %}{{x}}{% endfor %}', dev: DEV });
    assert.deepEqual(r.ok ? 'ok' : [r.error.code, r.error.detail], ['HA_TEMPLATE_UNSUPPORTED', "tag 'for'"]);
    assert.deepEqual(ha.stats().unsupportedTemplates, { "tag 'for'": 1 });
  });

  it('does not send raw values to a device whose command template it cannot render', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, 'homeassistant/number/n/x/config', { stat_t: 'n/x', cmd_t: 'n/x/set', cmd_tpl: '{{ value | regex_replace("a","b") }}', dev: DEV });
    assert.deepEqual(only(ha).commands, []);
  });
});

describe('importers: Home Assistant discovery — hostile payloads', () => {
  const T = 'homeassistant/sensor/n/x/config';

  it('refuses what is not a JSON object, too large or too deep, with its code', () => {
    const ha = new HomeAssistantDiscovery({ maxPayloadBytes: 1000 });
    assert.equal(code(feed(ha, T, 'not json')), 'HA_NOT_JSON');
    assert.equal(code(feed(ha, T, '[1,2]')), 'HA_NOT_OBJECT');
    assert.equal(code(feed(ha, T, '"text"')), 'HA_NOT_OBJECT');
    assert.equal(code(feed(ha, T, 'null')), 'HA_NOT_OBJECT');
    assert.equal(code(feed(ha, T, JSON.stringify({ stat_t: 'a', pad: 'x'.repeat(2000), dev: DEV }))), 'HA_PAYLOAD_TOO_LARGE');
    let deep: unknown = 1;
    for (let i = 0; i < 40; i += 1) deep = { d: deep };
    assert.equal(code(feed(ha, T, { stat_t: 'a', deep, dev: DEV })), 'HA_NOT_OBJECT');
    assert.equal(code(ha.feed(T, new Uint8Array([0xff, 0xfe, 0x7b]))), 'HA_NOT_JSON');
  });

  it('refuses topics with wildcards, NUL, $ system topics, empty or absurdly long ones, and non-string topics', () => {
    const ha = new HomeAssistantDiscovery();
    for (const t of ['a/+/b', 'a/#', '#', 'a\u0000b', '$SYS/broker/x', '', 'x'.repeat(1025)]) {
      assert.equal(code(feed(ha, T, { stat_t: t, dev: DEV })), 'HA_TOPIC_INVALID', JSON.stringify(t.slice(0, 20)));
    }
    assert.equal(code(feed(ha, 'homeassistant/switch/n/x/config', { stat_t: 'ok', cmd_t: 'dev/+/set', dev: DEV })), 'HA_TOPIC_INVALID');
    assert.equal(code(feed(ha, 'homeassistant/switch/n/x/config', { cmd_t: 'ok', avty: [{ t: 'a/#' }], dev: DEV })), 'HA_TOPIC_INVALID');
    assert.equal(code(feed(ha, T, { stat_t: 42, dev: DEV })), 'HA_TOPIC_INVALID');
    assert.equal(code(feed(ha, T, { '~': 'a/+', stat_t: '~/x', dev: DEV })), 'HA_TOPIC_INVALID');
    assert.deepEqual(ha.devices(), []);
  });

  it('refuses options of the wrong type', () => {
    const ha = new HomeAssistantDiscovery();
    assert.equal(code(feed(ha, T, { stat_t: 'a', name: { x: 1 }, dev: DEV })), 'HA_INVALID');
    assert.equal(code(feed(ha, T, { stat_t: 'a', dev: 'x' })), 'HA_INVALID');
    assert.equal(code(feed(ha, T, { stat_t: 'a', dev: { ids: [{}] } })), 'HA_INVALID');
    assert.equal(code(feed(ha, T, { stat_t: 'a', dev: { ids: 'a', cns: [['mac']] } })), 'HA_INVALID');
    assert.equal(code(feed(ha, 'homeassistant/number/n/x/config', { cmd_t: 'a', min: 'low', dev: DEV })), 'HA_INVALID');
    assert.equal(code(feed(ha, 'homeassistant/switch/n/x/config', { cmd_t: 'a', qos: 7, dev: DEV })), 'HA_INVALID');
    assert.equal(code(feed(ha, T, { stat_t: 'a', val_tpl: 5, dev: DEV })), 'HA_INVALID');
    assert.equal(code(feed(ha, T, { stat_t: 'a', name: 'n'.repeat(300), dev: DEV })), 'HA_INVALID');
  });

  it('a "__proto__" key is an ordinary key: nothing is polluted', () => {
    const ha = new HomeAssistantDiscovery();
    accepted(ha, T, '{"stat_t":"a","__proto__":{"polluted":true},"dev":{"ids":"p","__proto__":{"polluted":true}},"avty":[{"t":"b","__proto__":{"x":1}}]}');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(only(ha).hardwareId, 'p');
    const d = only(ha);
    assert.deepEqual(readState(d, 'a', '{"__proto__":{"x":1}}').values, { x: '{"__proto__":{"x":1}}' });
  });

  it('bounds components per message, entities per device and entities overall', () => {
    const ha = new HomeAssistantDiscovery({ maxComponents: 3, maxEntitiesPerDevice: 2, maxEntities: 3 });
    const cmps = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`c${i}`, { p: 'sensor', stat_t: `s/${i}` }]));
    assert.equal(code(feed(ha, 'homeassistant/device/d/config', { dev: { ids: 'd' }, cmps })), 'HA_LIMIT');
    accepted(ha, 'homeassistant/sensor/a/config', { stat_t: 's/a', dev: { ids: 'one' } });
    accepted(ha, 'homeassistant/sensor/b/config', { stat_t: 's/b', dev: { ids: 'one' } });
    assert.equal(code(feed(ha, 'homeassistant/sensor/c/config', { stat_t: 's/c', dev: { ids: 'one' } })), 'HA_LIMIT');
    assert.deepEqual(only(ha).properties.map((p) => p.key), ['a', 'b']); // the refused entity left no trace
    accepted(ha, 'homeassistant/sensor/c/config', { stat_t: 's/c', dev: { ids: 'two' } });
    assert.equal(code(feed(ha, 'homeassistant/sensor/d/config', { stat_t: 's/d', dev: { ids: 'three' } })), 'HA_LIMIT');
    assert.deepEqual(ha.stats().rejected, { HA_LIMIT: 3 });
  });

  it('never throws and keeps its state consistent, whatever the payload (property test)', () => {
    const keys = [...ENTITY_ABBREVIATIONS.keys(), 'device', 'dev', 'availability', 'cmps', '~', '__proto__', 'constructor'];
    const anyValue = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }), fc.jsonValue({ maxDepth: 3 }));
    const config = fc.dictionary(fc.constantFrom(...keys), anyValue, { maxKeys: 12 });
    const topic = fc.tuple(fc.constantFrom('sensor', 'binary_sensor', 'switch', 'light', 'number', 'select', 'button', 'climate', 'cover', 'lock', 'device', 'fan'), fc.constantFrom('a', 'b', 'n/a')).map(([c, o]) => `homeassistant/${c}/${o}/config`);
    fc.assert(
      fc.property(fc.array(fc.tuple(topic, fc.oneof(config.map((c) => JSON.stringify(c)), fc.string({ maxLength: 30 }), fc.constant(''))), { maxLength: 12 }), (messages) => {
        const ha = new HomeAssistantDiscovery();
        for (const [t, p] of messages) {
          const r = ha.feed(t, p);
          if (!r.ok) assert.match(r.error.code, /^HA_/);
          for (const d of ha.devices()) {
            assert.ok(d.hardwareId.length > 0);
            for (const s of descriptionTopics(d).state.concat(descriptionTopics(d).commands)) assert.ok(!/[+#]/.test(s) && !s.includes('\u0000'), s);
          }
        }
        // Removing every topic leaves nothing behind.
        for (const [t] of messages) ha.feed(t, '');
        assert.deepEqual(ha.devices(), []);
      }),
      { numRuns: 1500 },
    );
  });
});
