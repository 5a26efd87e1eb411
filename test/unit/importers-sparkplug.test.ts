/**
 * Sparkplug B importer: births → descriptions, data decoded with aliases, deaths with bdSeq matching, sequence
 * tracking with rebirth requests, DCMD encoding — every payload real protobuf, encoded by the Eclipse Tahu codec
 * (`sparkplug-payload`).
 */
import assert from 'node:assert/strict';
import { get as sparkplugCodec } from 'sparkplug-payload';
import { sparkplugWord } from '../../src/convert/availability.js';
import { encodeCommand } from '../../src/convert/command-payload.js';
import { decodePayload } from '../../src/convert/decode.js';
import { decodeSparkplug } from '../../src/convert/sparkplug.js';
import { ModelSchemaCache } from '../../src/features/import/schema-cache.js';
import { toMapping } from '../../src/features/import/to-mapping.js';
import { SparkplugAccumulator, type SparkplugUpdate } from '../../src/importers/sparkplug.js';
import type { DeviceDescription } from '../../src/importers/model.js';

const sp = sparkplugCodec('spBv1.0')!;
type Metric = { name?: string; alias?: number; type: string; value: unknown; properties?: Record<string, { type: string; value: unknown }> };
const enc = (seq: number | undefined, metrics: Metric[]): Buffer =>
  Buffer.from(sp.encodePayload({ timestamp: 1_700_000_000_000, ...(seq !== undefined ? { seq } : {}), metrics: metrics as never }));

const NBIRTH = (bdSeq: number): Buffer =>
  enc(0, [
    { name: 'bdSeq', type: 'UInt64', value: bdSeq },
    { name: 'Node Control/Rebirth', alias: 0, type: 'Boolean', value: false },
    { name: 'Properties/Hardware Make', alias: 1, type: 'String', value: 'ACME' },
    { name: 'uptime', alias: 2, type: 'Int64', value: 12 },
  ]);
const DBIRTH = (seq: number): Buffer =>
  enc(seq, [
    { name: 'temperature', alias: 10, type: 'Float', value: 21.5, properties: { engUnit: { type: 'String', value: '°C' }, readOnly: { type: 'Boolean', value: true } } },
    { name: 'setpoint', alias: 11, type: 'Int32', value: 20 },
    { name: 'led', alias: 12, type: 'Boolean', value: false },
    { name: 'motor', alias: 13, type: 'Template', value: { isDefinition: false, templateRef: 'Motor', metrics: [{ name: 'rpm', type: 'Int32', value: 5 }] } },
  ]);

function devicesOf(u: readonly SparkplugUpdate[]): DeviceDescription[] {
  return u.flatMap((x) => (x.kind === 'device' ? [x.description] : []));
}
function rebirths(u: readonly SparkplugUpdate[]): Extract<SparkplugUpdate, { kind: 'rebirth' }>[] {
  return u.filter((x): x is Extract<SparkplugUpdate, { kind: 'rebirth' }> => x.kind === 'rebirth');
}

