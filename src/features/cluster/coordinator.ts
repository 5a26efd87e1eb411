/**
 * The cluster seam (kernel/cluster.ts) of an instance in a cluster: availability changes agreed in Redis (one instance
 * acts on each), answers to held commands sent to the instance holding the request, every device's `online`
 * following the shared state.
 *
 * A device takes its `online` from the shared state the moment it enters the registry (restored when the mappings are
 * applied, registered on first sight here): the component may be online — and answer probes and subscription
 * requests with the device's presence — before the cluster feature starts (the XMPP link starts first and connects in
 * the background, the brokers are attached before the cluster feature), so waiting for that start would show an
 * online device as `unavailable` to whoever asks in between.
 */
import type { DeviceRegistry } from '../../devices/registry.js';
import type { Device } from '../../devices/device.js';
import type { ClusterSeam, ForwardedOutcome } from '../../kernel/cluster.js';
import type { EventBus } from '../../kernel/events.js';
import type { QueuedCommandRow } from '../../kernel/stores.js';
import type { SharedAvailabilityEntry } from '../../store/redis/availability.js';
import type { SharedState } from '../../store/redis/state.js';

/** How long a command waits for Redis to confirm a device's availability before the local copy decides. */
const CONFIRM_TIMEOUT_MS = 1000;

export class ClusterCoordinator implements ClusterSeam {
  readonly enabled = true;

  constructor(
    private readonly shared: SharedState,
    private readonly registry: DeviceRegistry,
    bus: EventBus,
  ) {
    shared.on('availability', (jid, entry) => {
      const device = registry.byJid(jid);
      if (device) follow(device, entry);
    });
    // Built before the mappings are applied: the devices they restore, and each device registered later, start from
    // the shared state (a new device's `device_added` comes before its first availability observation).
    bus.on('mappings_changed', () => this.syncOnline());
    bus.on('device_added', ({ device }) => this.sync(device));
  }

  get alone(): boolean {
    return this.shared.others.length === 0;
  }

  changeAvailability(device: Device, online: boolean, reason: string, apply: () => void, asleep = false): void {
    this.shared.availability.change(device, online, reason, apply, undefined, asleep);
  }

  /**
   * A change reaches this instance's copy over pub/sub a moment after it reached Redis: one read of Redis settles a
   * command that would otherwise be held or refused on a stale copy (the copy itself is left to the announcement,
   * which is never older than this read). Redis silent within a second: the copy decides.
   */
  async confirmAvailability(device: Device): Promise<{ online: boolean; asleep: boolean }> {
    const entry = await this.shared.availability.fetch(device.jid, CONFIRM_TIMEOUT_MS);
    if (!entry) return { online: device.online, asleep: device.asleep === true };
    return { online: entry.online, asleep: entry.online && entry.asleep };
  }

  async forwardCommandAnswer(row: QueuedCommandRow, outcome: ForwardedOutcome): Promise<boolean> {
    if (row.holder === undefined || !this.shared.others.includes(row.holder)) return false;
    try {
      return await this.shared.send(row.holder, { k: 'answer', row, outcome });
    } catch {
      return false;
    }
  }

  /** Every known device's `online` as the shared state has it (after a start, a mapping change, a resync). */
  syncOnline(): void {
    for (const device of this.registry.all()) this.sync(device);
  }

  /** One device's `online` as the shared state has it (unchanged when the shared state does not know it). */
  sync(device: Device): void {
    const entry = this.shared.availability.get(device.jid);
    if (entry) follow(device, entry);
  }
}

/** A device as the shared state has it: online or not, asleep or awake. */
function follow(device: Device, entry: SharedAvailabilityEntry): void {
  device.online = entry.online;
  device.asleep = entry.online && entry.asleep;
}
