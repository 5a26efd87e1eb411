/**
 * The corpus: real discovery payloads as ESPHome, Tasmota (legacy Home Assistant discovery and native discovery),
 * Zigbee2MQTT's Home Assistant output, zwave-js-ui and OpenMQTTGateway publish them
 * (test/fixtures/importers/corpus/<publisher>/*.json, each citing where it came from), fed to the importers, each
 * with the device it must yield. Prints its coverage: "N payloads, M imported as expected".
 *
 * The Homie payloads of the corpus (corpus/homie/) belong to the Homie importer and are not fed here.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { HomeAssistantDiscovery } from '../../src/importers/homeassistant.js';
import type { DeviceDescription, PropertyType } from '../../src/importers/model.js';
import { readState } from '../../src/importers/state-reading.js';
import { TasmotaDiscovery } from '../../src/importers/tasmota.js';

const CORPUS = join(process.cwd(), 'test/fixtures/importers/corpus');

interface Fixture {
  readonly publisher: string;
  readonly source: string;
  readonly messages: readonly { readonly topic: string; readonly payload: string }[];
}

interface ExpectedDevice {
  readonly hardwareId: string;
  readonly name: string;
  readonly manufacturer?: string;
  readonly model?: string;
  /** Every field, with its type; `*` marks a diagnostic field. */
  readonly properties: Readonly<Record<string, PropertyType | `${PropertyType}*`>>;
  readonly commands: readonly string[];
  /** Availability topics and mode; undefined: the device announces none. */
  readonly availability?: { readonly topics: readonly string[]; readonly mode: 'all' | 'any' | 'latest' };
}

interface Case {
  readonly file: string;
  /** Per message: `ok`, or the code it must be refused with. */
  readonly outcomes: readonly string[];
  readonly devices: readonly ExpectedDevice[];
  /** State messages of the same devices (quoted from the cited source where marked, else built from the fields the
   * discovery templates read) and the fields they must set. */
  readonly readings?: readonly { readonly topic: string; readonly payload: string; readonly values: Record<string, unknown> }[];
}

const Z2M_AVAILABILITY = { topics: ['zigbee2mqtt/bridge/state'], mode: 'latest' } as const;

