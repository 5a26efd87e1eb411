/**
 * Files the bridge creates are owner-only: the data directory 0700, the SQLite database and its -wal/-shm files
 * 0600 (files left wider by an earlier version are narrowed); a data directory others can read is warned about; the
 * example configuration and the documentation do not turn anonymous MQTT access on.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { openDatabase } from '../../src/store/db.js';
import { packageRoot } from '../../src/version.js';

const ROOT = packageRoot();
const modeOf = (path: string): number => statSync(path).mode & 0o777;

describe('file modes', () => {
  let dir: string;
  let umask: number;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mxb-files-'));
    umask = process.umask(0o022); // the usual default, which leaves new files readable by everyone
  });
  afterEach(() => {
    process.umask(umask);
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the data directory 0700 and the database, its -wal and its -shm 0600', () => {
    const data = join(dir, 'data');
    const db = openDatabase(data);
    try {
      db.prepare("INSERT INTO meta (key, value) VALUES ('probe', 'x')").run();
      assert.deepEqual(
        ['', 'bridge.db', 'bridge.db-wal', 'bridge.db-shm'].map((f) => [f, modeOf(join(data, f)).toString(8)]),
        [['', '700'], ['bridge.db', '600'], ['bridge.db-wal', '600'], ['bridge.db-shm', '600']],
      );
    } finally {
      db.close();
    }
  });

  it('narrows a database and WAL left readable by others', () => {
    const data = join(dir, 'old');
    mkdirSync(data, { mode: 0o700 });
    openDatabase(data).close();
    for (const f of ['bridge.db', 'bridge.db-wal']) {
      writeFileSync(join(data, f), '', { flag: 'a' });
      chmodSync(join(data, f), 0o644);
    }
    const db = openDatabase(data);
    try {
      assert.deepEqual(
        ['bridge.db', 'bridge.db-wal'].map((f) => modeOf(join(data, f)).toString(8)),
        ['600', '600'],
      );
    } finally {
      db.close();
    }
  });

  it('warns when the data directory is readable by other users, not when it is private or not there yet', () => {
    const secret = join(dir, 'secret');
    writeFileSync(secret, 's3cret', { mode: 0o600 });
    const config = (dataDir: string): string => {
      const file = join(dir, `bridge-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(file, `dataDir: ${dataDir}\nxmpp: { domain: iot.example.org, secretFile: ${secret} }\n`);
      return file;
    };
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o755);
    assert.deepEqual(loadConfig(config(open), {}).warnings, [`${open} (the data directory) is readable by other users; chmod 700 it`]);
    const closed = join(dir, 'closed');
    mkdirSync(closed, { mode: 0o700 });
    assert.deepEqual(loadConfig(config(closed), {}).warnings, []);
    assert.deepEqual(loadConfig(config(join(dir, 'absent')), {}).warnings, []);
  });
});

describe('example configuration and documentation', () => {
  it('bridge.example.yaml (the starting point) and the YAML snippets of README.md and docs/ leave anonymous MQTT access off', () => {
    const { config } = loadConfig(join(ROOT, 'bridge.example.yaml'), { BRIDGE_XMPP_SECRET: 'x' });
    assert.equal(config.mqtt.embedded.allowAnonymous, false);
    assert.doesNotMatch(readFileSync(join(ROOT, 'bridge.example.yaml'), 'utf8'), /allowAnonymous:\s*true/);

    const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
    const offending: string[] = [];
    for (const f of files) {
      for (const m of readFileSync(join(ROOT, f), 'utf8').matchAll(/```ya?ml\n([\s\S]*?)```/g)) {
        if (/allowAnonymous:\s*true|BRIDGE_MQTT_ALLOW_ANONYMOUS=true/.test(m[1]!)) offending.push(f);
      }
    }
    assert.deepEqual(offending, []);
  });
});
