/**
 * The reading schema of binary payloads (docs/MEDIA.md): the metadata that stands for the bytes — a URL or the
 * bytes base64 inline, size, SHA-256, media type, topic. Compiled once; mappings with `payload: {format: binary}` use it.
 */
import { createAjv } from './ajv.js';
import type { CompiledSchema } from './registry.js';

const schema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'urn:mqtt-xmpp-bridge:media',
  title: 'Binary reading',
  type: 'object',
  required: ['size', 'sha256', 'mediaType', 'topic'],
  properties: {
    url: { type: 'string', format: 'uri' },
    data: { type: 'string', contentEncoding: 'base64' },
    size: { type: 'integer', minimum: 1 },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    mediaType: { type: 'string' },
    topic: { type: 'string' },
  },
} as const;

export const MEDIA_READING_SCHEMA: CompiledSchema = { id: schema.$id, file: '(built in)', schema, validate: createAjv().compile(schema) };
