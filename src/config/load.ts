/**
 * Configuration loading: file → environment overrides → validation (every problem at once) → resolved, frozen.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LoadError, type LoadProblem } from '../errors.js';
import { createAjv } from '../schemas/ajv.js';
import { ajvErrorsToPathMessages } from '../schemas/format-errors.js';
import { filterProblems } from '../broker/acl.js';
import { LITERAL_FORBIDDEN } from '../devices/device-jid.js';
import { parseTemplate } from '../mapping/template.js';
import { applyEnvOverrides } from './env.js';
import { readYamlFile } from './yaml-file.js';
import { configSchema, type BridgeConfig, type ImportSourceConfig, type ImportSourceName, type LogLevel } from './schema.js';

export interface LoadedConfig {
  readonly config: BridgeConfig;
  /** Things worth telling the operator that do not stop the bridge (e.g. a secret file readable by others). */
  readonly warnings: readonly string[];
}

let validateConfig: ReturnType<ReturnType<typeof createAjv>['compile']> | undefined;

export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const problems: LoadProblem[] = [];
  const warnings: string[] = [];
  const fileLabel = file ?? '(environment)';
  let raw: Record<string, unknown> = {};
  if (file !== undefined) {
    const parsed = readYamlFile(file, problems);
    if (parsed !== undefined && parsed !== null) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) problems.push({ file, path: '/', message: 'must be a mapping of keys to values' });
      else raw = parsed as Record<string, unknown>;
    }
    if (problems.length > 0) throw new LoadError(problems);
  }

  for (const p of applyEnvOverrides(raw, env)) problems.push({ file: `env ${p.name}`, path: '', message: p.message });

  validateConfig ??= createAjv({ useDefaults: true }).compile(configSchema);
  if (!validateConfig(raw)) {
    for (const m of ajvErrorsToPathMessages(validateConfig.errors)) problems.push({ file: fileLabel, path: m.path, message: m.message });
  }

  const base = file !== undefined ? dirname(resolve(file)) : process.cwd();
  const xmpp = (raw['xmpp'] ?? {}) as Record<string, unknown>;
  const secret = resolveSecret(xmpp, base, fileLabel, problems, warnings);
  const mqttRaw = (raw['mqtt'] ?? {}) as { embedded?: { enabled?: boolean }; external?: Record<string, unknown> };
  const externalPassword = mqttRaw.external ? resolveFileSecret(mqttRaw.external, 'password', 'passwordFile', '/mqtt/external', base, fileLabel, problems, warnings) : undefined;
  const tlsRaw = (mqttRaw.embedded as { tls?: { enabled?: boolean; certFile?: string; keyFile?: string; clientCertificates?: string; caFile?: string } } | undefined)?.tls;
  if (tlsRaw?.enabled) {
    if (!tlsRaw.certFile) problems.push({ file: fileLabel, path: '/mqtt/embedded/tls/certFile', message: 'is required when TLS is enabled' });
    if (!tlsRaw.keyFile) problems.push({ file: fileLabel, path: '/mqtt/embedded/tls/keyFile', message: 'is required when TLS is enabled' });
    for (const key of ['certFile', 'keyFile', 'caFile'] as const) {
      const f = tlsRaw[key];
      if (f && !existsSync(resolve(base, f))) problems.push({ file: fileLabel, path: `/mqtt/embedded/tls/${key}`, message: `${resolve(base, f)} does not exist` });
    }
    if (tlsRaw.clientCertificates && tlsRaw.clientCertificates !== 'none' && !tlsRaw.caFile) {
      problems.push({ file: fileLabel, path: '/mqtt/embedded/tls/caFile', message: 'is required to verify client certificates' });
    }
  }
  const aclRaw = (mqttRaw.embedded as { acl?: unknown } | undefined)?.acl;
  if (Array.isArray(aclRaw)) {
    aclRaw.forEach((rule: { topic?: unknown }, i) => {
      if (typeof rule?.topic !== 'string') return;
      // %u and %c stand for one level each: the filter is checked with them in place.
      for (const message of filterProblems(rule.topic)) problems.push({ file: fileLabel, path: `/mqtt/embedded/acl/${i}/topic`, message });
    });
  }
  const clusterRaw = (raw['cluster'] ?? {}) as { enabled?: boolean; redis?: Record<string, unknown> };
  const redisPassword = clusterRaw.redis ? resolveFileSecret(clusterRaw.redis, 'password', 'passwordFile', '/cluster/redis', base, fileLabel, problems, warnings) : undefined;
  if (clusterRaw.enabled && (mqttRaw.external as { cleanSession?: boolean } | undefined)?.cleanSession === true) {
    // The broker must keep an instance's session (its share of readings in flight) for a survivor to take over.
    problems.push({ file: fileLabel, path: '/mqtt/external/cleanSession', message: 'must be false in cluster mode: a lost instance\'s session holds readings in flight' });
  }
  const httpRaw = (raw['http'] ?? {}) as { enabled?: boolean; tls?: { enabled?: boolean; certFile?: string; keyFile?: string } };
  const httpToken = resolveFileSecret(httpRaw, 'token', 'tokenFile', '/http', base, fileLabel, problems, warnings);
  if (httpRaw.enabled) {
    if (httpToken === undefined) problems.push({ file: fileLabel, path: '/http/token', message: 'no admin token: set http.tokenFile, or BRIDGE_HTTP_TOKEN in the environment' });
    else if (httpToken.length < 16) problems.push({ file: fileLabel, path: '/http/token', message: 'the admin token must be at least 16 characters long' });
    if (httpRaw.tls?.enabled) {
      for (const key of ['certFile', 'keyFile'] as const) {
        const f = httpRaw.tls[key];
        if (!f) problems.push({ file: fileLabel, path: `/http/tls/${key}`, message: 'is required when TLS is enabled' });
        else if (!existsSync(resolve(base, f))) problems.push({ file: fileLabel, path: `/http/tls/${key}`, message: `${resolve(base, f)} does not exist` });
      }
    }
  }
  const importRaw = (raw['import'] ?? {}) as Record<string, { jid?: unknown; name?: unknown } | undefined>;
  for (const [source, cfg] of Object.entries(importRaw)) {
    if (typeof cfg?.jid === 'string') {
      for (const message of importTemplateProblems(cfg.jid, ['id'], true)) problems.push({ file: fileLabel, path: `/import/${source}/jid`, message });
    }
    if (typeof cfg?.name === 'string') {
      for (const message of importTemplateProblems(cfg.name, ['name', 'id', 'model', 'manufacturer'], false)) problems.push({ file: fileLabel, path: `/import/${source}/name`, message });
    }
  }
  if (mqttRaw.embedded?.enabled === false && !mqttRaw.external) {
    problems.push({ file: fileLabel, path: '/mqtt', message: 'no broker: enable mqtt.embedded or configure mqtt.external' });
  }
  if (problems.length > 0) throw new LoadError(problems);

  const r = raw as unknown as RawConfig;
  const domain = r.xmpp.domain.toLowerCase();
  const config: BridgeConfig = {
    configFile: file !== undefined ? resolve(file) : undefined,
    dataDir: resolve(base, r.dataDir),
    mappings: r.mappings.map((p) => resolve(base, p)),
    schemas: r.schemas.map((p) => resolve(base, p)),
    baseTopic: r.baseTopic,
    log: { level: r.log.level, ...(r.log.file !== undefined ? { file: resolve(base, r.log.file) } : {}) },
    media: { ...r.media, localFiles: { ...r.media.localFiles }, fetch: { ...r.media.fetch, allowHosts: [...r.media.fetch.allowHosts] } },
    delivery: { ...r.delivery },
    mqtt: {
      embedded: {
        ...r.mqtt.embedded,
        websocket: { ...r.mqtt.embedded.websocket },
        rateLimit: { ...r.mqtt.embedded.rateLimit },
        auth: { ...r.mqtt.embedded.auth },
        acl: r.mqtt.embedded.acl.map((rule) => ({ ...rule, who: [...rule.who] })),
        tls: {
          ...r.mqtt.embedded.tls,
          ...(r.mqtt.embedded.tls.certFile !== undefined ? { certFile: resolve(base, r.mqtt.embedded.tls.certFile) } : {}),
          ...(r.mqtt.embedded.tls.keyFile !== undefined ? { keyFile: resolve(base, r.mqtt.embedded.tls.keyFile) } : {}),
          ...(r.mqtt.embedded.tls.caFile !== undefined ? { caFile: resolve(base, r.mqtt.embedded.tls.caFile) } : {}),
        },
      },
      ...(r.mqtt.external
        ? {
            external: {
              url: r.mqtt.external.url,
              clientId: r.mqtt.external.clientId,
              cleanSession: r.mqtt.external.cleanSession,
              protocolVersion: r.mqtt.external.protocolVersion,
              keepalive: r.mqtt.external.keepalive,
              ...(r.mqtt.external.username !== undefined ? { username: r.mqtt.external.username } : {}),
              ...(externalPassword !== undefined ? { password: externalPassword } : {}),
              ...(r.mqtt.external.caFile !== undefined ? { caFile: resolve(base, r.mqtt.external.caFile) } : {}),
              ...(r.mqtt.external.certFile !== undefined ? { certFile: resolve(base, r.mqtt.external.certFile) } : {}),
              ...(r.mqtt.external.keyFile !== undefined ? { keyFile: resolve(base, r.mqtt.external.keyFile) } : {}),
            },
          }
        : {}),
    },
    http: {
      enabled: r.http.enabled,
      host: r.http.host,
      port: r.http.port,
      token: httpToken ?? '',
      tls: {
        enabled: r.http.tls.enabled,
        ...(r.http.tls.certFile !== undefined ? { certFile: resolve(base, r.http.tls.certFile) } : {}),
        ...(r.http.tls.keyFile !== undefined ? { keyFile: resolve(base, r.http.tls.keyFile) } : {}),
      },
      history: { ...r.http.history },
    },
    operator: { ...(r.operator.jid !== undefined ? { jid: r.operator.jid.toLowerCase() } : {}) },
    xmpp: {
      service: r.xmpp.service,
      domain,
      serverDomain: (r.xmpp.serverDomain ?? (domain.includes('.') ? domain.slice(domain.indexOf('.') + 1) : domain)).toLowerCase(),
      secret: secret ?? '',
      maxStanzaBytes: r.xmpp.maxStanzaBytes,
      maxBodyChars: r.xmpp.maxBodyChars,
      name: r.xmpp.name,
      commandRate: { ...r.xmpp.commandRate },
      ...(r.xmpp.caFile !== undefined ? { caFile: resolve(base, r.xmpp.caFile) } : {}),
      handshakeTimeoutMs: r.xmpp.handshakeTimeoutMs,
      conflictRetrySeconds: r.xmpp.conflictRetrySeconds,
      admins: [...r.xmpp.admins],
    },
    import: {
      zigbee2mqtt: importSource(r.import.zigbee2mqtt),
      homeassistant: importSource(r.import.homeassistant),
      tasmota: importSource(r.import.tasmota),
      homie: importSource(r.import.homie),
      sparkplug: importSource(r.import.sparkplug),
    },
    audit: { ...r.audit },
    cluster: {
      enabled: r.cluster.enabled,
      redis: {
        url: r.cluster.redis.url,
        keyPrefix: r.cluster.redis.keyPrefix ?? `mqtt-xmpp-bridge:${domain}:`,
        ...(redisPassword !== undefined ? { password: redisPassword } : {}),
        ...(r.cluster.redis.caFile !== undefined ? { caFile: resolve(base, r.cluster.redis.caFile) } : {}),
      },
      group: r.cluster.group,
      heartbeatSeconds: r.cluster.heartbeatSeconds,
    },
  };
  warnDataDirOpen(config.dataDir, warnings);
  return { config: deepFreeze(config), warnings };
}

