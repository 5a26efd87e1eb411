/**
 * Tasmota native discovery: `<prefix>/<MAC>/config` and `/sensors` (retained) go to the accumulator
 * (importers/tasmota.ts). A device is described by both halves; before a message changes it, the device it would
 * make is vetted against the message's publisher. An empty config removes the device.
 */
import type { Publisher } from '../../../broker/mqtt-side.js';
import { TasmotaDiscovery, type TasmotaOptions } from '../../../importers/tasmota.js';
import { NOTHING, type Announced, type ImportAdapter, type SourceUpdate, type Vet } from '../source.js';

export class TasmotaAdapter implements ImportAdapter {
  readonly source = 'tasmota';
  readonly settleMs = 200;
  private readonly acc: TasmotaDiscovery;
  /** The accepted halves of each device, to vet a change before it is made. */
  private readonly halves = new Map<string, { config?: Buffer; sensors?: Buffer }>();

  constructor(
    private readonly options: TasmotaOptions,
    private readonly vet: Vet,
  ) {
    this.acc = new TasmotaDiscovery(options);
  }

  filters(): string[] {
    return this.acc.subscriptions();
  }

  message(topic: string, payload: Buffer, publisher: Publisher | undefined): SourceUpdate {
    const m = /\/([^/]+)\/(config|sensors)$/.exec(topic);
    const mac = m?.[1];
    const kind = m?.[2] as 'config' | 'sensors' | undefined;
    if (mac && kind && payload.length > 0) {
      const halves = { ...this.halves.get(mac), [kind]: payload };
      const alone = new TasmotaDiscovery(this.options);
      const prefix = topic.slice(0, topic.length - mac.length - kind.length - 2);
      let r = alone.feed(topic, payload);
      if (!r.ok) return { ...NOTHING, refused: [{ code: 'IMPORT_INVALID', reason: r.error.message, topic, detail: r.error.code }] };
      const other = kind === 'config' ? halves.sensors : halves.config;
      if (other) r = alone.feed(`${prefix}/${mac}/${kind === 'config' ? 'sensors' : 'config'}`, other);
      const d = alone.device(mac);
      const refusal = d ? this.vet(d, publisher) : undefined;
      if (refusal) return { ...NOTHING, refused: [{ ...refusal, hardwareId: mac }] };
    }
    const r = this.acc.feed(topic, payload);
    if (!r.ok) return { ...NOTHING, refused: [{ code: r.error.code === 'TASMOTA_LIMIT' ? 'IMPORT_LIMIT' : 'IMPORT_INVALID', reason: r.error.message, topic, detail: r.error.code }] };
    if (mac && kind) {
      const h = { ...this.halves.get(mac) };
      if (payload.length > 0) h[kind] = payload;
      else delete h[kind];
      if (h.config || h.sensors) this.halves.set(mac, h);
      else this.halves.delete(mac);
    }
    const upsert: Announced[] = [];
    for (const id of r.value.changed) {
      const d = this.acc.device(id);
      if (d) upsert.push({ description: d, publisher });
    }
    return { upsert, remove: r.value.removed.map((hardwareId) => ({ hardwareId, reason: 'its discovery config was removed' })), refused: [] };
  }
}
