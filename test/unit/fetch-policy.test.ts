/**
 * The fetch policy of commands carrying a file, the pure parts: which URLs a sender may name (their own domain or a
 * subdomain, the origin of the bridge's own upload slots for local users, the operator's allow-list), the public
 * address check of a remote user's host, the Content-Length check, the streaming cap, and the media type check.
 * Also the mapping's `file:` key as the loader compiles it, and the form field it becomes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import { formPayload, schemaForm } from '../../src/convert/form.js';
import { ByteCap, checkContentLength, checkFileUrl, isPublicAddress, jidDomain, mediaTypeAccepted, originOf, type FetchPolicy } from '../../src/features/media/fetch-policy.js';
import { loadMappings } from '../../src/mapping/load.js';
import { SchemaRegistry } from '../../src/schemas/registry.js';
import type { LoadProblem } from '../../src/errors.js';

const policy: FetchPolicy = { serverDomain: 'example.org', allowHosts: [], uploadOrigins: new Set(['http://127.0.0.1:5280']) };

function code(r: { ok: boolean; error?: { code: string } }): string {
  return r.ok ? 'OK' : r.error!.code;
}

describe('fetch policy: the URL a command names', function () {
  it('takes the sender\'s domain and its subdomains, for local and remote users', function () {
    assert.deepEqual(checkFileUrl('https://example.org/f/a.png', 'alice@example.org', policy), { ok: true, value: { url: new URL('https://example.org/f/a.png'), guarded: false } });
    assert.equal(code(checkFileUrl('https://upload.example.org/f/a.png', 'alice@example.org', policy)), 'OK');
    const remote = checkFileUrl('https://share.b.test:8443/x.png', 'bob@b.test/phone', policy);
    assert.ok(remote.ok && remote.value.guarded, 'a remote user\'s host is fetched from public addresses only');
    assert.equal(code(checkFileUrl('https://UPLOAD.Example.ORG./a.png', 'alice@example.org', policy)), 'OK');
  });

  it('refuses any other host with MEDIA_FETCH_HOST', function () {
    for (const url of [
      'http://127.0.0.5:8080/a.png', // an address that is not the sender's upload host
      'https://evil.test/a.png',
      'https://example.org.evil.test/a.png', // the sender's domain as a prefix of another
      'https://notexample.org/a.png', // as a suffix without the dot
      'http://169.254.169.254/latest/meta-data/',
      'http://localhost:9000/',
    ]) {
      const r = checkFileUrl(url, 'alice@example.org', policy);
      assert.equal(code(r), 'MEDIA_FETCH_HOST', url);
    }
    // Another server's user cannot use the origin of this server's upload slots.
    assert.equal(code(checkFileUrl('http://127.0.0.1:5280/f/a.png', 'bob@b.test', policy)), 'MEDIA_FETCH_HOST');
  });

  it('refuses what is not an http(s) URL, and URLs carrying credentials', function () {
    for (const url of ['not a url', 'file:///etc/passwd', 'ftp://example.org/a.png', 'gopher://example.org/', 'https://user:pw@example.org/a.png', 'javascript:alert(1)']) {
      assert.equal(code(checkFileUrl(url, 'alice@example.org', policy)), 'MEDIA_FETCH_HOST', url);
    }
  });

  it('takes the origin of the bridge\'s own upload slots for local users, port included', function () {
    assert.deepEqual(checkFileUrl('http://127.0.0.1:5280/file_share/x/a.png', 'alice@example.org', policy), {
      ok: true,
      value: { url: new URL('http://127.0.0.1:5280/file_share/x/a.png'), guarded: false },
    });
    assert.equal(code(checkFileUrl('http://127.0.0.1:5281/file_share/x/a.png', 'alice@example.org', policy)), 'MEDIA_FETCH_HOST');
    assert.equal(code(checkFileUrl('https://127.0.0.1:5280/file_share/x/a.png', 'alice@example.org', policy)), 'MEDIA_FETCH_HOST');
    assert.equal(originOf(new URL('http://Upload.Example.org/a')), 'http://upload.example.org:80');
    assert.equal(originOf(new URL('https://upload.example.org:443/a')), 'https://upload.example.org:443');
  });

  it('takes the allow-list for every sender, by host or host:port', function () {
    const p = { ...policy, allowHosts: ['files.example.net', 'cdn.example.com:8443'] };
    assert.deepEqual(checkFileUrl('https://files.example.net:9999/a', 'bob@b.test', p), { ok: true, value: { url: new URL('https://files.example.net:9999/a'), guarded: false } });
    assert.equal(code(checkFileUrl('https://cdn.example.com:8443/a', 'bob@b.test', p)), 'OK');
    assert.equal(code(checkFileUrl('https://cdn.example.com/a', 'bob@b.test', p)), 'MEDIA_FETCH_HOST');
  });

  it('refuses a remote user\'s domain written as a private address', function () {
    assert.equal(code(checkFileUrl('http://10.1.2.3/a.png', 'bob@10.1.2.3', policy)), 'MEDIA_FETCH_HOST');
    assert.equal(code(checkFileUrl('http://[::1]/a.png', 'bob@[::1]', policy)), 'MEDIA_FETCH_HOST');
  });

  it('knows the domain of a JID', function () {
    assert.equal(jidDomain('alice@Example.ORG/phone'), 'example.org');
    assert.equal(jidDomain('example.org'), 'example.org');
  });
});

describe('fetch policy: public addresses', function () {
  it('refuses loopback, private, link-local, shared, multicast and mapped ones', function () {
    for (const a of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'not-an-ip']) {
      assert.equal(isPublicAddress(a), false, a);
    }
  });

  it('takes public unicast ones', function () {
    for (const a of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:2800:220:1::1', '::ffff:8.8.8.8']) assert.equal(isPublicAddress(a), true, a);
  });
});

describe('fetch policy: size and type', function () {
  it('checks the announced length before the body', function () {
    assert.deepEqual(checkContentLength(undefined, 100), { ok: true, value: undefined });
    assert.deepEqual(checkContentLength('100', 100), { ok: true, value: 100 });
    assert.equal(code(checkContentLength('101', 100)), 'MEDIA_FETCH_SIZE');
    assert.equal(code(checkContentLength('-1', 100)), 'MEDIA_FETCH_SIZE');
    assert.equal(code(checkContentLength('12, 12', 100)), 'MEDIA_FETCH_SIZE');
  });

  it('cuts a body off at the cap, whatever was announced', function () {
    const cap = new ByteCap(10);
    assert.equal(cap.add(Buffer.alloc(6, 1)), true);
    assert.equal(cap.add(Buffer.alloc(4, 2)), true);
    assert.deepEqual(cap.bytes(), Buffer.concat([Buffer.alloc(6, 1), Buffer.alloc(4, 2)]));
    assert.equal(cap.add(Buffer.alloc(1)), false);
    assert.equal(cap.received, 11);
  });

  it('accepts the sniffed type by exact type, family, or any bytes', function () {
    assert.equal(mediaTypeAccepted('image/png', ['image/png']), true);
    assert.equal(mediaTypeAccepted('image/jpeg', ['image/png']), false);
    assert.equal(mediaTypeAccepted('image/jpeg', ['image/*']), true);
    assert.equal(mediaTypeAccepted('application/pdf', ['image/*']), false);
    assert.equal(mediaTypeAccepted('application/octet-stream', ['application/octet-stream']), true);
    assert.equal(mediaTypeAccepted('image/png', undefined), true);
  });
});

describe('commands carrying a file: the mapping and the form', function () {
  let dir: string;
  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'mxb-file-cmd-'));
    writeFileSync(
      join(dir, 'image.schema.json'),
      JSON.stringify({ $id: 'urn:test:display-image', type: 'object', required: ['image'], properties: { image: { type: 'string', format: 'uri', contentMediaType: 'image/png' }, x: { type: 'integer' } } }),
    );
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  function load(command: string): { mappings: ReturnType<typeof loadMappings>; problems: LoadProblem[] } {
    const file = join(dir, 'display.yaml');
    writeFileSync(file, ['mappings:', '  - id: display', '    topic: displays/{d}/state', '    jid: "display-{d}"', '    schema: image.schema.json', '    commands:', command].join('\n'));
    const problems: LoadProblem[] = [];
    const registry = new SchemaRegistry();
    registry.loadAll([join(dir, 'image.schema.json')], problems);
    const mappings = loadMappings([file], { registry, jidVariables: { serverDomain: 'example.org' } }, problems);
    return { mappings, problems };
  }

  it('compiles file: with the media type from the schema\'s contentMediaType', function () {
    const { mappings, problems } = load('      - { name: show, topic: "displays/{d}/image", schema: image.schema.json, file: { key: image, oob: true } }');
    assert.deepEqual(problems, []);
    assert.deepEqual(mappings[0]?.commands[0]?.file, { key: 'image', mediaTypes: ['image/png'], encoding: 'binary', oob: true });
  });

  it('refuses a file key that is not a property, and a payload beside a file', function () {
    const a = load('      - { name: show, topic: "displays/{d}/image", schema: image.schema.json, file: { key: picture } }');
    assert.match(a.problems.map((p) => `${p.path}: ${p.message}`).join('\n'), /commands\/0\/file\/key: "picture" is not a property/);
    const b = load('      - { name: show, topic: "displays/{d}/image", schema: image.schema.json, file: { key: image }, payload: { format: fixed, payload: x } }');
    assert.match(b.problems.map((p) => p.message).join('\n'), /takes no "payload"/);
  });

  it('shows the URL field as an xs:anyURI text field, and reads it back', function () {
    const schema = { type: 'object', properties: { image: { type: 'string', format: 'uri', contentMediaType: 'image/png' } } };
    const field = schemaForm(schema, 'Display').getChild('field')!;
    assert.equal(field.attrs['type'], 'text-single');
    assert.equal(field.getChild('validate', 'http://jabber.org/protocol/xdata-validate')?.attrs['datatype'], 'xs:anyURI');
    const submitted = xml('x', { xmlns: 'jabber:x:data', type: 'submit' }, xml('field', { var: 'image' }, xml('value', {}, 'http://localhost/a.png')));
    assert.deepEqual(formPayload(schema, submitted), { ok: true, value: { image: 'http://localhost/a.png' } });
  });
});
