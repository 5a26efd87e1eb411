/**
 * The configuration file's JSON Schema (draft 2020-12). It is the single source of truth for keys, types and
 * defaults: the loader validates with it (collecting every error), Ajv fills the defaults, and `docs/config.schema.json`
 * is generated from it for editors (`npm run schemas`; a unit test fails if the shipped copy drifts).
 *
 * Keys are camelCase and equal the TypeScript property names of `BridgeConfig`.
 */

export const CONFIG_SCHEMA_ID = 'https://mqtt-xmpp-bridge.dev/schemas/config.json';

/** One import source (docs/IMPORT.md): off by default. */
function importSource(title: string, baseKey: 'base' | 'prefix', baseDefault: string, baseDescription: string) {
  return {
    type: 'object',
    additionalProperties: false,
    default: {},
    description: title,
    properties: {
      mode: {
        enum: ['off', 'approve', 'auto'],
        default: 'off',
        description: 'off: not watched; approve: new devices wait for an operator (CLI, request topic, admin command); auto: imported at once.',
      },
      [baseKey]: { type: 'string', minLength: 1, pattern: '^[^#+]+$', default: baseDefault, description: baseDescription },
      allow: { type: 'array', items: { type: 'string', minLength: 1 }, default: [], description: 'Globs (* and ?) over hardware ids and names: when given, only matching devices are imported.' },
      deny: { type: 'array', items: { type: 'string', minLength: 1 }, default: [], description: 'Globs over hardware ids and names: matching devices are never imported.' },
      maxDevices: { type: 'integer', minimum: 1, default: 1000, description: 'Most devices imported (or waiting for approval) from this source.' },
      jid: {
        type: 'string',
        minLength: 1,
        default: '{id}',
        description: 'JID local part: {id} is the hardware id (IEEE address, MAC, discovery identifier), never the name. E.g. "zb-{id}".',
      },
      name: { type: 'string', minLength: 1, default: '{name}', description: 'Display name: {name} (the friendly name), {id}, {model}, {manufacturer}.' },
      access: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          viewers: { type: 'array', items: { type: 'string', minLength: 1 }, default: ['*@{serverDomain}'], description: 'JID patterns that see the imported devices.' },
          operators: { type: 'array', items: { type: 'string', minLength: 1 }, default: [], description: 'JID patterns that may command them.' },
        },
      },
      messageType: { enum: ['chat', 'headline', 'normal'], default: 'chat', description: 'Message type of the readings.' },
    },
  } as const;
}

