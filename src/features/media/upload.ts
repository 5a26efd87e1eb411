/**
 * XEP-0363 HTTP File Upload as a client, for devices: the upload service is found by service discovery on the XMPP
 * server's domain (XEP-0363 §3: an item whose identity is store/file and whose features include
 * urn:xmpp:http:upload:0; its `max-file-size` from the XEP-0128 form), a slot is requested *as the device JID* (so
 * the server's quota and expiry apply per device, and the file is the device's), and the bytes are PUT to the slot's
 * URL with the headers the slot names (§5: Authorization, Cookie, Expires only), within a bounded time.
 */
import xml, { type Element } from '@xmpp/xml';
import type { XmppLink } from '../../kernel/xmpp-link.js';
import { originOf } from './fetch-policy.js';
import { NS_DATA, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_HTTP_UPLOAD } from '../../xmpp/namespaces.js';

export interface UploadService {
  readonly jid: string;
  /** The service's limit, when it announces one. */
  readonly maxFileSize: number | undefined;
}

export type UploadResult =
  | { readonly ok: true; readonly url: string }
  | { readonly ok: false; readonly code: 'MEDIA_UPLOAD_REFUSED' | 'MEDIA_UPLOAD_FAILED' | 'MEDIA_NO_UPLOAD_SERVICE' | 'MEDIA_TOO_LARGE'; readonly message: string };

/** Headers a slot may ask for (§5): anything else is dropped. */
const SLOT_HEADERS = new Set(['authorization', 'cookie', 'expires']);
/** How long a discovery (found or not) is trusted before it is done again. */
const DISCOVERY_TTL_MS = 5 * 60_000;

export class Uploader {
  private service: { at: number; value: UploadService | undefined } | undefined;
  private discovering: Promise<UploadService | undefined> | undefined;

  constructor(
    private readonly link: Pick<XmppLink, 'domain' | 'request'>,
    private readonly serverDomain: string,
    private readonly timeoutMs: number,
    /** A configured service JID: no discovery. */
    private readonly configured?: string,
  ) {}

  /** The upload service, discovered once and cached; undefined when the server has none. */
  async find(now = Date.now()): Promise<UploadService | undefined> {
    if (this.configured) return { jid: this.configured, maxFileSize: undefined };
    if (this.service && now - this.service.at < DISCOVERY_TTL_MS) return this.service.value;
    this.discovering ??= this.discover()
      .catch(() => undefined)
      .then((value) => {
        this.service = { at: Date.now(), value };
        this.discovering = undefined;
        return value;
      });
    return this.discovering;
  }

  /** Forget what discovery found (the service refused or vanished): the next upload looks again. */
  forget(): void {
    this.service = undefined;
  }

  private async discover(): Promise<UploadService | undefined> {
    const from = this.link.domain;
    const items = await this.link.request(xml('iq', { type: 'get', from, to: this.serverDomain }, xml('query', { xmlns: NS_DISCO_ITEMS })), this.timeoutMs);
    const candidates = [this.serverDomain, ...(items.getChild('query', NS_DISCO_ITEMS)?.getChildren('item') ?? []).map((i) => i.attrs['jid'] as string).filter(Boolean)];
    for (const jid of candidates.slice(0, 32)) {
      let info: Element;
      try {
        info = await this.link.request(xml('iq', { type: 'get', from, to: jid }, xml('query', { xmlns: NS_DISCO_INFO })), this.timeoutMs);
      } catch {
        continue;
      }
      const q = info.getChild('query', NS_DISCO_INFO);
      if (!q?.getChildren('feature').some((f) => f.attrs['var'] === NS_HTTP_UPLOAD)) continue;
      return { jid, maxFileSize: maxFileSizeOf(q) };
    }
    return undefined;
  }

