/**
 * Binary readings (docs/MEDIA.md): the bytes' media type and the metadata that stands for them in XMPP. Pure.
 *
 * A binary reading is never put in a stanza as bytes (XEP-0231 bits of binary are for a few KiB, and a component's
 * stanzas are capped at 512 KiB by Prosody): the bytes are uploaded and the reading is their metadata, the JSON of
 * the XEP-0335 element — `{"url", "size", "sha256", "mediaType", "topic"}` — with the URL as the message body and in
 * an XEP-0066 `jabber:x:oob` element (Conversations and Dino then show an image inline). A payload at most
 * `inlineMaxBytes` long is carried in the JSON itself instead, as base64 (`"data"`), without an upload.
 */
import { createHash } from 'node:crypto';

export interface MediaMeta {
  readonly url?: string;
  /** base64, for a payload carried inline. */
  readonly data?: string;
  readonly size: number;
  /** Lower-case hex SHA-256 of the bytes. */
  readonly sha256: string;
  readonly mediaType: string;
  readonly topic: string;
}

/** Magic bytes of the formats devices publish (cameras, doorbells, displays). */
const MAGIC: readonly { readonly type: string; readonly test: (b: Uint8Array) => boolean }[] = [
  { type: 'image/jpeg', test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { type: 'image/png', test: (b) => starts(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
  { type: 'image/gif', test: (b) => starts(b, [0x47, 0x49, 0x46, 0x38]) },
  { type: 'image/webp', test: (b) => starts(b, [0x52, 0x49, 0x46, 0x46]) && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50 },
  { type: 'image/bmp', test: (b) => b[0] === 0x42 && b[1] === 0x4d },
  { type: 'application/pdf', test: (b) => starts(b, [0x25, 0x50, 0x44, 0x46, 0x2d]) },
  { type: 'application/gzip', test: (b) => b[0] === 0x1f && b[1] === 0x8b },
  { type: 'application/zip', test: (b) => starts(b, [0x50, 0x4b, 0x03, 0x04]) },
  { type: 'audio/mpeg', test: (b) => starts(b, [0x49, 0x44, 0x33]) },
  { type: 'video/mp4', test: (b) => b[4] === 0x66 && b[5] === 0x74 && b[6] === 0x79 && b[7] === 0x70 },
];

function starts(b: Uint8Array, prefix: readonly number[]): boolean {
  return b.length >= prefix.length && prefix.every((x, i) => b[i] === x);
}

/** The media type the bytes announce; `application/octet-stream` when none is recognized. */
export function sniffMediaType(bytes: Uint8Array): string {
  return MAGIC.find((m) => m.test(bytes))?.type ?? 'application/octet-stream';
}

/** A file name for the upload slot (XEP-0363 §4 asks for one): the device and the type's usual extension. */
export function fileNameOf(localpart: string, mediaType: string, now: number): string {
  const ext = EXTENSIONS[mediaType] ?? 'bin';
  const safe = localpart.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 64) || 'device';
  return `${safe}-${new Date(now).toISOString().replace(/[:.]/g, '-')}.${ext}`;
}

const EXTENSIONS: Readonly<Record<string, string>> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/bmp': 'bmp',
  'application/pdf': 'pdf',
  'application/gzip': 'gz',
  'application/zip': 'zip',
  'audio/mpeg': 'mp3',
  'video/mp4': 'mp4',
};

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The reading's JSON for bytes carried inline. */
export function inlineMeta(bytes: Uint8Array, mediaType: string, topic: string): MediaMeta {
  return { data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), size: bytes.byteLength, sha256: sha256Hex(bytes), mediaType, topic };
}

/** The body of a media message: the URL (clients render it inline with the OOB element), or a line for inline bytes. */
export function mediaBody(meta: MediaMeta): string {
  return meta.url ?? `${meta.mediaType}, ${meta.size} bytes`;
}

/** A stored reading's JSON back to metadata (replay); undefined when it is not one. */
export function parseMediaMeta(value: unknown): MediaMeta | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v['size'] !== 'number' || typeof v['sha256'] !== 'string' || typeof v['mediaType'] !== 'string' || typeof v['topic'] !== 'string') return undefined;
  if (typeof v['url'] !== 'string' && typeof v['data'] !== 'string') return undefined;
  return v as unknown as MediaMeta;
}