export const configSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: CONFIG_SCHEMA_ID,
  title: 'mqtt-xmpp-bridge configuration',
  type: 'object',
  additionalProperties: false,
  required: ['xmpp'],
  properties: {
    $schema: { type: 'string' },
    dataDir: {
      type: 'string',
      default: './data',
      description: 'Directory for durable state (SQLite database). Relative paths are relative to the config file.',
    },
    mappings: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      default: ['./mappings'],
      description: 'Mapping files or directories of *.yaml/*.yml/*.json mapping files.',
    },
    schemas: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      default: ['./schemas'],
      description: 'Payload JSON Schema files or directories of *.json schemas, registered by their $id.',
    },
    baseTopic: {
      type: 'string',
      minLength: 1,
      pattern: '^[^#+$][^#+]*$',
      default: 'mqtt-xmpp-bridge',
      description: 'Prefix of the bridge topics: <baseTopic>/bridge/state, /info, /devices, /event.',
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
        file: { type: 'string', description: 'Write logs to this file instead of standard output.' },
      },
    },
    mqtt: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        embedded: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'The embedded MQTT broker (aedes).',
          properties: {
            enabled: { type: 'boolean', default: true },
            host: { type: 'string', default: '127.0.0.1', description: 'Listen address; 0.0.0.0 for every interface.' },
            port: { type: 'integer', minimum: 0, maximum: 65535, default: 1883, description: 'MQTT over TCP; 0 picks a free port.' },
            websocket: {
              type: 'object',
              additionalProperties: false,
              default: {},
              properties: {
                enabled: { type: 'boolean', default: true },
                host: { type: 'string', default: '127.0.0.1' },
                port: { type: 'integer', minimum: 0, maximum: 65535, default: 8083, description: '0 picks a free port.' },
                path: { type: 'string', pattern: '^/', default: '/mqtt' },
              },
            },
            maxPayloadBytes: {
              type: 'integer',
              minimum: 1,
              maximum: 268435455,
              default: 262144,
              description: 'Largest accepted PUBLISH payload; a larger packet closes the connection before it is buffered.',
            },
            allowAnonymous: {
              type: 'boolean',
              default: false,
              description: 'Accept clients without credentials, with every right (for demos and closed test benches only).',
            },
            tls: {
              type: 'object',
              additionalProperties: false,
              default: {},
              description: 'MQTT over TLS (and WebSocket over TLS); certificate and key are reloaded when they change on disk.',
              properties: {
                enabled: { type: 'boolean', default: false },
                host: { type: 'string', default: '127.0.0.1' },
                port: { type: 'integer', minimum: 0, maximum: 65535, default: 8883, description: 'MQTT over TLS; 0 picks a free port.' },
                websocketPort: { type: 'integer', minimum: 0, maximum: 65535, description: 'WebSocket over TLS (wss://…/mqtt); off when absent.' },
                certFile: { type: 'string', description: 'PEM certificate (chain) of the listener.' },
                keyFile: { type: 'string', description: 'PEM private key of the listener.' },
                caFile: { type: 'string', description: 'CA certificate(s) that sign device client certificates.' },
                clientCertificates: {
                  enum: ['none', 'optional', 'required'],
                  default: 'none',
                  description: 'Ask devices for a client certificate; its subject CN is the device identity.',
                },
              },
            },
            auth: {
              type: 'object',
              additionalProperties: false,
              default: {},
              description: 'Password hashes login attempts may cost, per source address and per username: beyond the burst, attempts are answered late and refused without hashing.',
              properties: {
                failureBurst: { type: 'integer', minimum: 1, default: 5 },
                failuresPerMinute: { type: 'number', exclusiveMinimum: 0, default: 6 },
                maxDelayMs: { type: 'integer', minimum: 0, default: 10000, description: 'Longest delay before a refused login is answered.' },
              },
            },
            acl: {
              type: 'array',
              default: [],
              maxItems: 1000,
              description:
                'Access rules on top of the rights derived from the mappings, checked in order: the first rule that matches decides; when none does, the built-in rights do (docs/SECURITY.md).',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['action', 'topic'],
                properties: {
                  action: { enum: ['allow', 'deny'] },
                  topic: {
                    type: 'string',
                    minLength: 1,
                    maxLength: 65535,
                    description: 'Topic filter; %u stands for the identity name, %c for the client id.',
                  },
                  access: { enum: ['publish', 'subscribe', 'both'], default: 'both', description: 'subscribe also covers every message forwarded to the client.' },
                  who: {
                    type: 'array',
                    minItems: 1,
                    default: ['*'],
                    items: { type: 'string', pattern: '^(\\*|anonymous|(device|service):.+)$' },
                    description: '*, anonymous, device:*, service:*, device:NAME or service:NAME.',
                  },
                },
              },
            },
            maxConnections: { type: 'integer', minimum: 1, default: 20000, description: 'Connections accepted at once (TCP and WebSocket together).' },
            connectTimeoutMs: { type: 'integer', minimum: 100, default: 10000, description: 'A connection that sends no CONNECT within this time is closed.' },
            maxTopicLevels: { type: 'integer', minimum: 1, maximum: 100, default: 32, description: 'Topics with more levels are refused.' },
            drainTimeoutMs: {
              type: 'integer',
              minimum: 100,
              default: 10000,
              description: 'A subscriber whose socket stays full this long is disconnected, so it cannot stall the others.',
            },
            rateLimit: {
              type: 'object',
              additionalProperties: false,
              default: {},
              description: 'Publishes per second per client (token bucket).',
              properties: {
                messagesPerSecond: { type: 'number', minimum: 0, default: 0, description: '0: no limit' },
                burst: { type: 'integer', minimum: 1, default: 100 },
                policy: {
                  enum: ['delay', 'disconnect'],
                  default: 'delay',
                  description: 'delay: hold the client\'s publishes (nothing is lost); disconnect: close its connection.',
                },
              },
            },
          },
        },
        external: {
          type: 'object',
          additionalProperties: false,
          required: ['url'],
          description: 'An existing broker (Mosquitto, EMQX…) the devices already use; the bridge attaches as a client.',
          properties: {
            url: { type: 'string', pattern: '^(mqtts?|wss?)://', description: 'mqtt://host:1883, mqtts://host:8883, ws(s)://host/mqtt' },
            clientId: { type: 'string', minLength: 1, default: 'mqtt-xmpp-bridge', description: 'Fixed, so the broker keeps the session (and QoS 1 messages) while the bridge is away.' },
            cleanSession: { type: 'boolean', default: false },
            username: { type: 'string' },
            password: { type: 'string', description: 'Prefer passwordFile or BRIDGE_MQTT_PASSWORD.' },
            passwordFile: { type: 'string' },
            protocolVersion: { enum: [4, 5], default: 4, description: '4 = MQTT 3.1.1, 5 = MQTT 5.0' },
            keepalive: { type: 'integer', minimum: 0, default: 30 },
            caFile: { type: 'string', description: 'CA certificate(s) to verify an mqtts:// broker.' },
            certFile: { type: 'string', description: 'Client certificate, when the broker wants one.' },
            keyFile: { type: 'string' },
          },
        },
      },
    },
    media: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Binary readings (mappings with payload format "binary"): uploads and their limits (docs/MEDIA.md).',
      properties: {
        maxBytes: { type: 'integer', minimum: 1, default: 10485760, description: 'Largest binary payload accepted (a mapping may lower it); the broker\'s maxPayloadBytes applies first.' },
        minIntervalSeconds: { type: 'number', minimum: 0, default: 10, description: 'Least time between two uploads of one device; a snapshot arriving meanwhile waits, and a newer one replaces it.' },
        dailyBytes: { type: 'integer', minimum: 1, default: 104857600, description: 'Bytes one device may upload per day (Prosody\'s default quota: 10 × its 10 MiB file limit).' },
        inlineMaxBytes: { type: 'integer', minimum: 0, default: 0, description: 'Payloads at most this long travel base64 in the reading\'s JSON instead of being uploaded (a mapping may set its own).' },
        uploadTimeoutSeconds: { type: 'number', minimum: 1, default: 30, description: 'Time allowed for the slot request and for the PUT, each.' },
        uploadService: { type: 'string', minLength: 1, description: 'The XEP-0363 service JID; without it, found by service discovery on the server domain.' },
        fetch: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Commands carrying a file: how the file a user names by URL is fetched (docs/MEDIA.md).',
          properties: {
            maxBytes: { type: 'integer', minimum: 1, default: 1048576, description: 'Largest file fetched (a command may set its own); above it the fetch is refused or cut off.' },
            timeoutSeconds: { type: 'number', exclusiveMinimum: 0, default: 15, description: 'Time allowed for the whole fetch: connection, headers and body.' },
            concurrency: { type: 'integer', minimum: 1, default: 4, description: 'Fetches at once for the whole bridge (one per device); more are refused (MEDIA_FETCH_BUSY).' },
            allowHosts: {
              type: 'array',
              default: [],
              items: { type: 'string', pattern: '^[^\\s/@]+$' },
              description: 'Further hosts ("host" or "host:port") every sender may name, e.g. an upload server the users\' server delegates to.',
            },
          },
        },
        localFiles: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Without an upload service: the status page\'s server (http.enabled) serves the files itself, at unguessable expiring URLs.',
          properties: {
            maxTotalBytes: { type: 'integer', minimum: 1, default: 268435456, description: 'Disk space for them (dataDir/media); the files that expire soonest make room.' },
            ttlHours: { type: 'number', exclusiveMinimum: 0, default: 24, description: 'A file is deleted (and its URL answers 404) this long after it was stored.' },
            publicUrl: { type: 'string', pattern: '^https?://[^/]+(/.*[^/])?$', description: 'How users reach the server (a proxy in front of it); default the address it listens on.' },
          },
        },
      },
    },
    delivery: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'How readings survive XMPP outages and bridge restarts (docs/RELIABILITY.md).',
      properties: {
        maxOutbox: { type: 'integer', minimum: 1, default: 100000, description: 'QoS 1/2 readings held; beyond it publishes wait unacknowledged.' },
        maxAgeSeconds: { type: 'integer', minimum: 1, default: 86400, description: 'Readings older than this are dropped from the outbox (counted).' },
        qos0Buffer: { type: 'integer', minimum: 0, default: 10000, description: 'QoS 0 readings kept in memory while XMPP is away; the oldest go first.' },
        barrierIntervalMs: { type: 'integer', minimum: 1, default: 100 },
        barrierBatch: { type: 'integer', minimum: 1, default: 1000 },
        barrierTimeoutMs: { type: 'integer', minimum: 100, default: 10000 },
        highWaterBytes: { type: 'integer', minimum: 65536, default: 4194304, description: 'Pause writing to a server that does not read.' },
        commandTtlSeconds: {
          type: 'integer',
          minimum: 0,
          default: 300,
          description: 'Default time commands for an offline device are held (a command may set its own ttl; 0: refuse at once).',
        },
      },
    },
    http: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The status page, the HTTP API, /metrics (Prometheus) and /healthz, /readyz (docs/OPERATIONS.md). Off unless enabled.',
      properties: {
        enabled: { type: 'boolean', default: false },
        host: { type: 'string', default: '127.0.0.1', description: 'Listen address; loopback unless you put the page behind a proxy or on a trusted network.' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080, description: '0 picks a free port.' },
        token: { type: 'string', description: 'Admin token, at least 16 characters: the login of the page, the bearer token of the API and /metrics. Prefer tokenFile or BRIDGE_HTTP_TOKEN.' },
        tokenFile: { type: 'string', minLength: 1, description: 'File holding the admin token.' },
        tls: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'HTTPS; certificate and key are reloaded when they change on disk, as the broker\'s are.',
          properties: {
            enabled: { type: 'boolean', default: false },
            certFile: { type: 'string', description: 'PEM certificate (chain).' },
            keyFile: { type: 'string', description: 'PEM private key.' },
          },
        },
        history: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'What the page keeps in memory per device (ring buffers; docs/OPERATIONS.md gives the memory it takes).',
          properties: {
            readings: { type: 'integer', minimum: 0, maximum: 1000, default: 30, description: 'Recent readings per device (the chart).' },
            rejections: { type: 'integer', minimum: 0, maximum: 1000, default: 5, description: 'Recent rejections per device, with their schema errors.' },
            commands: { type: 'integer', minimum: 0, maximum: 1000, default: 5, description: 'Recent commands per device, with their outcomes.' },
          },
        },
      },
    },
    operator: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The identity of the operator behind the status page and the request API.',
      properties: {
        jid: {
          type: 'string',
          pattern: '^[^@/\\s]+@[^@/\\s]+$',
          description: 'Commands sent from the status page or <base>/bridge/request/device/command are sent as this bare JID: it must be among the operators of the device\'s mapping.',
        },
      },
    },
    xmpp: {
      type: 'object',
      additionalProperties: false,
      required: ['domain'],
      properties: {
        service: {
          type: 'string',
          pattern: '^xmpps?://[^/]+$',
          default: 'xmpp://127.0.0.1:5347',
          description: 'Component port of the XMPP server (XEP-0114), as xmpp://host:port, or xmpps://host:port for direct TLS.',
        },
        domain: {
          type: 'string',
          minLength: 1,
          pattern: '^[^@/\\s]+$',
          description: 'The component domain; device JIDs are <localpart>@<domain>.',
        },
        serverDomain: {
          type: 'string',
          pattern: '^[^@/\\s]+$',
          description: 'Domain of the XMPP server\'s users, used for {serverDomain} in JID patterns. Default: domain minus its first label.',
        },
        secret: { type: 'string', minLength: 1, description: 'Component secret. Prefer secretFile or BRIDGE_XMPP_SECRET.' },
        secretFile: { type: 'string', minLength: 1, description: 'File holding the component secret.' },
        maxStanzaBytes: {
          type: 'integer',
          minimum: 4096,
          default: 500000,
          description: 'Largest stanza the bridge sends (Prosody closes a component stream above 512 KiB).',
        },
        maxBodyChars: { type: 'integer', minimum: 16, default: 2000, description: 'Reading bodies are cut to this many characters.' },
        name: { type: 'string', default: 'MQTT bridge', description: 'Name of the component in service discovery.' },
        commandRate: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Commands per sender JID (token bucket); beyond it, resource-constraint errors.',
          properties: {
            perMinute: { type: 'number', minimum: 0, default: 120, description: '0: no limit' },
            burst: { type: 'integer', minimum: 1, default: 20 },
          },
        },
        caFile: { type: 'string', description: 'CA certificate(s) to verify an xmpps:// server (direct TLS on the component port).' },
        admins: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: [],
          description: 'JID patterns of the bridge\'s administrators: they get the admin commands (XEP-0050) on the component JID, e.g. approving imported devices.',
        },
        handshakeTimeoutMs: {
          type: 'integer',
          minimum: 100,
          default: 10000,
          description: 'Time allowed for one connection attempt: TCP connect, the server\'s stream header and the handshake answer.',
        },
        conflictRetrySeconds: {
          type: 'integer',
          minimum: 0,
          default: 1800,
          description:
            'After the link was lost, how long a "conflict" (the server still holds the previous stream) is retried before the bridge gives up (exit 2). 0: never retried. A conflict on the first connection is always fatal.',
        },
      },
    },
    cluster: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Several bridge instances for one component domain (ejabberd), sharing their state in Redis; off by default (docs/SCALING.md).',
      properties: {
        enabled: { type: 'boolean', default: false },
        redis: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            url: { type: 'string', pattern: '^rediss?://', default: 'redis://127.0.0.1:6379', description: 'redis://host:port[/db], or rediss:// for TLS.' },
            password: { type: 'string', description: 'Prefer passwordFile or BRIDGE_REDIS_PASSWORD.' },
            passwordFile: { type: 'string' },
            caFile: { type: 'string', description: 'CA certificate(s) to verify a rediss:// server.' },
            keyPrefix: {
              type: 'string',
              minLength: 1,
              description: 'Prefix of every key and channel of the bridge\'s own state. Default: mqtt-xmpp-bridge:<xmpp.domain>:',
            },
          },
        },
        group: {
          type: 'string',
          minLength: 1,
          pattern: '^[^/+#]+$',
          default: 'mqtt-xmpp-bridge',
          description: 'Shared subscription group on an existing broker: readings are taken through $share/<group>/<filter>, each by one instance.',
        },
        heartbeatSeconds: {
          type: 'integer',
          minimum: 1,
          maximum: 60,
          default: 2,
          description: 'How often an instance says it is alive; one silent for three times this is taken as gone (its devices and broker session are taken over).',
        },
      },
    },
    import: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Devices that describe themselves on the broker, imported without a mapping (docs/IMPORT.md).',
      properties: {
        zigbee2mqtt: importSource('Zigbee2MQTT (<base>/bridge/devices)', 'base', 'zigbee2mqtt', 'Zigbee2MQTT mqtt.base_topic.'),
        homeassistant: importSource('Home Assistant MQTT discovery (ESPHome, Tasmota legacy, zwave-js-ui, OpenMQTTGateway, Zigbee2MQTT\'s HA output…)', 'prefix', 'homeassistant', 'The discovery prefix.'),
        tasmota: importSource('Tasmota native discovery (tasmota/discovery/<MAC>/config)', 'prefix', 'tasmota/discovery', 'The discovery prefix.'),
        homie: importSource('Homie 5 and Homie 4 devices', 'base', 'homie', 'The Homie domain (first topic level).'),
        sparkplug: importSource('Sparkplug B edge nodes and devices (births, data, deaths; commands as NCMD/DCMD)', 'base', 'spBv1.0', 'The Sparkplug namespace (first topic level).'),
      },
    },
    audit: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The command audit log (SQLite, in dataDir): what is kept and for how long.',
      properties: {
        maxAgeDays: { type: 'integer', minimum: 1, default: 90, description: 'Entries older than this are deleted.' },
        maxRows: { type: 'integer', minimum: 1, default: 100000, description: 'Beyond this many entries the oldest are deleted.' },
        maxPayloadBytes: {
          type: 'integer',
          minimum: 0,
          default: 1024,
          description: 'Command payloads are kept up to this many bytes (UTF-8); 0: not kept. Refused commands never keep theirs.',
        },
      },
    },
  },
} as const;

