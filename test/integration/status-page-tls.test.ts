/**
 * The status page over HTTPS, with the broker's certificate handling: the certificate and key are checked at start,
 * the session cookie is `Secure`, and a certificate replaced on disk (renamed over the old one, as certbot and editors
 * do) is used for the next connections without a restart. Certificates are made with openssl at test time.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { removeDir, requireCommand, startBridge, startTestServer, type RunningBridge, type TestServer } from './harness.js';

const TOKEN = 'https-status-page-token-0123456789';

function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  fingerprint: string;
}

/** One HTTPS request on a new connection, trusting only `ca`. */
function call(url: string, ca: Buffer, method = 'GET', body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, agent: false, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, fingerprint });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('status page over HTTPS', function () {
  let server: TestServer;
  let run: RunningBridge;
  let dir: string;
  let first: { cert: string; key: string };

  before(async function () {
    requireCommand('openssl', 'sudo apt-get install -y openssl');
    dir = mkdtempSync(join(tmpdir(), 'mxb-https-'));
    first = selfSigned(dir, 'page');
    server = await startTestServer();
    run = await startBridge({ server, config: { http: { enabled: true, port: 0, token: TOKEN, tls: { enabled: true, certFile: first.cert, keyFile: first.key } } } });
  });

  after(async function () {
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
    if (dir) removeDir(dir);
  });

  it('serves HTTPS with the configured certificate and sets a Secure session cookie', async function () {
    const base = run.bridge.httpUrl!;
    assert.match(base, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = readFileSync(first.cert);
    const health = await call(`${base}/healthz`, ca);
    assert.equal(health.status, 200);
    assert.equal(health.fingerprint, new X509Certificate(ca).fingerprint256);
    const login = await call(`${base}/login`, ca, 'POST', JSON.stringify({ token: TOKEN }));
    assert.equal(login.status, 200);
    const cookie = String(login.headers['set-cookie']);
    assert.match(cookie, /^mxb_session=[A-Za-z0-9_-]{43};/);
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; Secure/);
    assert.match(cookie, /; SameSite=Strict/);
  });

  it('uses a certificate replaced on disk for new connections, without a restart', async function () {
    const base = run.bridge.httpUrl!;
    const second = selfSigned(dir, 'renewed');
    const ca = readFileSync(second.cert);
    const wanted = new X509Certificate(ca).fingerprint256;
    // Renamed over the old files, the way certbot and editors replace them.
    renameSync(second.key, first.key);
    renameSync(second.cert, first.cert);
    const deadline = Date.now() + 10_000;
    let seen = '';
    while (seen !== wanted) {
      assert.ok(Date.now() < deadline, 'the new certificate was not used within 10 s');
      seen = await call(`${base}/healthz`, ca).then(
        (a) => a.fingerprint,
        () => '', // still the old certificate: not trusted by the new CA
      );
      if (seen !== wanted) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(seen, wanted);
  });
});
