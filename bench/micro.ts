/**
 * Micro-benchmark: the bridge's per-reading CPU work on a typical climate reading, in µs per reading, against a
 * reference measured in the same run (JSON.parse + JSON.stringify of the same payload), as a ratio.
 *
 *   convert  = Ajv validation (the shipped climate schema) + readingStanza (body template, XEP-0335 JSON, size check)
 *              + toString (what the component link writes)
 *   uplink   = parseJsonPayload (UTF-8 check, parse) + convert
 *
 *   node dist/bench/micro.js [--ms 2000]
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readingStanza, type ReadingInput } from '../src/convert/reading.js';
import { parseJsonPayload } from '../src/convert/payload.js';
import { parseTemplate } from '../src/mapping/template.js';
import { SchemaRegistry } from '../src/schemas/registry.js';
import type { LoadProblem } from '../src/errors.js';
import { ROOT } from './common.js';

export interface MicroCase {
  name: string;
  usPerOp: number;
  /** usPerOp / reference usPerOp */
  ratio: number;
}

export interface MicroResult {
  payload: string;
  reference: { name: string; usPerOp: number };
  cases: MicroCase[];
}

const PAYLOAD = '{"temperature":21.46,"humidity":40,"battery":97,"linkquality":120}';
let sink = 0;

/** µs per call: median of batches over about `ms` milliseconds (after a warm-up). */
function measure(fn: () => number, ms: number): number {
  const batch = 2000;
  for (let i = 0; i < 20_000; i++) sink += fn(); // warm-up: let the JIT optimise
  const samples: number[] = [];
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) sink += fn();
    samples.push(((performance.now() - t0) * 1000) / batch);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] ?? NaN;
}

export function runMicro(msPerCase = 1500): MicroResult {
  const problems: LoadProblem[] = [];
  const schemas = new SchemaRegistry();
  schemas.loadAll([join(ROOT, 'schemas')], problems);
  const validate = schemas.get('urn:mqtt-xmpp-bridge:example:climate')?.validate;
  if (!validate || problems.length > 0) throw new Error(`climate schema not loaded: ${JSON.stringify(problems)}`);
  const body = parseTemplate('{temperature|.1} °C, {humidity|.0} % RH', { rich: true }).template;
  if (!body) throw new Error('template did not parse');
  const limits = { maxBodyChars: 2000, maxStanzaBytes: 500_000 };
  const bytes = Buffer.from(PAYLOAD, 'utf8');
  const value = JSON.parse(PAYLOAD) as unknown;
  const input = (json: string, v: unknown): ReadingInput => ({
    from: 'bench-kitchen@iot.localhost',
    id: 'r1',
    type: 'chat',
    json,
    value: v,
    segments: { site: 'bench', device: 'kitchen' },
    body,
  });

  const convert = (json: string, v: unknown): number => {
    if (!validate(v)) throw new Error('invalid');
    const built = readingStanza(input(json, v), 'bench@localhost', limits);
    if (!built.ok) throw new Error(built.error.message);
    return built.value.stanza.toString().length;
  };

  const reference = measure(() => JSON.stringify(JSON.parse(PAYLOAD)).length, msPerCase);
  const cases: [string, () => number][] = [
    ['validate (Ajv)', () => (validate(value) ? 1 : 0)],
    ['readingStanza + toString', () => {
      const built = readingStanza(input(PAYLOAD, value), 'bench@localhost', limits);
      return built.ok ? built.value.stanza.toString().length : 0;
    }],
    ['convert = validate + readingStanza + toString', () => convert(PAYLOAD, value)],
    ['uplink = parseJsonPayload + convert', () => {
      const p = parseJsonPayload(bytes);
      if (!p.ok) throw new Error('parse');
      return convert(p.value.text, p.value.value);
    }],
  ];
  const out = cases.map(([name, fn]) => {
    const us = measure(fn, msPerCase);
    return { name, usPerOp: round(us), ratio: Math.round((us / reference) * 100) / 100 };
  });
  if (sink === -1) console.log(sink); // keep the results alive
  return { payload: PAYLOAD, reference: { name: 'JSON.parse + JSON.stringify', usPerOp: round(reference) }, cases: out };
}

function round(us: number): number {
  return Math.round(us * 1000) / 1000;
}

export function formatMicro(r: MicroResult): string[] {
  return [
    `reference ${r.reference.name}: ${r.reference.usPerOp} µs/reading`,
    ...r.cases.map((c) => `${c.name}: ${c.usPerOp} µs/reading = ${c.ratio}× reference`),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--ms');
  const ms = i > 0 ? Number(process.argv[i + 1]) : 2000;
  const r = runMicro(ms);
  console.log(`micro-benchmark, payload ${r.payload} (Node ${process.version})`);
  for (const line of formatMicro(r)) console.log(`  ${line}`);
}
