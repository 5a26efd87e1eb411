/**
 * The device side of the federation tests: server A (Prosody for a.test on 127.0.0.2) with the bridge as its
 * component iot.a.test, and the kettle plug behind it. The user side (another Prosody, an ejabberd) is each test's own.
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import { startProsody, type ProsodyInstance } from '../../src/servers/prosody.js';
import { mqttClient, SHIPPED_SCHEMAS, startBridge, type RunningBridge, type TestServer } from './harness.js';

export const COMPONENT = 'iot.a.test';
export const PLUG = `plug-kettle@${COMPONENT}`;
export const NS_COMMAND = 'urn:mqtt-xmpp-bridge:command:0';
/** /etc/hosts entries for server A; S2S peers find it by name on port 5269. */
export const SERVER_A_HOSTS = { '127.0.0.2': ['a.test', COMPONENT] };

/** Server A: S2S on 5269 without TLS (dialback), and the component the bridge connects as. */
export function startServerA(secret: string): Promise<ProsodyInstance> {
  return startProsody({ host: 'a.test', listen: '127.0.0.2', s2sPort: 5269, federation: true, components: [{ domain: COMPONENT, secret }] });
}

/** The bridge as component of server A, with the mappings in `mappingsDir` and the shipped schemas. */
export function startBridgeOnA(serverA: ProsodyInstance, secret: string, mappingsDir: string): Promise<RunningBridge> {
  // startBridge takes a TestServer; server A is started directly (on 127.0.0.2, port 5269) and its users are never asked for.
  const server: TestServer = {
    prosody: serverA,
    secret,
    domain: COMPONENT,
    service: `xmpp://${serverA.listen}:${serverA.componentPort}`,
    user: () => Promise.reject(new Error('unused')),
    stop: () => serverA.stop(),
  };
  return startBridge({ server, mappings: [mappingsDir], schemas: [SHIPPED_SCHEMAS], config: { xmpp: { serverDomain: 'a.test' } } });
}

/** The kettle plug: online (retained), and it answers every command on plugs/kettle/set with its new state at 5 W. */
export async function startKettle(mqttUrl: string): Promise<MqttClient> {
  const plug = await mqttClient(mqttUrl, { clientId: 'kettle' });
  await plug.subscribeAsync('plugs/kettle/set', { qos: 1 });
  plug.on('message', (_t, payload) => {
    const cmd = JSON.parse(payload.toString()) as { state: string };
    void plug.publishAsync('plugs/kettle/state', JSON.stringify({ state: cmd.state, power: 5 }), { qos: 1 });
  });
  await plug.publishAsync('plugs/kettle/availability', 'online', { qos: 1, retain: true });
  return plug;
}

/** The IQ of the `set` command to `to`, with `json` as its argument. */
export function setCommand(to: string, json: string): Element {
  return xml('iq', { type: 'set', to }, xml('command', { xmlns: NS_COMMAND, name: 'set' }, xml('json', { xmlns: 'urn:xmpp:json:0' }, json)));
}
