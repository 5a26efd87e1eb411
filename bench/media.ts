/**
 * The media limits, measured (docs/MEDIA.md, "Limits measured"): a real Prosody with mod_http_file_share, the bridge
 * in this process, cameras over MQTT and one XMPP user following them.
 *
 *   snapshots   N cameras (1, 10) each publish K snapshots of 50 KiB / 1 MiB at QoS 1, one after the other (the next
 *               once the bridge acknowledged the last, i.e. once it was uploaded and its message queued): snapshots/s
 *               uploaded, snapshots/s delivered to the user, time per upload (publish → PUBACK) p50 / p99
 *   largest     the upload service's limit (10 MiB, Prosody's default) exactly, and one byte more
 *   fetches     a user's ad-hoc command carrying a 50 KiB / 1 MiB image from their own upload server, one after the
 *               other, and from 4 devices at once: fetches/s and time per command p50 / p99
 *
 * Bounded (fixed counts, every wait with a timeout) and self-stopping. Run: `npm run build && node dist/bench/media.js`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { MqttClient } from 'mqtt';
import type { XmppUser } from '../test/integration/harness.js';
import { fmt, log } from './common.js';
import { machineInfo } from './machine.js';

const KIB = 1024;
const MIB = 1024 * KIB;
const LIMIT = 10 * MIB;
const EVENT_TOPIC = 'mqtt-xmpp-bridge/bridge/event';
const NS_ADHOC = 'http://jabber.org/protocol/commands';
const NS_UPLOAD = 'urn:xmpp:http:upload:0';

function jpeg(size: number): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(size - 6), Buffer.from([0xff, 0xd9])]);
}
function png(size: number): Buffer {
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(size - 8)]);
}
function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

function files(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mxb-bench-media-'));
  mkdirSync(join(dir, 'mappings'));
  mkdirSync(join(dir, 'schemas'));
  writeFileSync(join(dir, 'schemas/status.json'), JSON.stringify({ $id: 'urn:bench:status', type: 'object' }));
  writeFileSync(join(dir, 'schemas/image.json'), JSON.stringify({ $id: 'urn:bench:image', type: 'object', required: ['image'], properties: { image: { type: 'string', format: 'uri', contentMediaType: 'image/png' } } }));
  writeFileSync(
    join(dir, 'mappings/bench.yaml'),
    [
      'mappings:',
      '  - id: camera',
      '    topic: cameras/{cam}/snapshot',
      '    jid: "cam-{cam}"',
      '    payload: { format: binary }',
      '    access: { viewers: ["*@{serverDomain}"] }',
      '  - id: display',
      '    topic: displays/{d}/status',
      '    jid: "display-{d}"',
      '    schema: urn:bench:status',
      '    availability: { clientId: "display-{d}" }',
      '    commands:',
      '      - { name: show, topic: "displays/{d}/image", schema: "urn:bench:image", file: { key: image, maxBytes: 2097152 } }',
      '    access: { viewers: ["*@{serverDomain}"], operators: ["alice@{serverDomain}"] }',
    ].join('\n'),
  );
  return dir;
}

async function upload(user: XmppUser, bytes: Buffer): Promise<string> {
  const reply = await user.iq(xml('iq', { type: 'get', to: 'upload.localhost' }, xml('request', { xmlns: NS_UPLOAD, filename: 'b.png', size: String(bytes.length), 'content-type': 'image/png' })));
  const slot = reply.getChild('slot', NS_UPLOAD);
  if (!slot) throw new Error(`no slot: ${String(reply)}`);
  const put = slot.getChild('put')!;
  const headers: Record<string, string> = { 'content-type': 'image/png' };
  for (const h of put.getChildren('header')) headers[String(h.attrs['name'])] = h.text();
  const res = await fetch(put.attrs['url'] as string, { method: 'PUT', body: bytes, headers });
  if (res.status !== 201) throw new Error(`PUT: HTTP ${res.status}`);
  return slot.getChild('get')!.attrs['url'] as string;
}

async function main(): Promise<void> {
  // The integration tests' harness starts the same real servers; it registers a mocha `after` hook at load, which
  // has nothing to do outside mocha.
  Object.assign(globalThis, { after: () => undefined });
  const { closeMqtt, isMessageFrom, jsonOf, mqttClient, nextMqttMessage, removeDir, startBridge, startTestServer } = await import('../test/integration/harness.js');
  const started = Date.now();
  log(`machine: ${JSON.stringify(await machineInfo())}`);
  const server = await startTestServer({ fileShare: { sizeLimit: LIMIT, dailyQuota: 100 * LIMIT * 100 } });
  const dir = files();
  const run = await startBridge({
    server,
    mappings: [join(dir, 'mappings')],
    schemas: [join(dir, 'schemas')],
    config: {
      log: { level: 'warn', file: join(dir, 'bridge.log') },
      media: { minIntervalSeconds: 0, maxBytes: 2 * LIMIT, dailyBytes: 1e12, uploadTimeoutSeconds: 60, fetch: { maxBytes: 2 * MIB, timeoutSeconds: 30 } },
      mqtt: { embedded: { maxPayloadBytes: 3 * LIMIT } },
      // One user sends every command here: the per-sender rate limit would measure itself.
      xmpp: { commandRate: { perMinute: 0 } },
    },
  });
  const clients: MqttClient[] = [];
  const lines: string[] = [];
  const out = (s: string): void => {
    lines.push(s);
    log(s);
  };
  try {
    const alice = await server.user('alice');
    const watcher = await mqttClient(run.mqttUrl, { clientId: 'watcher' });
    clients.push(watcher);
    await watcher.subscribeAsync(EVENT_TOPIC, { qos: 1 });
    const cams: MqttClient[] = [];
    for (let i = 0; i < 10; i++) {
      const c = await mqttClient(run.mqttUrl, { clientId: `cam-${i}` });
      clients.push(c);
      cams.push(c);
      await c.publishAsync(`cameras/${i}/snapshot`, jpeg(1000), { qos: 1 });
      await alice.follow(`cam-${i}@iot.localhost`);
    }

    // Snapshots: N cameras × K snapshots each, closed loop per camera.
    for (const [devices, size, perDevice] of [
      [1, 50 * KIB, 40],
      [10, 50 * KIB, 10],
      [1, MIB, 10],
      [10, MIB, 3],
    ] as const) {
      const total = devices * perDevice;
      let delivered = 0;
      let allDelivered: () => void = () => undefined;
      const done = new Promise<void>((resolve) => (allDelivered = resolve));
      const sizeOf = (m: Element): number | undefined => (jsonOf(m) as { size?: number } | undefined)?.size;
      const onStanza = (el: Element): void => {
        if (el.name === 'message' && sizeOf(el) === size && ++delivered === total) allDelivered();
      };
      alice.client.on('stanza', onStanza);
      const times: number[] = [];
      const t0 = performance.now();
      await Promise.all(
        cams.slice(0, devices).map(async (c, i) => {
          for (let k = 0; k < perDevice; k++) {
            const bytes = jpeg(size);
            const t = performance.now();
            await c.publishAsync(`cameras/${i}/snapshot`, bytes, { qos: 1 });
            times.push(performance.now() - t);
          }
        }),
      );
      const uploadedMs = performance.now() - t0;
      await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`${delivered}/${total} delivered`)), 120_000))]);
      const deliveredMs = performance.now() - t0;
      alice.client.off('stanza', onStanza);
      times.sort((a, b) => a - b);
      out(
        `snapshots ${devices} camera(s) × ${perDevice} of ${size / KIB} KiB: ${fmt((total / uploadedMs) * 1000, 1)}/s uploaded, ${fmt((total / deliveredMs) * 1000, 1)}/s delivered ` +
          `(${fmt(((total * size) / MIB / deliveredMs) * 1000, 1)} MiB/s); time per upload p50 ${fmt(pct(times, 50))} ms, p99 ${fmt(pct(times, 99))} ms`,
      );
    }

    // Largest accepted: the upload service's limit exactly, then one byte more.
    {
      const got = alice.waitFor(isMessageFrom('cam-0@iot.localhost', (m) => (jsonOf(m) as { size?: number } | undefined)?.size === LIMIT), 'the 10 MiB snapshot', 120_000);
      const t = performance.now();
      await cams[0]!.publishAsync('cameras/0/snapshot', jpeg(LIMIT), { qos: 1 });
      await got;
      out(`largest: ${LIMIT} bytes (the service's max-file-size) accepted and delivered in ${fmt(performance.now() - t)} ms`);
      const rejected = (async () => {
        for (;;) {
          const e = JSON.parse((await nextMqttMessage(watcher, EVENT_TOPIC, () => true, 60_000)).toString()) as { type: string; data: { code: string; message: string } };
          if (e.type === 'reading_rejected') return e.data;
        }
      })();
      await cams[0]!.publishAsync('cameras/0/snapshot', jpeg(LIMIT + 1), { qos: 1 });
      const e = await rejected;
      out(`above it: ${LIMIT + 1} bytes → ${e.code} (${e.message}), before any slot is asked for`);
    }

    // Command-file fetches.
    const displays: MqttClient[] = [];
    for (let i = 0; i < 4; i++) {
      const d = await mqttClient(run.mqttUrl, { clientId: `display-${i}` });
      clients.push(d);
      displays.push(d);
      d.setMaxListeners(0); // one waiter per command
      await d.subscribeAsync(`displays/${i}/image`, { qos: 1 });
      await d.publishAsync(`displays/${i}/status`, '{}', { qos: 1 });
    }
    await alice.iq(xml('iq', { type: 'get', to: 'display-3@iot.localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    for (const [size, perDevice, devices] of [
      [50 * KIB, 40, 1],
      [50 * KIB, 10, 4],
      [MIB, 10, 1],
    ] as const) {
      const bytes = png(size);
      const sha = createHash('sha256').update(bytes).digest('hex');
      const url = await upload(alice, bytes);
      const times: number[] = [];
      const refused = new Map<string, number>();
      const t0 = performance.now();
      await Promise.all(
        displays.slice(0, devices).map(async (d, i) => {
          for (let k = 0; k < perDevice; k++) {
            const got = nextMqttMessage(d, `displays/${i}/image`, () => true, 60_000);
            const t = performance.now();
            const reply = await alice.iq(
              xml('iq', { type: 'set', to: `display-${i}@iot.localhost` }, xml('command', { xmlns: NS_ADHOC, node: 'show', action: 'execute' }, xml('x', { xmlns: 'jabber:x:data', type: 'submit' }, xml('field', { var: 'image' }, xml('value', {}, url))))),
              60_000,
            );
            if (reply.attrs['type'] !== 'result') {
              const text = reply.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas') ?? String(reply);
              const key = text.replace(/\d+/g, 'N');
              refused.set(key, (refused.get(key) ?? 0) + 1);
              void got.catch(() => undefined);
              continue;
            }
            const payload = await got;
            times.push(performance.now() - t);
            if (createHash('sha256').update(payload).digest('hex') !== sha) throw new Error('the device received other bytes');
          }
        }),
      );
      const ms = performance.now() - t0;
      times.sort((a, b) => a - b);
      out(
        `fetches ${devices} display(s) × ${perDevice} of ${size / KIB} KiB: ${fmt((times.length / ms) * 1000, 1)}/s, time per command p50 ${fmt(pct(times, 50))} ms, p99 ${fmt(pct(times, 99))} ms` +
          [...refused].map(([text, n]) => `; ${n} refused: ${text}`).join(''),
      );
    }
    out(`(bench ran ${fmt((Date.now() - started) / 1000, 0)} s)`);
  } finally {
    await closeMqtt(...clients);
    await run.stop();
    await server.stop();
    removeDir(run.dir);
    removeDir(dir);
  }
  console.log(`\n${lines.join('\n')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
