/**
 * The HTTP feature: the status page, its JSON API and live updates, /metrics for Prometheus, /healthz and /readyz —
 * one fastify server, off unless `http.enabled`, on loopback unless configured, HTTPS with the broker's certificate
 * handling (reloaded when the files change). docs/OPERATIONS.md describes every route.
 *
 * Everything but /healthz, /readyz, the login and the page's static files (which hold no data) needs the admin
 * token (auth.ts). The page reads the kernel (registry, mapping set, metrics) and keeps its own bounded history from
 * bus events (history.ts); what an operator does — rename, remove, command, approve or block an import, reload — goes
 * through the same operations as the MQTT request API (kernel/operations.ts).
 */
import type { Server as HttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastifyCookie from '@fastify/cookie';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { contextOptions, FileChangeWatcher, loadTlsMaterial, type TlsConfig } from '../../broker/tls.js';
import { ERROR_CATALOGUE, type ErrorCode, type StanzaErrorCondition } from '../../errors.js';
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { OperationOutcome } from '../../kernel/operations.js';
import { packageRoot } from '../../version.js';
import { ChatDelivery } from '../uplink/chat-delivery.js';
import { Recipients } from '../uplink/recipients.js';
import { readiness } from '../operations/health.js';
import { preview } from '../preview/preview.js';
import { responseBody } from '../requests/envelope.js';
import { AdminAuth, SESSION_COOKIE, SESSION_MS } from './auth.js';
import { History, Ring, SecondRate, type RejectionEntry } from './history.js';
import { LiveHub } from './live.js';
import { deviceDetail, deviceRow, deviceRows, mappingsView, overview, type PageState } from './views.js';

/** The page's files, served from memory (plain HTML, CSS and JavaScript shipped in the package: no build step). */
const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/assets/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/assets/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** Nothing but the page's own origin: no script, style or connection from anywhere else, no framing. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const RECENT_REJECTIONS = 20;
const MAX_PAGE = 500;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without the admin token. */
    public?: boolean;
  }
}

export class HttpFeature implements Feature {
  readonly name = 'http';
  readonly needs = ['mqtt-listeners', 'operations'];
  private app: FastifyInstance | undefined;
  private tlsWatcher: FileChangeWatcher | undefined;
  private readonly release: (() => void)[] = [];
  private readonly state: PageState & { rejectionsTotal: number; lastReloadFailure: PageState['lastReloadFailure'] };
  private readonly recentRejections = new Ring<RejectionEntry & { device: string | null; mapping: string }>(RECENT_REJECTIONS);
  private readonly rejectionsByMapping = new Map<string, Map<string, number>>();
  private readonly live: LiveHub;
  private readonly chat: ChatDelivery;
  private address: string | undefined;

  constructor(private readonly k: Kernel) {
    this.state = {
      history: new History(k.config.http.history),
      readingRate: new SecondRate(),
      commandRate: new SecondRate(),
      startedAt: Date.now(),
      rejectionsByMapping: this.rejectionsByMapping,
      rejectionsTotal: 0,
      lastReloadFailure: undefined,
    };
    this.live = new LiveHub({
      overview: () => ({ ...overview(this.k, this.state), recentRejections: this.recentRejections.toArray().reverse() }),
      rows: (jids) =>
        jids.map((jid) => {
          const d = this.k.registry.byJid(jid);
          return d ? deviceRow(this.k, this.state, d) : { jid, removed: true };
        }),
    });
    // The preview builds with the same delivery mode, over the live subscriptions (every follower, online or not).
    this.chat = new ChatDelivery(k.xmpp, new Recipients(k.stores.subscriptions, k.users), k.config.xmpp);
  }

  /** The page's base URL once listening (`http://127.0.0.1:8080`). */
  get url(): string | undefined {
    return this.address;
  }

  async start(): Promise<void> {
    this.listen();
    const cfg = this.k.config.http;
    const app = this.build();
    this.app = app;
    await app.listen({ host: cfg.host, port: cfg.port });
    const a = app.server.address();
    const port = typeof a === 'object' && a ? a.port : cfg.port;
    const host = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
    this.address = `${cfg.tls.enabled ? 'https' : 'http'}://${host}:${port}`;
    this.k.log.info({ url: this.address }, 'status page listening');
  }

