/**
 * A validated command → the MQTT payload, per the command's payload format (docs/MAPPINGS.md, "Command payloads").
 * Pure.
 *
 *   json      the JSON text as the sender wrote it, byte for byte (the default)
 *   value     one field as text: strings as they are, numbers as digits, booleans as the command's words (default
 *             `true`/`false`), objects and lists as JSON — Homie `…/set`, Tasmota `cmnd/<t>/POWER1`, HA `command_topic`
 *   template  one field through a Home Assistant command template (the safe subset): `value` is the field, and so is
 *             each alias (a cover's `set_position_template` reads `position`)
 *   fixed     the payload given (a button press: `PRESS`)
 *   keys      a list field of names → `{"<name>": ""}` for each (Zigbee2MQTT `/get`)
 *   sparkplug each field a metric of a Sparkplug B NCMD / DCMD (protobuf), typed as its birth certificate said
 */
import { fail, ok, type Result } from '../errors.js';
import { renderTemplate } from '../importers/template.js';
import type { CommandPayload } from '../mapping/mapping.js';
import { valueAt } from './json-path.js';
import { encodeSparkplug, type MetricToWrite, type SparkplugType } from './sparkplug.js';

export function encodeCommand(format: CommandPayload | undefined, json: string, value: unknown, now: number = Date.now()): Result<string | Buffer> {
  if (!format || format.format === 'json') return ok(json);
  switch (format.format) {
    case 'sparkplug': {
      // Sparkplug B NCMD / DCMD (§6.4): each field a metric, with the name, alias and datatype of its birth.
      if (value === null || typeof value !== 'object') return fail('COMMAND_INVALID', 'the command must be an object of metrics');
      const metrics: MetricToWrite[] = [];
      for (const [name, v] of Object.entries(value)) {
        const spec = Object.hasOwn(format.metrics, name) ? format.metrics[name] : undefined;
        if (!spec) return fail('COMMAND_INVALID', `"${name}" is not a writable metric`);
        metrics.push({ name, type: spec.type as SparkplugType, value: v, ...(spec.alias !== undefined ? { alias: spec.alias } : {}) });
      }
      return encodeSparkplug(metrics, now);
    }
    case 'fixed':
      return ok(format.payload);
    case 'value': {
      const v = valueAt(value, format.path);
      if (v === undefined) return fail('COMMAND_INVALID', `the command needs "${format.path.join('.')}"`);
      if (typeof v === 'boolean') return ok(v ? (format.on ?? 'true') : (format.off ?? 'false'));
      if (typeof v === 'string') return ok(v);
      return ok(JSON.stringify(v));
    }
    case 'template': {
      const v = valueAt(value, format.path);
      if (v === undefined) return fail('COMMAND_INVALID', `the command needs "${format.path.join('.')}"`);
      const variables: Record<string, unknown> = {};
      for (const a of format.aliases) Object.defineProperty(variables, a, { value: v, enumerable: true });
      const r = renderTemplate(format.template, { value: v, variables });
      return r.ok ? ok(r.value) : fail('COMMAND_INVALID', `the command template failed: ${r.error.message}`);
    }
    case 'keys': {
      const v = valueAt(value, format.path);
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) return fail('COMMAND_INVALID', `"${format.path.join('.')}" must be a list of names`);
      const out: Record<string, string> = {};
      for (const name of v as string[]) Object.defineProperty(out, name, { value: '', enumerable: true, writable: true, configurable: true });
      return ok(JSON.stringify(out));
    }
  }
}
