/**
 * Every YAML snippet in the README and docs/ parses, and the ones that are bridge configuration or mappings (whole or
 * a fragment of one mapping) are valid against the bridge's own schemas — so a reader who copies one gets a working
 * file. A snippet of another program's configuration (ejabberd.yml) must at least parse.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { mappingFileSchema } from '../../src/mapping/schema.js';
import { createAjv } from '../../src/schemas/ajv.js';
import { ajvErrorsToPathMessages } from '../../src/schemas/format-errors.js';
import { packageRoot } from '../../src/version.js';

const ROOT = packageRoot();
const FILES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

interface Snippet {
  readonly where: string;
  readonly text: string;
}

function snippets(file: string): Snippet[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const out: Snippet[] = [];
  let start = -1;
  lines.forEach((line, i) => {
    if (start < 0 && /^\s*```ya?ml\s*$/.test(line)) start = i + 1;
    else if (start >= 0 && /^\s*```\s*$/.test(line)) {
      const block = lines.slice(start, i);
      const indent = Math.min(...block.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length));
      out.push({ where: `${file}:${start + 1}`, text: block.map((l) => l.slice(indent)).join('\n') });
      start = -1;
    }
  });
  return out;
}

const ajv = createAjv({ useDefaults: true });
const validMappings = ajv.compile(mappingFileSchema);
const validConfig = ajv.compile(configSchema);
const MAPPING_KEYS = new Set(Object.keys(mappingFileSchema.properties.mappings.items.properties));
const CONFIG_KEYS = new Set(Object.keys(configSchema.properties));

function problems(validate: (doc: unknown) => boolean, doc: unknown): string[] {
  return validate(doc) ? [] : ajvErrorsToPathMessages((validate as typeof validMappings).errors).map((m) => `${m.path}: ${m.message}`);
}

describe('YAML snippets in the docs', () => {
  const all = FILES.flatMap(snippets);

  it('there are snippets to check', () => {
    assert.ok(all.length >= 6, `${all.length} snippets found`);
  });

  for (const s of all) {
    it(`${s.where} parses and is valid`, () => {
      const doc = parseDocument(s.text, { prettyErrors: true });
      assert.deepEqual(doc.errors.map((e) => e.message), [], `${s.where} is not valid YAML`);
      const value = doc.toJS() as Record<string, unknown>;
      const keys = Object.keys(value ?? {});
      if (/^# (ejabberd|prometheus)\.yml/.test(s.text)) return; // another program's file: parsing is all we can check
      if (keys.includes('mappings')) {
        assert.deepEqual(problems(validMappings, value), [], `${s.where} is not a valid mapping file`);
      } else if (keys.every((k) => MAPPING_KEYS.has(k))) {
        // A fragment of one mapping: completed with the required keys it does not show.
        const mapping = { id: 'snippet', topic: 'plugs/{device}/state', jid: 'snippet-{device}', schema: 'urn:x', ...value };
        assert.deepEqual(problems(validMappings, { mappings: [mapping] }), [], `${s.where} is not a valid part of a mapping`);
      } else if (keys.every((k) => CONFIG_KEYS.has(k))) {
        const xmpp = { domain: 'iot.example.org', ...(value['xmpp'] as object | undefined) };
        assert.deepEqual(problems(validConfig, { ...value, xmpp }), [], `${s.where} is not a valid configuration`);
      } else {
        assert.fail(`${s.where}: neither a configuration nor a mapping (keys ${keys.join(', ')}); label another program's file with a first-line comment`);
      }
    });
  }
});