describe('Sparkplug B importer', () => {
  it('turns NBIRTH and DBIRTH into an edge node and a device with metric names, aliases and datatypes', () => {
    const acc = new SparkplugAccumulator();
    const [node] = devicesOf(acc.feed('spBv1.0/plant/NBIRTH/edge1', NBIRTH(7), 0));
    assert.ok(node);
    assert.equal(node.hardwareId, 'plant/edge1');
    assert.deepEqual(
      node.properties.map((p) => [p.key, p.type, p.readable, p.settable]),
      [
        ['Node Control/Rebirth', 'boolean', false, true],
        ['Properties/Hardware Make', 'string', true, true],
        ['uptime', 'integer', true, true],
      ],
    );
    assert.deepEqual(node.state, [{ topic: 'spBv1.0/plant/NDATA/edge1', format: 'sparkplug', aliases: { 0: 'Node Control/Rebirth', 1: 'Properties/Hardware Make', 2: 'uptime' } }]);
    assert.deepEqual(node.availability?.topics.find((t) => t.topic.includes('NDEATH'))?.bdSeq, 7);
    assert.equal(node.commands[0]?.topic, 'spBv1.0/plant/NCMD/edge1');

    const [dev] = devicesOf(acc.feed('spBv1.0/plant/DBIRTH/edge1/boiler', DBIRTH(1), 0));
    assert.ok(dev);
    assert.equal(dev.hardwareId, 'plant/edge1/boiler');
    assert.deepEqual(
      dev.properties.map((p) => [p.key, p.type, p.unit, p.settable, p.minimum]),
      [
        ['temperature', 'number', '°C', false, undefined],
        ['setpoint', 'integer', undefined, true, -2147483648],
        ['led', 'boolean', undefined, true, undefined],
      ],
    );
    assert.match(dev.warnings.join(), /"motor": datatype Template is not read/);
    assert.deepEqual(dev.commands[0]?.encoding, { kind: 'sparkplug', metrics: [{ name: 'setpoint', type: 'Int32', alias: 11 }, { name: 'led', type: 'Boolean', alias: 12 }] });
    assert.equal(dev.commands[0]?.topic, 'spBv1.0/plant/DCMD/edge1/boiler');
    assert.deepEqual(
      dev.availability?.topics.map((t) => [t.topic, t.bdSeq]),
      [
        ['spBv1.0/plant/DBIRTH/edge1/boiler', undefined],
        ['spBv1.0/plant/DDATA/edge1/boiler', undefined],
        ['spBv1.0/plant/DDEATH/edge1/boiler', undefined],
        ['spBv1.0/plant/NDEATH/edge1', 7],
      ],
    );
  });

  it('reads DDATA with the aliases of the birth, as the mapping made of the description decodes it', () => {
    const acc = new SparkplugAccumulator();
    acc.feed('spBv1.0/plant/NBIRTH/edge1', NBIRTH(1), 0);
    const [dev] = devicesOf(acc.feed('spBv1.0/plant/DBIRTH/edge1/boiler', DBIRTH(1), 0));
    const opts = { jid: '{id}', name: '{name}', access: { viewers: ['*'], operators: ['*'] }, messageType: 'chat' as const, jidVariables: {} };
    const m = toMapping(dev!, opts, new ModelSchemaCache());
    assert.ok(m.ok, !m.ok ? m.error.message : '');
    const data = enc(2, [
      { alias: 10, type: 'Float', value: 22.25 },
      { alias: 12, type: 'Boolean', value: true },
    ]);
    assert.deepEqual(acc.feed('spBv1.0/plant/DDATA/edge1/boiler', data, 0), []);
    const r = decodePayload(m.value.sources![0]!.decodings, data);
    assert.ok(r.ok);
    assert.deepEqual(r.value, [
      { path: ['temperature'], value: 22.25 },
      { path: ['led'], value: true },
    ]);
    assert.ok(m.value.schema.validate({ temperature: 22.25, led: true }));
    // An alias no birth declared is refused as a reading and asks for a rebirth.
    const unknown = enc(3, [{ alias: 99, type: 'Float', value: 1 }]);
    const bad = decodePayload(m.value.sources![0]!.decodings, unknown);
    assert.ok(!bad.ok && bad.error.code === 'PAYLOAD_INVALID' && /alias 99/.test(bad.error.message));
    const [req] = rebirths(acc.feed('spBv1.0/plant/DDATA/edge1/boiler', unknown, 0));
    assert.equal(req?.topic, 'spBv1.0/plant/NCMD/edge1');
    assert.match(req.reason, /alias 99/);
    const p = decodeSparkplug(req.payload);
    assert.ok(p.ok);
    assert.deepEqual(p.value.metrics.map((x) => [x.name, x.type, x.value]), [['Node Control/Rebirth', 'Boolean', true]]);
  });

  it('asks for a rebirth on a sequence gap, at most once per interval, and resynchronizes', () => {
    const acc = new SparkplugAccumulator({ rebirthIntervalMs: 1000 });
    acc.feed('spBv1.0/g/NBIRTH/e', NBIRTH(1), 0);
    assert.deepEqual(acc.feed('spBv1.0/g/NDATA/e', enc(1, [{ alias: 2, type: 'Int64', value: 13 }]), 0), []);
    const gap = rebirths(acc.feed('spBv1.0/g/NDATA/e', enc(5, [{ alias: 2, type: 'Int64', value: 14 }]), 10));
    assert.equal(gap.length, 1);
    assert.match(gap[0]!.reason, /expected seq 2, got 5/);
    assert.deepEqual(acc.feed('spBv1.0/g/NDATA/e', enc(6, [{ alias: 2, type: 'Int64', value: 15 }]), 20), [], 'in sequence again after the gap');
    assert.deepEqual(rebirths(acc.feed('spBv1.0/g/NDATA/e', enc(9, []), 500)), [], 'throttled');
    assert.equal(rebirths(acc.feed('spBv1.0/g/NDATA/e', enc(20, []), 1500)).length, 1);
    // seq wraps at 256
    acc.feed('spBv1.0/g/NBIRTH/e', NBIRTH(2), 2000);
    let out: SparkplugUpdate[] = [];
    for (let i = 1; i <= 300; i++) out = out.concat(acc.feed('spBv1.0/g/NDATA/e', enc(i % 256, []), 2000));
    assert.deepEqual(rebirths(out), []);
  });

  it('asks an unknown node for its birth, and a node for the DBIRTH of a device it never saw', () => {
    const acc = new SparkplugAccumulator();
    const [r1] = rebirths(acc.feed('spBv1.0/g/DDATA/e/d', enc(4, []), 0));
    assert.equal(r1?.topic, 'spBv1.0/g/NCMD/e');
    acc.feed('spBv1.0/g/NBIRTH/e', NBIRTH(1), 10_000);
    const [r2] = rebirths(acc.feed('spBv1.0/g/DDATA/e/d', enc(1, []), 20_000));
    assert.match(r2?.reason ?? '', /DBIRTH was not seen/);
  });

  it('takes an NDEATH only with the bdSeq of the current birth', () => {
    const acc = new SparkplugAccumulator();
    acc.feed('spBv1.0/g/NBIRTH/e', NBIRTH(3), 0);
    const stale = enc(undefined, [{ name: 'bdSeq', type: 'UInt64', value: 2 }]);
    const current = enc(undefined, [{ name: 'bdSeq', type: 'UInt64', value: 3 }]);
    const words = ['BIRTH', 'DEATH'];
    assert.equal(sparkplugWord('spBv1.0/g/NDEATH/e', stale, 3, [words[0]!], [words[1]!]), undefined);
    assert.equal(sparkplugWord('spBv1.0/g/NDEATH/e', current, 3, [words[0]!], [words[1]!]), 'DEATH');
    assert.equal(sparkplugWord('spBv1.0/g/DBIRTH/e/d', DBIRTH(1), undefined, [words[0]!], [words[1]!]), 'BIRTH');
    assert.equal(sparkplugWord('spBv1.0/g/DDEATH/e/d', enc(4, []), undefined, [words[0]!], [words[1]!]), 'DEATH');
    // The stale death leaves the session alone; the current one ends it (data after it asks for a birth).
    assert.deepEqual(acc.feed('spBv1.0/g/NDEATH/e', stale, 0), []);
    assert.deepEqual(acc.feed('spBv1.0/g/NDATA/e', enc(1, []), 0), []);
    acc.feed('spBv1.0/g/NDEATH/e', current, 0);
    assert.equal(rebirths(acc.feed('spBv1.0/g/NDATA/e', enc(2, []), 0)).length, 1);
  });

  it('refuses what is not Sparkplug and bounds the devices it tracks', () => {
    const acc = new SparkplugAccumulator({ maxDevices: 2 });
    const [bad] = acc.feed('spBv1.0/g/NBIRTH/e', Buffer.from('{"not":"protobuf"}'), 0);
    assert.equal(bad?.kind, 'rejected');
    acc.feed('spBv1.0/g/NBIRTH/e', NBIRTH(1), 0);
    assert.equal(devicesOf(acc.feed('spBv1.0/g/DBIRTH/e/d1', DBIRTH(1), 0)).length, 1);
    const [limit] = acc.feed('spBv1.0/g/DBIRTH/e/d2', DBIRTH(2), 0);
    assert.ok(limit?.kind === 'rejected' && limit.code === 'too_many_devices');
    assert.deepEqual(acc.feed('other/g/NBIRTH/e', NBIRTH(1), 0), []);
    assert.deepEqual(acc.feed('spBv1.0/g/NCMD/e', NBIRTH(1), 0), [], 'commands are not read');
  });

  it('encodes a command as a DCMD with the metrics\' names, aliases and datatypes', () => {
    const r = encodeCommand({ format: 'sparkplug', metrics: { setpoint: { type: 'Int32', alias: 11 }, led: { type: 'Boolean', alias: 12 } } }, '{"setpoint":23,"led":true}', { setpoint: 23, led: true }, 5);
    assert.ok(r.ok && Buffer.isBuffer(r.value));
    const p = decodeSparkplug(r.value);
    assert.ok(p.ok);
    assert.deepEqual(p.value.timestamp, 5);
    assert.deepEqual(
      p.value.metrics.map((m) => [m.name, m.alias, m.type, m.value]),
      [
        ['setpoint', 11, 'Int32', 23],
        ['led', 12, 'Boolean', true],
      ],
    );
    const tooBig = encodeCommand({ format: 'sparkplug', metrics: { setpoint: { type: 'Int8' } } }, '', { setpoint: 300 });
    assert.ok(!tooBig.ok && tooBig.error.code === 'COMMAND_INVALID');
    const unknown = encodeCommand({ format: 'sparkplug', metrics: {} }, '', { other: 1 });
    assert.ok(!unknown.ok);
  });
});
