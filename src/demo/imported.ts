/**
 * The demo's imported devices: a small simulated Zigbee2MQTT network and an ESPHome-style node publishing Home
 * Assistant discovery, imported automatically (the `import` section of the demo's configuration) next to the
 * hand-mapped devices — no mapping file names them.
 */
import type { ImportSourceName } from '../config/schema.js';
import { startEsphomeNode } from './esphome-sim.js';
import type { SimulatedDevice, Simulator } from './simulator.js';
import { startZigbee2MqttFleet } from './zigbee2mqtt-sim.js';

/** The `import` section of the demo's configuration: both sources automatic, visible to and operated by local users. */
export function demoImportConfig(host: string): Record<ImportSourceName & ('zigbee2mqtt' | 'homeassistant'), Record<string, unknown>> {
  const access = { viewers: [`*@${host}`], operators: [`*@${host}`] };
  return { zigbee2mqtt: { mode: 'auto', access }, homeassistant: { mode: 'auto', access } };
}

export async function startImportedDevices(mqttUrl: string, domain: string, intervalMs = 5000): Promise<Simulator> {
  const fleet = await startZigbee2MqttFleet(mqttUrl, { clientId: 'zigbee2mqtt-fleet', intervalMs });
  const node = await startEsphomeNode(mqttUrl, { intervalMs });
  const what: Record<string, string> = {
    LED1545G12: 'a dimmable bulb: say "on", "off" or "set brightness=120"',
    ZNCZ02LM: 'a plug with a power meter',
    WSDCGQ11LM: 'temperature, humidity and pressure',
    WXKG11LM: 'a button: its clicks arrive as "Action single"',
  };
  const devices: SimulatedDevice[] = [
    ...fleet.devices.map((d) => ({ jid: `${d.ieee}@${domain}`, name: d.name, what: `Zigbee2MQTT, ${what[d.model] ?? d.model}` })),
    { jid: `${node.mac}@${domain}`, name: node.name, what: 'ESPHome (Home Assistant discovery): temperature, a relay ("set-relay relay=true"), a light' },
  ];
  return {
    devices,
    async stop() {
      await fleet.stop();
      await node.stop();
    },
  };
}