/**
 * The data directory holds the database (credential hashes, the outbox, the audit log). The bridge creates it 0700
 * and its files 0600, but a directory made by someone else may let other users in.
 */
function warnDataDirOpen(dataDir: string, warnings: string[]): void {
  let mode: number;
  try {
    mode = statSync(dataDir).mode;
  } catch {
    return; // not there yet: the bridge creates it 0700
  }
  if ((mode & 0o077) !== 0) warnings.push(`${dataDir} (the data directory) is readable by other users; chmod 700 it`);
}

/** The raw shape after Ajv applied defaults (validated, so the casts below are sound). */
interface RawConfig {
  dataDir: string;
  mappings: string[];
  schemas: string[];
  baseTopic: string;
  log: { level: LogLevel; file?: string };
  delivery: BridgeConfig['delivery'];
  media: BridgeConfig['media'];
  mqtt: {
    embedded: BridgeConfig['mqtt']['embedded'];
    external?: {
      url: string;
      clientId: string;
      cleanSession: boolean;
      username?: string;
      protocolVersion: 4 | 5;
      keepalive: number;
      caFile?: string;
      certFile?: string;
      keyFile?: string;
    };
  };
  http: {
    enabled: boolean;
    host: string;
    port: number;
    tls: { enabled: boolean; certFile?: string; keyFile?: string };
    history: BridgeConfig['http']['history'];
  };
  operator: { jid?: string };
  xmpp: {
    service: string;
    domain: string;
    serverDomain?: string;
    maxStanzaBytes: number;
    maxBodyChars: number;
    name: string;
    commandRate: { perMinute: number; burst: number };
    caFile?: string;
    handshakeTimeoutMs: number;
    conflictRetrySeconds: number;
    admins: string[];
  };
  import: Record<ImportSourceName, RawImportSource>;
  audit: BridgeConfig['audit'];
  cluster: {
    enabled: boolean;
    redis: { url: string; keyPrefix?: string; caFile?: string };
    group: string;
    heartbeatSeconds: number;
  };
}

