/**
 * Simulated devices for the demo, speaking real MQTT to the bridge's broker the way their real counterparts do:
 * climate sensors that keep a connection open and report every few seconds, a plug with a Will on its availability
 * topic that obeys `set` commands and can be unplugged, and a door contact behind a Zigbee2MQTT-style gateway that
 * opens now and then.
 *
 * Unplugging: a message `off` on `demo/kettle/power` cuts the plug's connection without a DISCONNECT, as pulling the
 * plug does — the broker then publishes its Will (`offline`); `on` plugs it back in.
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

/** The hand-mapped devices' simulator, which measurements can also hold still. */
export interface HoldableSimulator extends Simulator {
  /**
   * Hold every device still (no reports) or let them go on; resolves once every report already sent is acknowledged
   * by the broker. Measurements hold them over an instant they count around.
   */
  hold(still: boolean): Promise<void>;
}

export interface SimulatorOptions {
  /** A climate reading this often (ms); the plug reports every 3 intervals. Default 5 s. */
  readonly intervalMs?: number;
  /** The door opens this often (ms), for two intervals. Default 5 minutes; the first time after 12 intervals. */
  readonly doorEveryMs?: number;
}

/** The topic that unplugs (`off`) and plugs in (`on`) the simulated kettle. */
export const UNPLUG_TOPIC = 'demo/kettle/power';

const CLIMATE = [
  { site: 'home', device: 'kitchen', base: 21, humidity: 45 },
  { site: 'home', device: 'bedroom', base: 18.5, humidity: 55 },
];

export async function startSimulator(mqttUrl: string, domain: string, opts: SimulatorOptions = {}): Promise<HoldableSimulator> {
  const intervalMs = opts.intervalMs ?? 5000;
  const doorEveryMs = opts.doorEveryMs ?? 300_000;
  const clients = new Set<MqttClient>();
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;
  let still = false;
  /** Reports sent and not yet acknowledged. */
  const inFlight = new Set<Promise<unknown>>();
  const publish = (c: MqttClient, topic: string, payload: string, opts: mqtt.IClientPublishOptions): void => {
    const p = c.publishAsync(topic, payload, opts).catch(() => undefined);
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const connect = async (clientId: string, o: mqtt.IClientOptions = {}): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(mqttUrl, { clientId, reconnectPeriod: 1000, ...o });
    clients.add(c);
    c.on('error', () => undefined); // a device keeps trying; the demo's output is for people
    return c;
  };
  const every = (ms: number, report: () => void, first = 0): void => {
    const fn = (): void => {
      if (!still) report();
    };
    timers.push(
      setTimeout(() => {
        fn();
        timers.push(setInterval(fn, ms));
      }, first),
    );
  };

  for (const s of CLIMATE) {
    const c = await connect(`climate-${s.site}-${s.device}`);
    let t = s.base;
    every(intervalMs, () => {
      t += (Math.random() - 0.5) * 0.4;
      const reading = { temperature: Math.round(t * 100) / 100, humidity: Math.round(s.humidity + Math.random() * 4), battery: 87 };
      publish(c, `sensors/${s.site}/${s.device}/telemetry`, JSON.stringify(reading), { qos: 1 });
    });
  }

  // A plug: retained "online" on its availability topic, "offline" as its Will; obeys plugs/kettle/set.
  let on = false;
  let plug: MqttClient | undefined;
  const report = (): void => {
    if (plug) publish(plug, 'plugs/kettle/state', JSON.stringify({ state: on ? 'ON' : 'OFF', power: on ? 1850 + Math.random() * 50 : 0.4 }), { qos: 1 });
  };
  const plugIn = async (): Promise<void> => {
    const p = await connect('plug-kettle', { will: { topic: 'plugs/kettle/availability', payload: Buffer.from('offline'), qos: 1, retain: true } });
    plug = p;
    p.on('message', (_topic, payload) => {
      try {
        const cmd = JSON.parse(payload.toString()) as { state?: string };
        if (cmd.state === 'ON' || cmd.state === 'OFF') on = cmd.state === 'ON';
        else if (cmd.state === 'TOGGLE') on = !on;
        report();
      } catch {
        // a real plug ignores what it cannot parse
      }
    });
    await p.subscribeAsync('plugs/kettle/set', { qos: 1 });
    await p.publishAsync('plugs/kettle/availability', 'online', { qos: 1, retain: true });
    report();
  };
  const unplug = (): void => {
    const p = plug;
    if (!p) return;
    plug = undefined;
    clients.delete(p);
    // No DISCONNECT, no reconnect: the connection just drops, and the broker publishes the Will.
    p.options.reconnectPeriod = 0;
    p.stream.destroy();
    p.end(true);
  };
  await plugIn();
  every(intervalMs * 3, report);

  // The demo's own control topic: unplug and plug in the kettle.
  const control = await connect('demo-control');
  await control.subscribeAsync(UNPLUG_TOPIC, { qos: 1 });
  control.on('message', (_topic, payload) => {
    const word = payload.toString().trim().toLowerCase();
    if (word === 'off') unplug();
    else if (word === 'on' && !plug && !stopped) void plugIn().catch(() => undefined);
  });

  // A door contact behind a Zigbee2MQTT gateway: opens now and then, and closes two intervals later.
  const gw = await connect('zigbee2mqtt-demo');
  await gw.publishAsync('zigbee2mqtt/door/front/availability', '{"state":"online"}', { qos: 1, retain: true });
  const door = (closed: boolean): void => {
    publish(gw, 'zigbee2mqtt/door/front', JSON.stringify({ contact: closed, battery: 93, linkquality: 100 + Math.round(Math.random() * 40) }), { qos: 1 });
  };
  door(true);
  let closing: NodeJS.Timeout | undefined;
  every(
    doorEveryMs,
    () => {
      door(false);
      closing = setTimeout(() => door(true), intervalMs * 2);
    },
    Math.min(doorEveryMs, intervalMs * 12),
  );

  return {
    devices: [
      { jid: `home-kitchen@${domain}`, name: 'kitchen climate (home)', what: 'temperature and humidity' },
      { jid: `home-bedroom@${domain}`, name: 'bedroom climate (home)', what: 'temperature and humidity' },
      { jid: `plug-kettle@${domain}`, name: 'kettle plug', what: 'switch it: write "on" or "off" to it' },
      { jid: `door-front@${domain}`, name: 'front door', what: 'opens now and then' },
    ],
    async hold(v: boolean) {
      still = v;
      await Promise.all([...inFlight]);
    },
    async stop() {
      stopped = true;
      clearTimeout(closing);
      for (const t of timers) {
        clearTimeout(t);
        clearInterval(t);
      }
      // A clean DISCONNECT: the plug's Will is not published, so stop it explicitly.
      await plug?.publishAsync('plugs/kettle/availability', 'offline', { qos: 1, retain: true }).catch(() => undefined);
      await Promise.all([...clients].map((c) => c.endAsync().catch(() => undefined)));
    },
  };
}
