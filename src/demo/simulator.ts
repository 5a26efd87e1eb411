/**
 * Simulated devices for the demo, speaking real MQTT to the bridge's broker the way their real counterparts do:
 * climate sensors that keep a connection open, a plug with a Will on its availability topic that obeys `set`
 * commands, and a door contact behind a Zigbee2MQTT-style gateway.
 */
import mqtt, { type MqttClient } from 'mqtt';

export interface SimulatedDevice {
  readonly jid: string;
  readonly name: string;
  readonly what: string;
}

export interface Simulator {
  readonly devices: readonly SimulatedDevice[];
  stop(): Promise<void>;
}

const CLIMATE = [
  { site: 'home', device: 'kitchen', base: 21, humidity: 45 },
  { site: 'home', device: 'bedroom', base: 18.5, humidity: 55 },
];

export async function startSimulator(mqttUrl: string, domain: string, intervalMs = 5000): Promise<Simulator> {
  const clients: MqttClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  const connect = async (clientId: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(mqttUrl, { clientId, reconnectPeriod: 1000, ...opts });
    clients.push(c);
    return c;
  };
  const every = (ms: number, fn: () => void): void => {
    fn();
    timers.push(setInterval(fn, ms));
  };

  for (const s of CLIMATE) {
    const c = await connect(`climate-${s.site}-${s.device}`);
    let t = s.base;
    every(intervalMs, () => {
      t += (Math.random() - 0.5) * 0.4;
      const reading = { temperature: Math.round(t * 100) / 100, humidity: Math.round(s.humidity + Math.random() * 4), battery: 87 };
      void c.publishAsync(`sensors/${s.site}/${s.device}/telemetry`, JSON.stringify(reading), { qos: 1 }).catch(() => undefined);
    });
  }

  // A plug: retained "online" on its availability topic, "offline" as its Will; obeys plugs/kettle/set.
  const plug = await connect('plug-kettle', { will: { topic: 'plugs/kettle/availability', payload: Buffer.from('offline'), qos: 1, retain: true } });
  await plug.publishAsync('plugs/kettle/availability', 'online', { qos: 1, retain: true });
  let on = false;
  const report = (): void => {
    void plug.publishAsync('plugs/kettle/state', JSON.stringify({ state: on ? 'ON' : 'OFF', power: on ? 1850 + Math.random() * 50 : 0.4 }), { qos: 1 }).catch(() => undefined);
  };
  await plug.subscribeAsync('plugs/kettle/set', { qos: 1 });
  plug.on('message', (_topic, payload) => {
    try {
      const cmd = JSON.parse(payload.toString()) as { state?: string };
      if (cmd.state === 'ON' || cmd.state === 'OFF') on = cmd.state === 'ON';
      else if (cmd.state === 'TOGGLE') on = !on;
      report();
    } catch {
      // a real plug ignores what it cannot parse
    }
  });
  every(intervalMs * 3, report);

  // A door contact behind a Zigbee2MQTT gateway.
  const gw = await connect('zigbee2mqtt-demo');
  await gw.publishAsync('zigbee2mqtt/door/front/availability', '{"state":"online"}', { qos: 1, retain: true });
  let closed = true;
  every(intervalMs * 4, () => {
    closed = !closed;
    void gw.publishAsync('zigbee2mqtt/door/front', JSON.stringify({ contact: closed, battery: 93, linkquality: 120 }), { qos: 1 }).catch(() => undefined);
  });

  return {
    devices: [
      { jid: `home-kitchen@${domain}`, name: 'kitchen climate (home)', what: 'temperature and humidity every few seconds' },
      { jid: `home-bedroom@${domain}`, name: 'bedroom climate (home)', what: 'temperature and humidity every few seconds' },
      { jid: `plug-kettle@${domain}`, name: 'kettle plug', what: 'state and power' },
      { jid: `door-front@${domain}`, name: 'front door', what: 'opens and closes' },
    ],
    async stop() {
      for (const t of timers) clearInterval(t);
      // A clean DISCONNECT: the plug's Will is not published, so stop it explicitly.
      await plug.publishAsync('plugs/kettle/availability', 'offline', { qos: 1, retain: true }).catch(() => undefined);
      await Promise.all(clients.map((c) => c.endAsync().catch(() => undefined)));
    },
  };
}
