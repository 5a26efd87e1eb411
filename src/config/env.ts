/**
 * Environment overrides: one config file serves a laptop, a container and a test. Each variable sets one config key;
 * the table below is the documentation (README "Environment variables" is generated from the same names).
 */
import { setPath } from '../convert/json-path.js';

export interface EnvOverride {
  readonly name: string;
  /** Config path, as property names. */
  readonly path: readonly string[];
  readonly type: 'string' | 'integer' | 'boolean' | 'list';
  readonly description: string;
}

export const ENV_OVERRIDES: readonly EnvOverride[] = [
  { name: 'BRIDGE_MQTT_HOST', path: ['mqtt', 'embedded', 'host'], type: 'string', description: 'Embedded broker listen address' },
  { name: 'BRIDGE_MQTT_PORT', path: ['mqtt', 'embedded', 'port'], type: 'integer', description: 'Embedded broker MQTT/TCP port (0 = any free port)' },
  { name: 'BRIDGE_MQTT_WS_PORT', path: ['mqtt', 'embedded', 'websocket', 'port'], type: 'integer', description: 'Embedded broker MQTT-over-WebSocket port' },
  { name: 'BRIDGE_MQTT_ALLOW_ANONYMOUS', path: ['mqtt', 'embedded', 'allowAnonymous'], type: 'boolean', description: 'Accept MQTT clients without credentials' },
  { name: 'BRIDGE_MQTT_EMBEDDED', path: ['mqtt', 'embedded', 'enabled'], type: 'boolean', description: 'Run the embedded broker (true/false)' },
  { name: 'BRIDGE_MQTT_URL', path: ['mqtt', 'external', 'url'], type: 'string', description: 'Attach to an existing broker at this URL' },
  { name: 'BRIDGE_MQTT_USERNAME', path: ['mqtt', 'external', 'username'], type: 'string', description: 'Username at the existing broker' },
  { name: 'BRIDGE_MQTT_PASSWORD', path: ['mqtt', 'external', 'password'], type: 'string', description: 'Password at the existing broker' },
  { name: 'BRIDGE_MQTT_PASSWORD_FILE', path: ['mqtt', 'external', 'passwordFile'], type: 'string', description: 'File holding that password' },
  { name: 'BRIDGE_XMPP_SERVICE', path: ['xmpp', 'service'], type: 'string', description: 'XMPP server component endpoint, xmpp://host:port' },
  { name: 'BRIDGE_XMPP_DOMAIN', path: ['xmpp', 'domain'], type: 'string', description: 'Component domain of the device JIDs' },
  { name: 'BRIDGE_XMPP_SERVER_DOMAIN', path: ['xmpp', 'serverDomain'], type: 'string', description: 'Domain of the server\'s users ({serverDomain})' },
  { name: 'BRIDGE_XMPP_SECRET', path: ['xmpp', 'secret'], type: 'string', description: 'Component secret' },
  { name: 'BRIDGE_XMPP_SECRET_FILE', path: ['xmpp', 'secretFile'], type: 'string', description: 'File holding the component secret' },
  { name: 'BRIDGE_HTTP_ENABLED', path: ['http', 'enabled'], type: 'boolean', description: 'Serve the status page, /metrics and /healthz (true/false)' },
  { name: 'BRIDGE_HTTP_HOST', path: ['http', 'host'], type: 'string', description: 'Status page listen address' },
  { name: 'BRIDGE_HTTP_PORT', path: ['http', 'port'], type: 'integer', description: 'Status page port (0 = any free port)' },
  { name: 'BRIDGE_HTTP_TOKEN', path: ['http', 'token'], type: 'string', description: 'Admin token of the status page, its API and /metrics' },
  { name: 'BRIDGE_HTTP_TOKEN_FILE', path: ['http', 'tokenFile'], type: 'string', description: 'File holding that token' },
  { name: 'BRIDGE_OPERATOR_JID', path: ['operator', 'jid'], type: 'string', description: 'JID commands from the page and the request API are sent as' },
  { name: 'BRIDGE_DATA_DIR', path: ['dataDir'], type: 'string', description: 'Directory for durable state' },
  { name: 'BRIDGE_MAPPINGS', path: ['mappings'], type: 'list', description: 'Mapping files/directories, comma-separated' },
  { name: 'BRIDGE_SCHEMAS', path: ['schemas'], type: 'list', description: 'Payload schema files/directories, comma-separated' },
  { name: 'BRIDGE_BASE_TOPIC', path: ['baseTopic'], type: 'string', description: 'Prefix of the bridge topics' },
  { name: 'BRIDGE_CLUSTER', path: ['cluster', 'enabled'], type: 'boolean', description: 'Cluster mode: several instances, shared state in Redis' },
  { name: 'BRIDGE_REDIS_URL', path: ['cluster', 'redis', 'url'], type: 'string', description: 'Redis of cluster mode, redis://host:port' },
  { name: 'BRIDGE_REDIS_PASSWORD', path: ['cluster', 'redis', 'password'], type: 'string', description: 'Password of that Redis' },
  { name: 'BRIDGE_LOG_LEVEL', path: ['log', 'level'], type: 'string', description: 'Log level (fatal … trace, silent)' },
  { name: 'BRIDGE_LOG_FILE', path: ['log', 'file'], type: 'string', description: 'Write logs to this file' },
];

/**
 * Apply the overrides present in `env` to a raw (unvalidated) config object, in place.
 * Returns a message per variable whose value cannot be converted.
 */
export function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): { name: string; message: string }[] {
  const problems: { name: string; message: string }[] = [];
  for (const o of ENV_OVERRIDES) {
    const text = env[o.name];
    if (text === undefined || text === '') continue;
    let value: unknown;
    switch (o.type) {
      case 'string':
        value = text;
        break;
      case 'integer':
        if (!/^-?\d+$/.test(text.trim())) {
          problems.push({ name: o.name, message: `"${text}" is not an integer` });
          continue;
        }
        value = Number(text.trim());
        break;
      case 'boolean':
        if (!/^(true|false|1|0|yes|no)$/i.test(text.trim())) {
          problems.push({ name: o.name, message: `"${text}" is not a boolean (true/false)` });
          continue;
        }
        value = /^(true|1|yes)$/i.test(text.trim());
        break;
      case 'list':
        value = text.split(',').map((s) => s.trim()).filter(Boolean);
        break;
    }
    setPath(raw, o.path, value);
  }
  return problems;
}

