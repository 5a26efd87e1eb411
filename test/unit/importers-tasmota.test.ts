/**
 * Tasmota native discovery → device descriptions (src/importers/tasmota.ts): the config and sensors messages of
 * xdrv_12_discovery.ino, FullTopic substitution, relays / lights / shutters / switches, sensor fields, removal, and
 * hostile payloads.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { descriptionTopics } from '../../src/importers/description-topics.js';
import type { DeviceDescription } from '../../src/importers/model.js';
import { readState } from '../../src/importers/state-reading.js';
import { TasmotaDiscovery, type TasmotaFeedOutcome, type TasmotaResult } from '../../src/importers/tasmota.js';

const MAC = 'A4CF12345678';
const CONFIG_TOPIC = `tasmota/discovery/${MAC}/config`;
const SENSORS_TOPIC = `tasmota/discovery/${MAC}/sensors`;

/** A config message as TasDiscoverMessage writes it (Tasmota 12), for a two-relay device. */
function config(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ip: '192.168.1.50',
    dn: 'Garage',
    fn: ['Door', 'Lamp', null, null, null, null, null, null],
    hn: 'garage-5678',
    mac: MAC,
    md: 'Sonoff Dual R2',
    ty: 0,
    if: 0,
    ofln: 'Offline',
    onln: 'Online',
    state: ['OFF', 'ON', 'TOGGLE', 'HOLD'],
    sw: '12.5.0',
    t: 'garage',
    ft: '%prefix%/%topic%/',
    tp: ['cmnd', 'stat', 'tele'],
    rl: [1, 1, 0, 0, 0, 0, 0, 0],
    swc: [-1, -1, -1, -1, -1, -1, -1, -1],
    swn: [null, null, null, null, null, null, null, null],
    btn: [0, 0, 0, 0],
    so: { '4': 0, '11': 0, '13': 0, '17': 0, '20': 0, '30': 0, '68': 0, '73': 0, '82': 0, '114': 0, '117': 0 },
    lk: 0,
    lt_st: 0,
    bat: 0,
    dslp: 0,
    sho: [],
    sht: [],
    ver: 1,
    ...over,
  };
}

function feed(t: TasmotaDiscovery, topic: string, payload: unknown): TasmotaResult<TasmotaFeedOutcome> {
  return t.feed(topic, typeof payload === 'string' ? payload : JSON.stringify(payload));
}

function code(r: TasmotaResult<unknown>): string {
  return r.ok ? 'ok' : r.error.code;
}

function device(t: TasmotaDiscovery): DeviceDescription {
  const d = t.device(MAC);
  assert.ok(d, 'no device');
  return d;
}

