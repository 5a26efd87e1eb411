/**
 * Fetching the file a command carries (docs/MEDIA.md, "Commands carrying a file"): the URL is checked by
 * fetch-policy.ts first, then one GET with undici —
 *   - no redirect followed (a 3xx is MEDIA_FETCH_STATUS: a redirect could lead anywhere the check did not look),
 *   - the announced Content-Length checked against the cap before the body is read, then the body counted as it
 *     streams and cut off at the cap (a server that lies, or sends a chunked body, gets no further),
 *   - the whole exchange (connect, headers, body) within one time limit,
 *   - for a guarded URL (a remote user's domain), the connection made only to public addresses, checked on the
 *     addresses the name resolves to at connect time,
 *   - one fetch at a time per device and a few at once for the bridge; more are refused, not queued (MEDIA_FETCH_BUSY),
 *   - the media type sniffed from the bytes and checked against what the command accepts.
 * Nothing is sent with the request but the URL: no cookie, no credential, no header of the user's.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import { sniffMediaType } from '../../convert/media.js';
import { fail, ok, type Result } from '../../errors.js';
import { ByteCap, checkContentLength, checkFileUrl, isPublicAddress, jidDomain, mediaTypeAccepted } from './fetch-policy.js';

export interface FileFetchOptions {
  readonly serverDomain: string;
  readonly allowHosts: readonly string[];
  /** The default cap (a command may set a lower or higher one). */
  readonly maxBytes: number;
  readonly timeoutMs: number;
  /** Fetches the bridge runs at once. */
  readonly concurrency: number;
}

export interface FileRequest {
  /** Bare JID of the sender (already authorized to operate the device). */
  readonly sender: string;
  readonly deviceJid: string;
  readonly url: string;
  /** Accepted media types (`image/png`, `image/*`); none: any bytes. */
  readonly mediaTypes?: readonly string[];
  readonly maxBytes?: number;
}

export interface FetchedFile {
  readonly bytes: Buffer;
  readonly mediaType: string;
  readonly url: string;
}

/** How origins of the bridge's own upload slots are learned (upload.ts#slotOrigin), when needed. */
export type OriginSource = () => Promise<string | undefined>;

/** How long a learned upload origin (or the failure to learn one) is trusted before it is asked for again. */
const ORIGIN_TTL_MS = 5 * 60_000;

class AddressRefused extends Error {}

/** Resolve as usual, then refuse the connection if any address is not public (the check is on what is connected to). */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 4);
    const refused = addresses.find((a) => !isPublicAddress(a.address));
    if (refused || addresses.length === 0) return callback(new AddressRefused(`${hostname} resolves to ${refused?.address ?? 'nothing'}, not a public address`), '', 4);
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
    callback(null, addresses[0]!.address, addresses[0]!.family);
  });
};

export class FileFetcher {
  private readonly busyDevices = new Set<string>();
  private active = 0;
  private origins: { at: number; value: Set<string> } | undefined;
  private learning: Promise<void> | undefined;
  private readonly plain: Dispatcher;
  private readonly guarded: Dispatcher;

  constructor(
    private readonly opts: FileFetchOptions,
    private readonly learnOrigin: OriginSource = () => Promise.resolve(undefined),
    private readonly clock: () => number = Date.now,
  ) {
    // No pooled connection outlives a fetch for long: these are one-off downloads.
    this.plain = new Agent({ keepAliveTimeout: 1000, connections: opts.concurrency });
    this.guarded = new Agent({ keepAliveTimeout: 1000, connections: opts.concurrency, connect: { lookup: publicOnlyLookup } });
  }

  async close(): Promise<void> {
    await Promise.all([this.plain.close(), this.guarded.close()]);
  }

  async fetch(req: FileRequest): Promise<Result<FetchedFile>> {
    const allowed = await this.allowed(req);
    if (!allowed.ok) return allowed;
    if (this.busyDevices.has(req.deviceJid)) return fail('MEDIA_FETCH_BUSY', `a file for ${req.deviceJid} is being fetched already; send again when it is done`);
    if (this.active >= this.opts.concurrency) return fail('MEDIA_FETCH_BUSY', `the bridge is fetching ${this.active} files already; send again shortly`);
    this.busyDevices.add(req.deviceJid);
    this.active++;
    try {
      return await this.get(allowed.value.url, allowed.value.guarded, req);
    } finally {
      this.active--;
      this.busyDevices.delete(req.deviceJid);
    }
  }