export type ImportSourceName = 'zigbee2mqtt' | 'homeassistant' | 'tasmota' | 'homie' | 'sparkplug';

/** One import source, resolved (`base` is the Zigbee2MQTT base topic, the discovery prefix, or the Homie domain). */
export interface ImportSourceConfig {
  readonly mode: 'off' | 'approve' | 'auto';
  readonly base: string;
  readonly allow: readonly string[];
  readonly deny: readonly string[];
  readonly maxDevices: number;
  readonly jid: string;
  readonly name: string;
  readonly access: { readonly viewers: readonly string[]; readonly operators: readonly string[] };
  readonly messageType: 'chat' | 'headline' | 'normal';
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The validated configuration, paths absolute, defaults applied, secrets resolved. */
export interface BridgeConfig {
  readonly configFile: string | undefined;
  readonly dataDir: string;
  readonly mappings: readonly string[];
  readonly schemas: readonly string[];
  readonly baseTopic: string;
  readonly log: { readonly level: LogLevel; readonly file?: string };
  readonly mqtt: {
    readonly embedded: {
      readonly enabled: boolean;
      readonly host: string;
      readonly port: number;
      readonly websocket: { readonly enabled: boolean; readonly host: string; readonly port: number; readonly path: string };
      readonly maxPayloadBytes: number;
      readonly allowAnonymous: boolean;
      readonly tls: {
        readonly enabled: boolean;
        readonly host: string;
        readonly port: number;
        readonly websocketPort?: number;
        readonly certFile?: string;
        readonly keyFile?: string;
        readonly caFile?: string;
        readonly clientCertificates: 'none' | 'optional' | 'required';
      };
      readonly auth: { readonly failureBurst: number; readonly failuresPerMinute: number; readonly maxDelayMs: number };
      readonly acl: readonly {
        readonly action: 'allow' | 'deny';
        readonly topic: string;
        readonly access: 'publish' | 'subscribe' | 'both';
        readonly who: readonly string[];
      }[];
      readonly maxConnections: number;
      readonly connectTimeoutMs: number;
      readonly maxTopicLevels: number;
      readonly drainTimeoutMs: number;
      readonly rateLimit: { readonly messagesPerSecond: number; readonly burst: number; readonly policy: 'delay' | 'disconnect' };
    };
    readonly external?: {
      readonly url: string;
      readonly clientId: string;
      readonly cleanSession: boolean;
      readonly username?: string;
      readonly password?: string;
      readonly protocolVersion: 4 | 5;
      readonly keepalive: number;
      readonly caFile?: string;
      readonly certFile?: string;
      readonly keyFile?: string;
    };
  };
  readonly media: {
    readonly maxBytes: number;
    readonly minIntervalSeconds: number;
    readonly dailyBytes: number;
    readonly inlineMaxBytes: number;
    readonly uploadTimeoutSeconds: number;
    readonly uploadService?: string;
    readonly localFiles: { readonly maxTotalBytes: number; readonly ttlHours: number; readonly publicUrl?: string };
    readonly fetch: { readonly maxBytes: number; readonly timeoutSeconds: number; readonly concurrency: number; readonly allowHosts: readonly string[] };
  };
  readonly delivery: {
    readonly maxOutbox: number;
    readonly maxAgeSeconds: number;
    readonly qos0Buffer: number;
    readonly barrierIntervalMs: number;
    readonly barrierBatch: number;
    readonly barrierTimeoutMs: number;
    readonly highWaterBytes: number;
    readonly commandTtlSeconds: number;
  };
  readonly http: {
    readonly enabled: boolean;
    readonly host: string;
    readonly port: number;
    /** Resolved from token, tokenFile or BRIDGE_HTTP_TOKEN; required when enabled. */
    readonly token: string;
    readonly tls: { readonly enabled: boolean; readonly certFile?: string; readonly keyFile?: string };
    readonly history: { readonly readings: number; readonly rejections: number; readonly commands: number };
  };
  readonly operator: { readonly jid?: string };
  readonly xmpp: {
    readonly service: string;
    readonly domain: string;
    readonly serverDomain: string;
    readonly secret: string;
    readonly maxStanzaBytes: number;
    readonly maxBodyChars: number;
    readonly name: string;
    readonly commandRate: { readonly perMinute: number; readonly burst: number };
    readonly caFile?: string;
    readonly handshakeTimeoutMs: number;
    readonly conflictRetrySeconds: number;
    /** JID patterns of the administrators (admin commands on the component JID). */
    readonly admins: readonly string[];
  };
  /** Import sources (docs/IMPORT.md); a source with mode `off` is not watched. */
  readonly import: { readonly [S in ImportSourceName]: ImportSourceConfig };
  readonly audit: AuditConfig;
  readonly cluster: ClusterConfig;
}

export interface ClusterConfig {
  readonly enabled: boolean;
  readonly redis: { readonly url: string; readonly password?: string; readonly caFile?: string; readonly keyPrefix: string };
  readonly group: string;
  readonly heartbeatSeconds: number;
}

export interface AuditConfig {
  readonly maxAgeDays: number;
  readonly maxRows: number;
  readonly maxPayloadBytes: number;
}
