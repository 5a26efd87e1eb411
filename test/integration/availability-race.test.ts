/**
 * A device client that connects, publishes and disconnects at once (`mosquitto_pub -i …`, the demo's "add a sensor of
 * your own") ends offline, every time. The broker may finish a client's DISCONNECT before it has finished its CONNECT
 * (aedes signals `clientReady` only after the session's queue is emptied); the bridge must not then take the late
 * "connected" for the device coming back.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { closeMqtt, mqttClient, nextMqttMessage, removeDir, requireCommand, startBridge, startTestServer, type RunningBridge, type TestServer } from './harness.js';

const execFileAsync = promisify(execFile);
const TRIES = 20;

describe('availability: a client that connects, publishes and disconnects at once', function () {
  this.timeout(120_000);
  let server: TestServer;
  let run: RunningBridge;
  let probe: MqttClient;

  before(async function () {
    requireCommand('mosquitto_pub', 'sudo apt-get install -y mosquitto-clients');
    server = await startTestServer();
    run = await startBridge({ server });
    probe = await mqttClient(run.mqttUrl, { clientId: 'race-probe' });
    await probe.subscribeAsync('race/echo', { qos: 1 });
  });

  after(async function () {
    await closeMqtt(probe);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  it(`leaves its device offline (${TRIES} tries)`, async function () {
    const url = new URL(run.mqttUrl);
    const jid = 'lab-race@iot.localhost';
    const stuck: number[] = [];
    for (let i = 0; i < TRIES; i++) {
      const disconnected = new Promise<void>((resolve) => {
        const off = run.bridge.kernel.bus.on('client_disconnected', ({ clientId }) => {
          if (clientId !== 'climate-lab-race') return;
          off();
          resolve();
        });
      });
      await execFileAsync('mosquitto_pub', ['-h', url.hostname, '-p', url.port, '-i', 'climate-lab-race', '-t', 'sensors/lab/race/telemetry', '-m', `{"temperature":${i}}`]);
      await disconnected;
      // A full round trip through the broker after the disconnect: whatever the broker still had to do for the
      // closed client (its late "ready") has happened by the time this message comes back.
      const echo = nextMqttMessage(probe, 'race/echo');
      await probe.publishAsync('race/echo', String(i), { qos: 1 });
      await echo;
      if (run.bridge.registry.byJid(jid)?.online !== false) stuck.push(i);
    }
    assert.deepEqual(stuck, [], `the device stayed online after tries ${stuck.join(', ')}`);
  });
});
