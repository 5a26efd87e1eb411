/**
 * Zigbee2MQTT: the retained `<base>/bridge/devices` list is the truth — each message is compared with the previous
 * one by IEEE address (importers/diff.ts): joins and changed definitions (interview results, new firmware) are
 * announced, a rename announces the same device with its new name and topics (same hardware id, so the same JID),
 * devices missing from the list have left. `<base>/bridge/info` says whether and how availability is published (off
 * by default in Zigbee2MQTT); when that changes, the last list is read again. A `device_leave` event on
 * `<base>/bridge/event` removes the device at once (the list that follows agrees).
 */
import type { Publisher } from '../../../broker/mqtt-side.js';
import { diffDevices } from '../../../importers/diff.js';
import type { DeviceDescription } from '../../../importers/model.js';
import { importZigbee2MqttDevices, parseBridgeEvent, zigbee2mqttSettings, type Zigbee2MqttSettings } from '../../../importers/zigbee2mqtt.js';
import { NOTHING, type Announced, type ImportAdapter, type SourceRefusal, type SourceUpdate, type Vet } from '../source.js';

export class Zigbee2MqttAdapter implements ImportAdapter {
  readonly source = 'zigbee2mqtt';
  readonly settleMs = 0;
  private settings: Zigbee2MqttSettings | undefined;
  private last: { payload: Buffer; publisher: Publisher | undefined } | undefined;
  private previous: readonly DeviceDescription[] = [];
  /** Entries left out, by IEEE address and reason: each is reported once, not on every republished list. */
  private skipped = new Set<string>();

  constructor(
    private readonly base: string,
    private readonly vet: Vet,
  ) {}

  filters(): string[] {
    return [`${this.base}/bridge/devices`, `${this.base}/bridge/info`, `${this.base}/bridge/event`];
  }

  message(topic: string, payload: Buffer, publisher: Publisher | undefined): SourceUpdate {
    const suffix = topic.slice(this.base.length + 1);
    if (suffix === 'bridge/info') return this.info(topic, payload);
    if (suffix === 'bridge/event') return this.event(topic, payload);
    if (suffix !== 'bridge/devices') return NOTHING;
    if (payload.length === 0) return NOTHING; // a cleared retained list says nothing about the devices
    this.last = { payload, publisher };
    return this.devices(topic, payload, publisher);
  }

  private info(topic: string, payload: Buffer): SourceUpdate {
    if (payload.length === 0) return NOTHING;
    const s = zigbee2mqttSettings(payload);
    if (!s.ok) return { ...NOTHING, refused: [{ code: 'IMPORT_INVALID', reason: s.error.message, topic }] };
    const before = JSON.stringify(this.settings && { a: this.settings.availability, d: this.settings.availabilityByDevice });
    this.settings = s.value;
    const changed = before !== JSON.stringify({ a: s.value.availability, d: s.value.availabilityByDevice });
    // Availability is part of every description: read the last list again with it.
    return changed && this.last ? this.devices(`${this.base}/bridge/devices`, this.last.payload, this.last.publisher) : NOTHING;
  }

  private event(topic: string, payload: Buffer): SourceUpdate {
    const e = parseBridgeEvent(payload);
    if (!e.ok) return { ...NOTHING, refused: [{ code: 'IMPORT_INVALID', reason: e.error.message, topic }] };
    if (e.value.type !== 'device_leave') return NOTHING;
    const ieee = e.value.ieeeAddress.toLowerCase();
    this.previous = this.previous.filter((d) => d.hardwareId.toLowerCase() !== ieee);
    return { ...NOTHING, remove: [{ hardwareId: e.value.ieeeAddress, reason: 'left the network' }] };
  }

  private devices(topic: string, payload: Buffer, publisher: Publisher | undefined): SourceUpdate {
    const r = importZigbee2MqttDevices(payload, {
      baseTopic: this.base,
      availability: this.settings?.availability ?? false,
      ...(this.settings ? { availabilityByDevice: this.settings.availabilityByDevice } : {}),
    });
    if (!r.ok) return { ...NOTHING, refused: [{ code: 'IMPORT_INVALID', reason: r.error.message, topic, detail: r.error.code }] };
    const refused: SourceRefusal[] = [];
    const skipped = new Set<string>();
    for (const s of r.value.skipped) {
      const key = `${s.ieeeAddress ?? ''}\u0000${s.reason}`;
      skipped.add(key);
      if (!this.skipped.has(key)) refused.push({ code: 'IMPORT_SKIPPED', reason: s.message, topic, ...(s.ieeeAddress ? { hardwareId: s.ieeeAddress } : {}), detail: s.reason });
    }
    this.skipped = skipped;
    const devices = shareModels(r.value.devices);
    const diff = diffDevices(this.previous, devices);
    this.previous = devices;
    const upsert: Announced[] = [];
    for (const d of [...diff.joined, ...diff.renamed.map((x) => x.after), ...diff.changed.map((x) => x.after)]) {
      if (upsert.some((u) => u.description === d)) continue; // renamed and changed at once
      const refusal = this.vet(d, publisher);
      if (refusal) refused.push({ ...refusal, hardwareId: d.hardwareId });
      else upsert.push({ description: d, publisher });
    }
    return { upsert, remove: diff.left.map((d) => ({ hardwareId: d.hardwareId, reason: 'no longer in bridge/devices' })), refused };
  }
}

/**
 * Devices of one model have equal properties (the model key is a hash of the exposes they come from): they share one
 * copy, so a network of thousands of devices of a few models keeps a few property lists, not thousands.
 */
function shareModels(devices: readonly DeviceDescription[]): DeviceDescription[] {
  const models = new Map<string, DeviceDescription>();
  return devices.map((d) => {
    const first = models.get(d.modelKey);
    if (!first) {
      models.set(d.modelKey, d);
      return d;
    }
    return { ...d, properties: first.properties, commands: d.commands.map((c) => ({ ...c, properties: first.commands.find((x) => x.name === c.name)?.properties ?? c.properties })) };
  });
}
