/**
 * Live updates for open pages, as server-sent events (the HTML Living Standard's EventSource: one long HTTP
 * response, reconnected by the browser by itself).
 *
 * Events are batched, never sent per reading: what changed is marked (O(1) per reading — a set insertion) and every
 * FLUSH_MS the marked devices' rows go out in one `devices` event, with the `overview` once a second and the new
 * rejections in one `rejections` event. A page that cannot keep up (its socket holds more than MAX_BUFFERED bytes) is
 * disconnected — the browser reconnects and starts afresh — so a slow phone never makes the bridge buffer without
 * bound. At most MAX_CLIENTS pages at once.
 */
import type { ServerResponse } from 'node:http';

export const FLUSH_MS = 250;
const OVERVIEW_EVERY = 4; // flushes: once a second
const HEARTBEAT_MS = 15_000;
const MAX_CLIENTS = 32;
const MAX_BUFFERED = 1024 * 1024;
/** More changed devices than this in one flush: the page is told to reload its list instead. */
const MAX_ROWS_PER_FLUSH = 200;
const MAX_REJECTIONS_PER_FLUSH = 50;

export interface LiveSource {
  overview(): unknown;
  /** Rows of these devices (those still known). */
  rows(jids: readonly string[]): unknown[];
}

export class LiveHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly changed = new Set<string>();
  private rejections: unknown[] = [];
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private flushes = 0;

  constructor(private readonly source: LiveSource) {}

  /** Adopt a response as an event stream; false when there are too many already. */
  add(res: ServerResponse): boolean {
    if (this.clients.size >= MAX_CLIENTS) return false;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    // The browser retries after this long when the stream ends.
    res.write('retry: 2000\n\n');
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    this.send(res, 'overview', this.source.overview());
    if (!this.timer) {
      this.timer = setInterval(() => this.flush(), FLUSH_MS);
      this.timer.unref();
      this.heartbeat = setInterval(() => this.broadcastRaw(': keep-alive\n\n'), HEARTBEAT_MS);
      this.heartbeat.unref();
    }
    return true;
  }

  get size(): number {
    return this.clients.size;
  }

  /** A device's row changed (reading, availability, name…). O(1). */
  touch(jid: string): void {
    if (this.clients.size > 0) this.changed.add(jid);
  }

  rejection(r: unknown): void {
    if (this.clients.size > 0 && this.rejections.length < MAX_REJECTIONS_PER_FLUSH) this.rejections.push(r);
  }

  /** Close every stream (the server stops). */
  close(): void {
    clearInterval(this.timer);
    clearInterval(this.heartbeat);
    this.timer = this.heartbeat = undefined;
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private flush(): void {
    if (this.clients.size === 0) {
      this.changed.clear();
      this.rejections = [];
      clearInterval(this.timer);
      clearInterval(this.heartbeat);
      this.timer = this.heartbeat = undefined;
      return;
    }
    if (this.changed.size > MAX_ROWS_PER_FLUSH) this.broadcast('devices', { reload: true, rows: [] });
    else if (this.changed.size > 0) this.broadcast('devices', { reload: false, rows: this.source.rows([...this.changed]) });
    this.changed.clear();
    if (this.rejections.length > 0) {
      this.broadcast('rejections', this.rejections);
      this.rejections = [];
    }
    if (++this.flushes % OVERVIEW_EVERY === 0) this.broadcast('overview', this.source.overview());
  }

  private broadcast(event: string, data: unknown): void {
    this.broadcastRaw(frame(event, data));
  }

  private broadcastRaw(text: string): void {
    for (const res of this.clients) this.write(res, text);
  }

  private send(res: ServerResponse, event: string, data: unknown): void {
    this.write(res, frame(event, data));
  }

  private write(res: ServerResponse, text: string): void {
    if (res.writableLength > MAX_BUFFERED) {
      // Too slow to follow: let it reconnect and start afresh rather than buffer for it.
      this.clients.delete(res);
      res.destroy();
      return;
    }
    res.write(text);
  }
}

/** One event: JSON has no raw newlines, so it fits one `data:` line. */
function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