type RawImportSource = Omit<ImportSourceConfig, 'base'> & { base?: string; prefix?: string };

/** `base` (Zigbee2MQTT, Homie) and `prefix` (discovery) are one setting: where the source's topics start. */
function importSource(raw: RawImportSource): ImportSourceConfig {
  const { prefix, base, ...rest } = raw;
  return { ...rest, base: (base ?? prefix)!, allow: [...raw.allow], deny: [...raw.deny], access: { viewers: [...raw.access.viewers], operators: [...raw.access.operators] } };
}

/**
 * An import source's `jid` or `name` template: only the listed placeholders; a JID needs `{id}` (the hardware id
 * keeps devices apart) and literal text that needs no XEP-0106 escaping.
 */
function importTemplateProblems(source: string, allowed: readonly string[], isJid: boolean): string[] {
  const { template, errors } = parseTemplate(source, { rich: false });
  if (!template) return errors;
  const out: string[] = [];
  for (const f of template.fields) if (!allowed.includes(f)) out.push(`{${f}} is not one of ${allowed.map((a) => `{${a}}`).join(', ')}`);
  if (isJid) {
    if (!template.fields.includes('id')) out.push('must contain {id}, or two devices would get one JID');
    for (const part of template.parts) if (part.kind === 'text' && LITERAL_FORBIDDEN.test(part.text)) out.push(`literal text "${part.text}" contains a character a JID local part cannot hold unescaped`);
  }
  return out;
}

