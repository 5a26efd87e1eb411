/**
 * Every device definition shipped in zigbee-herdsman-converters (a pinned dev dependency) through the Zigbee2MQTT
 * importer and the generators: each must import, and yield a reading schema and command schemas that compile with
 * the bridge's Ajv, XEP-0004 forms, chat commands and a body template.
 *
 * The exposes are built and serialized as Zigbee2MQTT does for `bridge/devices` (lib/model/device.ts `exposes()`,
 * lib/extension/bridge.ts `getDefinitionPayload`): a definition's static exposes, or for the definitions whose exposes
 * depend on the device, the function called with the converters' own placeholder device (`{isDummyDevice: true}`,
 * what they use to document themselves) and no options; then Zigbee2MQTT's `linkquality` appended; then JSON.
 *
 * `EXCEPTIONS` names every definition expected to fail, with the reason; the test fails when a definition fails that
 * is not listed, and when a listed one no longer fails.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseCommandText } from '../../src/convert/command-text.js';
import { schemaForm } from '../../src/convert/form.js';
import { generate } from '../../src/importers/generate.js';
import type { DeviceDescription, Property } from '../../src/importers/model.js';
import { importZigbee2MqttDevices } from '../../src/importers/zigbee2mqtt.js';
import type { CommandSpec } from '../../src/mapping/mapping.js';
import { parseTemplate } from '../../src/mapping/template.js';
import { parseTopicPattern } from '../../src/mapping/topic-pattern.js';
import { createAjv } from '../../src/schemas/ajv.js';

/** Model → why it cannot be imported. Empty: every shipped definition imports. */
const EXCEPTIONS: Readonly<Record<string, string>> = {};

interface HerdsmanDefinition {
  readonly model: string;
  readonly vendor: string;
  readonly description: string;
  readonly exposes: unknown[] | ((device: unknown, options: Record<string, unknown>) => unknown[]);
}

interface NumericExpose {
  withUnit(unit: string): NumericExpose;
  withDescription(description: string): NumericExpose;
  withValueMin(n: number): NumericExpose;
  withValueMax(n: number): NumericExpose;
  withCategory(category: 'diagnostic' | 'config'): NumericExpose;
}

interface Herdsman {
  prepareDefinition(d: unknown): HerdsmanDefinition;
  setLogger(logger: Record<string, (message: string) => void>): void;
  Numeric: new (name: string, access: number) => NumericExpose;
  access: { STATE: number };
}

const require = createRequire(import.meta.url);

