/**
 * What the status page shows, as JSON documents built from the kernel and the page's own history: the overview, the
 * device rows (table), one device's page, the mappings. Read-only; built when asked, never on the hot path.
 */
import type { Device } from '../../devices/device.js';
import { readingBody } from '../../convert/reading.js';
import { xmlSafeText } from '../../convert/xml-safe.js';
import type { Kernel } from '../../kernel/kernel.js';
import { describeOrigin } from '../../kernel/mapping-set.js';
import { deviceSummary, type DeviceSummary } from '../operations/feature.js';
import { health } from '../operations/health.js';
import type { DeviceHistory, History, SecondRate } from './history.js';

/** Longest body text shown in the table. */
const MAX_BODY = 200;
/** Numeric fields charted per device. */
const MAX_CHART_FIELDS = 6;

export interface PageState {
  readonly history: History;
  readonly readingRate: SecondRate;
  readonly commandRate: SecondRate;
  readonly startedAt: number;
  /** Rejections per mapping and code since start. */
  readonly rejectionsByMapping: ReadonlyMap<string, ReadonlyMap<string, number>>;
  readonly rejectionsTotal: number;
  readonly lastReloadFailure: { readonly at: number; readonly origin: string; readonly problems: readonly string[] } | undefined;
}

export interface DeviceRow extends DeviceSummary {
  readonly state: 'online' | 'offline';
  readonly lastReading: { readonly at: number; readonly body: string | null } | null;
  readonly readingsPerMinute: number;
  readonly rejections: number;
}

export function overview(k: Kernel, s: PageState): Record<string, unknown> {
  const now = Date.now();
  return {
    ...health(k, s.startedAt),
    readingsPerSecond: round(s.readingRate.perSecond(now)),
    commandsPerSecond: round(s.commandRate.perSecond(now)),
    rejections: s.rejectionsTotal,
    heldPublishes: k.metrics.get('uplink_backpressure_total'),
    operator: k.config.operator.jid ?? null,
  };
}

export function deviceRow(k: Kernel, s: PageState, d: Device): DeviceRow {
  const h = s.history.get(d.jid);
  const last = h?.readings.last();
  return {
    ...deviceSummary(k, d),
    state: d.online ? 'online' : 'offline',
    lastReading: last ? { at: last.at, body: last.json !== undefined ? bodyOf(d, last.json) : null } : null,
    readingsPerMinute: h ? h.rate.perMinute(Date.now()) : 0,
    rejections: h?.rejections.size ?? 0,
  };
}

export interface DeviceQuery {
  readonly q?: string;
  readonly state?: string;
  readonly offset: number;
  readonly limit: number;
}

/** The table: filtered by a search over name, JID and mapping, and by state; sorted by name. */
export function deviceRows(k: Kernel, s: PageState, query: DeviceQuery): { total: number; rows: DeviceRow[] } {
  const q = query.q?.trim().toLowerCase() ?? '';
  const matching: Device[] = [];
  for (const d of k.registry.all()) {
    if (query.state === 'online' && !d.online) continue;
    if (query.state === 'offline' && d.online) continue;
    if (q !== '' && !d.name.toLowerCase().includes(q) && !d.jid.includes(q) && !d.mapping.id.toLowerCase().includes(q)) continue;
    matching.push(d);
  }
  matching.sort((a, b) => a.name.localeCompare(b.name) || a.jid.localeCompare(b.jid));
  return { total: matching.length, rows: matching.slice(query.offset, query.offset + query.limit).map((d) => deviceRow(k, s, d)) };
}

/** One device's page: its row, recent readings with the numeric series, rejections, commands, what it can be sent. */
export function deviceDetail(k: Kernel, s: PageState, d: Device): Record<string, unknown> {
  const h: DeviceHistory | undefined = s.history.get(d.jid);
  const readings = (h?.readings.toArray() ?? []).map((r) => ({ at: r.at, size: r.size, json: r.json ?? null, body: r.json !== undefined ? bodyOf(d, r.json) : null }));
  return {
    ...deviceRow(k, s, d),
    segments: d.segments,
    via: d.via ?? null,
    readings,
    series: series(h),
    rejections: h?.rejections.toArray().reverse() ?? [],
    commands: h?.commands.toArray().reverse() ?? [],
    commandNames: d.mapping.commands.map((c) => ({ name: c.name, description: c.description ?? null })),
  };
}

/** Numeric top-level fields of the recent readings: the chart's lines (at most MAX_CHART_FIELDS). */
function series(h: DeviceHistory | undefined): { field: string; points: [number, number][] }[] {
  const byField = new Map<string, [number, number][]>();
  for (const r of h?.readings.toArray() ?? []) {
    if (r.json === undefined) continue;
    let v: unknown;
    try {
      v = JSON.parse(r.json);
    } catch {
      continue;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) continue;
    for (const [field, x] of Object.entries(v)) {
      if (typeof x !== 'number' || !Number.isFinite(x)) continue;
      let points = byField.get(field);
      if (!points) {
        if (byField.size >= MAX_CHART_FIELDS) continue;
        byField.set(field, (points = []));
      }
      points.push([r.at, x]);
    }
  }
  return [...byField].map(([field, points]) => ({ field, points }));
}

export function mappingsView(k: Kernel, s: PageState): Record<string, unknown> {
  const failure = s.lastReloadFailure;
  return {
    lastReloadFailure: failure ?? null,
    mappings: k.mappings.all().map((m) => {
      const origin = describeOrigin(m.origin);
      const rejections = Object.fromEntries(s.rejectionsByMapping.get(m.id) ?? []);
      // A failed reload's problems that name this mapping's file: what will stop its next change from applying.
      const problems = failure && m.origin.kind === 'file' ? failure.problems.filter((p) => p.startsWith(m.file)) : [];
      return {
        id: m.id,
        origin,
        kind: m.origin.kind,
        description: m.description ?? null,
        topic: m.topic.source,
        jid: m.jid.source,
        schema: m.schema.id,
        devices: k.registry.ofMapping(m.id).size,
        commands: m.commands.map((c) => c.name),
        rejections,
        problems,
      };
    }),
  };
}

function bodyOf(d: Device, json: string): string | null {
  try {
    const body = xmlSafeText(readingBody(JSON.parse(json), d.segments, d.mapping.body));
    return body.length <= MAX_BODY ? body : `${body.slice(0, MAX_BODY - 1)}…`;
  } catch {
    return null;
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
