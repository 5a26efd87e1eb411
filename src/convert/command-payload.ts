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
 */
import { fail, ok, type Result } from '../errors.js';
import { renderTemplate } from '../importers/template.js';
import type { CommandPayload } from '../mapping/mapping.js';
import { valueAt } from './json-path.js';

export function encodeCommand(format: CommandPayload | undefined, json: string, value: unknown): Result<string> {
  if (!format || format.format === 'json') return ok(json);
  switch (format.format) {
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
