/**
 * The change policy (mapping `changes`, docs/MAPPINGS.md): when a reading is worth a stanza.
 *
 * Each reading is compared field by field with the last one sent:
 *   - a number counts when it moved by at least its deadband (absolute, or a percentage of the value sent), and —
 *     with a per-field `minInterval` — when that field last counted long enough ago;
 *   - any other value (an enum, a boolean, a text, an object) counts on every change, and is sent at once: a door that
 *     opens does not wait for an interval;
 *   - a field the reading does not carry is not a change (devices often report a few fields at a time), nor is a
 *     field the mapping ignores (diagnostics such as linkquality).
 * A reading with a counting number change is sent when `minInterval` has passed since the last one sent; before that
 * it is held, and when the interval ends the newest held reading is sent (coalesced). A reading with no change is held,
 * unless `maxInterval` passed since the last one sent (a heartbeat). Held readings are counted by the caller; the
 * newest reading of a device is always kept (LatestReadingStore), so what a returning user gets is never held back.
 *
 * `evaluate` is pure; `ChangeGate` keeps the per-device state and the one coalescing timer per device.
 */
import type { ChangePolicy, Deadband, FieldChangePolicy } from '../../mapping/mapping.js';

export type HoldReason = 'deadband' | 'min_interval';

export type Decision =
  | { readonly kind: 'send'; readonly reason: 'first' | 'state' | 'change' | 'heartbeat' | 'coalesced' }
  | { readonly kind: 'hold'; readonly reason: HoldReason };

export interface SentState {
  readonly value: unknown;
  readonly at: number;
  /** When each field last counted as a change (for per-field minInterval). */
  readonly fieldAt: ReadonlyMap<string, number>;
}

export interface Evaluation {
  /** A non-numeric field changed: send at once. */
  readonly state: boolean;
  /** Numeric fields that moved beyond their deadband (and their own minInterval). */
  readonly numbers: readonly string[];
}

/** Compare a reading with the last one sent. */
export function evaluate(policy: ChangePolicy, last: SentState, value: unknown, now: number): Evaluation {
  const numbers: string[] = [];
  let state = false;
  const consider = (path: string, before: unknown, after: unknown, field: FieldChangePolicy | undefined): void => {
    if (after === undefined || field?.ignore) return; // not reported this time, or not worth a stanza on its own
    if (typeof before === 'number' && typeof after === 'number') {
      if (!beyond(field?.deadband ?? policy.deadband, before, after)) return;
      const minMs = field?.minIntervalMs ?? 0;
      if (minMs > 0 && now - (last.fieldAt.get(path) ?? 0) < minMs) return;
      numbers.push(path);
    } else if (!sameJson(before, after)) {
      state = true;
    }
  };
  if (isObject(value)) {
    const prev = isObject(last.value) ? last.value : {};
    // Fields named with a dotted path are compared by that path; their top-level object is not compared as a whole.
    const nested = new Set<string>();
    for (const path of policy.fields.keys()) if (path.includes('.')) nested.add(path.split('.')[0]!);
    for (const key of Object.keys(value)) {
      if (nested.has(key)) continue;
      consider(key, prev[key], value[key], policy.fields.get(key));
    }
    for (const [path, field] of policy.fields) if (path.includes('.')) consider(path, lookup(prev, path), lookup(value, path), field);
  } else {
    consider('', last.value, value, undefined);
  }
  return { state, numbers };
}

/** Per-device state: the last reading sent, and the newest held one waiting for the end of `minInterval`. */
interface DeviceState<R> {
  sent: SentState | undefined;
  pending: R | undefined;
  timer: NodeJS.Timeout | undefined;
}

export interface GateClock {
  now(): number;
  /** Run `fn` after `ms`; returns a handle for `cancel`. */
  schedule(fn: () => void, ms: number): NodeJS.Timeout;
  cancel(handle: NodeJS.Timeout): void;
}

export const SYSTEM_CLOCK: GateClock = {
  now: () => Date.now(),
  schedule: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  cancel: (t) => clearTimeout(t),
};

/**
 * The change policy of every device. `offer` decides for a reading; a held reading that is due later (coalescing)
 * comes back through `due` when its device's interval ends.
 */