const CASES: readonly Case[] = [
  {
    file: 'esphome/c3-debug-pressure-voltage.json',
    outcomes: ['ok'],
    devices: [
      {
        hardwareId: '6055f97b55e0',
        name: 'c3-debug-7b55e0',
        manufacturer: 'espressif',
        model: 'airm2m_core_esp32c3',
        properties: { pressure_voltage: 'number' },
        commands: [],
        availability: { topics: ['c3-debug/status'], mode: 'latest' },
      },
    ],
  },
  {
    file: 'esphome/livingroom-node.json',
    outcomes: ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'HA_UNSUPPORTED_PLATFORM'],
    devices: [
      {
        hardwareId: 'c8c9a3f1e2d4',
        name: 'Living Room',
        manufacturer: 'Espressif',
        model: 'esp32dev',
        properties: {
          temperature: 'number',
          motion: 'boolean',
          relay: 'boolean',
          ceiling_light: 'object',
          fan_speed: 'integer',
          heating_mode: 'enum',
          thermostat_mode: 'enum',
          thermostat_temperature: 'number',
          thermostat_current_temperature: 'number',
          thermostat_action: 'string',
          garage_door: 'string',
          front_door: 'string',
          wifi_ssid: 'string*',
        },
        commands: [
          'set-relay',
          'set-ceiling_light',
          'set-fan_speed',
          'set-heating_mode',
          'press-restart',
          'set-thermostat_mode',
          'set-thermostat_temperature',
          'open-garage_door',
          'close-garage_door',
          'stop-garage_door',
          'lock-front_door',
          'unlock-front_door',
        ],
        availability: { topics: ['livingroom/status'], mode: 'latest' },
      },
    ],
    readings: [
      { topic: 'livingroom/sensor/temperature/state', payload: '21.4', values: { temperature: 21.4 } },
      { topic: 'livingroom/binary_sensor/motion/state', payload: 'ON', values: { motion: true } },
      { topic: 'livingroom/light/ceiling_light/state', payload: '{"state":"ON","brightness":128}', values: { ceiling_light: { state: 'ON', brightness: 128 } } },
    ],
  },
  {
    file: 'tasmota-ha-legacy/gosund-sp1-energy.json',
    outcomes: ['ok', 'ok'],
    devices: [
      {
        hardwareId: '522851',
        name: '522851',
        properties: { energy_today: 'number', energy_yesterday: 'number' },
        commands: [],
        availability: { topics: ['tasmota01/tele/LWT'], mode: 'latest' },
      },
    ],
    readings: [
      {
        // The ENERGY object as a Tasmota plug writes it (arendst/Tasmota#9267).
        topic: 'tasmota01/tele/SENSOR',
        payload:
          '{"Time":"2020-10-17T18:56:16.440+02:00","ENERGY":{"TotalStartTime":"2020-01-17T19:18:31","Total":261.244,"Yesterday":1.737,"Today":1.163,"Power":76.200,"ApparentPower":131.265,"ReactivePower":106.900,"Factor":0.58,"Voltage":231.100,"Current":0.568}}',
        values: { energy_today: 1.163, energy_yesterday: 1.737 },
      },
    ],
  },
  {
    file: 'tasmota-ha-legacy/garden02-relays.json',
    outcomes: ['ok', 'ok', 'ok'],
    devices: [
      {
        hardwareId: 'D04DF5',
        name: 'D04DF5',
        properties: { rl_1: 'boolean', rl_2: 'boolean', rl_3: 'boolean' },
        commands: ['set-rl_1', 'set-rl_2', 'set-rl_3'],
        availability: { topics: ['XefilHome/GARDEN02/LWT'], mode: 'latest' },
      },
    ],
    readings: [{ topic: 'XefilHome/GARDEN02/STATE', payload: '{"POWER1":"ON","POWER2":"OFF","POWER3":"ON"}', values: { rl_1: true, rl_2: false, rl_3: true } }],
  },
  { file: 'tasmota-ha-legacy/led1-cw-light-2018.json', outcomes: ['HA_NO_IDENTITY'], devices: [] },
  {
    file: 'tasmota-ha-legacy/ledunia2-rgb-light.json',
    outcomes: ['ok'],
    devices: [
      {
        hardwareId: 'C523C3',
        name: 'Ledunia2',
        manufacturer: 'Tasmota',
        model: 'Generic',
        properties: { li_1: 'boolean', li_1_brightness: 'integer' },
        commands: ['set-li_1', 'set-li_1_brightness'],
        availability: { topics: ['ledunia2/tele/LWT'], mode: 'latest' },
      },
    ],
  },
  {
    file: 'tasmota-ha-legacy/desk-bulb-light.json',
    outcomes: ['ok'],
    devices: [
      {
        hardwareId: 'A0424B',
        name: 'desk',
        properties: { li_1: 'boolean', li_1_brightness: 'integer' },
        commands: ['set-li_1', 'set-li_1_brightness'],
        availability: { topics: ['desk/tele/LWT'], mode: 'latest' },
      },
    ],
    readings: [
      {
        // The state message quoted in home-assistant/core#39811.
        topic: 'desk/tele/STATE',
        payload:
          '{"Time":"2020-09-08T18:07:56","Uptime":"0T00:15:13","UptimeSec":913,"Heap":25,"SleepMode":"Dynamic","Sleep":10,"LoadAvg":99,"MqttCount":1,"POWER":"ON","Dimmer":100,"Color":"0,0,0,59,196","HSBColor":"338,0,0","White":100,"CT":420,"Channel":[0,0,0,23,77],"Scheme":0,"Fade":"OFF","Speed":3,"LedTable":"OFF"}',
        values: { li_1: true, li_1_brightness: 100 },
      },
    ],
  },
  {
    file: 'tasmota-ha-legacy/ds18b20-id-sensor.json',
    outcomes: ['ok'],
    devices: [
      {
        hardwareId: 'ED76DA',
        name: 'nodeMCU Test DS18B20-2 Id',
        properties: { ds18b20_2_id: 'string' },
        commands: [],
        availability: { topics: ['DVES_ED76DA/tele/LWT'], mode: 'latest' },
      },
    ],
    readings: [
      {
        // The SENSOR message of the same web log (arendst/Tasmota#6447).
        topic: 'DVES_ED76DA/tele/SENSOR',
        payload:
          '{"Time":"2019-09-19T11:02:33","DS18B20-1":{"Id":"000006DDD0F5","Temperature":22.1},"DS18B20-2":{"Id":"01144FC4C9AA","Temperature":20.6},"DS18B20-3":{"Id":"01144FD2BEAA","Temperature":20.4},"DS18B20-4":{"Id":"01144FEE20AA","Temperature":20.4},"TempUnit":"C"}',
        values: { ds18b20_2_id: '01144FC4C9AA' },
      },
    ],
  },
  {
    file: 'tasmota-native/h801-rgbcw-light.json',
    outcomes: ['ok'],
    devices: [
      {
        hardwareId: '84F3EBE0DB68',
        name: 'Tasmota',
        manufacturer: 'Tasmota',
        model: 'H801',
        properties: { light1: 'boolean', light1_dimmer: 'integer', light1_ct: 'integer', light1_color: 'string' },
        commands: ['set-light1', 'set-light1_dimmer', 'set-light1_ct', 'set-light1_color'],
        availability: { topics: ['tele/h801kuchnia/LWT'], mode: 'latest' },
      },
    ],
  },
  {
    file: 'tasmota-native/thermostat-bme280.json',
    outcomes: ['ok', 'TASMOTA_NOT_JSON'],
    devices: [
      {
        hardwareId: '240AC4319FBC',
        name: 'thermostat',
        manufacturer: 'Tasmota',
        model: 'thermostat',
        properties: { power1: 'boolean', power2: 'boolean', power3: 'boolean', power4: 'boolean', switch2: 'boolean' },
        commands: ['set-power1', 'set-power2', 'set-power3', 'set-power4'],
        availability: { topics: ['tele/thermostat_Up/LWT'], mode: 'latest' },
      },
    ],
  },
  {
    file: 'zigbee2mqtt-ha/weather-sensor-wsdcgq11lm.json',
    outcomes: ['ok', 'ok', 'ok', 'ok', 'ok'],
    devices: [
      {
        hardwareId: 'zigbee2mqtt_0x0017880104e45522',
        name: 'weather_sensor',
        manufacturer: 'Aqara',
        model: 'Temperature and humidity sensor',
        properties: { temperature: 'number', humidity: 'number', pressure: 'number', battery: 'number*', linkquality: 'number*' },
        commands: [],
        availability: Z2M_AVAILABILITY,
      },
    ],
  },
  {
    file: 'zigbee2mqtt-ha/wall-switch-double-qbkg03lm.json',
    outcomes: ['ok', 'ok'],
    devices: [
      {
        hardwareId: 'zigbee2mqtt_0x0017880104e45542',
        name: 'wall_switch_double',
        manufacturer: 'Aqara',
        model: 'Smart wall switch (no neutral, double rocker)',
        properties: { switch_left: 'boolean', switch_right: 'boolean' },
        commands: ['set-switch_left', 'set-switch_right'],
        availability: Z2M_AVAILABILITY,
      },
    ],
  },
  {
    file: 'zigbee2mqtt-ha/bulb-led1545g12.json',
    outcomes: ['ok'],
    devices: [
      {
        hardwareId: 'zigbee2mqtt_0x000b57fffec6a5b2',
        name: 'bulb',
        manufacturer: 'IKEA',
        model: 'TRADFRI bulb E26/E27, white spectrum, globe, opal, 980 lm',
        properties: { light: 'object' },
        commands: ['set-light'],
        availability: Z2M_AVAILABILITY,
      },
    ],
  },
  {
    file: 'zigbee2mqtt-ha/thermostat-ts0601.json',
    outcomes: ['ok'],
    devices: [
      {
        hardwareId: 'zigbee2mqtt_0x0017882104a44559',
        name: 'TS0601_thermostat',
        manufacturer: 'Tuya',
        model: 'Radiator valve with thermostat',
        properties: {
          climate_mode: 'enum',
          climate_temperature: 'number',
          climate_current_temperature: 'number',
          climate_preset_mode: 'enum',
          climate_action: 'string',
        },
        commands: ['set-climate_mode', 'set-climate_temperature', 'set-climate_preset_mode'],
        availability: Z2M_AVAILABILITY,
      },
    ],
    readings: [
      {
        topic: 'zigbee2mqtt/TS0601_thermostat',
        payload: '{"system_mode":"heat","current_heating_setpoint":21.5,"local_temperature":19.5,"preset":"manual","running_state":"heat"}',
        // action_template maps running_state through a dict it builds with {% set %}.
        values: { climate_mode: 'heat', climate_temperature: 21.5, climate_current_temperature: 19.5, climate_preset_mode: 'manual', climate_action: 'heating' },
      },
    ],
  },
  {
    file: 'zigbee2mqtt-ha/radiator-bth-ra-number.json',
    outcomes: ['ok'],
    devices: [
      {
        hardwareId: 'zigbee2mqtt_0x18fc2600000d7ae2',
        name: 'bosch_radiator',
        manufacturer: 'Bosch',
        model: 'Radiator thermostat II',
        properties: { pi_heating_demand: 'integer' },
        commands: ['set-pi_heating_demand'],
        availability: Z2M_AVAILABILITY,
      },
    ],
  },
  {
    file: 'zigbee2mqtt-ha/smart-vent-sv01-cover.json',
    outcomes: ['ok'],
    devices: [
      {
        hardwareId: 'zigbee2mqtt_0x0017880104e45551',
        name: 'smart vent',
        manufacturer: 'Keen Home',
        model: 'Smart vent',
        properties: { cover: 'string', cover_position: 'integer' },
        commands: ['open-cover', 'close-cover', 'stop-cover', 'set-cover_position'],
        availability: Z2M_AVAILABILITY,
      },
    ],
  },
  {
    file: 'zigbee2mqtt-ha/bmct-slz-select.json',
    outcomes: ['ok'],
    devices: [
      {
        hardwareId: 'zigbee2mqtt_0x18fc26000000cafe',
        name: '0x18fc26000000cafe',
        manufacturer: 'Bosch',
        model: 'Light/shutter control unit II',
        properties: { device_mode: 'enum*' },
        commands: ['set-device_mode'],
        availability: Z2M_AVAILABILITY,
      },
    ],
  },
  { file: 'zigbee2mqtt-ha/fan-99432.json', outcomes: ['HA_UNSUPPORTED_PLATFORM'], devices: [] },
  { file: 'zigbee2mqtt-ha/button-wxkg11lm-event.json', outcomes: ['HA_UNSUPPORTED_PLATFORM'], devices: [] },
  {
    file: 'zwave-js-ui/fibaro-fgs213-switch.json',
    outcomes: ['ok'],
    devices: [
      {
        hardwareId: 'zwavejs2mqtt_0xcddb486e_node66',
        name: 'Guestroom-switch',
        manufacturer: 'Fibargroup',
        model: 'Single Switch 2 (FGS213)',
        properties: { switch: 'boolean' },
        commands: ['set-switch'],
      },
    ],
    readings: [
      {
        // zwave-js-ui's JSON value payload ({"time":…,"value":…}, as in zwave-js/zwave-js-ui#38).
        topic: 'zwave2mqtt/Guestroom/switch/37/1/currentValue',
        payload: '{"time":1606768758235,"value":true}',
        values: { switch: true },
      },
    ],
  },
  {
    file: 'zwave-js-ui/aeotec-multisensor6-temperature.json',
    outcomes: ['ok'],
    devices: [
      {
        hardwareId: 'zwavejs2mqtt_0xcadd9946_node12',
        name: 'nodeID_12',
        manufacturer: 'AEON Labs',
        model: 'MultiSensor 6 (ZW100)',
        properties: { temperature_air: 'number' },
        commands: [],
      },
    ],
  },
  {
    file: 'zwave-js-ui/popp-rain-sensor.json',
    outcomes: ['ok'],
    devices: [
      {
        hardwareId: 'zwavejs2mqtt_0xe504565f_node28',
        name: 'pluviometrie',
        manufacturer: 'Popp & Co',
        model: 'POPP Rain-Sensor (POPE700168)',
        properties: { generic_general_purpose: 'string' },
        commands: [],
      },
    ],
  },
  {
    file: 'openmqttgateway/gatewaybt-sensor.json',
    outcomes: ['ok'],
    devices: [
      {
        hardwareId: '30AEA4736D34',
        name: 'OMG_Garage',
        manufacturer: 'OMG_community',
        properties: { '30aea4736d34gatewaybt': 'string' },
        commands: [],
      },
    ],
  },
  // OpenMQTTGateway subscribes its RF and BLE sensors to wildcard filters (…/433toMQTT/#, +/+/BTtoMQTT/<MAC>): refused.
  { file: 'openmqttgateway/gatewayrf-sensor.json', outcomes: ['HA_TOPIC_INVALID'], devices: [] },
  { file: 'openmqttgateway/rf-device-trigger.json', outcomes: ['HA_UNSUPPORTED_PLATFORM'], devices: [] },
];

