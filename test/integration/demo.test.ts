/**
 * The demo works as it prints: run `mqtt-xmpp-bridge demo --host 127.0.0.7`, read the account it prints, log in at
 * once over STARTTLS with an independent client (slixmpp), find the devices in the roster with presence and their
 * latest readings — the hand-mapped ones and those imported from a simulated Zigbee2MQTT network and ESPHome node —
 * open the status page it prints with its token, and do every "thing to try" exactly as printed — unplug and plug in
 * the kettle, add a sensor of one's own; Ctrl-C stops it all.
 *
 * Regressions: "running" is printed only once the bridge is connected to the restarted Prosody (a login at once sees
 * the devices, no `remote-server-timeout`); the demo listens where `--host` says and prints that address; the unplug
 * step has commands that work; the new sensor reaches a user who subscribes after its one reading.
 */
import assert from 'node:assert/strict';
import { exec, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { isLoopback, lanAddress } from '../../src/demo/run.js';
import { closeMqtt, exitOf, mqttClient, removeDir, requireCommand, ROOT, spawnCli } from './harness.js';

const execAsync = promisify(exec);
const HOST = '127.0.0.7';

interface PersonEvent {
  readonly event: string;
  readonly frm?: string;
  readonly type?: string;
  readonly status?: string | null;
  readonly error?: string | null;
  readonly body?: string;
  readonly roster?: Record<string, string>;
  readonly tls?: boolean;
  readonly nick?: string | null;
  readonly delay?: string | null;
}

/** The person's client, as a stream of events the test can wait for. */
class Person {
  readonly events: PersonEvent[] = [];
  private waiters: { pred: (e: PersonEvent) => boolean; resolve: (e: PersonEvent) => void }[] = [];
  private stderr = '';

  constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as PersonEvent;
      this.events.push(e);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(e)) return true;
        w.resolve(e);
        return false;
      });
    });
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  /** The first matching event, already seen or to come. */
  wait(pred: (e: PersonEvent) => boolean, what: string, timeoutMs = 30_000): Promise<PersonEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms:\n${this.events.map((e) => JSON.stringify(e)).join('\n')}\n${this.stderr}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  /** Events from now on only. */
  next(pred: (e: PersonEvent) => boolean, what: string, timeoutMs = 30_000): Promise<PersonEvent> {
    const from = this.events.length;
    return this.wait((e) => this.events.indexOf(e) >= from && pred(e), what, timeoutMs);
  }
}

