/**
 * The bridge's own file store for binary readings when the XMPP server has no upload service (docs/MEDIA.md): files
 * on disk under `<dataDir>/media`, served by the status page's HTTP server at `/media/<name>`.
 *
 * Names are unguessable (144 random bits, base64url) and carry their expiry: `<expires ms>.<token>.<ext>`, so the
 * index is rebuilt from the directory at start and nothing else is kept. Bounded: files expire after `ttlMs` (a sweep
 * every minute deletes them), and the total stays under `maxTotalBytes` — the files that expire soonest are deleted
 * to make room; a file larger than the whole budget is refused.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface StoredFile {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  readonly mediaType: string;
  readonly expiresAt: number;
}

const TYPES: Readonly<Record<string, string>> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  bmp: 'image/bmp',
  pdf: 'application/pdf',
  gz: 'application/gzip',
  zip: 'application/zip',
  mp3: 'audio/mpeg',
  mp4: 'video/mp4',
  bin: 'application/octet-stream',
};
const EXT_OF: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(TYPES).map(([e, t]) => [t, e]));
const NAME = /^(\d{1,15})\.([A-Za-z0-9_-]{24})\.([a-z0-9]{1,5})$/;

export class MediaFiles {
  private readonly files = new Map<string, StoredFile>();
  private total = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Where the HTTP server is reached; set when it listens (or from configuration). */
  baseUrl: string | undefined;

  constructor(
    private readonly dir: string,
    readonly maxTotalBytes: number,
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(dir)) {
      const m = NAME.exec(name);
      const path = join(dir, name);
      if (!m) continue;
      const size = statSync(path).size;
      this.files.set(name, { name, path, size, mediaType: TYPES[m[3]!] ?? 'application/octet-stream', expiresAt: Number(m[1]) });
      this.total += size;
    }
    this.sweep();
    this.timer = setInterval(() => this.sweep(), 60_000);
    this.timer.unref();
  }

  get bytes(): number {
    return this.total;
  }

  /** Store the bytes; their URL, or why not. */
  async put(bytes: Uint8Array, mediaType: string): Promise<{ ok: true; url: string } | { ok: false; message: string }> {
    if (!this.baseUrl) return { ok: false, message: 'the built-in file server is not listening (http.enabled)' };
    if (bytes.byteLength > this.maxTotalBytes) return { ok: false, message: `${bytes.byteLength} bytes exceed the file store's budget of ${this.maxTotalBytes}` };
    this.sweep();
    // Room: the files that expire soonest go first.
    if (this.total + bytes.byteLength > this.maxTotalBytes) {
      for (const f of [...this.files.values()].sort((a, b) => a.expiresAt - b.expiresAt)) {
        this.remove(f);
        if (this.total + bytes.byteLength <= this.maxTotalBytes) break;
      }
    }
    const expiresAt = this.clock() + this.ttlMs;
    const name = `${expiresAt}.${randomBytes(18).toString('base64url')}.${EXT_OF[mediaType] ?? 'bin'}`;
    const path = join(this.dir, name);
    await writeFile(path, bytes, { mode: 0o600 });
    this.files.set(name, { name, path, size: bytes.byteLength, mediaType: TYPES[EXT_OF[mediaType] ?? 'bin'] ?? 'application/octet-stream', expiresAt });
    this.total += bytes.byteLength;
    return { ok: true, url: `${this.baseUrl}/media/${name}` };
  }

  /** A file not expired, by its name. */
  get(name: string): StoredFile | undefined {
    const f = this.files.get(name);
    if (!f) return undefined;
    if (f.expiresAt <= this.clock()) {
      this.remove(f);
      return undefined;
    }
    return f;
  }

  sweep(): void {
    const now = this.clock();
    for (const f of this.files.values()) if (f.expiresAt <= now) this.remove(f);
  }

  close(): void {
    clearInterval(this.timer);
  }

  private remove(f: StoredFile): void {
    this.files.delete(f.name);
    this.total -= f.size;
    try {
      unlinkSync(f.path);
    } catch {
      // already gone
    }
  }
}
