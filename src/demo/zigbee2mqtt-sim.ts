/**
 * A small simulated Zigbee2MQTT (2.x) speaking real MQTT, as Zigbee2MQTT does (zigbee2mqtt.io, "MQTT topics and
 * messages"): retained `<base>/bridge/state`, `<base>/bridge/info` (availability on) and `<base>/bridge/devices`
 * with each device's definition; per device a retained availability `{"state":"online"}` and its state as JSON on
 * `<base>/<friendly name>` (retained, as with Zigbee2MQTT's per-device `retain: true`); `/set` obeyed and echoed as
 * the new state; renames (`bridge/response/device/rename`, the old retained topics cleared) and leaves
 * (`bridge/event` device_leave) republish the list. For the demo and the integration tests.
 *
 * The exposes are Zigbee2MQTT's own for these models (IKEA LED1545G12, Xiaomi ZNCZ02LM and WSDCGQ11LM, Aqara
 * WXKG11LM), as its bridge test publishes them (test/fixtures/importers/zigbee2mqtt/README.md), trimmed to the
 * features the simulation reports.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface ZigbeeDevice {
  readonly ieee: string;
  name: string;
  readonly model: 'LED1545G12' | 'ZNCZ02LM' | 'WSDCGQ11LM' | 'WXKG11LM';
  state: Record<string, unknown>;
}

export interface Zigbee2MqttFleet {
  readonly base: string;
  readonly devices: readonly ZigbeeDevice[];
  /** Publish a device's state now (a report). */
  report(ieee: string, changes?: Record<string, unknown>): Promise<void>;
  /** Rename a device, as `bridge/request/device/rename` does. */
  rename(ieee: string, to: string): Promise<void>;
  /** The device leaves the network. */
  remove(ieee: string): Promise<void>;
  /** `/set` commands received so far: [friendly name, payload]. */
  readonly commands: [string, string][];
  stop(): Promise<void>;
}

const binary = (name: string, label: string, access: number) => ({ type: 'binary', name, label, property: name, access, value_on: 'ON', value_off: 'OFF', value_toggle: 'TOGGLE' });
const numeric = (name: string, label: string, access: number, extra: Record<string, unknown> = {}) => ({ type: 'numeric', name, label, property: name, access, ...extra });
const linkquality = numeric('linkquality', 'Linkquality', 1, { unit: 'lqi', value_min: 0, value_max: 255, category: 'diagnostic' });

const DEFINITIONS: Record<ZigbeeDevice['model'], { vendor: string; description: string; exposes: unknown[] }> = {
  LED1545G12: {
    vendor: 'IKEA',
    description: 'TRADFRI bulb E26/E27, white spectrum, globe, opal, 980 lm',
    exposes: [
      {
        type: 'light',
        features: [
          binary('state', 'State', 7),
          numeric('brightness', 'Brightness', 7, { value_min: 0, value_max: 254 }),
          numeric('color_temp', 'Color temp', 7, { unit: 'mired', value_min: 250, value_max: 454 }),
        ],
      },
      linkquality,
    ],
  },
  ZNCZ02LM: {
    vendor: 'Xiaomi',
    description: 'Mi smart plug',
    exposes: [{ type: 'switch', features: [binary('state', 'State', 7)] }, numeric('power', 'Power', 5, { unit: 'W' }), numeric('energy', 'Energy', 1, { unit: 'kWh' }), linkquality],
  },
  WSDCGQ11LM: {
    vendor: 'Aqara',
    description: 'Temperature and humidity sensor',
    exposes: [
      numeric('battery', 'Battery', 1, { unit: '%', value_min: 0, value_max: 100, category: 'diagnostic' }),
      numeric('temperature', 'Temperature', 1, { unit: '°C' }),
      numeric('humidity', 'Humidity', 1, { unit: '%' }),
      numeric('pressure', 'Pressure', 1, { unit: 'hPa' }),
      linkquality,
    ],
  },
  WXKG11LM: {
    vendor: 'Aqara',
    description: 'Wireless mini switch',
    exposes: [
      numeric('battery', 'Battery', 1, { unit: '%', value_min: 0, value_max: 100, category: 'diagnostic' }),
      { type: 'enum', name: 'action', label: 'Action', property: 'action', access: 1, values: ['single', 'double', 'triple', 'quadruple', 'hold', 'release'] },
      linkquality,
    ],
  },
};