/** The component secret: `xmpp.secret` (env BRIDGE_XMPP_SECRET) wins over `xmpp.secretFile`; one is required. */
function resolveSecret(xmpp: Record<string, unknown>, base: string, fileLabel: string, problems: LoadProblem[], warnings: string[]): string | undefined {
  const secret = resolveFileSecret(xmpp, 'secret', 'secretFile', '/xmpp', base, fileLabel, problems, warnings);
  if (secret === undefined && typeof xmpp['secretFile'] !== 'string') {
    problems.push({ file: fileLabel, path: '/xmpp/secret', message: 'no component secret: set xmpp.secretFile, or BRIDGE_XMPP_SECRET in the environment' });
  }
  return secret;
}

/** A secret given inline (or by environment) or in a file; the inline value wins. */
function resolveFileSecret(
  section: Record<string, unknown>,
  key: string,
  fileKey: string,
  at: string,
  base: string,
  fileLabel: string,
  problems: LoadProblem[],
  warnings: string[],
): string | undefined {
  const inline = section[key];
  if (typeof inline === 'string' && inline.length > 0) return inline;
  const file = section[fileKey];
  if (typeof file !== 'string' || file.length === 0) return undefined;
  const path = resolve(base, file);
  try {
    const text = readFileSync(path, 'utf8').trim();
    if (text.length === 0) problems.push({ file: fileLabel, path: `${at}/${fileKey}`, message: `${path} is empty` });
    // A secret others can read is a secret others have.
    if ((statSync(path).mode & 0o077) !== 0) warnings.push(`${path} is readable by other users; chmod 600 it`);
    return text;
  } catch (err) {
    problems.push({ file: fileLabel, path: `${at}/${fileKey}`, message: `cannot read ${path}: ${(err as Error).message}` });
    return undefined;
  }
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
