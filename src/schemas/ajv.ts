/**
 * Ajv instances. Payload schemas may be written for draft 2020-12 (the default) or draft-07 (what most device
 * vendors and Home Assistant publish), so both meta-schemas are registered.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { Options } from 'ajv';
import addFormats from 'ajv-formats';
import draft7MetaSchema from 'ajv/dist/refs/json-schema-draft-07.json' with { type: 'json' };

export function createAjv(options: Options = {}): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: false, ...options });
  ajv.addMetaSchema(draft7MetaSchema);
  addFormats.default(ajv);
  return ajv;
}
