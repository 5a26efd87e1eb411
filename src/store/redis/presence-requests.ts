/**
 * Devices' presence requests to users and the users' answers, shared (cluster mode): a request sent or answered
 * through one instance is known to every other, so a declined request is not repeated by another instance and the
 * users who granted their presence are probed after a reconnect whichever instance reconnects. Local copy for the
 * synchronous reads, written through to one Redis hash and announced.
 */
import type { PresenceRequestState, PresenceRequestStore } from '../../kernel/stores.js';
import type { Writer } from './writer.js';

const STATES: readonly string[] = ['asked', 'granted', 'declined'];

export class RedisPresenceRequests implements PresenceRequestStore {
  private readonly byDevice = new Map<string, Map<string, PresenceRequestState>>();

  constructor(private readonly w: Writer) {}

  get(deviceJid: string, user: string): PresenceRequestState | undefined {
    return this.byDevice.get(deviceJid)?.get(user);
  }

  set(deviceJid: string, user: string, state: PresenceRequestState): void {
    if (!this.put(deviceJid, user, state)) return;
    this.w.write('presence request', (m) => m.hset(this.w.keys.presenceRequests, field(deviceJid, user), state), { k: 'pr', d: deviceJid, u: user, s: state });
  }

  delete(deviceJid: string, user: string): void {
    if (!this.drop(deviceJid, user)) return;
    this.w.write('presence request removal', (m) => m.hdel(this.w.keys.presenceRequests, field(deviceJid, user)), { k: 'pr', d: deviceJid, u: user, s: null });
  }

  of(deviceJid: string): ReadonlyMap<string, PresenceRequestState> {
    return this.byDevice.get(deviceJid) ?? EMPTY;
  }

  /** Another instance's change, or the snapshot; true when it changed the local copy. */
  put(deviceJid: string, user: string, state: PresenceRequestState): boolean {
    let map = this.byDevice.get(deviceJid);
    if (!map) this.byDevice.set(deviceJid, (map = new Map<string, PresenceRequestState>()));
    if (map.get(user) === state) return false;
    map.set(user, state);
    return true;
  }

  drop(deviceJid: string, user: string): boolean {
    const map = this.byDevice.get(deviceJid);
    if (!map?.delete(user)) return false;
    if (map.size === 0) this.byDevice.delete(deviceJid);
    return true;
  }

  /** The snapshot replaces the local copy. */
  replace(entries: Readonly<Record<string, string>>): void {
    this.byDevice.clear();
    for (const [f, state] of Object.entries(entries)) {
      const i = f.indexOf(' ');
      if (i > 0 && STATES.includes(state)) this.put(f.slice(0, i), f.slice(i + 1), state as PresenceRequestState);
    }
  }

  /** The whole local copy written back (Redis lost its data). */
  reseed(hset: (field: string, value: string) => void): void {
    for (const [d, users] of this.byDevice) for (const [u, s] of users) hset(field(d, u), s);
  }
}

const EMPTY: ReadonlyMap<string, PresenceRequestState> = new Map();

/** JIDs never contain a space (RFC 7622). */
function field(deviceJid: string, user: string): string {
  return `${deviceJid} ${user}`;
}