  async stop(): Promise<void> {
    for (const r of this.release.splice(0)) r();
    this.tlsWatcher?.close();
    this.live.close();
    await this.app?.close();
    this.app = undefined;
  }

  /** Bus events → history, rates, live updates. The reading subscriber is O(1): one ring slot, one set insertion. */
  private listen(): void {
    const { bus, config } = this.k;
    const { history, readingRate } = this.state;
    const domain = config.xmpp.domain;
    this.release.push(
      bus.on('reading', ({ reading, replay }) => {
        const jid = reading.device.jid;
        history.reading(jid, reading.receivedAt, reading.json);
        if (!replay) readingRate.add(reading.receivedAt);
        this.live.touch(jid);
      }),
      bus.on('reading_rejected', (r) => {
        const at = Date.now();
        const jid = r.deviceId !== undefined ? `${r.deviceId}@${domain}` : undefined;
        const entry: RejectionEntry = { at, code: r.code, message: r.message, topic: r.topic, errors: r.errors ?? [] };
        if (jid !== undefined) history.rejection(jid, this.k.registry.byJid(jid) !== undefined, entry);
        this.state.rejectionsTotal += 1;
        let codes = this.rejectionsByMapping.get(r.mapping);
        if (!codes) this.rejectionsByMapping.set(r.mapping, (codes = new Map<string, number>()));
        // Codes are a closed catalogue and mappings are the ones configured or imported: bounded.
        codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
        const shown = { ...entry, device: jid ?? null, mapping: r.mapping };
        this.recentRejections.push(shown);
        this.live.rejection(shown);
        if (jid !== undefined) this.live.touch(jid);
      }),
      bus.on('command_delivered', (c) => this.command(c)),
      bus.on('command_failed', (c) => this.command(c)),
      bus.on('device_added', ({ device }) => this.live.touch(device.jid)),
      bus.on('device_availability', ({ device }) => this.live.touch(device.jid)),
      bus.on('device_renamed', ({ device }) => this.live.touch(device.jid)),
      bus.on('device_removed', ({ device }) => {
        history.forget(device.jid);
        this.live.touch(device.jid);
      }),
      bus.on('mappings_reload_failed', ({ origin, problems }) => {
        this.state.lastReloadFailure = { at: Date.now(), origin, problems };
      }),
      bus.on('mappings_reloaded', () => {
        this.state.lastReloadFailure = undefined;
      }),
    );
  }

  private command(c: { device: string; from: string; command: string; origin: string; code: string; message?: string; confirmed?: boolean; queued?: boolean }): void {
    const at = Date.now();
    this.state.commandRate.add(at);
    if (this.k.registry.byJid(c.device)) {
      this.state.history.command(c.device, {
        at,
        from: c.from,
        command: c.command,
        origin: c.origin,
        code: c.code,
        ...(c.message !== undefined ? { message: c.message } : {}),
        ...(c.confirmed !== undefined ? { confirmed: c.confirmed } : {}),
        ...(c.queued !== undefined ? { queued: c.queued } : {}),
      });
      this.live.touch(c.device);
    }
  }

