/**
 * Home Assistant MQTT discovery (ESPHome, Tasmota's legacy mode, zwave-js-ui, OpenMQTTGateway, Zigbee2MQTT's HA
 * output…): every message on `<prefix>/+/+/config` and `<prefix>/+/+/+/config`, retained or not, goes to the
 * accumulator (importers/homeassistant.ts), which groups entities into devices. Before that, the message is read
 * alone and the devices it describes are vetted against its publisher: a message naming a topic outside its
 * publisher's rights is refused as a whole and changes nothing. An empty retained config removes what it announced.
 */
import type { Publisher } from '../../../broker/mqtt-side.js';
import { HomeAssistantDiscovery, type HaDiscoveryOptions } from '../../../importers/homeassistant.js';
import { NOTHING, type Announced, type ImportAdapter, type SourceRefusal, type SourceUpdate, type Vet } from '../source.js';

export class HomeAssistantAdapter implements ImportAdapter {
  readonly source = 'homeassistant';
  readonly settleMs = 200;
  private readonly acc: HomeAssistantDiscovery;

  constructor(
    private readonly options: HaDiscoveryOptions,
    private readonly vet: Vet,
  ) {
    this.acc = new HomeAssistantDiscovery(options);
  }

  filters(): string[] {
    return this.acc.subscriptions();
  }

  message(topic: string, payload: Buffer, publisher: Publisher | undefined): SourceUpdate {
    const refused: SourceRefusal[] = [];
    if (payload.length > 0) {
      // The message alone: what it would make of its devices, checked against whoever published it.
      const alone = new HomeAssistantDiscovery(this.options);
      const r = alone.feed(topic, payload);
      if (!r.ok) return { ...NOTHING, refused: [{ code: codeOf(r.error.code), reason: r.error.message, topic, detail: r.error.code }] };
      for (const d of alone.devices()) {
        const refusal = this.vet(d, publisher);
        if (refusal) return { ...NOTHING, refused: [{ ...refusal, hardwareId: d.hardwareId }] };
      }
    }
    const r = this.acc.feed(topic, payload);
    if (!r.ok) return { ...NOTHING, refused: [{ code: codeOf(r.error.code), reason: r.error.message, topic, detail: r.error.code }] };
    for (const s of r.value.skipped) refused.push({ code: codeOf(s.code), reason: `component ${s.component}: ${s.message}`, topic, detail: s.code });
    const upsert: Announced[] = [];
    for (const id of r.value.changed) {
      const d = this.acc.device(id);
      if (d) upsert.push({ description: d, publisher });
    }
    return { upsert, remove: r.value.removed.map((hardwareId) => ({ hardwareId, reason: 'its discovery config was removed' })), refused };
  }
}

/** Unsupported platforms and templates are not malformed: they get their own code. */
function codeOf(haCode: string): string {
  return haCode === 'HA_UNSUPPORTED_PLATFORM' || haCode === 'HA_TEMPLATE_UNSUPPORTED' ? 'IMPORT_UNSUPPORTED' : haCode === 'HA_LIMIT' ? 'IMPORT_LIMIT' : 'IMPORT_INVALID';
}
