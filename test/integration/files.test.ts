/**
 * What the running bridge leaves on disk is owner-only: the data directory 0700, the database with its -wal and -shm
 * 0600, the log file 0600; a data directory others can read gets a warning in the log at start.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, spawnCli, exitOf, startBridge, startTestServer, writeBridgeConfig, type RunningBridge, type TestServer } from './harness.js';

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8);

describe('files the bridge creates', function () {
  this.timeout(60_000);
  let server: TestServer;
  let run: RunningBridge | undefined;
  let umask: number;

  before(async function () {
    server = await startTestServer();
    umask = process.umask(0o022); // the usual default, which leaves new files readable by everyone
  });
  after(async function () {
    process.umask(umask);
    await run?.stop();
    if (run) removeDir(run.dir);
    await server.stop();
  });

  it('data directory 0700; database, -wal, -shm and log file 0600', async function () {
    run = await startBridge({ server });
    const data = join(run.dir, 'data');
    assert.deepEqual(
      ['', 'bridge.db', 'bridge.db-wal', 'bridge.db-shm'].map((f) => [f, modeOf(join(data, f))]),
      [['', '700'], ['bridge.db', '600'], ['bridge.db-wal', '600'], ['bridge.db-shm', '600']],
    );
    await run.stop(); // flushes the log
    assert.equal(modeOf(join(run.dir, 'bridge.log')), '600');
  });

  it('warns in the log at start when the data directory is readable by other users', async function () {
    const cfg = writeBridgeConfig({ server, config: { log: { level: 'info' } } }); // log on stdout
    const data = join(cfg.dir, 'data');
    mkdirSync(data);
    chmodSync(data, 0o755);
    const child = spawnCli(['start', '--config', cfg.configFile], { BRIDGE_XMPP_SECRET: server.secret });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the bridge did not start:\n${child.output()}`)), 15_000);
        child.stdout!.on('data', () => {
          if (!child.output().includes('"msg":"bridge started"')) return;
          clearTimeout(timer);
          resolve();
        });
      });
      const warnings = child
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: number; msg: string })
        .filter((r) => r.level === 40);
      assert.deepEqual(
        warnings.map((r) => r.msg),
        [`${data} (the data directory) is readable by other users; chmod 700 it`],
      );
    } finally {
      child.kill('SIGTERM');
      await exitOf(child, 15_000);
      removeDir(cfg.dir);
    }
  });
});