describe('importers: Tasmota native discovery', () => {
  it('describes relays: POWER<n> fields from RESULT, STATE and POWER<n>; set-power<n> commands on cmnd/<t>/POWER<n>', () => {
    const t = new TasmotaDiscovery();
    assert.deepEqual(feed(t, CONFIG_TOPIC, config()), { ok: true, value: { changed: [MAC], removed: [] } });
    const d = device(t);
    assert.deepEqual([d.source, d.hardwareId, d.name, d.manufacturer, d.model, d.softwareVersion], ['tasmota', MAC, 'Garage', 'Tasmota', 'Sonoff Dual R2', '12.5.0']);
    assert.deepEqual(
      d.properties.map((p) => [p.key, p.type, p.label, p.settable]),
      [
        ['power1', 'boolean', 'Door', true],
        ['power2', 'boolean', 'Lamp', true],
      ],
    );
    assert.deepEqual(d.commands.map((c) => [c.name, c.topic, c.encoding]), [
      ['set-power1', 'cmnd/garage/POWER1', { kind: 'value', key: 'power1', on: 'ON', off: 'OFF' }],
      ['set-power2', 'cmnd/garage/POWER2', { kind: 'value', key: 'power2', on: 'ON', off: 'OFF' }],
    ]);
    assert.deepEqual(d.availability, { topics: [{ topic: 'tele/garage/LWT', online: 'Online', offline: 'Offline' }], mode: 'latest' });
    assert.deepEqual(descriptionTopics(d), {
      state: ['stat/garage/POWER1', 'stat/garage/POWER2', 'stat/garage/RESULT', 'tele/garage/STATE'],
      commands: ['cmnd/garage/POWER1', 'cmnd/garage/POWER2'],
      availability: ['tele/garage/LWT'],
    });
    assert.deepEqual(readState(d, 'stat/garage/RESULT', '{"POWER2":"ON"}').values, { power2: true });
    assert.deepEqual(readState(d, 'tele/garage/STATE', '{"Time":"x","POWER1":"OFF","POWER2":"ON","Wifi":{"RSSI":50}}').values, { power1: false, power2: true });
    assert.deepEqual(readState(d, 'stat/garage/POWER1', 'ON').values, { power1: true });
  });

  it('a single relay also answers to POWER (no index), and follows custom state texts', () => {
    const t = new TasmotaDiscovery();
    feed(t, CONFIG_TOPIC, config({ rl: [1, 0, 0, 0, 0, 0, 0, 0], state: ['AUS', 'AN', 'UM', 'HALTEN'] }));
    const d = device(t);
    assert.deepEqual(readState(d, 'stat/garage/RESULT', '{"POWER":"AN"}').values, { power1: true });
    assert.deepEqual(readState(d, 'stat/garage/POWER', 'AUS').values, { power1: false });
    assert.deepEqual(d.commands[0]!.encoding, { kind: 'value', key: 'power1', on: 'AN', off: 'AUS' });
  });

  it('substitutes the FullTopic placeholders %prefix%, %topic%, %hostname% and %id%', () => {
    const t = new TasmotaDiscovery();
    feed(t, CONFIG_TOPIC, config({ ft: 'home/%hostname%/%id%/%topic%/%prefix%/', tp: ['c', 's', 't'] }));
    assert.deepEqual(descriptionTopics(device(t)).commands, ['home/garage-5678/345678/garage/c/POWER1', 'home/garage-5678/345678/garage/c/POWER2']);
    assert.deepEqual(descriptionTopics(device(t)).availability, ['home/garage-5678/345678/garage/t/LWT']);
  });

  it('describes a light by its subtype: dimmer, colour temperature, colour', () => {
    const t = new TasmotaDiscovery();
    feed(t, CONFIG_TOPIC, config({ rl: [2, 0, 0, 0, 0, 0, 0, 0], lt_st: 5, fn: ['Strip', null] }));
    const d = device(t);
    assert.deepEqual(
      d.properties.map((p) => [p.key, p.type, p.minimum, p.maximum]),
      [
        ['light1', 'boolean', undefined, undefined],
        ['light1_dimmer', 'integer', 0, 100],
        ['light1_ct', 'integer', 153, 500],
        ['light1_color', 'string', undefined, undefined],
      ],
    );
    assert.deepEqual(d.commands.map((c) => c.topic), ['cmnd/garage/POWER1', 'cmnd/garage/Dimmer', 'cmnd/garage/CT', 'cmnd/garage/Color']);
    assert.deepEqual(readState(d, 'stat/garage/RESULT', '{"POWER":"ON","Dimmer":42,"CT":300,"Color":"FF8000"}').values, {
      light1: true,
      light1_dimmer: 42,
      light1_ct: 300,
      light1_color: 'FF8000',
    });
    const dimmerOnly = new TasmotaDiscovery();
    feed(dimmerOnly, CONFIG_TOPIC, config({ rl: [2, 0, 0, 0, 0, 0, 0, 0], lt_st: 1 }));
    assert.deepEqual(device(dimmerOnly).properties.map((p) => p.key), ['light1', 'light1_dimmer']);
  });

  it('describes shutters from relay pairs, and warns about an unpaired shutter relay', () => {
    const t = new TasmotaDiscovery();
    feed(t, CONFIG_TOPIC, config({ rl: [3, 3, 1, 0, 0, 0, 0, 0] }));
    const d = device(t);
    assert.deepEqual(d.properties.map((p) => p.key), ['shutter1_position', 'power3']);
    assert.deepEqual(
      d.commands.map((c) => [c.name, c.topic]),
      [
        ['open-shutter1', 'cmnd/garage/ShutterOpen1'],
        ['close-shutter1', 'cmnd/garage/ShutterClose1'],
        ['stop-shutter1', 'cmnd/garage/ShutterStop1'],
        ['set-shutter1_position', 'cmnd/garage/ShutterPosition1'],
        ['set-power3', 'cmnd/garage/POWER3'],
      ],
    );
    assert.deepEqual(readState(d, 'tele/garage/SENSOR', '{"Shutter1":{"Position":35,"Direction":0}}').values, { shutter1_position: 35 });
    const odd = new TasmotaDiscovery();
    feed(odd, CONFIG_TOPIC, config({ rl: [3, 1, 0, 0, 0, 0, 0, 0] }));
    assert.deepEqual(device(odd).properties, []);
    assert.match(device(odd).warnings.join(), /shutter but relay 2 is not/);
  });

  it('describes switches published with SetOption114, named by swn', () => {
    const t = new TasmotaDiscovery();
    feed(t, CONFIG_TOPIC, config({ rl: [0, 0, 0, 0, 0, 0, 0, 0], swc: [-1, 1, -1, -1, -1, -1, -1, -1], swn: [null, 'Door', null, null, null, null, null, null] }));
    const d = device(t);
    assert.deepEqual(d.properties.map((p) => [p.key, p.label, p.settable]), [['switch2', 'Door', false]]);
    assert.deepEqual(readState(d, 'tele/garage/SENSOR', '{"Time":"x","Door":"ON"}').values, { switch2: true });
  });

  it('adds the sensors message as fields of tele/<t>/SENSOR, with units, in either order of arrival', () => {
    const sensors = {
      sn: {
        Time: '2023-08-20T11:09:47',
        DS18B20: { Id: '3CE10457A8F9', Temperature: 27.9 },
        BME280: { Temperature: 27.8, Humidity: 54.5, DewPoint: 17.8, Pressure: 1018.0 },
        BH1750: { Illuminance: 171 },
        ENERGY: { Power: [12, 0], Today: 0.5 },
        PressureUnit: 'hPa',
        TempUnit: 'F',
      },
      ver: 1,
    };
    const t = new TasmotaDiscovery();
    assert.deepEqual(feed(t, SENSORS_TOPIC, sensors), { ok: true, value: { changed: [], removed: [] } });
    assert.equal(t.device(MAC), undefined); // no device before its config
    feed(t, CONFIG_TOPIC, config({ rl: [0, 0, 0, 0, 0, 0, 0, 0] }));
    const d = device(t);
    assert.deepEqual(
      d.properties.map((p) => [p.key, p.type, p.unit, p.deviceClass]),
      [
        ['ds18b20_id', 'string', undefined, undefined],
        ['ds18b20_temperature', 'number', '°F', 'temperature'],
        ['bme280_temperature', 'number', '°F', 'temperature'],
        ['bme280_humidity', 'number', '%', 'humidity'],
        ['bme280_dewpoint', 'number', '°F', 'temperature'],
        ['bme280_pressure', 'number', 'hPa', 'pressure'],
        ['bh1750_illuminance', 'number', 'lx', 'illuminance'],
        ['energy_power_1', 'number', 'W', 'power'],
        ['energy_power_2', 'number', 'W', 'power'],
        ['energy_today', 'number', 'kWh', 'energy'],
      ],
    );
    // The SENSOR message of home-assistant/core#98699 (a DS18B20, a BME280 and a BH1750).
    const sensor =
      '{"Time":"2023-08-20T11:09:47","DS18B20":{"Id":"3CE10457A8F9","Temperature":27.9},"BME280":{"Temperature":27.8,"Humidity":54.5,"DewPoint":17.8,"Pressure":1018.0},"BH1750":{"Illuminance":171},"PressureUnit":"hPa","TempUnit":"C"}';
    assert.deepEqual(readState(d, 'tele/garage/SENSOR', sensor).values, {
      ds18b20_id: '3CE10457A8F9',
      ds18b20_temperature: 27.9,
      bme280_temperature: 27.8,
      bme280_humidity: 54.5,
      bme280_dewpoint: 17.8,
      bme280_pressure: 1018,
      bh1750_illuminance: 171,
    });
    // A sensors message clears: the fields go, the device stays.
    assert.deepEqual(feed(t, SENSORS_TOPIC, ''), { ok: true, value: { changed: [MAC], removed: [] } });
    assert.deepEqual(device(t).properties, []);
  });

  it('an empty config removes the device', () => {
    const t = new TasmotaDiscovery();
    feed(t, CONFIG_TOPIC, config());
    assert.deepEqual(feed(t, CONFIG_TOPIC, ''), { ok: true, value: { changed: [], removed: [MAC] } });
    assert.deepEqual(t.devices(), []);
    assert.deepEqual(t.stats(), { messages: 2, accepted: 2, removals: 1, rejected: {} });
  });

  it('refuses hostile or broken messages with their code, and counts them', () => {
    const t = new TasmotaDiscovery({ maxPayloadBytes: 2000 });
    assert.equal(code(feed(t, 'tasmota/discovery/xyz/config', config())), 'TASMOTA_TOPIC');
    assert.equal(code(feed(t, `tasmota/discovery/${MAC}/other`, config())), 'TASMOTA_TOPIC');
    assert.equal(code(feed(t, `tasmota/discovery/${MAC.toLowerCase()}/config`, config())), 'TASMOTA_TOPIC');
    assert.equal(code(feed(t, CONFIG_TOPIC, '{"ip":')), 'TASMOTA_NOT_JSON');
    assert.equal(code(feed(t, CONFIG_TOPIC, '[]')), 'TASMOTA_INVALID');
    assert.equal(code(feed(t, CONFIG_TOPIC, config({ ver: 2 }))), 'TASMOTA_INVALID');
    assert.equal(code(feed(t, CONFIG_TOPIC, config({ tp: ['cmnd'] }))), 'TASMOTA_INVALID');
    assert.equal(code(feed(t, CONFIG_TOPIC, config({ rl: 'all' }))), 'TASMOTA_INVALID');
    assert.equal(code(feed(t, CONFIG_TOPIC, config({ t: 7 }))), 'TASMOTA_INVALID');
    assert.equal(code(feed(t, CONFIG_TOPIC, config({ lt_st: 9 }))), 'TASMOTA_INVALID');
    assert.equal(code(feed(t, CONFIG_TOPIC, config({ mac: 'B4CF12345678' }))), 'TASMOTA_MAC_MISMATCH');
    assert.equal(code(feed(t, CONFIG_TOPIC, config({ t: 'other/#' }))), 'TASMOTA_TOPIC_INVALID');
    assert.equal(code(feed(t, CONFIG_TOPIC, config({ ft: '+/%topic%/' }))), 'TASMOTA_TOPIC_INVALID');
    assert.equal(code(feed(t, CONFIG_TOPIC, config({ ft: '$SYS/%topic%/' }))), 'TASMOTA_TOPIC_INVALID');
    assert.equal(code(feed(t, CONFIG_TOPIC, config({ dn: 'x'.repeat(3000) }))), 'TASMOTA_PAYLOAD_TOO_LARGE');
    assert.equal(code(feed(t, SENSORS_TOPIC, { sn: 5, ver: 1 })), 'TASMOTA_INVALID');
    assert.deepEqual(t.devices(), []);
    assert.equal(t.stats().rejected.TASMOTA_INVALID, 7);
    const small = new TasmotaDiscovery({ maxDevices: 1 });
    assert.equal(code(feed(small, CONFIG_TOPIC, config())), 'ok');
    assert.equal(code(feed(small, 'tasmota/discovery/A4CF12345679/config', config({ mac: 'A4CF12345679' }))), 'TASMOTA_LIMIT');
  });

  it('a "__proto__" sensor is an ordinary name, and sensor names are bounded', () => {
    const t = new TasmotaDiscovery();
    feed(t, CONFIG_TOPIC, config({ rl: [] }));
    feed(t, SENSORS_TOPIC, `{"sn":{"__proto__":{"Temperature":1},"${'L'.repeat(100)}":{"Temperature":2}},"ver":1}`);
    assert.deepEqual(device(t).properties.map((p) => p.key), ['proto_temperature']);
    assert.equal(({} as Record<string, unknown>).Temperature, undefined);
    assert.deepEqual(readState(device(t), 'tele/garage/SENSOR', '{"__proto__":{"Temperature":3}}').values, { proto_temperature: 3 });
  });

  it('never throws, whatever the messages (property test)', () => {
    const value = fc.oneof(fc.string({ maxLength: 12 }), fc.integer({ min: -2, max: 6 }), fc.boolean(), fc.constant(null), fc.array(fc.oneof(fc.integer({ min: -1, max: 3 }), fc.string({ maxLength: 6 }), fc.constant(null)), { maxLength: 10 }));
    const mutated = fc.tuple(fc.constantFrom(...Object.keys(config()), 'sn', '__proto__'), value).map(([k, v]) => JSON.stringify(config({ [k]: v })));
    const payload = fc.oneof(mutated, fc.string({ maxLength: 40 }), fc.constant(''), fc.json({ maxDepth: 3 }));
    const topic = fc.constantFrom(CONFIG_TOPIC, SENSORS_TOPIC, 'tasmota/discovery/x/config', 'tasmota/discovery/A4CF12345678/config/x');
    fc.assert(
      fc.property(fc.array(fc.tuple(topic, payload), { maxLength: 10 }), (messages) => {
        const t = new TasmotaDiscovery();
        for (const [top, p] of messages) {
          const r = t.feed(top, p);
          if (!r.ok) assert.match(r.error.code, /^TASMOTA_/);
          for (const d of t.devices()) for (const s of [...descriptionTopics(d).state, ...descriptionTopics(d).commands]) assert.ok(!/[+#]/.test(s), s);
        }
      }),
      { numRuns: 1500 },
    );
  });
});
