/**
 * The command line as an operator meets it: `validate` lists every problem with file and JSON path; `start` takes
 * its connection settings from the environment, stops cleanly on SIGTERM, and exits non-zero at once when the XMPP
 * server refuses the component.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMosquitto } from '../../src/servers/mosquitto.js';
import { exitOf, removeDir, ROOT, spawnCli, startTestServer, type TestServer } from './harness.js';

function waitForOutput(child: ReturnType<typeof spawnCli>, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => pattern.test(child.output());
    if (check()) return resolve();
    const timer = setTimeout(() => reject(new Error(`no ${pattern} in output within ${timeoutMs} ms:\n${child.output()}`)), timeoutMs);
    const on = (): void => {
      if (!check()) return;
      clearTimeout(timer);
      child.stdout!.off('data', on);
      child.stderr!.off('data', on);
      resolve();
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
  });
}

describe('command line', function () {
  let dir: string;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'mxb-cli-'));
  });
  after(function () {
    removeDir(dir);
  });

  it('prints help for every command', async function () {
    for (const args of [['--help'], ['start', '--help'], ['validate', '--help'], ['preview', '--help'], ['demo', '--help']]) {
      const child = spawnCli(args);
      const { code } = await exitOf(child, 10_000);
      assert.equal(code, 0, args.join(' '));
      assert.match(child.output(), /Usage: mqtt-xmpp-bridge/);
    }
  });

  it('validate accepts the shipped example configuration', async function () {
    writeFileSync(join(dir, 'secret'), 'x', { mode: 0o600 });
    const config = join(dir, 'ok.yaml');
    writeFileSync(config, `mappings: [${join(ROOT, 'mappings')}]\nschemas: [${join(ROOT, 'schemas')}]\nxmpp: { domain: iot.example.org, secretFile: ./secret }\n`);
    const child = spawnCli(['validate', '--config', config]);
    const { code } = await exitOf(child, 10_000);
    assert.equal(code, 0, child.output());
    assert.match(child.output(), /valid \(3 mappings: climate, door, plug\)/);
  });

  describe('preview', function () {
    let config: string;
    before(function () {
      writeFileSync(join(dir, 'secret'), 'x', { mode: 0o600 });
      config = join(dir, 'preview.yaml');
      writeFileSync(config, `mappings: [${join(ROOT, 'mappings')}]\nschemas: [${join(ROOT, 'schemas')}]\nxmpp: { domain: iot.example.org, secretFile: ./secret }\n`);
    });

    it('prints the mapping, the device and the exact stanza of a payload that would be delivered, and exits 0', async function () {
      const child = spawnCli(['preview', '--config', config, '--topic', 'sensors/home/kitchen/telemetry', '--payload', '{"temperature":21.5,"humidity":40}']);
      const { code } = await exitOf(child, 10_000);
      assert.equal(code, 0, child.output());
      assert.equal(
        child.output(),
        [
          'topic      sensors/home/kitchen/telemetry',
          'mapping    climate',
          'device     home-kitchen@iot.example.org (kitchen climate (home))',
          "result     delivered (and to the device's subscribers, known to the running bridge)",
          'stanza',
          '<message from="home-kitchen@iot.example.org" type="chat" id="preview"><body>21.5 °C, 40 % RH</body><json xmlns="urn:xmpp:json:0">{"temperature":21.5,"humidity":40}</json></message>',
          '',
        ].join('\n'),
      );
    });

    it('prints the validation errors of a payload that would be rejected, and exits 1', async function () {
      const payload = join(dir, 'bad.json');
      writeFileSync(payload, '{"temperature":"warm","humidity":140}');
      const child = spawnCli(['preview', '--config', config, '--topic', 'sensors/home/kitchen/telemetry', '--file', payload]);
      const { code } = await exitOf(child, 10_000);
      assert.equal(code, 1, child.output());
      assert.match(child.output(), /^result {5}rejected: PAYLOAD_INVALID: /m);
      assert.match(child.output(), /^errors\n {2}\/temperature: must be number\n {2}\/humidity: must be <= 100$/m);
    });

    it('answers JSON with --json, and exits 1 for a topic no mapping takes', async function () {
      const json = spawnCli(['preview', '--config', config, '--topic', 'plugs/kettle/state', '--payload', '{"state":"ON","power":3}', '--json']);
      assert.equal((await exitOf(json, 10_000)).code, 0, json.output());
      const r = JSON.parse(json.output()) as { outcome: string; mapping: string; device: { jid: string } };
      assert.deepEqual([r.outcome, r.mapping, r.device.jid], ['delivered', 'plug', 'plug-kettle@iot.example.org']);
      const unmapped = spawnCli(['preview', '--config', config, '--topic', 'nowhere', '--payload', '{}']);
      assert.equal((await exitOf(unmapped, 10_000)).code, 1);
      assert.match(unmapped.output(), /not mapped/);
    });
  });

  it('validate reports every problem of a broken mapping with file and JSON path, and exits 1', async function () {
    const mdir = join(dir, 'broken');
    mkdirSync(mdir, { recursive: true });
    const mapping = join(mdir, 'broken.yaml');
    writeFileSync(
      mapping,
      [
        'mappings:',
        '  - id: thermo',
        '    topic: sensors/{site}/{device}/telemetry',
        '    jid: "{device}"', // {site} unused: two sites would share one JID
        '    schema: urn:nope',
        '    body: "{temprature} °C"',
        '  - id: thermo', // duplicate id
        '    topic: other/{a}{b}', // a segment must fill a level
        '    jid: "x@{a}"',
        '    schema: urn:mqtt-xmpp-bridge:example:climate',
      ].join('\n'),
    );
    const config = join(dir, 'broken.yaml');
    writeFileSync(config, `mappings: [${mdir}]\nschemas: [${join(ROOT, 'schemas')}]\nxmpp: { domain: iot.example.org, secret: s }\n`);
    const child = spawnCli(['validate', '--config', config]);
    const { code } = await exitOf(child, 10_000);
    assert.equal(code, 1);
    const lines = child.output().trim().split('\n');
    assert.ok(lines.includes(`${mapping} /mappings/0/jid: segment {site} of the topic is not used, so different topics would map to one JID`), child.output());
    assert.ok(lines.includes(`${mapping} /mappings/0/schema: "urn:nope" is neither the $id of a loaded schema nor a schema file`), child.output());
    assert.ok(lines.some((l) => l.startsWith(`${mapping} /mappings/1/topic: level 2 ("{a}{b}")`)), child.output());
    assert.ok(lines.some((l) => l.startsWith(`${mapping} /mappings/1/jid:`)), child.output());
    assert.match(lines[lines.length - 1]!, /^\d+ problems found$/);
  });

  it('validate reports configuration errors with the JSON path, including bad environment values', async function () {
    const config = join(dir, 'badconfig.yaml');
    writeFileSync(config, 'mqtt:\n  embedded:\n    port: "eighty"\n    colour: blue\nxmpp: {}\n');
    const child = spawnCli(['validate', '--config', config], { BRIDGE_MQTT_WS_PORT: 'x' });
    const { code } = await exitOf(child, 10_000);
    assert.equal(code, 1);
    const out = child.output();
    assert.match(out, /env BRIDGE_MQTT_WS_PORT: "x" is not an integer/);
    assert.ok(out.includes(`${config} /mqtt/embedded/port: must be integer`), out);
    assert.ok(out.includes(`${config} /mqtt/embedded/colour: is not a known property`), out);
    assert.ok(out.includes(`${config} /xmpp/domain: is required`), out);
  });

  describe('start', function () {
    let server: TestServer;
    before(async function () {
      server = await startTestServer();
    });
    after(async function () {
      await server?.stop();
    });

    function config(): string {
      const file = join(dir, `start-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(file, `mappings: [${join(ROOT, 'mappings')}]\nschemas: [${join(ROOT, 'schemas')}]\nxmpp: { domain: placeholder.invalid }\n`);
      return file;
    }
    const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
      BRIDGE_XMPP_SERVICE: server.service,
      BRIDGE_XMPP_DOMAIN: server.domain,
      BRIDGE_XMPP_SECRET: server.secret,
      BRIDGE_MQTT_PORT: '0',
      BRIDGE_MQTT_WS_PORT: '0',
      BRIDGE_DATA_DIR: join(dir, `data-${Math.random().toString(36).slice(2)}`),
      ...extra,
    });

    it('takes its settings from the environment and stops cleanly on SIGTERM', async function () {
      const child = spawnCli(['start', '--config', config()], env());
      await waitForOutput(child, /"msg":"component online"/);
      child.kill('SIGTERM');
      const { code } = await exitOf(child, 15_000);
      assert.equal(code, 0, child.output());
      assert.match(child.output(), /"msg":"stopped"/);
    });

    it('stops cleanly on a SIGTERM that comes while it is still starting (its broker frozen before the CONNACK), and nothing runs after "stopped"', async function () {
      const mosquitto = await startMosquitto();
      try {
        const file = join(dir, 'frozen-broker.yaml');
        writeFileSync(
          file,
          `mappings: [${join(ROOT, 'test/fixtures/external/mappings')}]\nschemas: [${join(ROOT, 'schemas')}]\nxmpp: { domain: placeholder.invalid }\n` +
            `mqtt: { embedded: { enabled: false }, external: { url: "${mosquitto.url}", clientId: frozen-test } }\n`,
        );
        const pid = mosquitto.pid;
        assert.ok(pid !== undefined);
        // The broker accepts the TCP connection (the kernel does) but answers nothing: the start waits for its CONNACK.
        process.kill(pid, 'SIGSTOP');
        const child = spawnCli(['start', '--config', file], env());
        await waitForOutput(child, /"msg":"component online"/);
        child.kill('SIGTERM');
        await waitForOutput(child, /"msg":"stopping"/);
        // The broker answers after the SIGTERM: the start completes under the stop.
        process.kill(pid, 'SIGCONT');
        const { code } = await exitOf(child, 30_000);
        assert.equal(code, 0, child.output());
        const msgs = child
          .output()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => (JSON.parse(l) as { msg: string }).msg);
        assert.ok(msgs.includes('attached to the MQTT broker'), child.output());
        assert.ok(msgs.indexOf('attached to the MQTT broker') > msgs.indexOf('stopping'), 'attached during the stop');
        // The attachment the start made is closed by the stop, before it is reported done.
        assert.ok(msgs.indexOf('detached from the MQTT broker') > msgs.indexOf('attached to the MQTT broker'), child.output());
        assert.equal(msgs[msgs.length - 1], 'stopped', `the stop came last: nothing attached, received or failed after it\n${child.output()}`);
        assert.ok(!msgs.includes('bridge started'), 'not reported started');
      } finally {
        if (mosquitto.pid !== undefined) process.kill(mosquitto.pid, 'SIGCONT');
        await mosquitto.stop();
      }
    });

    it('exits with status 2 and a clear message when the component secret is wrong', async function () {
      const child = spawnCli(['start', '--config', config()], env({ BRIDGE_XMPP_SECRET: 'wrong' }));
      const { code, ms } = await exitOf(child, 15_000);
      assert.equal(code, 2, child.output());
      assert.ok(ms < 5000, `took ${ms} ms`);
      assert.match(child.output(), /mqtt-xmpp-bridge: the component secret is wrong \(stream error not-authorized/);
    });

    it('exits with status 2 when another bridge already holds the domain, and the first keeps running', async function () {
      const first = spawnCli(['start', '--config', config()], env());
      await waitForOutput(first, /"msg":"component online"/);
      const second = spawnCli(['start', '--config', config()], env());
      const { code, ms } = await exitOf(second, 15_000);
      assert.equal(code, 2, second.output());
      assert.ok(ms < 5000, `took ${ms} ms`);
      assert.match(second.output(), /another component is already connected as iot\.localhost/);
      assert.equal(first.exitCode, null, 'the first bridge is still running');
      first.kill('SIGTERM');
      assert.equal((await exitOf(first, 15_000)).code, 0);
    });
  });
});
