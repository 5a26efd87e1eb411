/**
 * bench/heap-diff.ts on real V8 heap snapshots: a small Node process writes one snapshot, creates 1,000 objects of a
 * class (each holding an array and a plain object), writes a second; the diff counts those bytes to that class.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { heapDiff, loadSnapshot } from '../../bench/heap-diff.js';

describe('bench heap-diff', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'heap-diff-'));
    const script = `
      import { writeHeapSnapshot } from 'node:v8';
      class Probe { constructor(i) { this.items = new Array(16).fill(i + 0.5); this.tag = { i }; } }
      globalThis.kept = new Array(1000);
      writeHeapSnapshot(${JSON.stringify(join('DIR', 'a.heapsnapshot'))}.replace('DIR', process.argv[1]));
      for (let i = 0; i < 1000; i++) globalThis.kept[i] = new Probe(i);
      writeHeapSnapshot(${JSON.stringify(join('DIR', 'b.heapsnapshot'))}.replace('DIR', process.argv[1]));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('counts each object to the first class above it, per device added', () => {
    const rows = heapDiff(loadSnapshot(join(dir, 'a.heapsnapshot')), loadSnapshot(join(dir, 'b.heapsnapshot')), 1000);
    const probe = rows.find((r) => r.owner === 'Probe');
    assert.ok(probe, `no Probe row in ${JSON.stringify(rows.slice(0, 5))}`);
    // Per instance: the Probe, its array (the JSArray and its 16 unboxed doubles) and its tag object.
    assert.equal(Math.round(probe.objectsPerDevice), 4);
    assert.ok(probe.bytesPerDevice >= 16 * 8 + 3 * 16 && probe.bytesPerDevice <= 320, `bytes per Probe: ${probe.bytesPerDevice}`);
    assert.equal(rows[0]?.owner, 'Probe');
  });
});