export class ChangeGate<K, R extends { readonly value: unknown }> {
  private readonly devices = new Map<K, DeviceState<R>>();

  constructor(
    private readonly due: (key: K, reading: R) => void,
    private readonly clock: GateClock = SYSTEM_CLOCK,
  ) {}

  offer(key: K, policy: ChangePolicy | undefined, reading: R): Decision {
    if (!policy) return SEND_ALWAYS;
    const now = this.clock.now();
    let d = this.devices.get(key);
    if (!d) this.devices.set(key, (d = { sent: undefined, pending: undefined, timer: undefined }));
    if (!d.sent) return this.send(d, reading.value, now, [], 'first');
    const e = evaluate(policy, d.sent, reading.value, now);
    if (e.state) return this.send(d, reading.value, now, e.numbers, 'state');
    const sinceSent = now - d.sent.at;
    if (e.numbers.length > 0 || d.pending !== undefined) {
      if (sinceSent >= policy.minIntervalMs && d.pending === undefined) return this.send(d, reading.value, now, e.numbers, 'change');
      // Coalesce: the newest reading is sent when the interval ends.
      d.pending = reading;
      d.timer ??= this.clock.schedule(() => this.fire(key, policy), Math.max(0, policy.minIntervalMs - sinceSent));
      return HOLD_INTERVAL;
    }
    if (policy.maxIntervalMs > 0 && sinceSent >= policy.maxIntervalMs) return this.send(d, reading.value, now, [], 'heartbeat');
    return HOLD_DEADBAND;
  }

  /** Forget a device (removed, or its mapping changed): a held reading is dropped with it. Returns whether one was held. */
  forget(key: K): boolean {
    const d = this.devices.get(key);
    if (!d) return false;
    if (d.timer) this.clock.cancel(d.timer);
    this.devices.delete(key);
    return d.pending !== undefined;
  }

  /** Devices whose newest reading is held for the end of their interval (the `readings_waiting` gauge, per scrape). */
  get waiting(): number {
    let n = 0;
    for (const d of this.devices.values()) if (d.pending !== undefined) n += 1;
    return n;
  }

  /** Stop every timer (the bridge stops); returns how many held readings were waiting. */
  stop(): number {
    let n = 0;
    for (const k of [...this.devices.keys()]) if (this.forget(k)) n += 1;
    return n;
  }

  private fire(key: K, policy: ChangePolicy): void {
    const d = this.devices.get(key);
    if (!d) return;
    d.timer = undefined;
    const reading = d.pending;
    d.pending = undefined;
    if (reading === undefined || !d.sent) return;
    const now = this.clock.now();
    const e = evaluate(policy, d.sent, reading.value, now);
    this.send(d, reading.value, now, e.numbers, 'coalesced');
    this.due(key, reading);
  }

  private send(d: DeviceState<R>, value: unknown, now: number, changed: readonly string[], reason: 'first' | 'state' | 'change' | 'heartbeat' | 'coalesced'): Decision {
    const fieldAt = new Map(d.sent?.fieldAt ?? []);
    for (const f of changed) fieldAt.set(f, now);
    d.sent = { value, at: now, fieldAt };
    if (reason !== 'coalesced') {
      // A reading sent now supersedes one waiting for the interval.
      d.pending = undefined;
      if (d.timer) this.clock.cancel(d.timer);
      d.timer = undefined;
    }
    return { kind: 'send', reason };
  }
}

const SEND_ALWAYS: Decision = { kind: 'send', reason: 'change' };
const HOLD_INTERVAL: Decision = { kind: 'hold', reason: 'min_interval' };
const HOLD_DEADBAND: Decision = { kind: 'hold', reason: 'deadband' };

function beyond(band: Deadband | undefined, before: number, after: number): boolean {
  const delta = Math.abs(after - before);
  if (delta === 0) return false;
  if (!band) return true;
  const limit = band.kind === 'absolute' ? band.value : (Math.abs(before) * band.value) / 100;
  return delta >= limit;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function lookup(v: unknown, path: string): unknown {
  let cur = v;
  for (const k of path.split('.')) {
    if (!isObject(cur) || !Object.hasOwn(cur, k)) return undefined;
    cur = cur[k];
  }
  return cur;
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
