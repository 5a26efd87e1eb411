/** The editor-facing JSON Schemas in docs/ are generated from src/; this fails when someone forgets `npm run schemas`. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENERATED, render } from '../../scripts/write-schemas.js';
import { packageRoot } from '../../src/version.js';

describe('shipped JSON Schemas', () => {
  for (const g of GENERATED) {
    it(`${g.file} matches its source (run "npm run schemas")`, () => {
      assert.equal(readFileSync(join(packageRoot(), g.file), 'utf8'), render(g.schema));
    });
  }
});
