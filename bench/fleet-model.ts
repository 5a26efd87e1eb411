/**
 * Scenario F, the pure part: what the simulated fleet reads, who follows which device, Prosody's stored data written
 * and counted, and the judgement "did the online follower see each change within the configured interval".
 *
 * Readings are a pure function of (device, round): the simulator process writes them, and the analysis recomputes
 * the ones that were not delivered without either side keeping a log.
 */

// ------------------------------------------------------------------------------------------------ the fleet

export interface ClimateValues {
  readonly temperature: number;
  readonly humidity: number;
  readonly battery: number;
}
export interface SwitchValues {
  readonly state: 'ON' | 'OFF';
}
export type FleetValues = ClimateValues | SwitchValues;

/** A uniform number in [0, 1) from integers (a 32-bit integer mix: stateless and repeatable). */
export function unit(a: number, b: number, c = 0): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35) ^ Math.imul(c + 0x27d4eb2f, 0x165667b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** Roughly normal noise with standard deviation 1 (sum of three uniforms). */
function noise(d: number, round: number, salt: number): number {
  return (unit(d, round, salt) + unit(d, round, salt + 1) + unit(d, round, salt + 2) - 1.5) * 2;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Rounds per period of 10 s readings: a slow drift over hours, a busy room over one hour. */
const QUIET_PERIOD = 2160;
const BUSY_PERIOD = 360;

/**
 * One reading of device `d` at round `round` (the round-th reading of that device, every 10 s of fleet time).
 * Devices at index ≥ `switchFrom` are switches (ON/OFF, a state held for 5–30 minutes); the others climate sensors
 * with a 0.1 °C / 1 % RH resolution: a slow sinusoidal drift plus sensor noise, and one in ten in a busy room that
 * drifts six times faster. With the shipped change policy (0.2 °C, 2 % RH) most readings are not changes.
 */
export function fleetReading(d: number, round: number, switchFrom: number): FleetValues {
  if (d >= switchFrom) {
    const hold = 30 + Math.floor(150 * unit(d, 5));
    const offset = Math.floor(hold * 2 * unit(d, 6));
    return { state: Math.floor((round + offset) / hold) % 2 === 0 ? 'OFF' : 'ON' };
  }
  const busy = unit(d, 7) < 0.1;
  const period = (busy ? BUSY_PERIOD : QUIET_PERIOD) * (0.5 + unit(d, 8));
  const phase = 2 * Math.PI * (round / period + unit(d, 9));
  const temperature = 19 + 5 * unit(d, 1) + (0.5 + 1.5 * unit(d, 2)) * Math.sin(phase) + (busy ? 0.1 : 0.04) * noise(d, round, 10);
  const humidity = 40 + 15 * unit(d, 3) + 6 * Math.sin(phase + 1) + 0.4 * noise(d, round, 20);
  return { temperature: round1(temperature), humidity: Math.round(humidity), battery: 80 + Math.floor(20 * unit(d, 4)) };
}

/** The MQTT payload of a reading: the values plus the bench's {t, s, r} (intended send time µs, sequence, run). */
export function fleetPayload(v: FleetValues, t: number, s: number, r: number): string {
  if ('state' in v) return `{"state":"${v.state}","t":${t},"s":${s},"r":${r}}`;
  return `{"temperature":${v.temperature},"humidity":${v.humidity},"battery":${v.battery},"t":${t},"s":${s},"r":${r}}`;
}

export interface FleetLayout {
  readonly devices: number;
  readonly users: number;
  readonly online: number;
  /** Devices at index ≥ switchFrom are switches. */
  readonly switchFrom: number;
  /** Device index → the users who follow it (user indexes). */
  followers(d: number): number[];
  /** User index → the devices it follows. */
  follows(u: number): number[];
}

/**
 * `devices` devices, each followed by `perDevice` users, of whom exactly one is online: users are in `perDevice`
 * groups of `online` users; device d is followed by user d mod online of every group, and the first group is online.
 * 1,000 devices, 3 per device, 10 online: 30 users following 100 devices each.
 */
export function fleetLayout(devices: number, perDevice: number, online: number, switchShare = 0.05): FleetLayout {
  if (devices % online !== 0) throw new Error(`devices (${devices}) must be a multiple of the online users (${online})`);
  return {
    devices,
    users: perDevice * online,
    online,
    switchFrom: devices - Math.round(devices * switchShare),
    followers: (d) => Array.from({ length: perDevice }, (_x, g) => g * online + (d % online)),
    follows: (u) => Array.from({ length: devices / online }, (_x, j) => j * online + (u % online)),
  };
}

// ------------------------------------------------------------------------------------------------ Prosody's storage

const luaString = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** An account file of Prosody's internal storage (`authentication = "internal_plain"`): data/HOST/accounts/USER.dat. */
export function prosodyAccount(password: string): string {
  return `return {\n\t["password"] = ${luaString(password)};\n};\n`;
}

/** A roster file (data/HOST/roster/USER.dat): every contact with subscription both (presence shared both ways). */
export function prosodyRoster(contacts: readonly { jid: string; name?: string }[]): string {
  const items = contacts.map((c) => `\t[${luaString(c.jid)}] = {\n\t\t["subscription"] = "both";\n\t\t["groups"] = {};\n${c.name ? `\t\t["name"] = ${luaString(c.name)};\n` : ''}\t};\n`);
  return `return {\n\t[false] = {\n\t\t["version"] = 1;\n\t\t["pending"] = {};\n\t};\n${items.join('')}};\n`;
}

/** Messages in one of mod_offline's list files (internal storage: one `item(` per message). */
export function countOfflineItems(text: string): number {
  return (text.match(/^item\(/gm) ?? []).length;
}

// ------------------------------------------------------------------------------------------------ the judgement

/** The change policy as the analysis applies it: numeric deadbands (absolute), any other field counts on any change. */
export interface PolicyModel {
  readonly deadband: Readonly<Record<string, number>>;
  /** ms: a numeric change is due within this (the policy's minInterval, compressed). */
  readonly minIntervalMs: number;
}

export interface ReadingAt {
  /** Sequence number of the run. */
  readonly s: number;
  /** Intended send time, ms. */
  readonly t: number;
  readonly values: FleetValues;
}

export interface Receipt {
  readonly s: number;
  /** Receive time, ms (same clock as ReadingAt.t). */
  readonly at: number;
}

export interface DeviceJudgement {
  /** Readings in the window judged (the follower had seen a value before them). */
  readonly judged: number;
  /** Readings the policy counts as a change against what the follower saw last. */
  readonly changes: number;
  /** Numeric changes / state changes not seen within their interval (+ tolerance). */
  readonly violations: number;
  /**
   * Changes not sent because they reverted: before their interval ended the device read again what the follower
   * sees, so the newest value — what the bridge sends when the interval ends — was no news (in `live` mode an
   * unchanged text is not sent at all). Not violations.
   */
  readonly reverted: number;
  /** The longest time from a change to the follower's receipt of it or a later reading (ms); 0 without changes. */
  readonly maxDelayMs: number;
  /** Of which: state (enum/boolean) changes, due at once. */
  readonly stateChanges: number;
  readonly maxStateDelayMs: number;
}

/** What kind of change `after` is against `before`: a state change, a numeric change beyond its deadband, or none. */
export function changeKind(policy: PolicyModel, before: FleetValues, after: FleetValues): 'state' | 'number' | undefined {
  const b = before as unknown as Record<string, unknown>;
  const a = after as unknown as Record<string, unknown>;
  let number = false;
  for (const [k, v] of Object.entries(a)) {
    const w = b[k];
    if (w === undefined) continue;
    if (typeof v === 'number' && typeof w === 'number') {
      // The bridge's own comparison (change-policy.ts `beyond`): |after − before| ≥ deadband.
      if (Math.abs(v - w) >= (policy.deadband[k] ?? 0) && v !== w) number = true;
    } else if (v !== w) return 'state';
  }
  return number ? 'number' : undefined;
}

/**
 * For one device and its one online follower: every reading of the window that the policy counts as a change against
 * the last reading the follower had received before it must reach them — itself or a later reading (coalesced) —
 * within the policy's minInterval (a state change: at once), plus `toleranceMs` for the way through the system.
 * `readings` and `receipts` of the whole run; only readings with windowStart ≤ t < windowEnd are judged. `before`: what
 * the follower saw last before the run (an earlier configuration's last message), if anything.
 */
export function judgeDevice(
  readings: readonly ReadingAt[],
  receipts: readonly Receipt[],
  policy: PolicyModel | undefined,
  window: { start: number; end: number },
  toleranceMs: number,
  before?: FleetValues,
): DeviceJudgement {
  const bySeq = new Map<number, FleetValues>();
  for (const r of readings) bySeq.set(r.s, r.values);
  // What the bridge had sent before it handled reading k — what the follower sees when k is judged — is the newest
  // reading received with a sequence below k: a reading is sent when it is handled or, held, when its interval ends
  // as the newest held one; so no reading older than k is sent after k was handled. (Judged by sequence, not by
  // arrival time: the answer to "was k a change" must not depend on a stanza being a few ms on its way.)
  const received = [...new Set(receipts.map((r) => r.s))].sort((a, b) => a - b);
  const lastBelow = (s: number): number => {
    let lo = 0;
    let hi = received.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (received[mid]! < s) {
        found = received[mid]!;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
  // Earliest receipt of a sequence ≥ s: suffix minimum over receipts sorted by sequence.
  const bySeqDesc = [...receipts].sort((a, b) => b.s - a.s);
  const seqs: number[] = [];
  const earliest: number[] = [];
  let min = Infinity;
  for (const r of bySeqDesc) {
    min = Math.min(min, r.at);
    seqs.push(r.s);
    earliest.push(min);
  }
  const firstSeenFrom = (s: number): number | undefined => {
    // seqs is descending: the last index with seqs[i] ≥ s.
    let lo = 0;
    let hi = seqs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (seqs[mid]! >= s) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? undefined : earliest[found];
  };
  let judged = 0;
  let changes = 0;
  let violations = 0;
  let maxDelay = 0;
  let stateChanges = 0;
  let maxStateDelay = 0;
  const sorted = [...readings].sort((a, b) => a.t - b.t);
  let reverted = 0;
  for (const [n, r] of sorted.entries()) {
    if (r.t < window.start || r.t >= window.end) continue;
    const below = lastBelow(r.s);
    const seen = below < 0 ? before : bySeq.get(below);
    if (seen === undefined) continue;
    judged += 1;
    const kind = policy ? changeKind(policy, seen, r.values) : changeKind({ deadband: {}, minIntervalMs: 0 }, seen, r.values);
    if (!kind) continue;
    changes += 1;
    const due = kind === 'state' || !policy ? 0 : policy.minIntervalMs;
    const at = firstSeenFrom(r.s);
    const delay = at === undefined ? Infinity : Math.max(0, at - r.t);
    if (delay > due + toleranceMs) {
      let back = false;
      for (let m = n + 1; m < sorted.length && sorted[m]!.t <= r.t + due; m++) if (sameValues(sorted[m]!.values, seen)) back = true;
      if (back) {
        reverted += 1;
        changes -= 1;
        continue;
      }
      violations += 1;
    }
    if (kind === 'state') {
      stateChanges += 1;
      maxStateDelay = Math.max(maxStateDelay, delay);
    }
    maxDelay = Math.max(maxDelay, delay);
  }
  return { judged, changes, violations, reverted, maxDelayMs: maxDelay, stateChanges, maxStateDelayMs: maxStateDelay };
}

function sameValues(a: FleetValues, b: FleetValues): boolean {
  const x = a as unknown as Record<string, unknown>;
  const y = b as unknown as Record<string, unknown>;
  return Object.keys(x).every((k) => x[k] === y[k]);
}

export interface FleetJudgement extends DeviceJudgement {
  readonly devices: number;
  /** Devices with at least one violation. */
  readonly devicesViolating: number;
}

export function sumJudgements(xs: readonly DeviceJudgement[]): FleetJudgement {
  return {
    devices: xs.length,
    judged: xs.reduce((n, x) => n + x.judged, 0),
    changes: xs.reduce((n, x) => n + x.changes, 0),
    violations: xs.reduce((n, x) => n + x.violations, 0),
    reverted: xs.reduce((n, x) => n + x.reverted, 0),
    devicesViolating: xs.filter((x) => x.violations > 0).length,
    maxDelayMs: Math.max(0, ...xs.map((x) => x.maxDelayMs)),
    stateChanges: xs.reduce((n, x) => n + x.stateChanges, 0),
    maxStateDelayMs: Math.max(0, ...xs.map((x) => x.maxStateDelayMs)),
  };
}

// ------------------------------------------------------------------------------------------------ figures

/** A count over a compressed window, per minute of fleet time (the window lasted windowMs / compression × compression…). */
export function perFleetMinute(count: number, windowMs: number, compression: number): number {
  return Math.round((count / ((windowMs * compression) / 60_000)) * 10) / 10;
}

export function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** new/old per repeat (paired: repeat i of each configuration ran back to back), then median and range. */
export function pairedRatios(fresh: readonly number[], old: readonly number[]): { median: number | undefined; min: number | undefined; max: number | undefined; each: number[] } {
  const each: number[] = [];
  for (let i = 0; i < Math.min(fresh.length, old.length); i++) if (old[i]! > 0) each.push(Math.round((fresh[i]! / old[i]!) * 1000) / 1000);
  const m = median(each);
  return { median: m === undefined ? undefined : Math.round(m * 1000) / 1000, min: each.length ? Math.min(...each) : undefined, max: each.length ? Math.max(...each) : undefined, each };
}

/** A stanza's kind as counted: name, type, and what makes it special (a correction, a status, a probe). */
export function stanzaKind(name: string, type: string | undefined, flags: { replace?: boolean; status?: boolean } = {}): string {
  if (name === 'message') return `message ${type ?? 'normal'}${flags.replace ? ' correction' : ''}`;
  if (name === 'presence') return `presence ${type ?? (flags.status ? 'available+status' : 'available')}`;
  return `${name} ${type ?? ''}`.trim();
}
