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
  // JSON Schema 2020-12 §8.3 makes `contentEncoding` an annotation; a field a device declares as base64 (a small blob
  // inside a JSON reading) is checked here, so what is delivered as base64 decodes. Other encodings stay annotations.
  ajv.removeKeyword('contentEncoding');
  ajv.addKeyword({
    keyword: 'contentEncoding',
    schemaType: 'string',
    type: 'string',
    errors: false,
    validate: (encoding: string, data: string) => encoding.toLowerCase() !== 'base64' || BASE64.test(data),
  });
  return ajv;
}

/** RFC 4648 §4 base64, padded, no whitespace. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