function load(file: string): Fixture {
  return JSON.parse(readFileSync(join(CORPUS, file), 'utf8')) as Fixture;
}

function shape(d: DeviceDescription): ExpectedDevice {
  return {
    hardwareId: d.hardwareId,
    name: d.name,
    ...(d.manufacturer !== undefined ? { manufacturer: d.manufacturer } : {}),
    ...(d.model !== undefined ? { model: d.model } : {}),
    properties: Object.fromEntries(d.properties.map((p) => [p.key, p.diagnostic ? `${p.type}*` : p.type])),
    commands: d.commands.map((c) => c.name),
    ...(d.availability ? { availability: { topics: d.availability.topics.map((t) => t.topic), mode: d.availability.mode } } : {}),
  };
}

const sortKeys = (d: ExpectedDevice): ExpectedDevice => ({
  ...d,
  properties: Object.fromEntries(Object.entries(d.properties).sort(([a], [b]) => a.localeCompare(b))),
  commands: [...d.commands].sort(),
});

describe('importers: corpus of real discovery payloads', () => {
  let payloads = 0;
  let asExpected = 0;

  after(() => {
    console.log(`      corpus: ${payloads} payloads, ${asExpected} imported as expected`);
  });

  it('covers every fixture of the HA/Tasmota publishers, and at least 40 payloads', () => {
    const files = readdirSync(CORPUS, { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name !== 'homie')
      .flatMap((e) => readdirSync(join(CORPUS, e.name)).map((f) => `${e.name}/${f}`))
      .sort();
    assert.deepEqual(files, CASES.map((c) => c.file).sort());
    const count = CASES.reduce((n, c) => n + load(c.file).messages.length, 0);
    assert.ok(count >= 40, `${count} payloads`);
  });

  for (const c of CASES) {
    it(`${c.file}: ${c.outcomes.filter((o) => o === 'ok').length}/${c.outcomes.length} accepted, ${c.devices.length} device(s) as expected`, () => {
      const fixture = load(c.file);
      assert.ok(fixture.source.length > 10, 'the fixture names its source');
      payloads += fixture.messages.length;
      const importer = c.file.startsWith('tasmota-native/') ? new TasmotaDiscovery() : new HomeAssistantDiscovery();
      const outcomes = fixture.messages.map((m) => {
        const r = importer.feed(m.topic, m.payload);
        return r.ok ? 'ok' : r.error.code;
      });
      assert.deepEqual(outcomes, c.outcomes);
      assert.deepEqual(importer.devices().map(shape).map(sortKeys), c.devices.map(sortKeys));
      for (const r of c.readings ?? []) {
        const device = importer.devices()[0]!;
        const update = readState(device, r.topic, r.payload);
        assert.deepEqual(update.problems, []);
        assert.deepEqual(update.values, r.values);
      }
      asExpected += fixture.messages.length;
    });
  }
});
