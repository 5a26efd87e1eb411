/**
 * Homie 5 and Homie 4: every message on the accumulator's filters (`$state`, `$description`, the Homie 4 attributes)
 * goes to it (importers/homie.ts); a device is announced once complete, vetted against the publisher of the message
 * that completed it (a device publishes its own tree). During the retained burst a late attribute yields the same
 * device again: the feature's settling window applies it once. An empty `$state` (Homie 5) or `$homie` (Homie 4)
 * removes the device.
 */
import type { Publisher } from '../../../broker/mqtt-side.js';
import { HomieAccumulator, type HomieOptions } from '../../../importers/homie.js';
import { NOTHING, type Announced, type ImportAdapter, type SourceRefusal, type SourceUpdate, type Vet } from '../source.js';

export class HomieAdapter implements ImportAdapter {
  readonly source = 'homie';
  readonly settleMs = 200;
  private readonly acc: HomieAccumulator;

  constructor(
    options: HomieOptions,
    private readonly vet: Vet,
  ) {
    this.acc = new HomieAccumulator(options);
  }

  filters(): string[] {
    return this.acc.filters();
  }

  message(topic: string, payload: Buffer, publisher: Publisher | undefined): SourceUpdate {
    const updates = this.acc.feed(topic, payload);
    if (updates.length === 0) return NOTHING;
    const upsert: Announced[] = [];
    const remove: { hardwareId: string; reason: string }[] = [];
    const refused: SourceRefusal[] = [];
    for (const u of updates) {
      if (u.kind === 'removed') remove.push({ hardwareId: u.deviceId, reason: 'the device removed itself' });
      else if (u.kind === 'rejected') refused.push({ code: u.code === 'too_many_devices' ? 'IMPORT_LIMIT' : 'IMPORT_INVALID', reason: u.message, topic, hardwareId: u.deviceId, detail: u.code });
      else {
        const refusal = this.vet(u.description, publisher);
        if (refusal) refused.push({ ...refusal, hardwareId: u.description.hardwareId });
        else upsert.push({ description: u.description, publisher });
      }
    }
    return { upsert, remove, refused };
  }
}
