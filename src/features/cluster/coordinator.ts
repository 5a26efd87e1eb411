/**
 * The cluster seam (kernel/cluster.ts) of an instance in a cluster: availability changes agreed in Redis (one instance
 * acts on each), answers to held commands sent to the instance holding the request, every device's `online`
 * following the shared state.
 */
import type { DeviceRegistry } from '../../devices/registry.js';
import type { Device } from '../../devices/device.js';
import type { ClusterSeam, ForwardedOutcome } from '../../kernel/cluster.js';
import type { QueuedCommandRow } from '../../kernel/stores.js';
import type { SharedState } from '../../store/redis/state.js';

export class ClusterCoordinator implements ClusterSeam {
  readonly enabled = true;

  constructor(
    private readonly shared: SharedState,
    private readonly registry: DeviceRegistry,
  ) {
    shared.on('availability', (jid, entry) => {
      const device = registry.byJid(jid);
      if (device) device.online = entry.online;
    });
  }

  get alone(): boolean {
    return this.shared.others.length === 0;
  }

  changeAvailability(device: Device, online: boolean, reason: string, apply: () => void): void {
    this.shared.availability.change(device, online, reason, apply);
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
    for (const device of this.registry.all()) {
      const entry = this.shared.availability.get(device.jid);
      if (entry) device.online = entry.online;
    }
  }
}
