/**
 * A simulated Sparkplug B edge node over real MQTT (Eclipse Sparkplug 3.0), as an Eclipse Tahu edge node behaves: its
 * Will is the NDEATH carrying `bdSeq` (§7.1), then NBIRTH (seq 0, `bdSeq`, `Node Control/Rebirth`), one device's
 * DBIRTH, data with aliases and the running `seq`; NCMD `Node Control/Rebirth` makes it publish its births again, a
 * DCMD is obeyed (the metric's new value in a DDATA) and remembered. Payloads are protobuf, by `sparkplug-payload`.
 * For the demo and the integration tests.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { get as sparkplugCodec } from 'sparkplug-payload';

const sp = sparkplugCodec('spBv1.0')!;

export interface SparkplugMetricValue {
  readonly name: string;
  readonly type: string;
  readonly value: unknown;
}

export interface SparkplugNode {
  readonly group: string;
  readonly edge: string;
  readonly device: string;
  /** DCMD / NCMD metrics received so far: [topic, metrics]. */
  readonly commands: [string, SparkplugMetricValue[]][];
  /** How many times the node was born (NBIRTH published). */
  readonly births: number;
  /** A DDATA of the device with these values (by alias). */
  publishData(values: Readonly<Record<string, unknown>>): Promise<void>;
  /** Publish a DDATA with this seq instead of the next one (a gap, for tests). */
  skipSeq(by: number): void;
  stop(): Promise<void>;
}

export interface SparkplugNodeOptions {
  readonly group?: string;
  readonly edge?: string;
  readonly device?: string;
  readonly clientId?: string;
  readonly bdSeq?: number;
}

interface DeviceMetric {
  readonly name: string;
  readonly alias: number;
  readonly type: string;
  value: unknown;
  readonly readOnly?: boolean;
  readonly unit?: string;
}

export async function startSparkplugNode(mqttUrl: string, opts: SparkplugNodeOptions = {}): Promise<SparkplugNode> {
  const group = opts.group ?? 'plant';
  const edge = opts.edge ?? 'edge1';
  const device = opts.device ?? 'boiler';
  const bdSeq = opts.bdSeq ?? 0;
  const ns = 'spBv1.0';
  const deathPayload = Buffer.from(sp.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'bdSeq', type: 'UInt64', value: bdSeq }] }));
  const c: MqttClient = await mqtt.connectAsync(mqttUrl, {
    clientId: opts.clientId ?? `${group}-${edge}`,
    reconnectPeriod: 0,
    clean: true, // §7.1: edge nodes connect with a clean session
    will: { topic: `${ns}/${group}/NDEATH/${edge}`, payload: deathPayload, qos: 1, retain: false },
  });
  const metrics: DeviceMetric[] = [
    { name: 'temperature', alias: 1, type: 'Float', value: 61.5, readOnly: true, unit: '°C' },
    { name: 'setpoint', alias: 2, type: 'Int32', value: 60 },
    { name: 'burner', alias: 3, type: 'Boolean', value: false },
  ];
  let seq = 0;
  let births = 0;
  const commands: [string, SparkplugMetricValue[]][] = [];
  const nextSeq = (): number => {
    const s = seq;
    seq = (seq + 1) % 256;
    return s;
  };
  const send = async (topic: string, payload: Record<string, unknown>): Promise<void> => {
    await c.publishAsync(topic, Buffer.from(sp.encodePayload({ timestamp: Date.now(), ...payload })), { qos: 0 });
  };
  const birth = async (): Promise<void> => {
    seq = 0;
    births += 1;
    await send(`${ns}/${group}/NBIRTH/${edge}`, {
      seq: nextSeq(),
      metrics: [
        { name: 'bdSeq', type: 'UInt64', value: bdSeq },
        { name: 'Node Control/Rebirth', alias: 100, type: 'Boolean', value: false },
        { name: 'Properties/Hardware Make', alias: 101, type: 'String', value: 'Simulated' },
      ],
    });
    await send(`${ns}/${group}/DBIRTH/${edge}/${device}`, {
      seq: nextSeq(),
      metrics: metrics.map((m) => ({
        name: m.name,
        alias: m.alias,
        type: m.type,
        value: m.value,
        properties: {
          ...(m.readOnly ? { readOnly: { type: 'Boolean', value: true } } : {}),
          ...(m.unit ? { engUnit: { type: 'String', value: m.unit } } : {}),
        },
      })),
    });
  };
  const data = async (values: Readonly<Record<string, unknown>>): Promise<void> => {
    const list = Object.entries(values).flatMap(([name, value]) => {
      const m = metrics.find((x) => x.name === name);
      if (!m) return [];
      m.value = value;
      return [{ alias: m.alias, type: m.type, value }];
    });
    await send(`${ns}/${group}/DDATA/${edge}/${device}`, { seq: nextSeq(), metrics: list });
  };
  c.on('message', (topic, payload) => {
    let decoded: ReturnType<typeof sp.decodePayload>;
    try {
      decoded = sp.decodePayload(payload);
    } catch {
      return;
    }
    const received = (decoded.metrics ?? []).map((m) => ({ name: m.name ?? '', type: String(m.type), value: m.value }));
    commands.push([topic, received]);
    if (topic.includes('/NCMD/') && received.some((m) => m.name === 'Node Control/Rebirth' && m.value === true)) {
      void birth().catch(() => undefined);
      return;
    }
    if (topic.includes('/DCMD/')) {
      const changed: Record<string, unknown> = {};
      for (const m of received) if (metrics.some((x) => x.name === m.name && !x.readOnly)) changed[m.name] = m.value;
      if (Object.keys(changed).length > 0) void data(changed).catch(() => undefined);
    }
  });
  await c.subscribeAsync([`${ns}/${group}/NCMD/${edge}`, `${ns}/${group}/DCMD/${edge}/+`], { qos: 0 });
  await birth();
  return {
    group,
    edge,
    device,
    commands,
    get births() {
      return births;
    },
    publishData: data,
    skipSeq(by: number) {
      seq = (seq + by) % 256;
    },
    async stop() {
      // The connection lost without a DISCONNECT: the broker publishes the Will, the NDEATH (§7.1).
      c.stream.destroy();
      await c.endAsync(true).catch(() => undefined);
    },
  };
}
