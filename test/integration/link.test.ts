/**
 * The component link as an operator reads it: one deadline per connection attempt (handshakeTimeoutMs, not the
 * library's 2 s), timeouts that say what timed out, and a refusal reported once — one line on stderr, one `fatal`
 * record in the structured log.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import { pino } from 'pino';
import { ComponentLink } from '../../src/xmpp/component.js';
import { freePort } from '../../src/servers/ports.js';
import { exitOf, removeDir, spawnCli, startTestServer, writeBridgeConfig, type ProsodyTestServer } from './harness.js';

interface LogLine {
  level: number;
  msg: string;
  err?: string;
}

/** A logger that keeps its lines, and lets a test wait for one. */
function capturingLogger(): { log: pino.Logger; lines: LogLine[]; next: (msg: string, timeoutMs: number) => Promise<LogLine> } {
  const lines: LogLine[] = [];
  let waiter: { msg: string; resolve: (l: LogLine) => void } | undefined;
  const log = pino(
    { level: 'debug' },
    {
      write(text: string): void {
        const line = JSON.parse(text) as LogLine;
        lines.push(line);
        if (waiter && line.msg === waiter.msg) waiter.resolve(line);
      },
    },
  );
  const next = (msg: string, timeoutMs: number): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${msg}" log line within ${timeoutMs} ms`)), timeoutMs);
      waiter = {
        msg,
        resolve: (l) => {
          clearTimeout(timer);
          waiter = undefined;
          resolve(l);
        },
      };
    });
  return { log, lines, next };
}

describe('component link: timeouts and refusals, as logged', function () {
  this.timeout(60_000);
  let server: ProsodyTestServer;
  let link: ComponentLink | undefined;

  beforeEach(async function () {
    server = await startTestServer();
  });

  afterEach(async function () {
    server.prosody.resume();
    await link?.stop();
    link = undefined;
    await server.stop();
  });

  function newLink(log: pino.Logger, handshakeTimeoutMs: number): ComponentLink {
    // A long first backoff: one attempt is all these tests look at.
    return new ComponentLink({ service: server.service, domain: server.domain, secret: server.secret, log, handshakeTimeoutMs, initialDelayMs: 60_000 });
  }

  it('gives a connection attempt handshakeTimeoutMs (not the library\'s 2 s) and says what it waited for', async function () {
    const { log, next } = capturingLogger();
    server.prosody.freeze(); // the kernel still accepts the TCP connection; nobody answers the stream header
    link = newLink(log, 3000);
    link.start().catch(() => undefined);
    const failed = await next('XMPP server connection failed', 10_000);
    assert.equal(failed.err, 'no stream header from the server within 3000 ms');
  });

  it('an unanswered IQ rejects with a message naming the request and the wait', async function () {
    const { log } = capturingLogger();
    link = newLink(log, 5000);
    await link.start();
    server.prosody.freeze();
    const ping = xml('iq', { type: 'get', id: 'barrier-7', to: server.domain, from: server.domain }, xml('ping', { xmlns: 'urn:xmpp:ping' }));
    await assert.rejects(link.request(ping, 1000), { name: 'TimeoutError', message: 'no reply to iq barrier-7 (ping) within 1000 ms' });
  });

  it('keeps trying while nothing listens on the component port (the server is down), and never exits', async function () {
    const port = await freePort(); // nothing listens there: every attempt is refused (ECONNREFUSED)
    const cfg = writeBridgeConfig({ server, config: { log: { level: 'info' }, xmpp: { service: `xmpp://127.0.0.1:${port}` } } });
    const bridge = spawnCli(['start', '--config', cfg.configFile]);
    try {
      const failures = (): number => bridge.output().split('\n').filter((l) => l.includes('"msg":"XMPP server connection failed"') && l.includes('ECONNREFUSED')).length;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`fewer than 3 refused attempts within 20 s:\n${bridge.output()}`)), 20_000);
        const check = (): void => {
          if (failures() < 3) return;
          clearTimeout(timer);
          resolve();
        };
        bridge.stdout!.on('data', check);
        bridge.once('exit', (code) => reject(new Error(`the bridge exited (${code}) while the server was down:\n${bridge.output()}`)));
      });
      assert.equal(bridge.exitCode, null, 'still running');
    } finally {
      bridge.kill('SIGTERM');
      assert.equal((await exitOf(bridge, 15_000)).code, 0, bridge.output());
      removeDir(cfg.dir);
    }
  });

  it('a second bridge on the same domain: exit 2, one line on stderr, one fatal record in the log', async function () {
    // Logs on stdout (no log.file), as when run by hand or by systemd.
    const a = writeBridgeConfig({ server, config: { log: { level: 'info' } } });
    const b = writeBridgeConfig({ server, config: { log: { level: 'info' } } });
    const first = spawnCli(['start', '--config', a.configFile]);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the first bridge did not come online:\n${first.output()}`)), 15_000);
        first.stdout!.on('data', () => {
          if (!first.output().includes('"msg":"component online"')) return;
          clearTimeout(timer);
          resolve();
        });
      });
      const second = spawnCli(['start', '--config', b.configFile]);
      let stdout = '';
      let stderr = '';
      second.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      second.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      assert.equal((await exitOf(second, 15_000)).code, 2, second.output());

      const message = 'another component is already connected as iot.localhost (stream error conflict: Component already connected)';
      assert.equal(stderr, `mqtt-xmpp-bridge: ${message}\n`);
      const records = stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as LogLine);
      assert.deepEqual(
        records.filter((r) => r.level === 60).map((r) => r.msg),
        [message],
      );
      assert.equal(first.exitCode, null, 'the first bridge is still running');
    } finally {
      first.kill('SIGTERM');
      await exitOf(first, 15_000);
      removeDir(a.dir);
      removeDir(b.dir);
    }
  });
});
