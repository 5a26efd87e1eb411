/**
 * Sparkplug B: every message of the namespace's nodes and devices (births, deaths and data) goes to the accumulator
 * (importers/sparkplug.ts), which tracks sequence numbers and aliases. A birth certificate announces a device, vetted
 * against the publisher of the birth (an edge node publishes its own and its devices' topics, and subscribes to their
 * NCMD / DCMD). Rebirth requests the accumulator asks for are handed back to the feature, which publishes them.
 * Deaths remove nothing: they are the devices' availability (the mappings' availability topics).
 */
import type { Publisher } from '../../../broker/mqtt-side.js';
import { SparkplugAccumulator, type SparkplugOptions } from '../../../importers/sparkplug.js';
import { NOTHING, type Announced, type ImportAdapter, type OutgoingMessage, type SourceRefusal, type SourceUpdate, type Vet } from '../source.js';

export class SparkplugAdapter implements ImportAdapter {
  readonly source = 'sparkplug';
  /** A node's births arrive together (NBIRTH then a DBIRTH per device): applied as one change. */
  readonly settleMs = 50;
  private readonly acc: SparkplugAccumulator;

  constructor(
    options: SparkplugOptions,
    private readonly vet: Vet,
    private readonly clock: () => number = Date.now,
  ) {
    this.acc = new SparkplugAccumulator(options);
  }

  filters(): string[] {
    return this.acc.filters();
  }

  message(topic: string, payload: Buffer, publisher: Publisher | undefined): SourceUpdate {
    const updates = this.acc.feed(topic, payload, this.clock());
    if (updates.length === 0) return NOTHING;
    const upsert: Announced[] = [];
    const refused: SourceRefusal[] = [];
    const publish: OutgoingMessage[] = [];
    for (const u of updates) {
      if (u.kind === 'rebirth') publish.push({ topic: u.topic, payload: u.payload, reason: `rebirth of ${u.node}: ${u.reason}` });
      else if (u.kind === 'rejected') refused.push({ code: u.code === 'too_many_devices' ? 'IMPORT_LIMIT' : 'IMPORT_INVALID', reason: u.message, topic, hardwareId: u.hardwareId, detail: u.code });
      else {
        const refusal = this.vet(u.description, publisher);
        if (refusal) refused.push({ ...refusal, hardwareId: u.description.hardwareId });
        else upsert.push({ description: u.description, publisher });
      }
    }
    return { upsert, remove: [], refused, publish };
  }
}
