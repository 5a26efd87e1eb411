/**
 * The demo works as it prints: run `mqtt-xmpp-bridge demo`, read the account it prints, log in over STARTTLS with an
 * independent client (slixmpp), find the devices in the roster with presence — the hand-mapped ones and those
 * imported from a simulated Zigbee2MQTT network and ESPHome node — receive a reading; open the status page it prints
 * with its token; Ctrl-C stops it all.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exitOf, removeDir, ROOT, spawnCli } from './harness.js';

const execFileAsync = promisify(execFile);

describe('demo', function () {
  this.timeout(90_000);
  let dir: string;
  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'mxb-demo-test-'));
  });
  after(function () {
    removeDir(dir);
  });

  it('prints an account that logs in with TLS, shows the devices with presence and receives their readings', async function () {
    const demo = spawnCli(['demo', '--dir', dir]);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`demo did not get ready:\n${demo.output()}`)), 60_000);
        const on = (): void => {
          if (!demo.output().includes('Press Ctrl-C to stop everything.')) return;
          clearTimeout(timer);
          resolve();
        };
        demo.stdout!.on('data', on);
        demo.on('exit', () => reject(new Error(`demo exited:\n${demo.output()}`)));
      });
      const out = demo.output();
      const account = /account\s+(\S+)/.exec(out)?.[1];
      const password = /password\s+(\S+)/.exec(out)?.[1];
      const server = /server\s+([\d.]+), port (\d+)/.exec(out);
      assert.ok(account && password && server, out);
      assert.match(out, /STARTTLS with a self-signed certificate/);
      // The status page: printed beside the account, behind the printed token.
      const status = /status\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      const token = /token\s+(\S+)/.exec(out)?.[1];
      assert.ok(status && token, out);
      assert.equal((await fetch(`${status}/api/devices`)).status, 401);
      const devices = (await (await fetch(`${status}/api/devices`, { headers: { authorization: `Bearer ${token}` } })).json()) as { total: number };
      assert.equal(devices.total, 9, 'four hand-mapped devices and five imported ones');
      const { stdout } = await execFileAsync('/usr/bin/python3', [
        join(ROOT, 'test/integration/python/demo_login.py'),
        server[1]!,
        server[2]!,
        account,
        password,
        join(dir, 'prosody/certs/localhost.crt'),
        'home-kitchen@iot.localhost',
        '30',
      ]);
      const result = JSON.parse(stdout) as { tls: boolean; roster: Record<string, string>; online: string[]; message: { from: string; body: string; json: string } };
      assert.equal(result.tls, true);
      assert.deepEqual(result.roster, {
        'home-kitchen@iot.localhost': 'kitchen climate (home)',
        'home-bedroom@iot.localhost': 'bedroom climate (home)',
        'plug-kettle@iot.localhost': 'kettle plug',
        'door-front@iot.localhost': 'front door',
        // Imported without a mapping: a simulated Zigbee2MQTT network and an ESPHome node.
        '0x000b57fffec6a5b2@iot.localhost': 'living room/ceiling',
        '0x0017880104e45524@iot.localhost': 'coffee machine',
        '0x0017880104e45522@iot.localhost': 'balcony climate',
        '0x0017880104e45520@iot.localhost': 'hall switch',
        '240ac4a1b2c3@iot.localhost': 'Kitchen',
      });
      assert.ok(result.online.includes('0x000b57fffec6a5b2@iot.localhost'), JSON.stringify(result));
      assert.ok(result.online.includes('240ac4a1b2c3@iot.localhost'), JSON.stringify(result));
      assert.ok(result.online.includes('home-kitchen@iot.localhost'), JSON.stringify(result));
      assert.ok(result.online.includes('plug-kettle@iot.localhost'), JSON.stringify(result));
      assert.match(result.message.body, /^-?\d+\.\d °C, \d+ % RH$/);
      assert.equal(typeof (JSON.parse(result.message.json) as { temperature: unknown }).temperature, 'number');
    } finally {
      demo.kill('SIGINT');
      const { code } = await exitOf(demo, 20_000);
      assert.equal(code, 0, demo.output());
    }
    assert.ok(existsSync(join(dir, 'bridge.log')), 'the given --dir is kept');
  });
});