  /**
   * The origin (`http://host:port`) of the files this server's upload service serves: a slot for one byte is asked
   * for as `asJid` and never used (no bytes are stored, so nothing counts against a quota). The local users' files
   * are served from there too, which is what the fetch policy of commands carrying a file needs to know.
   */
  async slotOrigin(asJid: string): Promise<string | undefined> {
    const service = await this.find();
    if (!service) return undefined;
    const slot = await this.link.request(
      xml('iq', { type: 'get', from: asJid, to: service.jid }, xml('request', { xmlns: NS_HTTP_UPLOAD, filename: 'origin.bin', size: '1', 'content-type': 'application/octet-stream' })),
      this.timeoutMs,
    );
    const getUrl = slot.getChild('slot', NS_HTTP_UPLOAD)?.getChild('get')?.attrs['url'];
    if (typeof getUrl !== 'string' || !/^https?:\/\//.test(getUrl)) return undefined;
    return originOf(new URL(getUrl));
  }

  /** Slot as `deviceJid`, then PUT. */
  async upload(deviceJid: string, fileName: string, bytes: Uint8Array, mediaType: string): Promise<UploadResult> {
    const service = await this.find();
    if (!service) return { ok: false, code: 'MEDIA_NO_UPLOAD_SERVICE', message: `the server ${this.serverDomain} announces no XEP-0363 upload service` };
    if (service.maxFileSize !== undefined && bytes.byteLength > service.maxFileSize) {
      return { ok: false, code: 'MEDIA_TOO_LARGE', message: `${bytes.byteLength} bytes exceed the upload service's limit of ${service.maxFileSize}` };
    }
    let slot: Element;
    try {
      slot = await this.link.request(
        xml('iq', { type: 'get', from: deviceJid, to: service.jid }, xml('request', { xmlns: NS_HTTP_UPLOAD, filename: fileName, size: String(bytes.byteLength), 'content-type': mediaType })),
        this.timeoutMs,
      );
    } catch (err) {
      const condition = (err as { condition?: string }).condition;
      if (condition) return { ok: false, code: 'MEDIA_UPLOAD_REFUSED', message: `${service.jid} refused a slot to ${deviceJid}: ${condition}${(err as Error).message ? ` (${(err as Error).message})` : ''}` };
      return { ok: false, code: 'MEDIA_UPLOAD_FAILED', message: `no slot from ${service.jid}: ${(err as Error).message}` };
    }
    const s = slot.getChild('slot', NS_HTTP_UPLOAD);
    const put = s?.getChild('put');
    const get = s?.getChild('get');
    const putUrl = put?.attrs['url'];
    const getUrl = get?.attrs['url'];
    if (!putUrl || !getUrl || !/^https?:\/\//.test(putUrl) || !/^https?:\/\//.test(getUrl)) return { ok: false, code: 'MEDIA_UPLOAD_FAILED', message: `${service.jid} answered without usable put/get URLs` };
    const headers: Record<string, string> = { 'content-type': mediaType };
    for (const h of put.getChildren('header')) {
      const name = String(h.attrs['name'] ?? '').toLowerCase();
      if (SLOT_HEADERS.has(name)) headers[name] = h.text().replace(/[\r\n]/g, '');
    }
    try {
      const res = await fetch(putUrl, { method: 'PUT', body: bytes, headers, signal: AbortSignal.timeout(this.timeoutMs), redirect: 'error' });
      await res.body?.cancel();
      if (res.status < 200 || res.status > 299) return { ok: false, code: res.status === 413 || res.status === 403 ? 'MEDIA_UPLOAD_REFUSED' : 'MEDIA_UPLOAD_FAILED', message: `PUT ${putUrl}: HTTP ${res.status}` };
    } catch (err) {
      return { ok: false, code: 'MEDIA_UPLOAD_FAILED', message: `PUT ${putUrl}: ${(err as Error).message}` };
    }
    return { ok: true, url: getUrl };
  }
}

/** XEP-0363 §3: the `max-file-size` field of the service's XEP-0128 form. */
function maxFileSizeOf(query: Element): number | undefined {
  for (const x of query.getChildren('x', NS_DATA)) {
    const field = x.getChildren('field').find((f) => f.attrs['var'] === 'max-file-size');
    const n = Number(field?.getChildText('value'));
    if (Number.isSafeInteger(n) && n > 0) return n;
  }
  return undefined;
}