  /** The host check; for a local user, the upload origin is learned (once, then cached) before refusing. */
  private async allowed(req: FileRequest): Promise<Result<{ url: URL; guarded: boolean }>> {
    const policy = { serverDomain: this.opts.serverDomain, allowHosts: this.opts.allowHosts, uploadOrigins: this.origins?.value ?? new Set<string>() };
    const first = checkFileUrl(req.url, req.sender, policy);
    if (first.ok || jidDomain(req.sender) !== this.opts.serverDomain.toLowerCase()) return first;
    if (this.origins && this.clock() - this.origins.at < ORIGIN_TTL_MS) return first;
    this.learning ??= this.learnOrigin()
      .catch(() => undefined)
      .then((origin) => {
        const value = new Set(this.origins?.value ?? []);
        if (origin) value.add(origin);
        this.origins = { at: this.clock(), value };
        this.learning = undefined;
      });
    await this.learning;
    return checkFileUrl(req.url, req.sender, { ...policy, uploadOrigins: this.origins?.value ?? new Set<string>() });
  }

  private async get(url: URL, guarded: boolean, req: FileRequest): Promise<Result<FetchedFile>> {
    const maxBytes = req.maxBytes ?? this.opts.maxBytes;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.opts.timeoutMs);
    const where = `${url.origin}${url.pathname.length > 80 ? `${url.pathname.slice(0, 80)}…` : url.pathname}`;
    try {
      const res = await request(url, {
        method: 'GET',
        dispatcher: guarded ? this.guarded : this.plain,
        signal: controller.signal,
        maxRedirections: 0,
        headers: { accept: (req.mediaTypes ?? []).join(', ') || '*/*' },
      });
      // Destroying the body (refused, cut off) makes it emit an AbortError: expected here, never to be unhandled.
      res.body.on('error', () => undefined);
      if (res.statusCode < 200 || res.statusCode > 299) {
        res.body.destroy();
        const redirect = res.statusCode >= 300 && res.statusCode < 400 ? ' (redirects are not followed)' : '';
        return fail('MEDIA_FETCH_STATUS', `GET ${where}: HTTP ${res.statusCode}${redirect}`);
      }
      const length = checkContentLength(headerOf(res.headers['content-length']), maxBytes);
      if (!length.ok) {
        res.body.destroy();
        return length;
      }
      const cap = new ByteCap(maxBytes);
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (!cap.add(chunk)) {
          res.body.destroy();
          return fail('MEDIA_FETCH_SIZE', `GET ${where}: the body passed ${maxBytes} bytes (${length.value !== undefined ? `${length.value} announced` : 'no length announced'}); cut off`);
        }
      }
      if (cap.received === 0) return fail('MEDIA_FETCH_STATUS', `GET ${where}: an empty file`);
      const bytes = cap.bytes();
      const mediaType = sniffMediaType(bytes);
      if (!mediaTypeAccepted(mediaType, req.mediaTypes)) {
        return fail('MEDIA_FETCH_TYPE', `the file is ${mediaType} (by its bytes); the command accepts ${req.mediaTypes?.join(', ') ?? ''}`);
      }
      return ok({ bytes, mediaType, url: url.href });
    } catch (err) {
      if (timedOut) return fail('MEDIA_FETCH_TIMEOUT', `GET ${where}: no complete answer within ${this.opts.timeoutMs} ms`);
      if (causes(err).some((e) => e instanceof AddressRefused)) return fail('MEDIA_FETCH_HOST', causes(err).find((e) => e instanceof AddressRefused)!.message);
      return fail('MEDIA_FETCH_FAILED', `GET ${where}: ${describe(err)}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

function headerOf(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

function causes(err: unknown): Error[] {
  const out: Error[] = [];
  for (let e: unknown = err; e instanceof Error && out.length < 5; e = (e as { cause?: unknown }).cause) out.push(e);
  return out;
}

function describe(err: unknown): string {
  const all = causes(err);
  const last = all[all.length - 1];
  const code = (last as { code?: string } | undefined)?.code;
  return `${last?.message ?? String(err)}${code ? ` (${code})` : ''}`;
}