describe('zigbee-herdsman-converters: every shipped definition', function () {
  // Loading the package and compiling a few thousand validators takes seconds, more on a busy machine.
  this.timeout(300_000);

  it('imports, and yields compiling schemas, forms, chat commands and a body', () => {
    const t0 = performance.now();
    const zhc = require('zigbee-herdsman-converters') as Herdsman;
    const version = (require('zigbee-herdsman-converters/package.json') as { version: string }).version;
    const logged: string[] = [];
    zhc.setLogger({ debug: () => {}, info: () => {}, warning: () => {}, error: (m: string) => logged.push(m) });
    // Zigbee2MQTT appends this to every device's exposes (lib/model/device.ts LINKQUALITY).
    const linkquality = new zhc.Numeric('linkquality', zhc.access.STATE)
      .withUnit('lqi')
      .withDescription('Link quality (signal strength)')
      .withValueMin(0)
      .withValueMax(255)
      .withCategory('diagnostic');

    const devicesDir = join(dirname(require.resolve('zigbee-herdsman-converters/package.json')), 'dist/devices');
    const entries: Record<string, unknown>[] = [];
    const models = new Map<string, string>();
    let dynamic = 0;
    for (const file of readdirSync(devicesDir).filter((f) => f.endsWith('.js')).sort()) {
      const defs = (require(join(devicesDir, file)) as { definitions?: unknown[] }).definitions ?? [];
      for (const raw of defs) {
        const d = zhc.prepareDefinition(raw);
        let exposes: unknown[];
        if (typeof d.exposes === 'function') {
          dynamic++;
          exposes = d.exposes({ isDummyDevice: true }, {});
        } else exposes = d.exposes;
        const ieee = `0x${(entries.length + 1).toString(16).padStart(16, '0')}`;
        models.set(ieee, d.model);
        entries.push({
          ieee_address: ieee,
          type: 'Router',
          friendly_name: `corpus/device_${entries.length + 1}`,
          supported: true,
          disabled: false,
          interview_state: 'SUCCESSFUL',
          definition: { source: 'native', model: d.model, vendor: d.vendor, description: d.description, exposes: JSON.parse(JSON.stringify([...exposes, linkquality])) as unknown, options: [], supports_ota: false },
        });
      }
    }
    const tLoaded = performance.now();

    const failures = new Map<string, string>();
    const fail = (model: string, reason: string): void => {
      if (!failures.has(model)) failures.set(model, reason);
    };
    const payload = JSON.stringify(entries);
    const imported = importZigbee2MqttDevices(payload);
    assert.ok(imported.ok, imported.ok ? '' : imported.error.message);
    for (const s of imported.value.skipped) fail(models.get(s.ieeeAddress ?? '') ?? '?', `skipped: ${s.reason}: ${s.message}`);
    let warnings = 0;
    for (const d of imported.value.devices) {
      warnings += d.warnings.length;
      if (d.warnings.length > 0) fail(d.model ?? '?', `warnings: ${d.warnings.join('; ')}`);
    }
    const tImported = performance.now();

    // The bridge's Ajv, without the optimizing pass over generated code: what compiles does not change, and
    // compiling thousands of schemas takes half the time (measured: 0.9 instead of 1.7 ms per schema).
    const ajv = createAjv({ code: { optimize: false } });
    const byKey = new Map<string, DeviceDescription>();
    for (const d of imported.value.devices) if (!byKey.has(d.modelKey)) byKey.set(d.modelKey, d);
    const broken = new Map<string, string>();
    let schemas = 0;
    let forms = 0;
    const topic = parseTopicPattern('corpus/device/set').pattern!;
    for (const [key, d] of byKey) {
      const g = generate(d);
      try {
        const reading = g.readingSchema;
        // compile() checks the schema against its meta-schema (draft 2020-12) first, and throws if it is invalid.
        const validateReading = ajv.compile(reading);
        schemas++;
        const sample = sampleObject(d.properties.filter((p) => p.readable), 'reading');
        if (!validateReading(sample)) throw new Error(`a sample reading fails its schema: ${ajv.errorsText(validateReading.errors)}`);
        const specs: CommandSpec[] = [];
        for (const c of g.commands) {
          const validate = ajv.compile(c.schema);
          schemas++;
          const form = schemaForm(c.schema, `${d.name}: ${c.name}`);
          const fieldCount = form.getChildren('field').length;
          if (fieldCount !== Object.keys(c.schema['properties'] as object).length) throw new Error(`${c.name} form has ${fieldCount} fields`);
          forms++;
          specs.push({ name: c.name, topic, schema: { id: c.schema['$id'] as string, file: '', schema: c.schema, validate }, qos: 1, retain: false });
        }
        for (const c of d.commands) {
          const line = chatLine(c.name, c.encoding.kind === 'keys' ? [c.properties[0]!] : c.properties.slice(0, 1));
          const parsed = parseCommandText(line, specs, {});
          if (parsed.kind !== 'command') throw new Error(`chat "${line}": ${parsed.kind === 'error' ? parsed.message : parsed.kind}`);
          if (!parsed.command.schema.validate(JSON.parse(parsed.json))) throw new Error(`chat "${line}" → ${parsed.json} fails the schema`);
        }
        const body = parseTemplate(g.body.template, { rich: true });
        if (body.errors.length > 0) throw new Error(`body "${g.body.template}": ${body.errors.join('; ')}`);
      } catch (err) {
        broken.set(key, (err as Error).message);
      } finally {
        // Thousands of validators are not kept alive past their check.
        for (const s of [g.readingSchema, ...g.commands.map((c) => c.schema)]) ajv.removeSchema(s['$id'] as string);
      }
    }
    for (const d of imported.value.devices) {
      const reason = broken.get(d.modelKey);
      if (reason) fail(d.model ?? '?', reason);
    }
    const tDone = performance.now();

    const ok = entries.length - failures.size;
    console.log(
      `      zigbee-herdsman-converters ${version}: ${entries.length} definitions (${dynamic} with exposes computed for a device), ` +
        `${ok} ok, ${failures.size} exceptions; ${byKey.size} distinct model keys, ${schemas} schemas compiled, ${forms} forms; ` +
        `warnings ${warnings}, errors logged by the package ${logged.length}\n` +
        `      load + exposes ${ms(tLoaded - t0)}, import of one ${(payload.length / 1e6).toFixed(1)} MB bridge/devices ${ms(tImported - tLoaded)}, ` +
        `generate + compile ${ms(tDone - tImported)}`,
    );
    for (const [model, reason] of failures) console.log(`      exception: ${model}: ${reason}`);
    assert.deepEqual(logged, [], 'computing exposes logged errors');
    assert.ok(entries.length > 4000, `only ${entries.length} definitions found`);
    assert.deepEqual(Object.fromEntries([...failures].map(([m, r]) => [m, EXCEPTIONS[m] ?? r])), EXCEPTIONS);
  });
});

function ms(n: number): string {
  return `${(n / 1000).toFixed(1)} s`;
}

/** A value of the property's type that its schema accepts. */
function sample(p: Property, mode: 'reading' | 'command'): unknown {
  switch (p.type) {
    case 'boolean':
      return p.valueOn ?? true;
    case 'number':
    case 'integer':
      return p.minimum ?? p.maximum ?? 0;
    case 'enum':
      return p.values?.[0];
    case 'string':
      return 'x';
    case 'object':
      return sampleObject((p.properties ?? []).filter((c) => (mode === 'reading' ? c.readable : c.settable)).slice(0, 1), mode);
    case 'array':
      return p.items && (p.minItems ?? 0) > 0 ? Array.from({ length: Math.min(p.minItems ?? 0, p.items.values?.length ?? Infinity) }, (_, i) => (p.items?.type === 'enum' ? p.items.values?.[i] : sample(p.items!, mode))) : [];
    case 'json':
      return {};
  }
}

function sampleObject(props: readonly Property[], mode: 'reading' | 'command'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of props) if (p.key !== '__proto__') out[p.key] = sample(p, mode);
  return out;
}

/** `set brightness=0` for scalar fields, `set {"color":{…}}` for the others. */
function chatLine(name: string, props: readonly Property[]): string {
  const p = props[0];
  if (!p) return name;
  const v = p.type === 'array' && p.items?.type === 'enum' ? [p.items.values?.[0]] : sample(p, 'command');
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' && /^[^\s,"']+$/.test(x))) return `${name} ${p.key}=${v.join(',')}`;
  if ((typeof v === 'string' && /^[^\s"'{]+$/.test(v)) || typeof v === 'number' || typeof v === 'boolean') {
    if (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(p.key)) return `${name} ${p.key}=${String(v)}`;
  }
  return `${name} ${JSON.stringify({ [p.key]: v })}`;
}
