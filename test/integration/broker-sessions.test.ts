/**
 * A persistent session restored for a client whose rights changed since it subscribed: the embedded broker alone
 * (real aedes, real listeners, real mqtt.js clients; no XMPP side is involved), with access rules that the test can
 * change between two connections.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { AccessControl, type Identity } from '../../src/broker/access.js';
import { EmbeddedBroker } from '../../src/broker/embedded.js';
import { loadConfig } from '../../src/config/load.js';
import type { BridgeConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { TopicOwnership } from '../../src/mapping/ownership.js';
import { CredentialStore } from '../../src/store/credentials.js';
import { openDatabase, type Db } from '../../src/store/db.js';
import { closeMqtt, mqttClient, nextMqttMessage } from './harness.js';

/** Access rules that change while the broker runs: the filters listed in `refused` may not be subscribed to. */
class ChangingAccess extends AccessControl {
  readonly refused = new Set<string>();
  override maySubscribe(identity: Identity, clientId: string, filter: string): boolean {
    return !this.refused.has(filter) && super.maySubscribe(identity, clientId, filter);
  }
}

/** The embedded broker's configuration with every default, on a free port, without WebSocket. */
function embeddedConfig(dir: string): BridgeConfig['mqtt']['embedded'] {
  const file = join(dir, 'bridge.yaml');
  writeFileSync(file, 'xmpp:\n  domain: iot.localhost\n  secret: x\nmqtt:\n  embedded:\n    port: 0\n    websocket: { enabled: false }\n    allowAnonymous: true\n');
  return loadConfig(file, {}).config.mqtt.embedded;
}

describe('embedded broker: a restored session gets only what the current rights allow', function () {
  this.timeout(30_000);
  let dir: string;
  let db: Db;
  let access: ChangingAccess;
  let broker: EmbeddedBroker;
  let url: string;
  const clients: MqttClient[] = [];

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'broker-sessions-'));
    db = openDatabase(dir);
    access = new ChangingAccess(
      new CredentialStore(db),
      new TopicOwnership([], () => ({ ok: false, error: undefined as never })),
      { allowAnonymous: true, failureBurst: 5, failuresPerMinute: 6, maxDelayMs: 1000 },
      createLogger({ level: 'silent' }),
      () => undefined,
    );
    broker = new EmbeddedBroker(embeddedConfig(dir), createLogger({ level: 'silent' }), access);
    const noop = (): void => undefined;
    await broker.start(
      { onPublish: (_m, done) => done(), onWatched: noop, onClientConnected: noop, onClientDisconnected: noop, onBrokerEvent: noop },
    );
    url = broker.addresses().mqtt!;
  });

  after(async function () {
    await closeMqtt(...clients);
    await broker?.stop();
    db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Connects the persistent client `watcher`; resolves with the session-present flag of its CONNACK. */
  async function watcher(): Promise<{ client: MqttClient; sessionPresent: boolean }> {
    const client = mqtt.connect(url, { clientId: 'watcher', clean: false, reconnectPeriod: 0 });
    clients.push(client);
    const sessionPresent = await new Promise<boolean>((resolve, reject) => {
      client.once('connect', (connack) => resolve(connack.sessionPresent));
      client.once('error', reject);
    });
    return { client, sessionPresent };
  }

  it('drops a restored subscription the identity may no longer hold, from the connection and from the stored session', async function () {
    const publisher = await mqttClient(url, { clientId: 'publisher' });
    clients.push(publisher);
    const first = await watcher();
    await first.client.subscribeAsync(['room/a', 'room/b'], { qos: 1 });
    await first.client.endAsync();

    // The right to room/a is withdrawn while the session is away; room/b stays.
    access.refused.add('room/a');
    const second = await watcher();
    assert.equal(second.sessionPresent, true);
    const got: string[] = [];
    second.client.on('message', (topic) => got.push(topic));
    const b = nextMqttMessage(second.client, 'room/b');
    await publisher.publishAsync('room/a', 'x', { qos: 1 });
    await publisher.publishAsync('room/b', 'x', { qos: 1 });
    await b;
    assert.deepEqual(got, ['room/b'], 'room/a was not restored');
    await second.client.endAsync();

    // The right comes back: the stored session no longer has room/a (the client would have to subscribe again).
    access.refused.delete('room/a');
    const third = await watcher();
    const again: string[] = [];
    third.client.on('message', (topic) => again.push(topic));
    const b2 = nextMqttMessage(third.client, 'room/b');
    await publisher.publishAsync('room/a', 'y', { qos: 1 });
    await publisher.publishAsync('room/b', 'y', { qos: 1 });
    await b2;
    assert.deepEqual(again, ['room/b'], 'room/a was removed from the stored session');
  });
});
