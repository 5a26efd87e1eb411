/**
 * What the audit log costs per command: CPU µs per entry written through the bridge's AuditLog (its group commit) into
 * a database made by the bridge's own migrations, for commands from 10 senders to 100 devices — and the same with the
 * indexes by device and by sender that the log had until 2026-12-02 created again, as the reference.
 *
 * Each such index is written at one place per device (or sender) in a group, so a commit of 200 entries dirtied a page
 * of it per device: at 4,000 commands/s that was most of what a command cost the bridge beyond its null bridge
 * (docs/PERFORMANCE.md).
 *
 *   node dist/bench/audit-write.js [--groups 300] [--group 200]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../src/store/audit.js';
import { openDatabase } from '../src/store/db.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) || fallback : fallback;
};
const groups = arg('--groups', 300);
const group = arg('--group', 200);

function cpuUsPerEntry(withOldIndexes: boolean): number {
  const dir = mkdtempSync(join(tmpdir(), 'audit-write-'));
  const db = openDatabase(dir);
  try {
    if (withOldIndexes) db.exec('CREATE INDEX audit_device ON audit (device, id); CREATE INDEX audit_sender ON audit (sender, id);');
    const audit = new AuditLog(db, { groupMs: 0 });
    let n = 0;
    const write = (count: number): void => {
      for (let g = 0; g < count; g++) {
        for (let i = 0; i < group; i++, n++) {
          const d = n % 100;
          audit.record({
            at: Date.now(),
            sender: `user${d % 10}@example.org`,
            device: `bench-d${d}@bridge.localhost`,
            command: 'set',
            origin: 'iq',
            outcome: 'OK',
            detail: `published on sensors/bench/d${d}/set`,
            payload: '{"state":"ON","brightness":200}',
          });
        }
        audit.flush();
      }
    };
    write(Math.ceil(groups / 2)); // a log that already holds entries, and a warm JIT
    const start = process.cpuUsage();
    write(groups);
    const used = process.cpuUsage(start);
    return Math.round(((used.user + used.system) / (groups * group)) * 100) / 100;
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: string[] = [];
for (let round = 1; round <= 2; round++) {
  const now = cpuUsPerEntry(false);
  const before = cpuUsPerEntry(true);
  rows.push(`round ${round}: ${now} µs per entry (index by time only); ${before} µs with the indexes by device and by sender`);
}
console.log(`audit log, groups of ${group} entries, 100 devices, 10 senders:\n  ${rows.join('\n  ')}`);
