/**
 * The downlink load generator: a real XMPP client (its own process) sending command IQs open loop
 *
 *   <iq type='set' to='bench-dN@iot.localhost'><command xmlns='urn:mqtt-xmpp-bridge:command:0' name='set'>
 *     <json xmlns='urn:xmpp:json:0'>{"t":…,"s":…,"r":…}</json></command></iq>
 *
 * and timing each IQ's answer from the command's intended send time (round trip). The devices time the MQTT publish
 * they receive from the same `t`.
 *
 *   node dist/bench/commander.js   (IPC: start {…}, run {…}, collect, stop)
 */
import { randomBytes } from 'node:crypto';
import { client as xmppClient, type Client } from '@xmpp/client';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { encodeHistogram, histogram, lagMs, nowUs, pace, recordUs, serve } from './common.js';

let client: Client | undefined;
let write: ((s: string) => Promise<void>) | undefined;
let run = -1;
let sentAt = new Float64Array(0);
let answered = new Uint8Array(0);
let ok = 0;
let hist = histogram();
const errors: Record<string, number> = {};

function onStanza(el: Element): void {
  if (el.name !== 'iq') return;
  const id = el.attrs['id'] ?? '';
  const m = /^c(\d+)-(\d+)$/.exec(id);
  if (!m || Number(m[1]) !== run) return;
  const s = Number(m[2]);
  if (s >= answered.length || answered[s]) return;
  answered[s] = 1;
  if (el.attrs['type'] === 'result') {
    ok += 1;
    recordUs(hist, nowUs() - sentAt[s]!);
  } else {
    const cond = el.getChild('error')?.children.find((c): c is Element => typeof c !== 'string')?.name ?? 'unknown';
    errors[cond] = (errors[cond] ?? 0) + 1;
  }
}

interface RunArgs {
  readonly runId: number;
  readonly rate: number;
  readonly total: number;
  readonly startAtUs: number;
  readonly devices: number;
  readonly domain: string;
  readonly command: string;
}

function send(a: RunArgs): Promise<{ offered: number; sent: number; lagMaxMs: number }> {
  const w = write;
  if (!w) throw new Error('not connected');
  run = a.runId;
  sentAt = new Float64Array(a.total);
  answered = new Uint8Array(a.total);
  ok = 0;
  hist = histogram();
  for (const k of Object.keys(errors)) delete errors[k];
  return pace(a, (k, due) => {
    const t = Math.round(due);
    sentAt[k] = t;
    void w(
      `<iq type='set' to='bench-d${k % a.devices}@${a.domain}' id='c${a.runId}-${k}'><command xmlns='urn:mqtt-xmpp-bridge:command:0' name='${a.command}'><json xmlns='urn:xmpp:json:0'>{"t":${t},"s":${k},"r":${a.runId}}</json></command></iq>`,
    ).catch(() => undefined);
  }).then((p) => ({ offered: a.total, sent: a.total, lagMaxMs: lagMs(p.lagMaxUs) }));
}

serve({
  start: async (a: { service: string; domain: string; username: string; password: string }) => {
    const c = xmppClient({ service: a.service, domain: a.domain, username: a.username, password: a.password, resource: `cmd-${randomBytes(3).toString('hex')}` });
    c.on('error', () => undefined);
    c.reconnect.stop();
    c.on('stanza', onStanza);
    await c.start();
    await c.send(xml('presence'));
    client = c;
    const raw = c as unknown as { write(s: string): Promise<void> };
    write = (s) => raw.write(s);
    return true;
  },
  run: (a: RunArgs) => send(a),
  collect: () => ({ ok, errors: { ...errors }, hist: encodeHistogram(hist) }),
  stop: async () => {
    await client?.stop().catch(() => undefined);
    setImmediate(() => process.exit(0));
    return true;
  },
});
