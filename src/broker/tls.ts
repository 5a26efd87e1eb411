/**
 * TLS material of the embedded broker's secure listeners (MQTT over TLS, WebSocket over TLS): loading it, the server
 * options derived from `mqtt.embedded.tls`, and reloading it when the files change on disk.
 *
 * Reload: the *directories* of certFile, keyFile and caFile are watched, not the files — certbot swaps symlinks and
 * editors save by writing a new file and renaming it over the old one, and a watch on the old inode would see
 * neither. Events are debounced; the new material is loaded and checked (certificate and key must match) before it
 * replaces the old, so a half-written pair or an unreadable file keeps the current context and is logged. Only new
 * handshakes use the new context; established connections keep theirs.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions, type TlsOptions } from 'node:tls';
import type { BridgeConfig } from '../config/schema.js';
import type { Logger } from '../log.js';

export type TlsConfig = BridgeConfig['mqtt']['embedded']['tls'];

/** Quiet time after the last change before the files are read (a renewal touches several files). */
export const RELOAD_DEBOUNCE_MS = 200;

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
  /** SHA-256 fingerprint of the (first) listener certificate, as Node prints it (AA:BB:…). */
  readonly fingerprint256: string;
  readonly subject: string;
  readonly validTo: string;
  /** Digest of all three files: a reload that changes nothing is not reported. */
  readonly digest: string;
}

/** Reads and checks certFile, keyFile and caFile; throws with the file and the reason when something is wrong. */
export function loadTlsMaterial(cfg: TlsConfig): TlsMaterial {
  if (!cfg.certFile || !cfg.keyFile) throw new Error('mqtt.embedded.tls needs certFile and keyFile');
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read the TLS ${what} ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  const cert = read(cfg.certFile, 'certificate');
  const key = read(cfg.keyFile, 'key');
  const ca = cfg.caFile ? read(cfg.caFile, 'CA file') : undefined;
  try {
    // Throws on bad PEM and on a key that does not belong to the certificate ("key values mismatch").
    createSecureContext(contextOptions({ cert, key, ca }));
  } catch (err) {
    throw new Error(`TLS certificate ${cfg.certFile} / key ${cfg.keyFile}${ca ? ` / CA ${cfg.caFile}` : ''} unusable: ${(err as Error).message}`, { cause: err });
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`TLS certificate ${cfg.certFile} unreadable: ${(err as Error).message}`, { cause: err });
  }
  const digest = createHash('sha256').update(cert).update('\0').update(key).update('\0').update(ca ?? '').digest('hex');
  return { cert, key, ca, fingerprint256: x509.fingerprint256, subject: x509.subject, validTo: x509.validTo, digest };
}

/** What `setSecureContext()` takes: the material only (requestCert etc. are options of the server, kept as set). */
export function contextOptions(m: Pick<TlsMaterial, 'cert' | 'key' | 'ca'>): SecureContextOptions {
  return { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}), minVersion: 'TLSv1.2' };
}

/**
 * Options of a `tls.Server` / `https.Server`. Client certificates: 'none' does not ask for one; 'optional' asks and
 * lets the handshake complete whatever the client sends (the connection is then identified by its certificate only
 * when `authorized`); 'required' refuses the handshake without a certificate verified against caFile.
 */
export function tlsServerOptions(cfg: TlsConfig, m: TlsMaterial, handshakeTimeoutMs: number): TlsOptions {
  const ask = cfg.clientCertificates !== 'none';
  return {
    ...contextOptions(m),
    requestCert: ask,
    rejectUnauthorized: cfg.clientCertificates === 'required',
    handshakeTimeout: handshakeTimeoutMs,
  };
}

/** Public facts about the material, for logs and the `tls_reloaded` event. */
export function describeMaterial(m: TlsMaterial): Record<string, unknown> {
  return { fingerprint256: m.fingerprint256, subject: m.subject, validTo: m.validTo };
}

/**
 * Watches the directories of `files` and calls `onChange` once things settle after a change of any of them.
 * `close()` stops everything (no timer or watcher is left to hold the event loop).
 */
export class FileChangeWatcher {
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    files: readonly string[],
    private readonly onChange: () => void,
    private readonly log: Logger,
    private readonly debounceMs = RELOAD_DEBOUNCE_MS,
  ) {
    const byDir = new Map<string, Set<string>>();
    for (const f of files) {
      const abs = resolve(f);
      const dir = dirname(abs);
      let names = byDir.get(dir);
      if (!names) byDir.set(dir, (names = new Set()));
      names.add(basename(abs));
    }
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, { persistent: true }, (_event, filename) => {
          // No file name (some platforms): assume it may be ours.
          if (filename === null || names.has(filename.toString())) this.schedule();
        });
        w.on('error', (err) => this.log.error({ dir, err: err.message }, 'TLS file watch failed; certificate changes in this directory are no longer seen'));
        this.watchers.push(w);
      } catch (err) {
        this.log.error({ dir, err: (err as Error).message }, 'cannot watch the TLS files; certificates will not be reloaded');
      }
    }
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.closed) this.onChange();
    }, this.debounceMs);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.watchers.splice(0)) w.close();
  }
}
