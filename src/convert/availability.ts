/**
 * Availability payloads → online/offline. Pure.
 *
 * Accepted forms, compared case-insensitively with the mapping's `online` / `offline` words:
 *   plain text          `online`, `Offline` (Tasmota LWT "Online"/"Offline", Homie `$state`)
 *   a JSON string       `"online"`
 *   a JSON object       `{"state": "online"}` (Zigbee2MQTT availability)
 * Anything else is unrecognized (undefined) and leaves the device as it was.
 */

export function availabilityOf(payload: Uint8Array, online: string, offline: string): boolean | undefined {
  if (payload.length === 0 || payload.length > 1024) return undefined;
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8').trim();
  const word = unwrap(text).toLowerCase();
  if (word === online.toLowerCase()) return true;
  if (word === offline.toLowerCase()) return false;
  return undefined;
}

function unwrap(text: string): string {
  if (!text.startsWith('{') && !text.startsWith('"')) return text;
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'string') return v;
    if (v !== null && typeof v === 'object' && typeof (v as Record<string, unknown>)['state'] === 'string') {
      return (v as Record<string, string>)['state']!;
    }
  } catch {
    // not JSON: compare the text as it is
  }
  return text;
}