  private build(): FastifyInstance {
    const { k } = this;
    const cfg = k.config.http;
    const tls = cfg.tls.enabled ? this.tls() : undefined;
    const app = Fastify({
      // No request logging: request lines and headers carry tokens and cookies. Failures are logged below.
      logger: false,
      // A preview may carry a payload as large as the broker accepts.
      bodyLimit: k.config.mqtt.embedded.maxPayloadBytes * 2 + 64 * 1024,
      // Open event streams must not hold up a stop.
      forceCloseConnections: true,
      ...(tls ? { https: tls } : {}),
    }) as unknown as FastifyInstance;
    const auth = new AdminAuth(cfg.token);
    const assets = loadAssets();

    void app.register(fastifyCookie);
    app.addHook('onSend', (_req, reply, payload, done) => {
      void reply.headers(SECURITY_HEADERS);
      done(null, payload);
    });
    app.addHook('onRequest', (req, reply, done) => {
      if (req.routeOptions.config.public) return done();
      if (auth.allows(req.headers.authorization, req.cookies[SESSION_COOKIE])) return done();
      void reply.code(401).header('www-authenticate', 'Bearer').send({ status: 'error', code: 'UNAUTHORIZED', error: 'log in first (admin token)' });
    });
    app.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
      const status = err.statusCode ?? 500;
      if (status >= 500) k.log.error({ err: err.message }, 'status page request failed');
      void reply.code(status).send({ status: 'error', code: status === 413 ? 'REQUEST_INVALID' : 'INTERNAL', error: err.message });
    });

    const pub = { config: { public: true } };
    for (const [path, asset] of Object.entries(assets)) {
      app.get(path, pub, (_req, reply) => reply.header('cache-control', 'no-cache').type(asset.type).send(asset.body));
    }
    app.get('/favicon.ico', pub, (_req, reply) => reply.code(204).send());
    app.get('/healthz', pub, () => ({ status: 'alive' }));
    app.get('/readyz', pub, (_req, reply) => {
      const r = readiness(k);
      return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', ...r.checks });
    });
    app.post('/login', pub, (req, reply) => {
      const token = (req.body as { token?: unknown } | undefined)?.token;
      const { verdict, session } = auth.login(typeof token === 'string' ? token : '', req.ip);
      if (verdict !== 'ok') {
        k.metrics.inc('http_logins_failed_total');
        k.log.warn({ address: req.ip, throttled: verdict === 'throttled' }, 'status page login refused');
        return reply.code(verdict === 'throttled' ? 429 : 401).send({ status: 'error', code: verdict === 'throttled' ? 'RATE_LIMITED' : 'UNAUTHORIZED', error: verdict === 'throttled' ? 'too many failed logins; wait a minute' : 'wrong token' });
      }
      return reply
        .setCookie(SESSION_COOKIE, session!, { httpOnly: true, sameSite: 'strict', secure: cfg.tls.enabled, path: '/', maxAge: SESSION_MS / 1000 })
        .send({ status: 'ok' });
    });
    app.post('/logout', pub, (req, reply) => {
      auth.logout(req.cookies[SESSION_COOKIE]);
      return reply.clearCookie(SESSION_COOKIE, { path: '/' }).send({ status: 'ok' });
    });

    app.get('/metrics', async (_req, reply) => {
      const { contentType, body } = await k.metrics.text();
      return reply.type(contentType).send(body);
    });

    app.get('/api/session', () => ({ status: 'ok' }));
    app.get('/api/overview', () => ({ ...overview(k, this.state), recentRejections: this.recentRejections.toArray().reverse() }));
    app.get('/api/devices', (req) => {
      const q = req.query as Record<string, string | undefined>;
      return deviceRows(k, this.state, {
        ...(q['q'] !== undefined ? { q: q['q'] } : {}),
        ...(q['state'] !== undefined ? { state: q['state'] } : {}),
        offset: clampInt(q['offset'], 0, Number.MAX_SAFE_INTEGER, 0),
        limit: clampInt(q['limit'], 1, MAX_PAGE, 100),
      });
    });
    app.get('/api/devices/:jid', (req, reply) => {
      const d = k.registry.byJid(String((req.params as { jid: string }).jid).toLowerCase());
      if (!d) return reply.code(404).send({ status: 'error', code: 'DEVICE_UNKNOWN', error: 'no such device' });
      return deviceDetail(k, this.state, d);
    });
    const op = (name: string, params: (req: FastifyRequest) => Record<string, unknown>) => async (req: FastifyRequest, reply: FastifyReply) =>
      sendOutcome(reply, await k.operations.run(name, params(req), { via: 'http', name: 'admin' }));
    const body = (req: FastifyRequest): Record<string, unknown> => (isObject(req.body) ? req.body : {});
    const jidParam = (req: FastifyRequest): string => (req.params as { jid: string }).jid;
    app.post('/api/devices/:jid/rename', op('device/rename', (req) => ({ name: body(req)['name'], device: jidParam(req) })));
    app.post('/api/devices/:jid/remove', op('device/remove', (req) => ({ device: jidParam(req) })));
    app.post('/api/devices/:jid/command', op('device/command', (req) => ({ command: body(req)['command'], payload: body(req)['payload'], device: jidParam(req) })));
    app.get('/api/imports', op('import/list', () => ({})));
    app.post('/api/imports/:id/approve', op('import/approve', (req) => ({ ...body(req), id: (req.params as { id: string }).id })));
    app.post('/api/imports/:id/block', op('import/block', (req) => ({ ...body(req), id: (req.params as { id: string }).id })));
    app.post('/api/reload', op('reload', () => ({})));
    app.get('/api/mappings', () => mappingsView(k, this.state));
    app.post('/api/preview', (req, reply) => {
      const { topic, payload } = body(req);
      if (typeof topic !== 'string' || topic === '' || typeof payload !== 'string') {
        return reply.code(400).send({ status: 'error', code: 'REQUEST_INVALID', error: '"topic" and "payload" (text) are required' });
      }
      const bytes = Buffer.from(payload, 'utf8');
      if (bytes.length > k.config.mqtt.embedded.maxPayloadBytes) return reply.code(400).send({ status: 'error', code: 'PAYLOAD_TOO_LARGE', error: 'larger than the broker accepts' });
      return preview({ routes: k.mappings, registry: k.registry, build: (d, json, value) => this.chat.build(d, json, value) }, topic, bytes);
    });
    app.get('/api/events', (_req, reply) => {
      reply.hijack();
      if (!this.live.add(reply.raw)) {
        reply.raw.writeHead(503, { 'content-type': 'text/plain' });
        reply.raw.end('too many open pages');
      }
    });
    return app;
  }

  /** HTTPS material, checked now and reloaded when the files change (as the broker does it, broker/tls.ts). */
  private tls(): { cert: Buffer; key: Buffer; minVersion: 'TLSv1.2' } {
    const { certFile, keyFile } = this.k.config.http.tls;
    const cfg = { enabled: true, host: '', port: 0, certFile, keyFile, clientCertificates: 'none' } as TlsConfig;
    const m = loadTlsMaterial(cfg);
    this.tlsWatcher = new FileChangeWatcher([certFile!, keyFile!], () => {
      try {
        (this.app?.server as HttpsServer | undefined)?.setSecureContext(contextOptions(loadTlsMaterial(cfg)));
        this.k.log.info({ certFile }, 'status page certificate reloaded');
      } catch (err) {
        this.k.log.error({ err: (err as Error).message }, 'status page certificate not reloaded; keeping the previous one');
      }
    }, this.k.log);
    return { cert: m.cert, key: m.key, minVersion: 'TLSv1.2' };
  }
}

