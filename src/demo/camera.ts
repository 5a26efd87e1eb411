/**
 * A simulated camera for the demo: every minute (and once at start) a small generated picture — a PNG of a sky whose
 * light follows the clock, and a bar that moves with the seconds — published on `cameras/<name>/snapshot` at QoS 1.
 * Its mapping has `payload: {format: binary}` (docs/MEDIA.md): the bridge uploads each picture to Prosody's upload
 * service as the camera's JID and the demo user sees it in the chat.
 */
import { deflateSync } from 'node:zlib';
import mqtt, { type MqttClient } from 'mqtt';

export const CAMERA_MAPPING = {
  id: 'camera',
  description: 'Cameras publishing a snapshot (PNG or JPEG) now and then',
  topic: 'cameras/{cam}/snapshot',
  jid: 'cam-{cam}',
  name: '{cam} camera',
  payload: { format: 'binary' },
  access: { viewers: ['*@{serverDomain}'] },
} as const;

export interface Camera {
  readonly jid: string;
  snap(): Promise<void>;
  stop(): Promise<void>;
}

export async function startCamera(mqttUrl: string, domain: string, opts: { name?: string; intervalMs?: number } = {}): Promise<Camera> {
  const name = opts.name ?? 'garden';
  const c: MqttClient = await mqtt.connectAsync(mqttUrl, { clientId: `camera-${name}`, reconnectPeriod: 1000 });
  const snap = async (): Promise<void> => {
    await c.publishAsync(`cameras/${name}/snapshot`, picture(new Date()), { qos: 1 });
  };
  await snap();
  const timer = setInterval(() => void snap().catch(() => undefined), opts.intervalMs ?? 60_000);
  timer.unref();
  return {
    jid: `cam-${name}@${domain}`,
    snap,
    async stop() {
      clearInterval(timer);
      await c.endAsync().catch(() => undefined);
    },
  };
}

const W = 160;
const H = 90;

/** A 160×90 RGB PNG: a sky coloured by the hour, ground, and a sun that crosses with the seconds. */
export function picture(now: Date): Buffer {
  const hour = now.getHours() + now.getMinutes() / 60;
  const light = Math.max(0.15, Math.sin((Math.PI * (hour - 6)) / 12));
  const sunX = Math.round(((now.getSeconds() + now.getMinutes() * 60) % 3600) * (W / 3600));
  const rows: Buffer[] = [];
  for (let y = 0; y < H; y++) {
    const row = Buffer.alloc(1 + W * 3); // filter byte 0 (None), PNG §9.2
    for (let x = 0; x < W; x++) {
      let r: number, g: number, b: number;
      if (y > H * 0.7) [r, g, b] = [40 * light, 120 * light, 40 * light];
      else {
        const t = y / (H * 0.7);
        [r, g, b] = [(90 + 60 * t) * light, (150 + 50 * t) * light, 255 * light];
      }
      if ((x - sunX) ** 2 + (y - 20) ** 2 < 64) [r, g, b] = [255, 220 * light + 30, 60];
      row.set([Math.round(r), Math.round(g), Math.round(b)], 1 + x * 3);
    }
    rows.push(row);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(W, 0);
  ihdr.writeUInt32BE(H, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits, truecolour, deflate, no filter method variants, no interlace
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