/** The fleet the demo and the tests start with. */
export function defaultZigbeeDevices(): ZigbeeDevice[] {
  return [
    { ieee: '0x000b57fffec6a5b2', name: 'living room/ceiling', model: 'LED1545G12', state: { state: 'OFF', brightness: 180, color_temp: 370, linkquality: 120 } },
    { ieee: '0x0017880104e45524', name: 'coffee machine', model: 'ZNCZ02LM', state: { state: 'OFF', power: 0.4, energy: 12.3, linkquality: 96 } },
    { ieee: '0x0017880104e45522', name: 'balcony climate', model: 'WSDCGQ11LM', state: { temperature: 14.2, humidity: 71, pressure: 1012, battery: 88, linkquality: 60 } },
    { ieee: '0x0017880104e45520', name: 'hall switch', model: 'WXKG11LM', state: { battery: 97, linkquality: 80 } },
  ];
}

export interface FleetOptions {
  readonly base?: string;
  readonly clientId?: string;
  readonly username?: string;
  readonly password?: string;
  readonly devices?: ZigbeeDevice[];
  /** Periodic reports (sensor drift); 0: none. */
  readonly intervalMs?: number;
}

export async function startZigbee2MqttFleet(mqttUrl: string, opts: FleetOptions = {}): Promise<Zigbee2MqttFleet> {
  const base = opts.base ?? 'zigbee2mqtt';
  const devices = opts.devices ?? defaultZigbeeDevices();
  const connect: IClientOptions = {
    clientId: opts.clientId ?? 'zigbee2mqtt',
    reconnectPeriod: 1000,
    will: { topic: `${base}/bridge/state`, payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: true },
    ...(opts.username !== undefined ? { username: opts.username, password: opts.password ?? '' } : {}),
  };
  const c: MqttClient = await mqtt.connectAsync(mqttUrl, connect);
  const commands: [string, string][] = [];
  const retained = { qos: 1, retain: true } as const;
  const publish = (topic: string, payload: string | Buffer, o: { qos: 0 | 1; retain: boolean } = retained): Promise<unknown> => c.publishAsync(topic, payload, o).catch(() => undefined);

  const entry = (d: ZigbeeDevice): Record<string, unknown> => {
    const def = DEFINITIONS[d.model];
    return {
      ieee_address: d.ieee,
      type: d.model === 'WSDCGQ11LM' || d.model === 'WXKG11LM' ? 'EndDevice' : 'Router',
      network_address: parseInt(d.ieee.slice(-4), 16),
      friendly_name: d.name,
      disabled: false,
      supported: true,
      interview_state: 'SUCCESSFUL',
      manufacturer: def.vendor,
      model_id: d.model,
      definition: { model: d.model, vendor: def.vendor, description: def.description, exposes: def.exposes, options: [], source: 'native' },
    };
  };
  const coordinator = { ieee_address: '0x00124b00120144ae', type: 'Coordinator', friendly_name: 'Coordinator', disabled: false, supported: true, interview_state: 'SUCCESSFUL', definition: null };
  const publishDevices = (): Promise<unknown> => publish(`${base}/bridge/devices`, JSON.stringify([coordinator, ...devices.map(entry)]));
  const report = async (d: ZigbeeDevice, changes: Record<string, unknown> = {}): Promise<void> => {
    Object.assign(d.state, changes);
    // An action is an event: published with the state, not retained, then forgotten (Zigbee2MQTT does not keep it).
    const event = 'action' in changes;
    await publish(`${base}/${d.name}`, JSON.stringify(d.state), { qos: 1, retain: !event });
    delete d.state['action'];
  };

  await publish(`${base}/bridge/state`, '{"state":"online"}');
  await publish(`${base}/bridge/info`, JSON.stringify({ version: '2.9.2', commit: 'simulated', config: { mqtt: { base_topic: base }, availability: { enabled: true } } }));
  await publishDevices();
  for (const d of devices) {
    await publish(`${base}/${d.name}/availability`, '{"state":"online"}');
    await report(d);
  }

  // Commands: `<base>/<friendly name>/set` (names may hold "/": the whole topic is matched against the names).
  await c.subscribeAsync(`${base}/#`, { qos: 1 });
  c.on('message', (topic, payload) => {
    if (!topic.endsWith('/set')) return;
    const name = topic.slice(base.length + 1, -'/set'.length);
    const d = devices.find((x) => x.name === name);
    if (!d) return;
    commands.push([name, payload.toString()]);
    let cmd: Record<string, unknown>;
    try {
      cmd = JSON.parse(payload.toString()) as Record<string, unknown>;
    } catch {
      return; // Zigbee2MQTT logs and ignores what it cannot parse
    }
    const changes: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(cmd)) {
      if (k === 'state' && v === 'TOGGLE') changes['state'] = d.state['state'] === 'ON' ? 'OFF' : 'ON';
      else if (k in d.state) changes[k] = v;
    }
    if (d.model === 'ZNCZ02LM' && changes['state'] !== undefined) changes['power'] = changes['state'] === 'ON' ? 1210.5 : 0.4;
    void report(d, changes);
  });

  const timers: NodeJS.Timeout[] = [];
  if (opts.intervalMs) {
    timers.push(
      setInterval(() => {
        const climate = devices.find((d) => d.model === 'WSDCGQ11LM');
        if (climate) void report(climate, { temperature: Math.round(((climate.state['temperature'] as number) + (Math.random() - 0.5) * 0.4) * 10) / 10 });
      }, opts.intervalMs),
      setInterval(() => {
        const button = devices.find((d) => d.model === 'WXKG11LM');
        if (button) void report(button, { action: Math.random() < 0.7 ? 'single' : 'double' });
      }, opts.intervalMs * 5),
    );
  }

  const find = (ieee: string): ZigbeeDevice => {
    const d = devices.find((x) => x.ieee === ieee);
    if (!d) throw new Error(`no simulated device ${ieee}`);
    return d;
  };
  return {
    base,
    devices,
    commands,
    report: (ieee, changes) => report(find(ieee), changes),
    async rename(ieee, to) {
      const d = find(ieee);
      const from = d.name;
      // As Zigbee2MQTT does: the old retained topics are cleared, the list republished, the new topics written.
      await publish(`${base}/${from}/availability`, '');
      await publish(`${base}/${from}`, '');
      d.name = to;
      await publish(`${base}/bridge/response/device/rename`, JSON.stringify({ status: 'ok', data: { from, to, homeassistant_rename: false } }), { qos: 1, retain: false });
      await publishDevices();
      await publish(`${base}/${to}/availability`, '{"state":"online"}');
      await report(d);
    },
    async remove(ieee) {
      const d = find(ieee);
      devices.splice(devices.indexOf(d), 1);
      await publish(`${base}/bridge/event`, JSON.stringify({ type: 'device_leave', data: { ieee_address: ieee, friendly_name: d.name } }), { qos: 1, retain: false });
      await publish(`${base}/${d.name}/availability`, '');
      await publish(`${base}/${d.name}`, '');
      await publishDevices();
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      await publish(`${base}/bridge/state`, '{"state":"offline"}');
      await c.endAsync().catch(() => undefined);
    },
  };
}
