/**
 * `npm run build && node dist/bench/login-guessing.js [--seconds 66] [--every 11]`
 *
 * How many password hashes an attacker gets out of the embedded broker with the default login limits
 * (`mqtt.embedded.auth`: burst 5, 6 per minute): bursts of 50 parallel wrong passwords, repeated, (1) against one
 * username from 50 fresh source addresses per burst, and (2) from one source address against ten usernames, at the
 * same time. A guess that was hashed is answered CONNACK 4; one refused without hashing CONNACK 5. Real broker, real
 * scrypt, real mqtt.js clients on 127.0.0.0/8 source addresses; no XMPP server is needed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttClient } from 'mqtt';
import { AccessControl } from '../src/broker/access.js';
import { EmbeddedBroker } from '../src/broker/embedded.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { TopicOwnership } from '../src/mapping/ownership.js';
import { CredentialStore } from '../src/store/credentials.js';
import { openDatabase } from '../src/store/db.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SECONDS = arg('seconds', 66);
const EVERY = arg('every', 11);
const PARALLEL = 50;

function connack(port: number, from: string, username: string, password: string): Promise<number> {
  const c = new MqttClient(() => connect({ host: '127.0.0.1', port, localAddress: from }), { clientId: `g-${Math.random()}`, username, password, reconnectPeriod: 0, connectTimeout: 60_000 });
  return new Promise((resolve) => {
    const done = (code: number): void => {
      c.end(true);
      resolve(code);
    };
    c.once('connect', () => done(0));
    c.once('error', (err: Error & { code?: number }) => done(err.code ?? -1));
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'login-guessing-'));
  const file = join(dir, 'bridge.yaml');
  writeFileSync(file, `dataDir: ${join(dir, 'data')}\nxmpp:\n  domain: iot.localhost\n  secret: x\nmqtt:\n  embedded:\n    port: 0\n    websocket: { enabled: false }\n`);
  const { config } = loadConfig(file, {});
  const db = openDatabase(config.dataDir);
  const store = new CredentialStore(db);
  for (const name of ['target', ...Array.from({ length: 10 }, (_, i) => `spray-${i}`)]) await store.add(name, 'device');
  const e = config.mqtt.embedded;
  const access = new AccessControl(store, new TopicOwnership([], () => ({ ok: false, error: undefined as never })), { allowAnonymous: false, ...e.auth, acl: e.acl }, createLogger({ level: 'silent' }), () => undefined);
  const broker = new EmbeddedBroker(e, createLogger({ level: 'silent' }), access);
  const noop = (): void => undefined;
  await broker.start(
    { onPublish: (_m, done) => done(), onWatched: noop, onClientConnected: noop, onClientDisconnected: noop, onBrokerEvent: noop },
  );
  const port = Number(new URL(broker.addresses().mqtt!).port);
  console.log(`limits: burst ${e.auth.failureBurst}, ${e.auth.failuresPerMinute}/min, answers held up to ${e.auth.maxDelayMs} ms; ${PARALLEL} parallel guesses every ${EVERY} s for ${SECONDS} s`);

  const perUser: number[] = [];
  const perAddress: number[] = [];
  const t0 = Date.now();
  const bursts: Promise<void>[] = [];
  for (let k = 0; k * EVERY <= SECONDS; k++) {
    const at = t0 + k * EVERY * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
    bursts.push(
      (async () => {
        const [u, a] = await Promise.all([
          Promise.all(Array.from({ length: PARALLEL }, (_, i) => connack(port, `127.0.${10 + k}.${i + 1}`, 'target', `guess-${k}-${i}`))),
          Promise.all(Array.from({ length: PARALLEL }, (_, i) => connack(port, '127.0.9.1', `spray-${i % 10}`, `guess-${k}-${i}`))),
        ]);
        perUser[k] = u.filter((c) => c === 4).length;
        perAddress[k] = a.filter((c) => c === 4).length;
        console.log(`t=${String(k * EVERY).padStart(3)} s  hashed: one username from 50 addresses ${perUser[k]}/${PARALLEL}; one address, 10 usernames ${perAddress[k]}/${PARALLEL}`);
      })(),
    );
  }
  await Promise.all(bursts);
  const sum = (xs: number[], upTo: number): number => xs.slice(0, upTo).reduce((s, x) => s + x, 0);
  const inFirstMinute = Math.floor(60 / EVERY) + 1;
  console.log(`hashed guesses in the first minute (${inFirstMinute} bursts, ${inFirstMinute * PARALLEL} guesses each way): per username ${sum(perUser, inFirstMinute)}, per address ${sum(perAddress, inFirstMinute)}`);
  console.log(`after the first burst: per username ${sum(perUser, perUser.length) - perUser[0]!} and per address ${sum(perAddress, perAddress.length) - perAddress[0]!} in ${(perUser.length - 1) * EVERY} s`);
  await broker.stop();
  db.close();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
