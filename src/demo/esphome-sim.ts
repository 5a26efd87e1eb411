/**
 * A simulated ESPHome node speaking Home Assistant MQTT discovery over real MQTT, as ESPHome's MQTT client does
 * (esphome/components/mqtt: abbreviated keys, `<node>/<component>/<object id>/state|command`, availability on
 * `<node>/status` with its Will "offline", a device block identified by the MAC; see
 * test/fixtures/importers/corpus/esphome/livingroom-node.json): a temperature sensor, a relay, a dimmable light
 * (JSON schema) and a restart button. Commands are obeyed and the new state published. For the demo and the
 * integration tests.
 */
import mqtt, { type MqttClient } from 'mqtt';

export interface EsphomeNode {
  readonly node: string;
  readonly mac: string;
  readonly name: string;
  /** Commands received so far: [topic, payload]. */
  readonly commands: [string, string][];
  setTemperature(t: number): Promise<void>;
  /** Remove the node from discovery: an empty retained config for each entity. */
  forget(): Promise<void>;
  stop(): Promise<void>;
}

export interface EsphomeOptions {
  readonly node?: string;
  readonly name?: string;
  readonly mac?: string;
  readonly prefix?: string;
  readonly clientId?: string;
  readonly username?: string;
  readonly password?: string;
  /** Periodic temperature reports; 0: none. */
  readonly intervalMs?: number;
}

export async function startEsphomeNode(mqttUrl: string, opts: EsphomeOptions = {}): Promise<EsphomeNode> {
  const node = opts.node ?? 'kitchen';
  const name = opts.name ?? 'Kitchen';
  const mac = opts.mac ?? '240ac4a1b2c3';
  const prefix = opts.prefix ?? 'homeassistant';
  const status = `${node}/status`;
  const c: MqttClient = await mqtt.connectAsync(mqttUrl, {
    clientId: opts.clientId ?? node,
    reconnectPeriod: 1000,
    will: { topic: status, payload: Buffer.from('offline'), qos: 1, retain: true },
    ...(opts.username !== undefined ? { username: opts.username, password: opts.password ?? '' } : {}),
  });
  const publish = (topic: string, payload: string, retain = true): Promise<unknown> => c.publishAsync(topic, payload, { qos: 1, retain }).catch(() => undefined);
  const dev = { ids: mac, name, sw: '2024.11.0 (simulated)', mdl: 'esp32dev', mf: 'Espressif', cns: [['mac', mac]] };
  const common = (component: string, id: string): Record<string, unknown> => ({ avty_t: status, uniq_id: `ESP${component}${id}`, dev });
  const topic = (component: string, id: string, kind: 'state' | 'command'): string => `${node}/${component}/${id}/${kind}`;
  const configs: [string, Record<string, unknown>][] = [
    ['sensor/temperature', { dev_cla: 'temperature', unit_of_meas: '°C', stat_cla: 'measurement', name: 'Temperature', stat_t: topic('sensor', 'temperature', 'state'), ...common('sensor', 'temperature') }],
    ['switch/relay', { name: 'Relay', stat_t: topic('switch', 'relay', 'state'), cmd_t: topic('switch', 'relay', 'command'), ...common('switch', 'relay') }],
    [
      'light/ceiling_light',
      {
        schema: 'json',
        clrm: true,
        supported_color_modes: ['brightness'],
        brightness: true,
        name: 'Ceiling Light',
        stat_t: topic('light', 'ceiling_light', 'state'),
        cmd_t: topic('light', 'ceiling_light', 'command'),
        ...common('light', 'ceiling_light'),
      },
    ],
    ['button/restart', { dev_cla: 'restart', name: 'Restart', ent_cat: 'config', cmd_t: topic('button', 'restart', 'command'), ...common('button', 'restart') }],
  ];
  const state = { temperature: 21.5, relay: false, light: { state: 'OFF', brightness: 255, color_mode: 'brightness' } };
  const commands: [string, string][] = [];

  await publish(status, 'online');
  for (const [path, cfg] of configs) await publish(`${prefix}/${path.replace('/', `/${node}/`)}/config`, JSON.stringify(cfg));
  const publishState = async (): Promise<void> => {
    await publish(topic('sensor', 'temperature', 'state'), state.temperature.toFixed(1));
    await publish(topic('switch', 'relay', 'state'), state.relay ? 'ON' : 'OFF');
    await publish(topic('light', 'ceiling_light', 'state'), JSON.stringify(state.light));
  };
  await publishState();

  await c.subscribeAsync(`${node}/+/+/command`, { qos: 1 });
  c.on('message', (t, payload) => {
    const text = payload.toString();
    commands.push([t, text]);
    if (t === topic('switch', 'relay', 'command')) {
      state.relay = text === 'ON' ? true : text === 'OFF' ? false : text === 'TOGGLE' ? !state.relay : state.relay;
      void publish(topic('switch', 'relay', 'state'), state.relay ? 'ON' : 'OFF');
    } else if (t === topic('light', 'ceiling_light', 'command')) {
      try {
        const cmd = JSON.parse(text) as { state?: string; brightness?: number };
        if (cmd.state === 'ON' || cmd.state === 'OFF') state.light.state = cmd.state;
        if (typeof cmd.brightness === 'number') state.light.brightness = cmd.brightness;
        void publish(topic('light', 'ceiling_light', 'state'), JSON.stringify(state.light));
      } catch {
        // ESPHome logs and ignores a command it cannot parse
      }
    }
  });

  const timer = opts.intervalMs
    ? setInterval(() => {
        state.temperature = Math.round((state.temperature + (Math.random() - 0.5) * 0.3) * 10) / 10;
        void publish(topic('sensor', 'temperature', 'state'), state.temperature.toFixed(1));
      }, opts.intervalMs)
    : undefined;

  return {
    node,
    mac,
    name,
    commands,
    async setTemperature(t) {
      state.temperature = t;
      await publish(topic('sensor', 'temperature', 'state'), t.toFixed(1));
    },
    async forget() {
      for (const [path] of configs) await publish(`${prefix}/${path.replace('/', `/${node}/`)}/config`, '');
    },
    async stop() {
      clearInterval(timer);
      await publish(status, 'offline');
      await c.endAsync().catch(() => undefined);
    },
  };
}
