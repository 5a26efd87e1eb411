/**
 * Commands carrying a file, on a real Prosody with mod_http_file_share and the real broker: a user uploads an image
 * through XEP-0363 (a slot requested as the user, then PUT) and gives its URL to a display — in an XEP-0050 form, or as
 * an XEP-0066 OOB message, as clients share a file — and the display, subscribed to its command topic over MQTT,
 * receives bytes identical to the upload. Hostile URLs are refused, each with its exact outcome: a host that is not
 * the user's upload host (that server sees no request at all), a sender who may not command the device (no request
 * either), a file above the size limit by its Content-Length, a body without a length or chunked past the limit (cut
 * off), a server that never finishes (timeout), a redirect, and a file of the wrong media type.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { FileFetcher } from '../../src/features/media/file-fetch.js';
import { closeMqtt, isMessageFrom, mqttClient, nextMqttMessage, removeDir, startBridge, startTestServer, type RunningBridge, type TestServer, type XmppUser } from './harness.js';

const DISPLAY = 'display-lobby@iot.localhost';
const IMAGE_TOPIC = 'displays/lobby/image';
const FIRMWARE_TOPIC = 'displays/lobby/firmware';
const EVENT_TOPIC = 'mqtt-xmpp-bridge/bridge/event';
const NS_ADHOC = 'http://jabber.org/protocol/commands';
const NS_UPLOAD = 'urn:xmpp:http:upload:0';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const MAX_BYTES = 100_000;

/** Bytes that start as a PNG (the signature), so the bridge sniffs image/png. */
function png(size: number): Buffer {
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(size - 8)]);
}
function jpeg(size: number): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(size - 4)]);
}
function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A temp dir with `mappings/display.yaml` and its schemas in `schemas/`. */
function mappingFiles(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mxb-command-files-'));
  mkdirSync(join(dir, 'mappings'));
  mkdirSync(join(dir, 'schemas'));
  writeFileSync(join(dir, 'schemas/status.schema.json'), JSON.stringify({ $id: 'urn:test:files:status', type: 'object' }));
  writeFileSync(
    join(dir, 'schemas/image.schema.json'),
    JSON.stringify({ $id: 'urn:test:files:image', type: 'object', required: ['image'], properties: { image: { type: 'string', format: 'uri', contentMediaType: 'image/png' } } }),
  );
  writeFileSync(
    join(dir, 'schemas/firmware.schema.json'),
    JSON.stringify({ $id: 'urn:test:files:firmware', type: 'object', required: ['file', 'version'], properties: { file: { type: 'string', format: 'uri' }, version: { type: 'string' } } }),
  );
  writeFileSync(
    join(dir, 'mappings/display.yaml'),
    [
      'mappings:',
      '  - id: display',
      '    topic: displays/{device}/status',
      '    jid: "display-{device}"',
      '    schema: urn:test:files:status',
      '    availability: { clientId: "display-{device}" }',
      '    commands:',
      '      - name: show',
      '        description: Show an image',
      '        topic: displays/{device}/image',
      '        schema: urn:test:files:image',
      `        file: { key: image, maxBytes: ${MAX_BYTES}, oob: true }`,
      '      - name: firmware',
      '        topic: displays/{device}/firmware',
      '        schema: urn:test:files:firmware',
      '        file: { key: file, encoding: base64 }',
      '    access:',
      '      viewers: ["*@{serverDomain}"]',
      '      operators: ["alice@{serverDomain}"]',
    ].join('\n'),
  );
  return dir;
}

/**
 * A hostile HTTP server on its own loopback address, written on raw sockets so it can lie: it records every request
 * line, and answers by path — a Content-Length above the limit, a body longer than announced, a chunked body past the
 * limit, no answer at all, a redirect to the user's real file.
 */
