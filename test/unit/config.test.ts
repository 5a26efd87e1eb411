import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { applyEnvOverrides, ENV_OVERRIDES } from '../../src/config/env.js';
import { loadConfig } from '../../src/config/load.js';
import { LoadError, type LoadProblem } from '../../src/errors.js';

let dir: string;
let counter = 0;

/** Write a file into a fresh subdirectory of the temp dir; returns its path. */
function writeConfig(text: string, extra: Record<string, { text: string; mode?: number }> = {}): string {
  const sub = join(dir, `case-${++counter}`);
  mkdirSync(sub);
  for (const [name, f] of Object.entries(extra)) {
    const p = join(sub, name);
    writeFileSync(p, f.text);
    chmodSync(p, f.mode ?? 0o600);
  }
  const file = join(sub, 'bridge.yaml');
  writeFileSync(file, text);
  return file;
}

/** The problems of the LoadError that loading throws. */
function problemsOf(fn: () => unknown): readonly LoadProblem[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof LoadError, `expected a LoadError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected loading to fail');
}

const byPath = (a: LoadProblem, b: LoadProblem): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

describe('loadConfig', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bridge-config-test-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies every default, resolving default paths against the config file directory', () => {
    const file = writeConfig('xmpp:\n  domain: IoT.Example.org\n  secret: s3cret\n');
    const base = join(dir, `case-${counter}`);
    const { config, warnings } = loadConfig(file, {});
    assert.deepEqual(warnings, []);
    assert.deepEqual(config, {
      configFile: file,
      dataDir: join(base, 'data'),
      mappings: [join(base, 'mappings')],
      schemas: [join(base, 'schemas')],
      baseTopic: 'mqtt-xmpp-bridge',
      log: { level: 'info' },
      delivery: {
        maxOutbox: 100000,
        maxAgeSeconds: 86400,
        qos0Buffer: 10000,
        barrierIntervalMs: 100,
        barrierBatch: 1000,
        barrierTimeoutMs: 10000,
        highWaterBytes: 4194304,
        commandTtlSeconds: 300,
      },
      media: { maxBytes: 10485760, minIntervalSeconds: 10, dailyBytes: 104857600, inlineMaxBytes: 0, uploadTimeoutSeconds: 30, localFiles: { maxTotalBytes: 268435456, ttlHours: 24 }, fetch: { maxBytes: 1048576, timeoutSeconds: 15, concurrency: 4, allowHosts: [] } },
      mqtt: {
        embedded: {
          enabled: true,
          host: '127.0.0.1',
          port: 1883,
          websocket: { enabled: true, host: '127.0.0.1', port: 8083, path: '/mqtt' },
          maxPayloadBytes: 262144,
          allowAnonymous: false, // secure by default: devices authenticate
          tls: { enabled: false, host: '127.0.0.1', port: 8883, clientCertificates: 'none' },
          auth: { failureBurst: 5, failuresPerMinute: 6, maxDelayMs: 10000 },
          acl: [], // no operator rules: the rights derived from the mappings apply
          maxConnections: 20000,
          connectTimeoutMs: 10000,
          maxTopicLevels: 32,
          drainTimeoutMs: 10000,
          rateLimit: { messagesPerSecond: 0, burst: 100, policy: 'delay' },
        },
      },
      // The status page is off unless enabled, and on loopback (docs/OPERATIONS.md).
      http: { enabled: false, host: '127.0.0.1', port: 8080, token: '', tls: { enabled: false }, history: { readings: 30, rejections: 5, commands: 5 } },
      operator: {},
      xmpp: {
        service: 'xmpp://127.0.0.1:5347',
        domain: 'iot.example.org', // domains compare case-insensitively (RFC 7622 §3.2)
        serverDomain: 'example.org', // default: the domain minus its first label
        secret: 's3cret',
        maxStanzaBytes: 500000,
        maxBodyChars: 2000,
        name: 'MQTT bridge',
        commandRate: { perMinute: 120, burst: 20 },
        handshakeTimeoutMs: 10000,
        conflictRetrySeconds: 1800, // Prosody's 840 s read timeout plus a keepalive retransmitted into a dead path
        admins: [],
      },
      // Every import source is off until configured.
      import: Object.fromEntries(
        (
          [
            ['zigbee2mqtt', 'zigbee2mqtt'],
            ['homeassistant', 'homeassistant'],
            ['tasmota', 'tasmota/discovery'],
            ['homie', 'homie'],
            ['sparkplug', 'spBv1.0'],
          ] as const
        ).map(([source, base]) => [
          source,
          { mode: 'off', base, allow: [], deny: [], maxDevices: 1000, jid: '{id}', name: '{name}', access: { viewers: ['*@{serverDomain}'], operators: [] }, messageType: 'chat' },
        ]),
      ),
      audit: { maxAgeDays: 90, maxRows: 100000, maxPayloadBytes: 1024 },
      // One instance unless asked: cluster mode needs ejabberd and Redis (docs/SCALING.md).
      cluster: {
        enabled: false,
        redis: { url: 'redis://127.0.0.1:6379', keyPrefix: 'mqtt-xmpp-bridge:iot.example.org:' },
        group: 'mqtt-xmpp-bridge',
        heartbeatSeconds: 2,
      },
    });
  });

  it('requires an admin token of 16 characters or more when the status page is enabled', () => {
    const off = loadConfig(writeConfig('xmpp: { domain: iot.example.org, secret: s }\n'), {});
    assert.equal(off.config.http.enabled, false);
    const missing = problemsOf(() => loadConfig(writeConfig('xmpp: { domain: iot.example.org, secret: s }\nhttp: { enabled: true }\n'), {}));
    assert.deepEqual(
      missing.map((p) => [p.path, p.message]),
      [['/http/token', 'no admin token: set http.tokenFile, or BRIDGE_HTTP_TOKEN in the environment']],
    );
    const short = problemsOf(() => loadConfig(writeConfig('xmpp: { domain: iot.example.org, secret: s }\nhttp: { enabled: true }\n'), { BRIDGE_HTTP_TOKEN: 'short' }));
    assert.deepEqual(
      short.map((p) => [p.path, p.message]),
      [['/http/token', 'the admin token must be at least 16 characters long']],
    );
    const fromEnv = loadConfig(writeConfig('xmpp: { domain: iot.example.org, secret: s }\n'), { BRIDGE_HTTP_ENABLED: 'true', BRIDGE_HTTP_PORT: '0', BRIDGE_HTTP_TOKEN: 'a-token-of-20-chars!', BRIDGE_OPERATOR_JID: 'Ops@Example.org' });
    assert.equal(fromEnv.config.http.enabled, true);
    assert.equal(fromEnv.config.http.port, 0);
    assert.equal(fromEnv.config.http.token, 'a-token-of-20-chars!');
    assert.equal(fromEnv.config.operator.jid, 'ops@example.org');
  });

  it('reads the admin token from http.tokenFile, and checks HTTPS files when TLS is on', () => {
    const token = { 'admin.token': { text: 'token-from-a-file-0123\n', mode: 0o600 } };
    const problems = problemsOf(() => loadConfig(writeConfig('xmpp: { domain: iot.example.org, secret: s }\nhttp: { enabled: true, tokenFile: ./admin.token, tls: { enabled: true, certFile: ./none.pem } }\n', token), {}));
    assert.deepEqual(
      problems.map((p) => p.path).sort(),
      ['/http/tls/certFile', '/http/tls/keyFile'],
    );
    const { config, warnings } = loadConfig(writeConfig('xmpp: { domain: iot.example.org, secret: s }\nhttp: { enabled: true, tokenFile: ./admin.token }\n', token), {});
    assert.equal(config.http.token, 'token-from-a-file-0123');
    assert.deepEqual(warnings, []);
  });

  it('returns a frozen configuration', () => {
    const { config } = loadConfig(writeConfig('xmpp: { domain: iot.example.org, secret: s }\n'), {});
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.mqtt.embedded.websocket));
    assert.ok(Object.isFrozen(config.mappings));
  });

  it('resolves relative paths against the config file directory and keeps absolute ones', () => {
    const file = writeConfig(
      [
        'dataDir: ./state',
        'mappings: [./m, /abs/mappings]',
        'schemas: [../shared/schemas]',
        'log: { level: debug, file: logs/bridge.log }',
        'xmpp: { domain: iot.example.org, serverDomain: Chat.Example.org, secret: s }',
      ].join('\n'),
    );
    const base = join(dir, `case-${counter}`);
    const { config } = loadConfig(file, {});
    assert.equal(config.dataDir, join(base, 'state'));
    assert.deepEqual(config.mappings, [join(base, 'm'), '/abs/mappings']);
    assert.deepEqual(config.schemas, [resolve(base, '../shared/schemas')]);
    assert.deepEqual(config.log, { level: 'debug', file: join(base, 'logs/bridge.log') });
    assert.equal(config.xmpp.serverDomain, 'chat.example.org');
  });

  it('applies environment overrides over the file', () => {
    const file = writeConfig('xmpp:\n  domain: file.example.org\n  secretFile: ./missing.secret\nmqtt:\n  embedded:\n    port: 1999\n');
    const base = join(dir, `case-${counter}`);
    const { config } = loadConfig(file, {
      BRIDGE_MQTT_PORT: '1884',
      BRIDGE_XMPP_DOMAIN: 'iot.env.example.org',
      BRIDGE_XMPP_SECRET: 'from-env', // wins over secretFile, which is then never read
      BRIDGE_MAPPINGS: 'a, b,,',
      BRIDGE_MQTT_ALLOW_ANONYMOUS: 'no',
      BRIDGE_LOG_LEVEL: '', // empty variables are ignored
    });
    assert.equal(config.mqtt.embedded.port, 1884);
    assert.equal(config.mqtt.embedded.allowAnonymous, false);
    assert.equal(config.xmpp.domain, 'iot.env.example.org');
    assert.equal(config.xmpp.serverDomain, 'env.example.org');
    assert.equal(config.xmpp.secret, 'from-env');
    assert.deepEqual(config.mappings, [join(base, 'a'), join(base, 'b')]);
    assert.equal(config.log.level, 'info');
  });

  it('works from the environment alone', () => {
    const { config } = loadConfig(undefined, { BRIDGE_XMPP_DOMAIN: 'iot.localhost', BRIDGE_XMPP_SECRET: 'x', BRIDGE_DATA_DIR: '/var/lib/bridge' });
    assert.equal(config.configFile, undefined);
    assert.equal(config.dataDir, '/var/lib/bridge');
    assert.equal(config.xmpp.serverDomain, 'localhost');
  });

  it('reports environment values that cannot be converted', () => {
    const file = writeConfig('xmpp: { domain: iot.example.org, secret: s }\n');
    const problems = problemsOf(() => loadConfig(file, { BRIDGE_MQTT_PORT: '12x', BRIDGE_MQTT_ALLOW_ANONYMOUS: 'maybe' }));
    assert.deepEqual(problems, [
      { file: 'env BRIDGE_MQTT_PORT', path: '', message: '"12x" is not an integer' },
      { file: 'env BRIDGE_MQTT_ALLOW_ANONYMOUS', path: '', message: '"maybe" is not a boolean (true/false)' },
    ]);
  });

  it('validates environment values like file values', () => {
    const file = writeConfig('xmpp: { domain: iot.example.org, secret: s }\n');
    const problems = problemsOf(() => loadConfig(file, { BRIDGE_MQTT_PORT: '70000' }));
    assert.deepEqual(problems, [{ file, path: '/mqtt/embedded/port', message: 'must be <= 65535' }]);
  });

  it('reports every problem at once, each with file and JSON path', () => {
    const file = writeConfig('bogus: 1\nmqtt:\n  embedded:\n    port: "x"\nlog: { level: loud }\nxmpp: {}\n');
    let error: unknown;
    try {
      loadConfig(file, {});
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof LoadError);
    assert.deepEqual([...error.problems].sort(byPath), [
      { file, path: '/bogus', message: 'is not a known property' },
      { file, path: '/log/level', message: 'must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent"' },
      { file, path: '/mqtt/embedded/port', message: 'must be integer' },
      { file, path: '/xmpp/domain', message: 'is required' },
      { file, path: '/xmpp/secret', message: 'no component secret: set xmpp.secretFile, or BRIDGE_XMPP_SECRET in the environment' },
    ]);
    assert.match(error.message, /^5 problems found:\n/);
    assert.ok(error.message.includes(`\n${file} /bogus: is not a known property`));
  });

  it('checks import sources: a JID from the hardware id, known placeholders, and "base" or "prefix" as the source names it', () => {
    const file = writeConfig(
      [
        'xmpp: { domain: iot.example.org, secret: s }',
        'import:',
        '  zigbee2mqtt: { mode: auto, base: zb, jid: "zb-{name}" }',
        '  homeassistant: { mode: approve, prefix: ha, name: "{name} ({room})" }',
        '  tasmota: { mode: auto, jid: "t/{id}" }',
        '  homie: { mode: sideways }',
      ].join('\n'),
    );
    assert.deepEqual(
      problemsOf(() => loadConfig(file, {}))
        .map((p) => `${p.path}: ${p.message}`)
        .sort(),
      [
        '/import/homeassistant/name: {room} is not one of {name}, {id}, {model}, {manufacturer}',
        '/import/homie/mode: must be one of "off", "approve", "auto"',
        '/import/tasmota/jid: literal text "t/" contains a character a JID local part cannot hold unescaped',
        '/import/zigbee2mqtt/jid: must contain {id}, or two devices would get one JID',
        '/import/zigbee2mqtt/jid: {name} is not one of {id}',
      ],
    );
    const ok = writeConfig('xmpp: { domain: iot.example.org, secret: s }\nimport:\n  homeassistant: { mode: auto, prefix: ha }\n  zigbee2mqtt: { mode: approve, base: zb }\n');
    const { config } = loadConfig(ok, {});
    assert.deepEqual([config.import.homeassistant.base, config.import.zigbee2mqtt.base, config.import.tasmota.mode], ['ha', 'zb', 'off']);
  });

  it('labels problems without a config file "(environment)"', () => {
    assert.deepEqual(problemsOf(() => loadConfig(undefined, {})), [
      { file: '(environment)', path: '/xmpp', message: 'is required' },
      { file: '(environment)', path: '/xmpp/secret', message: 'no component secret: set xmpp.secretFile, or BRIDGE_XMPP_SECRET in the environment' },
    ]);
  });

  it('reports a YAML syntax error', () => {
    const file = writeConfig('xmpp:\n  domain: iot.example.org\nmappings: [a\nlog: {}\n');
    const problems = problemsOf(() => loadConfig(file, {}));
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.file, file);
    assert.equal(problems[0]!.path, '');
    assert.match(problems[0]!.message, /^YAML /);
    assert.match(problems[0]!.message, /^YAML line \d+ column \d+: /);
  });

  it('reports a duplicate key', () => {
    const file = writeConfig('xmpp: { domain: a.example.org, secret: s }\nxmpp: { domain: b.example.org }\n');
    const problems = problemsOf(() => loadConfig(file, {}));
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.file, file);
    assert.match(problems[0]!.message, /^YAML .*Map keys must be unique/);
  });

  it('reports a file that is not a mapping', () => {
    const file = writeConfig('- a\n- b\n');
    assert.deepEqual(problemsOf(() => loadConfig(file, {})), [{ file, path: '/', message: 'must be a mapping of keys to values' }]);
  });

  it('reports a missing config file', () => {
    const file = join(dir, 'does-not-exist.yaml');
    const problems = problemsOf(() => loadConfig(file, {}));
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.file, file);
    assert.match(problems[0]!.message, /^cannot read file: ENOENT/);
  });

  describe('component secret file', () => {
    it('reads the secret file relative to the config file, trimmed', () => {
      const file = writeConfig('xmpp:\n  domain: iot.example.org\n  secretFile: ./component.secret\n', { 'component.secret': { text: '  s3cret\n', mode: 0o600 } });
      const { config, warnings } = loadConfig(file, {});
      assert.equal(config.xmpp.secret, 's3cret');
      assert.deepEqual(warnings, []);
    });

    it('warns when the secret file is readable by other users', () => {
      const file = writeConfig('xmpp:\n  domain: iot.example.org\n  secretFile: component.secret\n', { 'component.secret': { text: 's3cret\n', mode: 0o644 } });
      const secretPath = join(dir, `case-${counter}`, 'component.secret');
      const { config, warnings } = loadConfig(file, {});
      assert.equal(config.xmpp.secret, 's3cret');
      assert.deepEqual(warnings, [`${secretPath} is readable by other users; chmod 600 it`]);
    });

    it('warns when the secret file is readable by its group', () => {
      const file = writeConfig('xmpp:\n  domain: iot.example.org\n  secretFile: component.secret\n', { 'component.secret': { text: 's3cret', mode: 0o640 } });
      const secretPath = join(dir, `case-${counter}`, 'component.secret');
      assert.deepEqual(loadConfig(file, {}).warnings, [`${secretPath} is readable by other users; chmod 600 it`]);
    });

    it('reports a missing secret file with its resolved path', () => {
      const file = writeConfig('xmpp:\n  domain: iot.example.org\n  secretFile: ./nope.secret\n');
      const secretPath = join(dir, `case-${counter}`, 'nope.secret');
      const problems = problemsOf(() => loadConfig(file, {}));
      assert.equal(problems.length, 1);
      assert.equal(problems[0]!.file, file);
      assert.equal(problems[0]!.path, '/xmpp/secretFile');
      assert.ok(problems[0]!.message.startsWith(`cannot read ${secretPath}: ENOENT`), problems[0]!.message);
    });

    it('reports an empty secret file', () => {
      const file = writeConfig('xmpp:\n  domain: iot.example.org\n  secretFile: ./empty.secret\n', { 'empty.secret': { text: '\n\n' } });
      const secretPath = join(dir, `case-${counter}`, 'empty.secret');
      assert.deepEqual(problemsOf(() => loadConfig(file, {})), [{ file, path: '/xmpp/secretFile', message: `${secretPath} is empty` }]);
    });
  });
});

describe('applyEnvOverrides', () => {
  it('sets nested paths, replacing values that are not objects', () => {
    const raw: Record<string, unknown> = { mqtt: 'oops', xmpp: { domain: 'keep.example.org' } };
    const problems = applyEnvOverrides(raw, { BRIDGE_MQTT_WS_PORT: ' 9001 ', BRIDGE_XMPP_SECRET: 's', BRIDGE_SCHEMAS: ' x ,y' });
    assert.deepEqual(problems, []);
    assert.deepEqual(raw, {
      mqtt: { embedded: { websocket: { port: 9001 } } },
      xmpp: { domain: 'keep.example.org', secret: 's' },
      schemas: ['x', 'y'],
    });
  });

  it('reads booleans as true/false, 1/0, yes/no in any case', () => {
    for (const [text, value] of [['TRUE', true], ['1', true], ['Yes', true], ['false', false], ['0', false], ['NO', false]] as const) {
      const raw: Record<string, unknown> = {};
      assert.deepEqual(applyEnvOverrides(raw, { BRIDGE_MQTT_ALLOW_ANONYMOUS: text }), []);
      assert.deepEqual(raw, { mqtt: { embedded: { allowAnonymous: value } } }, text);
    }
  });

  it('accepts negative integers (range is checked by the schema) and refuses decimals', () => {
    const raw: Record<string, unknown> = {};
    assert.deepEqual(applyEnvOverrides(raw, { BRIDGE_MQTT_PORT: '-1' }), []);
    assert.deepEqual(raw, { mqtt: { embedded: { port: -1 } } });
    assert.deepEqual(applyEnvOverrides({}, { BRIDGE_MQTT_PORT: '1883.5' }), [{ name: 'BRIDGE_MQTT_PORT', message: '"1883.5" is not an integer' }]);
  });

  it('has one override per variable name, all prefixed BRIDGE_', () => {
    const names = ENV_OVERRIDES.map((o) => o.name);
    assert.equal(new Set(names).size, names.length);
    for (const n of names) assert.match(n, /^BRIDGE_[A-Z_]+$/);
  });
});