describe('demo', function () {
  this.timeout(120_000);
  let dir: string;
  before(function () {
    requireCommand('mosquitto_pub', 'sudo apt-get install -y mosquitto-clients');
    dir = mkdtempSync(join(tmpdir(), 'mxb-demo-test-'));
  });
  after(function () {
    removeDir(dir);
  });

  it('prints an account that logs in at once with TLS, shows the devices with their readings, and every step works as printed', async function () {
    const demo = spawnCli(['demo', '--dir', dir, '--host', HOST]);
    let person: Person | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`demo did not get ready:\n${demo.output()}`)), 90_000);
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
      assert.equal(server[1], HOST, '--host: the address it listens on is the one printed');
      assert.match(out, /STARTTLS with a self-signed certificate/);
      const mqttPort = /mqtt:\/\/[\d.]+:(\d+)/.exec(out)![1]!;

      // Printed "running": the bridge is on the restarted server already.
      const watcher = await mqttClient(`mqtt://${HOST}:${mqttPort}`, { clientId: 'demo-test' });
      const info = new Promise<Buffer>((resolve) => watcher.on('message', (topic, payload) => topic === 'mqtt-xmpp-bridge/bridge/info' && resolve(payload)));
      await watcher.subscribeAsync('mqtt-xmpp-bridge/bridge/info');
      assert.equal((JSON.parse((await info).toString()) as { xmpp: { connected: boolean } }).xmpp.connected, true, 'the bridge is connected when the demo says it runs');
      await closeMqtt(watcher);

      // The status page: printed beside the account (on loopback whatever --host says), behind the printed token.
      const status = /status\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      const token = /token\s+(\S+)/.exec(out)?.[1];
      assert.ok(status && token, out);
      assert.equal((await fetch(`${status}/api/devices`)).status, 401);
      const devices = (await (await fetch(`${status}/api/devices`, { headers: { authorization: `Bearer ${token}` } })).json()) as { total: number };
      assert.equal(devices.total, 9, 'four hand-mapped devices and five imported ones');

      // A person logs in at once.
      const proc = spawn('/usr/bin/python3', [join(ROOT, 'test/integration/python/demo_person.py'), server[1], server[2]!, account, password, join(dir, 'prosody/certs/localhost.crt'), '100'], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      person = new Person(proc);
      const session = await person.wait((e) => e.event === 'session', 'the session');
      assert.equal(session.tls, true);
      assert.deepEqual(session.roster, {
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
      const p = person;
      const kitchen = await p.wait((e) => e.event === 'presence' && e.frm === 'home-kitchen@iot.localhost' && e.type === 'available', 'the kitchen online');
      assert.match(kitchen.status ?? '', /^-?\d+\.\d °C, \d+ % RH$/, 'its status line shows its latest reading');
      await p.wait((e) => e.event === 'presence' && e.frm === 'plug-kettle@iot.localhost' && e.type === 'available', 'the kettle online');
      // Imported devices are online too.
      await p.wait((e) => e.event === 'presence' && e.frm === '0x000b57fffec6a5b2@iot.localhost' && e.type === 'available', 'the imported Zigbee bulb online');
      await p.wait((e) => e.event === 'presence' && e.frm === '240ac4a1b2c3@iot.localhost' && e.type === 'available', 'the imported ESPHome node online');

      // Switch the kettle as printed: the answer reads like the plug's readings, and the switch is a reading line.
      const answer = p.next((e) => e.event === 'message' && e.frm === 'plug-kettle@iot.localhost' && (e.body ?? '').startsWith('✓'), 'the answer to "on"');
      const line = p.next((e) => e.event === 'message' && e.frm === 'plug-kettle@iot.localhost' && /^ON, \d+\.\d W$/.test(e.body ?? ''), 'the reading of the switched plug');
      proc.stdin.write(`${JSON.stringify({ to: 'plug-kettle@iot.localhost', body: 'on' })}\n`);
      assert.match((await answer).body ?? '', /^✓ set: confirmed — ON, \d+\.\d W$/);
      await line;

      // Unplug the kettle, then plug it back in, with the commands printed.
      const unplug = /^\s+(mosquitto_pub .* -m off)$/m.exec(out)?.[1];
      const plugIn = /^\s+(mosquitto_pub .* -m on)$/m.exec(out)?.[1];
      assert.ok(unplug && plugIn, out);
      const gone = p.next((e) => e.event === 'presence' && e.frm === 'plug-kettle@iot.localhost' && e.type === 'unavailable', 'the kettle offline');
      await execAsync(unplug);
      await gone;
      const back = p.next((e) => e.event === 'presence' && e.frm === 'plug-kettle@iot.localhost' && e.type === 'available', 'the kettle back');
      await execAsync(plugIn);
      await back;

      // Add a sensor of one's own: it asks to join the roster, and shows its one reading once accepted.
      const add = /^\s+(mosquitto_pub .* -i climate-home-garage .*)$/m.exec(out)?.[1];
      assert.ok(add, out);
      const asks = p.next((e) => e.event === 'subscribe' && e.frm === 'home-garage@iot.localhost', 'the garage sensor asking to join the roster');
      const shows = p.next((e) => e.event === 'message' && e.frm === 'home-garage@iot.localhost', 'the garage reading');
      await execAsync(add);
      assert.equal((await asks).nick, 'garage climate (home)', 'XEP-0172: it names itself');
      assert.equal((await shows).body, '12.5 °C, 80 % RH');

      const errors = p.events.filter((e) => e.event === 'presence' && e.type === 'error');
      assert.deepEqual(errors, [], 'no presence errors (remote-server-timeout) at any point');
    } finally {
      person?.proc.stdin!.end();
      if (person) await exitOf(person.proc, 10_000);
      demo.kill('SIGINT');
      const { code } = await exitOf(demo, 20_000);
      assert.equal(code, 0, demo.output());
    }
    assert.ok(existsSync(join(dir, 'bridge.log')), 'the given --dir is kept');
  });

  it('--public: prints the address of this machine on the network, and warns', function () {
    const interfaces = {
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
      eth0: [
        { address: 'fe80::1', family: 'IPv6', internal: false },
        { address: '192.168.1.23', family: 'IPv4', internal: false },
      ],
    };
    assert.equal(lanAddress(interfaces), '192.168.1.23');
    assert.equal(lanAddress({ lo: interfaces.lo }), undefined);
    assert.equal(isLoopback('127.0.0.7'), true);
    assert.equal(isLoopback('0.0.0.0'), false);
  });
});