class HostileServer {
  readonly requests: string[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  redirectTo = '';
  port = 0;

  constructor(readonly address: string) {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      let head = '';
      socket.on('data', (d) => {
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        const line = head.split('\r\n')[0]!;
        this.requests.push(line);
        this.answer(line.split(' ')[1] ?? '/', socket);
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, this.address, resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  url(path: string): string {
    return `http://${this.address}:${this.port}${path}`;
  }

  private answer(path: string, socket: Socket): void {
    const pngHead = png(8);
    switch (path) {
      case '/announced-too-big.png':
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: ${MAX_BYTES * 10}\r\n\r\n`);
        socket.write(pngHead);
        return; // the rest never comes: the bridge must not wait for it
      case '/unannounced.png':
        // No length and no chunking: the body ends when the connection does (RFC 9112 §6.3), which is never.
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: image/png\r\nconnection: close\r\n\r\n');
        this.flood(socket, pngHead, false);
        return;
      case '/chunked.png':
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ntransfer-encoding: chunked\r\n\r\n');
        this.flood(socket, pngHead, true);
        return;
      case '/slow.png':
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: 5000\r\n\r\n');
        socket.write(pngHead); // and then nothing
        return;
      case '/redirect.png':
        socket.end(`HTTP/1.1 302 Found\r\nlocation: ${this.redirectTo}\r\ncontent-length: 0\r\n\r\n`);
        return;
      default:
        socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
    }
  }

  /** 20 KiB chunks until the peer goes away (or 50 chunks: ten times the limit). */
  private flood(socket: Socket, first: Buffer, chunked: boolean): void {
    let sent = 0;
    const chunk = Buffer.concat([first, randomBytes(20 * 1024 - first.length)]);
    const more = (): void => {
      if (socket.destroyed || sent++ >= 50) return;
      const ok = socket.write(chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk);
      if (ok) setImmediate(more);
      else socket.once('drain', more);
    };
    more();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** XEP-0363 as a client: a slot requested as the user, the bytes PUT; the GET URL. */
async function upload(user: XmppUser, bytes: Buffer, contentType: string, filename: string): Promise<string> {
  const reply = await user.iq(xml('iq', { type: 'get', to: 'upload.localhost' }, xml('request', { xmlns: NS_UPLOAD, filename, size: String(bytes.length), 'content-type': contentType })));
  const slot = reply.getChild('slot', NS_UPLOAD);
  assert.ok(slot, `no slot: ${String(reply)}`);
  const put = slot.getChild('put')!;
  // XEP-0363 §5: the headers the slot names (Prosody's Authorization token) go with the PUT.
  const headers: Record<string, string> = { 'content-type': contentType };
  for (const h of put.getChildren('header')) headers[String(h.attrs['name'])] = h.text();
  const res = await fetch(put.attrs['url'] as string, { method: 'PUT', body: bytes, headers });
  assert.equal(res.status, 201);
  return slot.getChild('get')!.attrs['url'] as string;
}

function adhocSubmit(node: string, fields: Record<string, string>): Element {
  return xml(
    'iq',
    { type: 'set', to: DISPLAY },
    xml('command', { xmlns: NS_ADHOC, node, action: 'execute' }, xml('x', { xmlns: 'jabber:x:data', type: 'submit' }, ...Object.entries(fields).map(([k, v]) => xml('field', { var: k }, xml('value', {}, v))))),
  );
}

function errorOf(reply: Element): { condition: string | undefined; text: string } {
  const e = reply.getChild('error');
  return { condition: e?.getChildElements().find((c) => c.attrs['xmlns'] === NS_STANZAS && c.name !== 'text')?.name, text: e?.getChildText('text', NS_STANZAS) ?? '' };
}

async function nextEventOf(c: MqttClient, type: string, code: string): Promise<Record<string, unknown>> {
  for (;;) {
    const e = JSON.parse((await nextMqttMessage(c, EVENT_TOPIC)).toString()) as { type: string; data: Record<string, unknown> };
    if (e.type === type && e.data['code'] === code) return e.data;
  }
}

describe('commands carrying a file: fetched from the user\'s own upload server, published as bytes', function () {
  this.timeout(60_000);
  let server: TestServer;
  let run: RunningBridge;
  let alice: XmppUser;
  let bob: XmppUser;
  let display: MqttClient;
  let watcher: MqttClient;
  let hostile: HostileServer;
  let stranger: HostileServer;
  let mappings: string;
  /** Everything the display received on its command topics. */
  const received: { topic: string; payload: Buffer }[] = [];

  before(async function () {
    server = await startTestServer({ fileShare: { sizeLimit: 1_000_000, dailyQuota: 10_000_000 } });
    // Two hostile servers: one the operator allowed (to test size, time and redirects), one nobody allowed.
    hostile = new HostileServer('127.0.0.5');
    stranger = new HostileServer('127.0.0.6');
    await hostile.start();
    await stranger.start();
    mappings = mappingFiles();
    run = await startBridge({
      server,
      mappings: [join(mappings, 'mappings')],
      schemas: [join(mappings, 'schemas')],
      config: { media: { fetch: { timeoutSeconds: 2, allowHosts: [`127.0.0.5:${hostile.port}`] } } },
    });
    alice = await server.user('alice');
    bob = await server.user('bob');
    watcher = await mqttClient(run.mqttUrl, { clientId: 'watcher' });
    await watcher.subscribeAsync(EVENT_TOPIC, { qos: 1 });
    display = await mqttClient(run.mqttUrl, { clientId: 'display-lobby' });
    display.on('message', (topic, payload) => received.push({ topic, payload }));
    await display.subscribeAsync([IMAGE_TOPIC, FIRMWARE_TOPIC], { qos: 1 });
    await display.publishAsync('displays/lobby/status', '{}', { qos: 1 });
    // The display is known and online once its session and status arrived.
    await alice.iq(xml('iq', { type: 'get', to: DISPLAY }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
  });

  after(async function () {
    await closeMqtt(display, watcher);
    await run?.stop();
    await hostile?.stop();
    await stranger?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
    if (mappings) removeDir(mappings);
  });

  it('shows the file field of the XEP-0050 form as an xs:anyURI URL field', async function () {
    const reply = await alice.iq(xml('iq', { type: 'set', to: DISPLAY }, xml('command', { xmlns: NS_ADHOC, node: 'show', action: 'execute' })));
    const field = reply.getChild('command', NS_ADHOC)?.getChild('x', 'jabber:x:data')?.getChildren('field').find((f) => f.attrs['var'] === 'image');
    assert.equal(field?.attrs['type'], 'text-single');
    assert.equal(field?.getChild('validate', 'http://jabber.org/protocol/xdata-validate')?.attrs['datatype'], 'xs:anyURI');
  });

  it('(a) completes the ad-hoc command with the URL of an uploaded image: the display receives the same bytes', async function () {
    const bytes = png(50_000);
    const url = await upload(alice, bytes, 'image/png', 'lobby.png');
    const got = nextMqttMessage(display, IMAGE_TOPIC);
    const reply = await alice.iq(adhocSubmit('show', { image: url }));
    assert.equal(sha256(await got), sha256(bytes));
    const command = reply.getChild('command', NS_ADHOC);
    assert.equal(command?.attrs['status'], 'completed', String(reply));
    assert.equal(command?.getChildText('note'), `show: image/png, 50000 bytes (SHA-256 ${sha256(bytes)}) sent on ${IMAGE_TOPIC}.`);
  });

  it('(b) takes an OOB message with the URL: the display receives the same bytes, the user a success reply', async function () {
    const bytes = png(60_000);
    const url = await upload(alice, bytes, 'image/png', 'second.png');
    const got = nextMqttMessage(display, IMAGE_TOPIC);
    const answer = alice.waitFor(isMessageFrom(DISPLAY, (m) => m.getChildText('body')?.startsWith('✓') === true || m.getChildText('body')?.startsWith('✗') === true), 'the outcome');
    await alice.send(xml('message', { to: DISPLAY, type: 'chat', id: 'oob1' }, xml('body', {}, url), xml('x', { xmlns: 'jabber:x:oob' }, xml('url', {}, url))));
    assert.equal(sha256(await got), sha256(bytes));
    assert.equal((await answer).getChildText('body'), `✓ show: image/png, 60000 bytes (SHA-256 ${sha256(bytes)}) sent on ${IMAGE_TOPIC}`);
  });

  it('publishes a file base64 in the command\'s JSON when the command says so (a firmware chunk)', async function () {
    const bytes = randomBytes(3000);
    const url = await upload(alice, bytes, 'application/octet-stream', 'fw.bin');
    const got = nextMqttMessage(display, FIRMWARE_TOPIC);
    const reply = await alice.iq(adhocSubmit('firmware', { file: url, version: '1.2.3' }));
    assert.equal(reply.getChild('command', NS_ADHOC)?.attrs['status'], 'completed', String(reply));
    assert.deepEqual(JSON.parse((await got).toString()), { file: bytes.toString('base64'), version: '1.2.3' });
  });

  it('refuses a URL on a host that is not the user\'s upload host (MEDIA_FETCH_HOST), and never contacts it', async function () {
    const event = nextEventOf(watcher, 'command_failed', 'MEDIA_FETCH_HOST');
    const reply = await alice.iq(adhocSubmit('show', { image: stranger.url('/a.png') }));
    assert.equal(reply.attrs['type'], 'error');
    const e = errorOf(reply);
    assert.equal(e.condition, 'forbidden');
    assert.equal(e.text, '127.0.0.6 is not the upload host of localhost: only files on the sender\'s own upload server are fetched');
    const data = await event;
    assert.equal(data['from'], 'alice@localhost');
    assert.equal(data['command'], 'show');
    assert.deepEqual(stranger.requests, []);
  });

  it('refuses a sender who may not command the device before any fetch (FORBIDDEN)', async function () {
    const answer = bob.waitFor(isMessageFrom(DISPLAY, (m) => m.getChildText('body') !== null), 'the refusal');
    const url = hostile.url('/bob.png');
    await bob.send(xml('message', { to: DISPLAY, type: 'chat' }, xml('body', {}, url), xml('x', { xmlns: 'jabber:x:oob' }, xml('url', {}, url))));
    assert.equal((await answer).getChildText('body'), `✗ forbidden: bob@localhost may not command ${DISPLAY}`);
    const reply = await bob.iq(adhocSubmit('show', { image: url }));
    assert.equal(errorOf(reply).condition, 'forbidden');
    assert.deepEqual(hostile.requests.filter((r) => r.includes('/bob.png')), []);
  });

  it('refuses a file above the limit by its Content-Length (MEDIA_FETCH_SIZE), the real upload server\'s too', async function () {
    const url = await upload(alice, png(150_000), 'image/png', 'big.png');
    const real = errorOf(await alice.iq(adhocSubmit('show', { image: url })));
    assert.deepEqual(real, { condition: 'policy-violation', text: `the file is 150000 bytes; at most ${MAX_BYTES} are fetched` });
    const lying = errorOf(await alice.iq(adhocSubmit('show', { image: hostile.url('/announced-too-big.png') })));
    assert.deepEqual(lying, { condition: 'policy-violation', text: `the file is ${MAX_BYTES * 10} bytes; at most ${MAX_BYTES} are fetched` });
  });

  it('cuts off a body without a length, and a chunked one, at the limit (MEDIA_FETCH_SIZE)', async function () {
    const unannounced = errorOf(await alice.iq(adhocSubmit('show', { image: hostile.url('/unannounced.png') })));
    assert.deepEqual(unannounced, { condition: 'policy-violation', text: `GET ${hostile.url('/unannounced.png')}: the body passed ${MAX_BYTES} bytes (no length announced); cut off` });
    const chunked = errorOf(await alice.iq(adhocSubmit('show', { image: hostile.url('/chunked.png') })));
    assert.deepEqual(chunked, { condition: 'policy-violation', text: `GET ${hostile.url('/chunked.png')}: the body passed ${MAX_BYTES} bytes (no length announced); cut off` });
  });

  it('gives up on a server that does not finish in time (MEDIA_FETCH_TIMEOUT)', async function () {
    const slow = errorOf(await alice.iq(adhocSubmit('show', { image: hostile.url('/slow.png') })));
    assert.deepEqual(slow, { condition: 'remote-server-timeout', text: `GET ${hostile.url('/slow.png')}: no complete answer within 2000 ms` });
  });

  it('follows no redirect, even to the user\'s own file (MEDIA_FETCH_STATUS)', async function () {
    hostile.redirectTo = await upload(alice, png(1000), 'image/png', 'target.png');
    const r = errorOf(await alice.iq(adhocSubmit('show', { image: hostile.url('/redirect.png') })));
    assert.deepEqual(r, { condition: 'not-acceptable', text: `GET ${hostile.url('/redirect.png')}: HTTP 302 (redirects are not followed)` });
  });

  it('refuses a file whose bytes are not the accepted media type (MEDIA_FETCH_TYPE), whatever its name says', async function () {
    const url = await upload(alice, jpeg(5000), 'image/png', 'pretends.png');
    const answer = alice.waitFor(isMessageFrom(DISPLAY, (m) => m.getChildText('body')?.startsWith('✗') === true), 'the refusal');
    await alice.send(xml('message', { to: DISPLAY, type: 'chat' }, xml('body', {}, url), xml('x', { xmlns: 'jabber:x:oob' }, xml('url', {}, url))));
    assert.equal((await answer).getChildText('body'), '✗ media fetch type: the file is image/jpeg (by its bytes); the command accepts image/png');
  });

  it('published nothing for any refused command', function () {
    // Three files went through: the two images and the firmware; every refusal above published nothing.
    assert.deepEqual(
      received.map((m) => m.topic),
      [IMAGE_TOPIC, IMAGE_TOPIC, FIRMWARE_TOPIC],
    );
  });
});

describe('commands carrying a file: a remote user\'s domain that resolves to an internal address', function () {
  let server: HostileServer;
  let fetcher: FileFetcher;

  before(async function () {
    server = new HostileServer('127.0.0.1');
    await server.start();
    // The bridge's server is example.org; the sender is a user of "localhost", another server as far as it knows.
    fetcher = new FileFetcher({ serverDomain: 'example.org', allowHosts: [], maxBytes: MAX_BYTES, timeoutMs: 2000, concurrency: 2 });
  });

  after(async function () {
    await fetcher?.close();
    await server?.stop();
  });

  it('is refused when connecting (MEDIA_FETCH_HOST), and the internal server sees no request', async function () {
    const r = await fetcher.fetch({ sender: 'mallory@localhost', deviceJid: DISPLAY, url: `http://localhost:${server.port}/internal.png` });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.code, 'MEDIA_FETCH_HOST');
    assert.match(!r.ok ? r.error.message : '', /^localhost resolves to (127\.0\.0\.1|::1), not a public address$/);
    assert.deepEqual(server.requests, []);
  });

  it('is refused without any connection when written as an internal address', async function () {
    const r = await fetcher.fetch({ sender: 'mallory@127.0.0.1', deviceJid: DISPLAY, url: `http://127.0.0.1:${server.port}/internal.png` });
    assert.deepEqual(!r.ok && [r.error.code, r.error.message], ['MEDIA_FETCH_HOST', '127.0.0.1 is not a public address']);
    assert.deepEqual(server.requests, []);
  });
});