/** An operation's outcome as an HTTP response: the request API's envelope, with the status its error code implies. */
function sendOutcome(reply: FastifyReply, outcome: OperationOutcome): FastifyReply {
  const status = outcome.ok ? 200 : httpStatus(outcome.code);
  return reply.code(status).send(responseBody(outcome, undefined));
}

const STATUS_OF: Partial<Record<StanzaErrorCondition, number>> = {
  'bad-request': 400,
  forbidden: 403,
  'item-not-found': 404,
  'not-acceptable': 409,
  'policy-violation': 400,
  'recipient-unavailable': 409,
  'remote-server-timeout': 504,
  'resource-constraint': 429,
  'service-unavailable': 501,
  'feature-not-implemented': 404,
};

function httpStatus(code: ErrorCode | undefined): number {
  return (code && STATUS_OF[ERROR_CATALOGUE[code].condition]) ?? 500;
}

function loadAssets(): Record<string, { type: string; body: Buffer }> {
  const dir = join(packageRoot(), 'web');
  return Object.fromEntries(Object.entries(ASSETS).map(([path, a]) => [path, { type: a.type, body: readFileSync(join(dir, a.file)) }]));
}

function clampInt(text: string | undefined, min: number, max: number, fallback: number): number {
  const n = Number(text);
  return text === undefined || !Number.isInteger(n) ? fallback : Math.min(max, Math.max(min, n));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
