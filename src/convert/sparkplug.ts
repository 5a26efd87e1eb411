/**
 * Sparkplug B payloads (Eclipse Sparkplug 3.0, §6.4 "Payloads"): protobuf bytes ↔ plain metrics. Pure: the protobuf
 * work is the Eclipse Tahu codec (`sparkplug-payload`), kept behind this file so that nothing else sees its types.
 *
 * Values become JSON: integers (Int8…UInt64, which the codec gives as `Long` above 32 bits) are numbers while they are
 * safe integers and decimal strings beyond; DateTime is milliseconds since the epoch; Bytes and File are base64 text
 * (a binary field of a JSON reading, `contentEncoding: base64`); DataSet, Template and property sets are not read
 * (`undefined`: the importer leaves such metrics out with a warning). A metric flagged `is_null` has the value `null`.
 */
import { get as sparkplugCodec } from 'sparkplug-payload';
import { fail, ok, type Result } from '../errors.js';

type Codec = NonNullable<ReturnType<typeof sparkplugCodec>>;
const codec: Codec = sparkplugCodec('spBv1.0')!;

/** Sparkplug datatypes read and written here (§6.4.16 "Datatype Details"). */
export type SparkplugType =
  | 'Int8' | 'Int16' | 'Int32' | 'Int64' | 'UInt8' | 'UInt16' | 'UInt32' | 'UInt64'
  | 'Float' | 'Double' | 'Boolean' | 'String' | 'DateTime' | 'Text' | 'UUID' | 'Bytes' | 'File'
  | 'DataSet' | 'Template' | 'PropertySet' | 'PropertySetList' | 'Unknown';

export interface SparkplugMetric {
  readonly name?: string;
  readonly alias?: number;
  readonly type: SparkplugType;
  /** The value as JSON; undefined for the datatypes not read (DataSet, Template…). */
  readonly value: unknown;
  /** Metric properties with simple values (`readOnly`, `engUnit`, `engLow`, `engHigh`, `Documentation`…). */
  readonly properties: Readonly<Record<string, unknown>>;
}

export interface SparkplugPayload {
  readonly timestamp?: number;
  /** §6.4.3: 0–255; absent in NDEATH. */
  readonly seq?: number;
  readonly metrics: readonly SparkplugMetric[];
}

/** At most this many metrics are read from one payload; a larger one is refused whole. */
export const MAX_METRICS = 4096;

export function decodeSparkplug(bytes: Uint8Array): Result<SparkplugPayload> {
  let raw: ReturnType<Codec['decodePayload']>;
  try {
    raw = codec.decodePayload(bytes);
  } catch (err) {
    return fail('PAYLOAD_INVALID', `not a Sparkplug B payload: ${(err as Error).message}`);
  }
  const metrics = raw.metrics ?? [];
  if (metrics.length > MAX_METRICS) return fail('PAYLOAD_TOO_LARGE', `more than ${MAX_METRICS} metrics in one payload`);
  const out: SparkplugMetric[] = [];
  for (const m of metrics) {
    const type = (typeof m.type === 'string' ? m.type : 'Unknown');
    const properties: Record<string, unknown> = {};
    for (const [k, p] of Object.entries(m.properties ?? {})) {
      const v = simpleValue(p.type, p.value);
      if (v !== undefined) Object.defineProperty(properties, k, { value: v, enumerable: true });
    }
    const alias = m.alias === undefined || m.alias === null ? undefined : toNumber(m.alias);
    out.push({
      ...(typeof m.name === 'string' ? { name: m.name } : {}),
      ...(typeof alias === 'number' ? { alias } : {}),
      type,
      value: m.isNull === true || m.value === null ? null : simpleValue(type, m.value),
      properties,
    });
  }
  const seq = raw.seq === undefined || raw.seq === null ? undefined : toNumber(raw.seq);
  const timestamp = raw.timestamp === undefined || raw.timestamp === null ? undefined : toNumber(raw.timestamp);
  return ok({
    ...(typeof timestamp === 'number' ? { timestamp } : {}),
    ...(typeof seq === 'number' ? { seq } : {}),
    metrics: out,
  });
}

export interface MetricToWrite {
  readonly name?: string;
  readonly alias?: number;
  readonly type: SparkplugType;
  readonly value: unknown;
}

