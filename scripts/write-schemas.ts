/** Writes the editor-facing JSON Schemas in docs/ from their TypeScript sources (`npm run schemas`). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema } from '../src/config/schema.js';
import { mappingFileSchema } from '../src/mapping/schema.js';
import { packageRoot } from '../src/version.js';

export const GENERATED = [
  { file: 'docs/config.schema.json', schema: configSchema },
  { file: 'docs/mapping.schema.json', schema: mappingFileSchema },
] as const;

export function render(schema: unknown): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (process.argv[1]?.endsWith('write-schemas.js')) {
  for (const g of GENERATED) {
    writeFileSync(join(packageRoot(), g.file), render(g.schema));
    console.log(`wrote ${g.file}`);
  }
}
