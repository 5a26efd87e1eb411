/** The machine and the versions a result was measured with. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, release } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './common.js';

const run = promisify(execFile);

async function out(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const r = await run(cmd, args, { timeout: 5000, cwd: ROOT });
    return r.stdout.trim();
  } catch {
    return undefined;
  }
}

function pkgVersion(name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

export async function machineInfo(): Promise<Record<string, unknown>> {
  const osRelease = (() => {
    try {
      return /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
    } catch {
      return undefined;
    }
  })();
  const limits = (() => {
    try {
      return /Max open files\s+(\d+)\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.slice(1, 3).join('/');
    } catch {
      return undefined;
    }
  })();
  const dpkg = async (p: string): Promise<string | undefined> => out('dpkg-query', ['-W', '-f=${Version}', p]);
  const dirty = await out('git', ['status', '--porcelain']);
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    os: osRelease,
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
    openFilesLimit: limits,
    node: process.version,
    prosody: await dpkg('prosody'),
    prosodyModules: await dpkg('prosody-modules'),
    mosquitto: await dpkg('mosquitto'),
    packages: Object.fromEntries(['aedes', '@xmpp/client', '@xmpp/component', 'mqtt', 'better-sqlite3', 'ajv', 'pino', 'hdr-histogram-js'].map((p) => [p, pkgVersion(p)])),
    gitCommit: await out('git', ['rev-parse', '--short', 'HEAD']),
    gitDirtyFiles: dirty === undefined ? undefined : dirty.split('\n').filter(Boolean).length,
  };
}
