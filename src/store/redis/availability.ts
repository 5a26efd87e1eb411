/**
 * Device availability, shared (cluster mode): every instance knows whether each device is online (presence probes,
 * disco, held commands are answered by whichever instance receives them), and each change is acted on by exactly
 * one instance — the one whose compare-and-set reached Redis first (kernel/cluster.ts).
 *
 * The compare-and-set runs as one Lua script, with its announcement: no instance can see the new state without the
 * announcement following it. Per device it stores whether it is online, the instance holding its MQTT connection (for
 * availability by client id on the embedded brokers), and the token of the change that set it — so a change resent by
 * ioredis after a lost connection is recognised as the one already made, not as someone else's.
 *
 * Whether an online device is asleep (availability `sleeping`, Homie) is part of the same state: a device put to sleep
 * or woken at one instance is asleep or awake at every instance, and the change is acted on once (commands held while
 * it sleeps are released once when it wakes).
 *
 * Rules, for an observation `online` (and `asleep`) with `reason`:
 *   connected      the device's connection is now at this instance: it becomes the holder (even if already online);
 *   disconnected   applies only if this instance holds the connection (a device that reconnected through another
 *                  instance before its old connection was seen to close stays online);
 *   anything else  applies when it is a change.
 */
import { randomBytes } from 'node:crypto';
import type { Device } from '../../devices/device.js';
import type { Logger } from '../../log.js';
import type { Writer } from './writer.js';

export interface SharedAvailabilityEntry {
  readonly online: boolean;
  /** Instance holding the device's MQTT connection ('' when none). */
  readonly holder: string;
  /** Online but asleep (availability `sleeping`): commands are held until it wakes. */
  readonly asleep: boolean;
}

/** KEYS[1] availability hash, KEYS[2] events channel; ARGV jid, online 0|1, instance, token, at, reason, rule, asleep 0|1. */
const CHANGE_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local o, h, t, s = 0, '', '', 0
if cur then
  local ok, v = pcall(cjson.decode, cur)
  if ok and type(v) == 'table' then o = tonumber(v.o) or 0; h = v.h or ''; t = v.t or ''; s = tonumber(v.s) or 0 end
end
local want = tonumber(ARGV[2])
local ws = tonumber(ARGV[8]) or 0
if want == 0 then ws = 0 end
if t == ARGV[4] then return {1, want, h, ws} end
local holder = h
if ARGV[7] == 'connect' then
  holder = ARGV[3]
elseif ARGV[7] == 'disconnect' then
  if h ~= '' and h ~= ARGV[3] then return {0, o, h, s} end
  holder = ''
end
if o == want and s == ws and holder == h then return {0, o, h, s} end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({o = want, h = holder, s = ws, t = ARGV[4], at = tonumber(ARGV[5]), r = ARGV[6]}))
redis.call('PUBLISH', KEYS[2], cjson.encode({i = ARGV[3], k = 'av', d = ARGV[1], o = (want == 1), h = holder, s = (ws == 1)}))
if o == want and s == ws then return {0, o, holder, s} end
return {1, want, holder, ws}
`;

type Rule = 'connect' | 'disconnect' | 'change';

export class SharedAvailability {
  private readonly entries = new Map<string, SharedAvailabilityEntry>();
  /** Per device, the observations of this instance, in order: one compare-and-set at a time. */
  private readonly chains = new Map<string, { tail: Promise<void>; wanted: boolean; asleep: boolean; rule: Rule }>();
  private seq = 0;
  private readonly tokenBase = randomBytes(4).toString('hex');

  constructor(
    private readonly w: Writer,
    private readonly log: Logger,
    /** The shared state of a device changed (here or elsewhere): its `online` follows. */
    private readonly follow: (jid: string, entry: SharedAvailabilityEntry) => void,
  ) {}

  get(jid: string): SharedAvailabilityEntry | undefined {
    return this.entries.get(jid);
  }

  all(): IterableIterator<[string, SharedAvailabilityEntry]> {
    return this.entries.entries();
  }

  /**
   * See the header; `apply` runs only when this instance made the change. `as`: the instance the observation is made
   * for — a survivor releasing the devices a lost instance held observes their disconnection as that instance.
   */
  change(device: Device, online: boolean, reason: string, apply: () => void, as: string = this.w.instance, asleep = false): void {
    const rule: Rule = reason === 'connected' ? 'connect' : reason === 'disconnected' ? 'disconnect' : 'change';
    const sleeps = online && asleep;
    const pending = this.chains.get(device.jid);
    // Nothing to ask Redis: the same observation is on its way, or this is no change (a device's connection moving
    // to this instance is one, even when it stays online).
    if (pending ? pending.wanted === online && pending.asleep === sleeps && pending.rule === rule : rule !== 'connect' && device.online === online && (device.asleep === true) === sleeps) return;
    const token = `${this.tokenBase}-${(this.seq++).toString(36)}`;
    const run = async (): Promise<void> => {
      try {
        const [won, state, holder, slept] = (await this.w.redis.eval(
          CHANGE_SCRIPT,
          2,
          this.w.keys.availability,
          this.w.keys.events,
          device.jid,
          online ? '1' : '0',
          as,
          token,
          String(Date.now()),
          reason,
          rule,
          sleeps ? '1' : '0',
        )) as [number, number, string, number];
        if (state === 0 || state === 1) this.set(device.jid, { online: state === 1, holder, asleep: state === 1 && slept === 1 });
        if (won === 1) apply();
      } catch (err) {
        this.log.error({ err: (err as Error).message, deviceId: device.id }, 'availability change not shared');
      }
    };
    const tail = (pending?.tail ?? Promise.resolve()).then(run);
    const entry = { tail, wanted: online, asleep: sleeps, rule };
    this.chains.set(device.jid, entry);
    void tail.then(() => {
      if (this.chains.get(device.jid) === entry) this.chains.delete(device.jid);
    });
  }

  /** Another instance's change (its announcement), or the snapshot. */
  set(jid: string, entry: SharedAvailabilityEntry): void {
    this.entries.set(jid, entry);
    this.follow(jid, entry);
  }

  /**
   * A device's shared state as Redis has it now (the local copy follows announcements a moment late); undefined when
   * Redis does not know the device, or does not answer within `timeoutMs`.
   */
  async fetch(jid: string, timeoutMs: number): Promise<SharedAvailabilityEntry | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    try {
      const text = await Promise.race([this.w.redis.hget(this.w.keys.availability, jid), late]);
      return typeof text === 'string' ? parseAvailability(text) : undefined;
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Devices whose connection a given instance holds (a lost instance's are taken over). */
  heldBy(instance: string): string[] {
    return [...this.entries].filter(([, e]) => e.online && e.holder === instance).map(([jid]) => jid);
  }

  /** Waits until every change this instance started has reached Redis (bounded by the caller). */
  async settled(): Promise<void> {
    await Promise.all([...this.chains.values()].map((c) => c.tail));
  }

  reseed(hset: (field: string, value: string) => void): void {
    for (const [jid, e] of this.entries) hset(jid, JSON.stringify({ o: e.online ? 1 : 0, h: e.holder, s: e.asleep ? 1 : 0, t: '', at: Date.now(), r: 'reseed' }));
  }
}

export function parseAvailability(text: string): SharedAvailabilityEntry | undefined {
  try {
    const v = JSON.parse(text) as { o?: unknown; h?: unknown; s?: unknown };
    if (v.o !== 0 && v.o !== 1) return undefined;
    return { online: v.o === 1, holder: typeof v.h === 'string' ? v.h : '', asleep: v.o === 1 && v.s === 1 };
  } catch {
    return undefined;
  }
}
