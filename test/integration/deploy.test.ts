/**
 * The service files shipped in deploy/: the systemd unit passes `systemd-analyze verify` without a warning and
 * `systemd-analyze security` rates it well (a dedicated user, ProtectSystem, NoNewPrivileges, StateDirectory, a
 * restart policy, reload by SIGHUP); the container file passes the Dockerfile linter of dockerfile-utils and is
 * Debian-based, non-root, keeps its data in a volume and checks its health on /readyz. (No container engine runs on
 * the machines the tests run on, so the image itself is not built here.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validate } from 'dockerfile-utils';
import { removeDir, ROOT } from './harness.js';

const UNIT = join(ROOT, 'deploy/mqtt-xmpp-bridge.service');
const CONTAINERFILE = join(ROOT, 'deploy/Containerfile');

/** The unit's settings, key → values (a key may repeat). */
function settings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

describe('service files', function () {
  let dir: string;
  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'mxb-deploy-'));
  });
  after(function () {
    removeDir(dir);
  });

  it('the systemd unit passes systemd-analyze verify without a warning', function () {
    const unit = join(dir, 'mqtt-xmpp-bridge.service');
    copyFileSync(UNIT, unit);
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    assert.equal(r.error, undefined, 'systemd-analyze runs (Debian package systemd)');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no warning');
  });

  it('the systemd unit is hardened: dedicated user, read-only system, no new privileges, state directory, restart, SIGHUP reload', function () {
    const s = settings(readFileSync(UNIT, 'utf8'));
    assert.deepEqual(s.get('User'), ['mqtt-xmpp-bridge']);
    assert.deepEqual(s.get('ProtectSystem'), ['strict']);
    assert.deepEqual(s.get('NoNewPrivileges'), ['yes']);
    assert.deepEqual(s.get('StateDirectory'), ['mqtt-xmpp-bridge']);
    assert.deepEqual(s.get('Environment')?.includes('BRIDGE_DATA_DIR=/var/lib/mqtt-xmpp-bridge'), true, 'the data directory is the state directory');
    assert.deepEqual(s.get('Restart'), ['on-failure']);
    assert.deepEqual(s.get('RestartPreventExitStatus'), ['1 2'], 'no restart loop on a bad configuration or a refused component');
    assert.deepEqual(s.get('ExecReload'), ['/bin/kill -HUP $MAINPID']);
    const sysusers = readFileSync(join(ROOT, 'deploy/mqtt-xmpp-bridge.sysusers'), 'utf8');
    assert.match(sysusers, /^u mqtt-xmpp-bridge - /m, 'the user is created by sysusers.d');
    // The threshold is in tenths of the printed level: 30 is 3.0.
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=30', UNIT], { encoding: 'utf8' });
    assert.equal(r.status, 0, `exposure above 3.0: ${r.stdout.split('\n').slice(-3).join('\n')}`);
    assert.match(r.stdout, /Overall exposure level for mqtt-xmpp-bridge\.service: [0-2]\.\d OK/);
  });

  it('the container file passes the Dockerfile linter and is Debian-based, non-root, with a data volume and a health check on /readyz', function () {
    const text = readFileSync(CONTAINERFILE, 'utf8');
    const problems = validate(text).map((d) => `line ${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`);
    assert.deepEqual(problems, []);
    const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim());
    const froms = lines.filter((l) => l.startsWith('FROM '));
    assert.ok(froms.length > 0 && froms.every((l) => /^FROM node:20-bookworm-slim\b/.test(l)), 'Debian (bookworm) images');
    const final = lines.slice(lines.lastIndexOf(froms[froms.length - 1]!));
    const users = final.filter((l) => l.startsWith('USER '));
    assert.deepEqual(users, ['USER bridge'], 'the final image runs as an unprivileged user');
    assert.ok(final.includes('VOLUME ["/data"]'));
    assert.ok(final.some((l) => /BRIDGE_DATA_DIR=\/data/.test(l)), 'the data directory is the volume');
    assert.ok(final.some((l) => l.startsWith('HEALTHCHECK ') && l.includes('/readyz')), 'health from /readyz');
    assert.ok(final.some((l) => /BRIDGE_HTTP_ENABLED=true/.test(l)), 'the page (and /readyz) is on in the image');
  });
});