/** Metrics → the protobuf bytes of an NCMD / DCMD (§6.4: timestamp set, `seq` absent in commands). */
export function encodeSparkplug(metrics: readonly MetricToWrite[], timestamp: number, seq?: number): Result<Buffer> {
  const list = [];
  for (const m of metrics) {
    const value = wireValue(m.type, m.value);
    if (value === undefined) return fail('COMMAND_INVALID', `${m.name ?? `alias ${m.alias}`}: a ${m.type} cannot be written from ${JSON.stringify(m.value)?.slice(0, 40)}`);
    list.push({
      ...(m.name !== undefined ? { name: m.name } : {}),
      ...(m.alias !== undefined ? { alias: m.alias } : {}),
      type: m.type as Exclude<SparkplugType, 'Unknown'>,
      timestamp,
      value: value as number,
    });
  }
  return ok(Buffer.from(codec.encodePayload({ timestamp, ...(seq !== undefined ? { seq } : {}), metrics: list })));
}

/** The rebirth request to an edge node (§6.4.18 "Node Control/Rebirth", an NCMD). */
export function rebirthRequest(timestamp: number): Buffer {
  const r = encodeSparkplug([{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }], timestamp);
  return r.ok ? r.value : Buffer.alloc(0);
}

const INTEGER_RANGE: Partial<Record<SparkplugType, readonly [number, number]>> = {
  Int8: [-128, 127],
  Int16: [-32768, 32767],
  Int32: [-2147483648, 2147483647],
  Int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  UInt8: [0, 255],
  UInt16: [0, 65535],
  UInt32: [0, 4294967295],
  UInt64: [0, Number.MAX_SAFE_INTEGER],
  DateTime: [0, Number.MAX_SAFE_INTEGER],
};

/**
 * The JSON a datatype's values take: integers (64-bit ones beyond 2^53 as decimal text), numbers, booleans, strings,
 * or bytes (base64 text). DataSet, Template and the property sets have none here (not converted).
 */
export type SparkplugKind = 'integer' | 'number' | 'boolean' | 'string' | 'bytes';

export function sparkplugKind(type: string): SparkplugKind | undefined {
  if (type in INTEGER_RANGE) return 'integer';
  switch (type) {
    case 'Float':
    case 'Double':
      return 'number';
    case 'Boolean':
      return 'boolean';
    case 'String':
    case 'Text':
    case 'UUID':
      return 'string';
    case 'Bytes':
    case 'File':
      return 'bytes';
    default:
      return undefined;
  }
}

/** A JSON value → what the codec writes for this datatype; undefined when it does not fit. */
function wireValue(type: SparkplugType, v: unknown): unknown {
  switch (sparkplugKind(type)) {
    case 'integer': {
      const range = INTEGER_RANGE[type]!;
      return typeof v === 'number' && Number.isInteger(v) && v >= range[0] && v <= range[1] ? v : undefined;
    }
    case 'number':
      return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
    case 'boolean':
      return typeof v === 'boolean' ? v : undefined;
    case 'string':
      return typeof v === 'string' ? v : undefined;
    case 'bytes':
      return typeof v === 'string' && BASE64.test(v) ? Buffer.from(v, 'base64') : undefined;
    default:
      return undefined;
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function simpleValue(type: SparkplugType, v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  switch (sparkplugKind(type)) {
    case 'integer':
      return toNumber(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
    case 'boolean':
      return typeof v === 'boolean' ? v : undefined;
    case 'string':
      return typeof v === 'string' ? v : undefined;
    case 'bytes':
      return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : undefined;
    default:
      return undefined;
  }
}

/** A number, or a `Long` from the codec: a number while it is a safe integer, its decimal text beyond. */
function toNumber(v: unknown): number | string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (v !== null && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as unknown as { toNumber(): number; toString(): string };
    const n = l.toNumber();
    return Number.isSafeInteger(n) ? n : l.toString();
  }
  return undefined;
}

/** The parts of a Sparkplug B topic (§4.1.1): `spBv1.0/<group>/<type>/<edge>[/<device>]`. */
export interface SparkplugTopic {
  readonly namespace: string;
  readonly group: string;
  readonly type: 'NBIRTH' | 'NDEATH' | 'NDATA' | 'NCMD' | 'DBIRTH' | 'DDEATH' | 'DDATA' | 'DCMD';
  readonly edge: string;
  readonly device?: string;
}

const NODE_TYPES = new Set(['NBIRTH', 'NDEATH', 'NDATA', 'NCMD']);
const DEVICE_TYPES = new Set(['DBIRTH', 'DDEATH', 'DDATA', 'DCMD']);

export function parseSparkplugTopic(topic: string): SparkplugTopic | undefined {
  const l = topic.split('/');
  if (l.length < 4 || l.length > 5 || l.some((x) => x === '')) return undefined;
  const [namespace, group, type, edge, device] = l as [string, string, string, string, string | undefined];
  if (device === undefined ? !NODE_TYPES.has(type) : !DEVICE_TYPES.has(type)) return undefined;
  return { namespace, group, type: type as SparkplugTopic['type'], edge, ...(device !== undefined ? { device } : {}) };
}
