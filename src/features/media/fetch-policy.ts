/**
 * Which URLs a command may make the bridge fetch, and how much of them (docs/MEDIA.md, "Commands carrying a file").
 * Pure: the I/O is in file-fetch.ts.
 *
 * A URL in a command comes from a user, so it is hostile until shown otherwise: fetched blindly, it would let anyone
 * who may command a device make the bridge read its own network (the status page, a cloud metadata address, a
 * router) and publish the answer. So a URL is fetched only when it names the sender's own upload host:
 *   - a host on `media.fetch.allowHosts` (the operator's word), or
 *   - for a user of the bridge's own XMPP server: the origin of the upload slots that server granted the bridge
 *     (its XEP-0363 service is the users' upload service), or
 *   - the sender's domain or a subdomain of it (`upload.example.org` for `alice@example.org`).
 * For a user of another server the name is theirs, but where it points is not checked by the name: such a fetch is
 * `guarded` — every address the name resolves to must be a public one (no loopback, private, link-local…), which
 * file-fetch.ts enforces at connect time so a second resolution cannot swap the address.
 */
import { BlockList, isIP } from 'node:net';
import { fail, ok, type Result } from '../../errors.js';

export interface FetchPolicy {
  /** The bridge's XMPP server domain: senders there are its local users. */
  readonly serverDomain: string;
  /** `host` (any port) or `host:port` entries every sender may name (config `media.fetch.allowHosts`). */
  readonly allowHosts: readonly string[];
  /** Origins (`http://host:port`) of upload slots the bridge's own server granted it. */
  readonly uploadOrigins: ReadonlySet<string>;
}

export interface AllowedUrl {
  readonly url: URL;
  /** The host is the sender's by name only: connect to public addresses only. */
  readonly guarded: boolean;
}

/** The domain of a JID (RFC 7622 §3.2): what follows the local part, without the resource; lower case. */
export function jidDomain(jid: string): string {
  const bare = jid.split('/')[0]!;
  const at = bare.lastIndexOf('@');
  return (at >= 0 ? bare.slice(at + 1) : bare).toLowerCase().replace(/\.$/, '');
}

/** The host of a URL as compared here: lower case, no trailing dot, IPv6 without brackets. */
function hostOf(url: URL): string {
  return url.hostname.toLowerCase().replace(/\.$/, '').replace(/^\[(.*)\]$/, '$1');
}

function defaultPort(url: URL): string {
  return url.port || (url.protocol === 'https:' ? '443' : '80');
}

/** Is `url` one the sender may have the bridge fetch? MEDIA_FETCH_HOST when not, with the reason. */
export function checkFileUrl(text: string, sender: string, policy: FetchPolicy): Result<AllowedUrl> {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return fail('MEDIA_FETCH_HOST', `"${text.slice(0, 200)}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail('MEDIA_FETCH_HOST', `only http and https URLs are fetched, not ${url.protocol}`);
  // Credentials in the URL would be sent to whatever host it names.
  if (url.username !== '' || url.password !== '') return fail('MEDIA_FETCH_HOST', 'a URL with a user name or password is not fetched');
  const host = hostOf(url);
  const port = defaultPort(url);
  for (const entry of policy.allowHosts) {
    const e = entry.toLowerCase();
    if (e === host || e === `${host}:${port}` || e === `[${host}]:${port}`) return ok({ url, guarded: false });
  }
  const domain = jidDomain(sender);
  const local = domain === policy.serverDomain.toLowerCase();
  if (local && policy.uploadOrigins.has(originOf(url))) return ok({ url, guarded: false });
  const own = host === domain || host.endsWith(`.${domain}`);
  if (!own) return fail('MEDIA_FETCH_HOST', `${host} is not the upload host of ${domain}: only files on the sender's own upload server are fetched`);
  if (local) return ok({ url, guarded: false });
  // A remote user's domain may be written as an address; it must still be a public one.
  if (isIP(host) !== 0 && !isPublicAddress(host)) return fail('MEDIA_FETCH_HOST', `${host} is not a public address`);
  return ok({ url, guarded: true });
}

/** `http://host:port` as the upload slots' origins are recorded (explicit port, so 80 and absent compare equal). */
export function originOf(url: URL): string {
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  return `${url.protocol}//${host}:${defaultPort(url)}`;
}

/** Addresses a guarded fetch may not connect to (RFC 6890 special-purpose ranges and their IPv6 counterparts). */
const NOT_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv6');
}

/** A public unicast address: not loopback, private, link-local, shared, multicast or reserved. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    // An IPv4-mapped address (::ffff:10.0.0.1) reaches the IPv4 address it carries.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return !NOT_PUBLIC.check(mapped[1]!, 'ipv4');
    return !NOT_PUBLIC.check(address, 'ipv6');
  }
  return !NOT_PUBLIC.check(address, 'ipv4');
}

/** The announced length against the cap, before any body is read: MEDIA_FETCH_SIZE when above it. */
export function checkContentLength(header: string | undefined, maxBytes: number): Result<number | undefined> {
  if (header === undefined || header === '') return ok(undefined);
  const n = Number(header);
  if (!/^\d+$/.test(header.trim()) || !Number.isSafeInteger(n)) return fail('MEDIA_FETCH_SIZE', `unreadable Content-Length "${header.slice(0, 40)}"`);
  if (n > maxBytes) return fail('MEDIA_FETCH_SIZE', `the file is ${n} bytes; at most ${maxBytes} are fetched`);
  return ok(n);
}

/**
 * Collects a body's chunks up to the cap; the chunk that passes it ends the fetch (a server that announced less, or
 * nothing, as a chunked body does, is cut off there — memory never holds more than the cap plus one chunk).
 */
export class ByteCap {
  private readonly chunks: Buffer[] = [];
  private length = 0;

  constructor(private readonly maxBytes: number) {}

  /** false once the bytes received pass the cap. */
  add(chunk: Buffer): boolean {
    this.length += chunk.byteLength;
    if (this.length > this.maxBytes) {
      this.chunks.length = 0;
      return false;
    }
    this.chunks.push(chunk);
    return true;
  }

  get received(): number {
    return this.length;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

/**
 * Does the sniffed type satisfy what the command accepts? `type/*` accepts the family; `application/octet-stream`
 * or no list accepts any bytes (firmware, which has no magic the bridge knows).
 */
export function mediaTypeAccepted(sniffed: string, accepted: readonly string[] | undefined): boolean {
  if (!accepted || accepted.length === 0) return true;
  return accepted.some((a) => {
    const t = a.toLowerCase();
    if (t === '*/*' || t === 'application/octet-stream') return true;
    if (t.endsWith('/*')) return sniffed.startsWith(t.slice(0, -1));
    return t === sniffed;
  });
}
