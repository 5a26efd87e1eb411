/**
 * The live mapping set: changes are checked as a whole and applied atomically or not at all; routers, ownership (the
 * MQTT ACL) and the registry follow; an unchanged mapping stays the same object; origins cannot take each other's ids.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Device } from '../../src/devices/device.js';
import { DeviceRegistry } from '../../src/devices/registry.js';
import type { LoadProblem } from '../../src/errors.js';
import { EventBus, type MappingsChange } from '../../src/kernel/events.js';
import { MappingSet } from '../../src/kernel/mapping-set.js';
import { createLogger } from '../../src/log.js';
import { loadMappings } from '../../src/mapping/load.js';
import type { Mapping } from '../../src/mapping/mapping.js';
import { SchemaRegistry } from '../../src/schemas/registry.js';
import { openDatabase, type Db } from '../../src/store/db.js';
import { SqliteDeviceStore } from '../../src/store/devices.js';
import { packageRoot } from '../../src/version.js';

const DOMAIN = 'iot.example.org';

describe('MappingSet', () => {
  let dir: string;
  let db: Db;
  let registry: DeviceRegistry;
  let set: MappingSet;
  let bus: EventBus;
  let changes: MappingsChange[];
  let removed: [string, string][];

  /** Mappings compiled from entries, as the file loader does (file name per call, so fingerprints follow content). */
  let n = 0;
  function compile(...entries: Record<string, unknown>[]): Mapping[] {
    const file = join(dir, `m${n++}.json`);
    writeFileSync(file, JSON.stringify({ mappings: entries }));
    const schemas = new SchemaRegistry();
    const problems: LoadProblem[] = [];
    schemas.loadAll([join(packageRoot(), 'schemas')], problems);
    const out = loadMappings([file], { registry: schemas, jidVariables: { serverDomain: 'example.org' } }, problems);
    assert.deepEqual(problems, []);
    return out;
  }
  const climate = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    id: 'climate',
    topic: 'sensors/{site}/{device}/telemetry',
    jid: '{site}-{device}',
    schema: 'urn:mqtt-xmpp-bridge:example:climate',
    ...extra,
  });
  const plug = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ id: 'plug', topic: 'plugs/{device}/state', jid: 'plug-{device}', schema: 'urn:mqtt-xmpp-bridge:example:plug', ...extra });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mapping-set-'));
    db = openDatabase(join(dir, 'data'));
    bus = new EventBus(createLogger({ level: 'silent' }));
    registry = new DeviceRegistry(DOMAIN, new SqliteDeviceStore(db), 1000, bus);
    set = new MappingSet(registry, bus);
    changes = [];
    removed = [];
    bus.on('mappings_changed', (c) => void changes.push(c));
    bus.on('device_removed', ({ device, reason }) => void removed.push([device.jid, reason]));
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const device = (m: Mapping, segments: Record<string, string>): Device => {
    const d = registry.resolve(m, segments);
    assert.ok(d.ok);
    return d.value;
  };

  it('adds mappings: routes and ownership follow', () => {
    assert.ok(set.apply(compile(climate(), plug())).ok);
    assert.equal(set.route('sensors/home/kitchen/telemetry')?.target.id, 'climate');
    assert.equal(set.publisherOf('plugs/kettle/state'), 'plug-kettle');
    assert.deepEqual(changes.map((c) => c.added.map((m) => m.id)), [['climate', 'plug']]);
  });

  it('refuses a change with any problem and applies none of it, listing every problem', () => {
    assert.ok(set.apply(compile(climate())).ok);
    const before = set.all();
    const [a] = compile({ id: 'other', topic: 'sensors/{x}/{y}/telemetry', jid: 'x-{x}-{y}', schema: 'urn:mqtt-xmpp-bridge:example:climate' });
    const [b] = compile(plug({ id: 'clash', jid: 'c-{device}' }));
    const [c] = compile(plug({ id: 'dup-shape', topic: 'plugs2/{device}/state', jid: 'c-{device}' }));
    const r = set.apply([a!, b!, c!]);
    assert.equal(r.ok, false);
    assert.deepEqual(
      r.problems?.map((p) => p.message.split(':')[0]),
      ['overlaps the topic of mapping "climate" (sensors/{site}/{device}/telemetry)', 'has the same shape as the jid of mapping "clash" (c-{device})'],
    );
    assert.equal(set.all(), before, 'nothing applied');
    assert.equal(set.route('plugs/x/state'), undefined);
    assert.equal(changes.length, 1);
  });

  it('keeps an unchanged mapping as the same object, and replaces a changed one keeping its devices when the JID holds', () => {
    const [c1] = compile(climate({ name: 'old {device}' }));
    assert.ok(set.apply([c1!]).ok);
    const kitchen = device(c1!, { site: 'home', device: 'kitchen' });
    const [same] = compile(climate({ name: 'old {device}' }));
    assert.ok(set.apply([same!]).ok);
    assert.equal(set.get('climate'), c1, 'unchanged: the object in force stays');
    assert.equal(changes.length, 1);

    const [c2] = compile(climate({ name: 'new {device}' }));
    assert.ok(set.apply([c2!]).ok);
    assert.equal(registry.byJid(kitchen.jid), kitchen, 'the same device');
    assert.equal(kitchen.mapping, c2);
    assert.equal(kitchen.name, 'new kitchen');
    assert.deepEqual(removed, []);
  });

  it('removes the devices whose JID a replacement no longer forms, and those of a removed mapping', () => {
    const [c1, p1] = compile(climate(), plug());
    assert.ok(set.apply([c1!, p1!]).ok);
    const kitchen = device(c1!, { site: 'home', device: 'kitchen' });
    const kettle = device(p1!, { device: 'kettle' });
    const [c2] = compile(climate({ jid: 'climate-{site}-{device}' }));
    assert.ok(set.apply([c2!], ['plug']).ok);
    assert.deepEqual(removed, [
      [kettle.jid, 'mapping-removed'],
      [kitchen.jid, 'mapping-changed'],
    ]);
    assert.equal(registry.byJid(kettle.jid), undefined);
    assert.equal(set.route('plugs/kettle/state'), undefined);
  });

  it('brings a removed mapping\'s known devices back when it returns', () => {
    const [p1] = compile(plug());
    assert.ok(set.apply([p1!]).ok);
    const kettle = device(p1!, { device: 'kettle' });
    assert.ok(set.apply([], ['plug']).ok);
    assert.equal(registry.byJid(kettle.jid), undefined);
    const [p2] = compile(plug());
    assert.ok(set.apply([p2!]).ok);
    assert.equal(registry.byJid(kettle.jid)?.mapping, p2);
  });

  it('replaces the mappings of one origin as a whole (a reload)', () => {
    const [c1, p1] = compile(climate(), plug());
    assert.ok(set.apply([c1!, p1!]).ok);
    const [c2] = compile(climate({ description: 'changed' }));
    const r = set.replaceOrigin((o) => o.kind === 'file', [c2!]);
    assert.ok(r.ok);
    assert.deepEqual({ added: r.value.added.map((m) => m.id), replaced: r.value.replaced.map((x) => x.after.id), removed: r.value.removed.map((m) => m.id) }, { added: [], replaced: ['climate'], removed: ['plug'] });
  });

  it('does not let another origin take an id', () => {
    const [c1] = compile(climate());
    assert.ok(set.apply([c1!]).ok);
    const imported: Mapping = { ...c1!, origin: { kind: 'import', source: 'zigbee2mqtt', id: '0x1' }, fingerprint: 'x' };
    const r = set.apply([imported]);
    assert.equal(r.ok, false);
    assert.match(r.problems?.[0]?.message ?? '', /already used by/);
  });
});
