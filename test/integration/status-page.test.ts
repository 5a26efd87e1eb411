/**
 * The status page, its API and /metrics against a real Prosody and the real broker, driven by real clients: plain
 * HTTP (fetch) for the API, the Prometheus project's own parser (python3-prometheus-client) for /metrics, and headless
 * Chromium (Debian's, through playwright-core) for the page: login required for everything but health, the device
 * table, a reading published over MQTT appearing without a reload, a schema error on the device page, the preview.
 * Screenshots of the main views land in test-artifacts/.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM } from './browser.js';
import { closeMqtt, mqttClient, removeDir, ROOT, startBridge, startTestServer, type RunningBridge, type TestServer } from './harness.js';

const TOKEN = 'status-page-test-token-0123456789';
const ARTIFACTS = join(ROOT, 'test-artifacts');
const KITCHEN = 'home-kitchen@iot.localhost';


interface Family {
  type: string;
  help: string;
  samples: [string, Record<string, string>, number | null][];
}

/** /metrics parsed by prometheus_client.parser (an independent implementation of the text format). */
function parseMetrics(text: string): Record<string, Family> {
  const r = spawnSync('/usr/bin/python3', [join(ROOT, 'test/integration/python/parse_metrics.py')], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `the Prometheus parser refused the exposition: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, Family>;
}

function sample(families: Record<string, Family>, family: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = families[family];
  return f?.samples.find(([n, l]) => n === name && Object.entries(labels).every(([k, v]) => l[k] === v))?.[2] ?? undefined;
}

describe('status page', function () {
  let server: TestServer;
  let run: RunningBridge;
  let base: string;
  let device: MqttClient;
  let browser: Browser;
  let page: Page;

  const get = (path: string, headers: Record<string, string> = {}): Promise<Response> => fetch(`${base}${path}`, { headers });
  const bearer = { authorization: `Bearer ${TOKEN}` };

  before(async function () {
    server = await startTestServer();
    run = await startBridge({ server, config: { http: { enabled: true, port: 0, token: TOKEN }, operator: { jid: 'alice@localhost' } } });
    base = run.bridge.httpUrl!;
    device = await mqttClient(run.mqttUrl, { clientId: 'climate-home-kitchen' });
    await device.publishAsync('sensors/home/kitchen/telemetry', '{"temperature":21.5,"humidity":40}', { qos: 1 });
    await device.publishAsync('plugs/kettle/availability', 'online', { qos: 1, retain: true });
    await device.publishAsync('plugs/kettle/state', '{"state":"OFF","power":0}', { qos: 1 });
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  after(async function () {
    await page?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await closeMqtt(device);
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  describe('over HTTP', function () {
    it('listens on loopback and answers /healthz and /readyz without a login', async function () {
      assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await get('/healthz');
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'alive' });
      const ready = await get('/readyz');
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { status: 'ready', xmpp: true, broker: true, database: true });
    });

    it('answers everything else 401 without the token, and never takes it from the URL', async function () {
      for (const path of ['/api/overview', '/api/devices', `/api/devices/${KITCHEN}`, '/api/mappings', '/api/events', '/metrics', `/metrics?token=${TOKEN}`, '/api/session']) {
        const r = await get(path);
        assert.equal(r.status, 401, path);
        assert.equal((await r.json() as { code: string }).code, 'UNAUTHORIZED', path);
      }
      const post = await fetch(`${base}/api/devices/${KITCHEN}/remove`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(post.status, 401);
      assert.ok(run.bridge.registry.byJid(KITCHEN), 'nothing was removed');
      assert.equal((await get('/api/devices', { authorization: 'Bearer not-the-token' })).status, 401);
    });

    it('lists devices with their last reading in body text, and serves one device', async function () {
      const r = await get('/api/devices?q=kitchen', bearer);
      assert.equal(r.status, 200);
      const { total, rows } = (await r.json()) as { total: number; rows: { jid: string; state: string; lastReading: { body: string }; subscribers: unknown; mapping: string }[] };
      assert.equal(total, 1);
      assert.deepEqual([rows[0]!.jid, rows[0]!.mapping, rows[0]!.state, rows[0]!.lastReading.body, rows[0]!.subscribers], [KITCHEN, 'climate', 'online', '21.5 °C, 40 % RH', { total: 0, online: 0 }]);
      const one = (await (await get(`/api/devices/${encodeURIComponent(KITCHEN)}`, bearer)).json()) as { series: { field: string; points: unknown[] }[] };
      assert.deepEqual(one.series.map((s) => s.field), ['temperature', 'humidity']);
    });

    it('serves /metrics that the Prometheus parser reads, with the counters, gauges and histograms of the bridge', async function () {
      // Something to count in each family: a rejection and a refused command.
      await device.publishAsync('sensors/home/kitchen/telemetry', '{"temperature":"warm"}', { qos: 1 });
      const refused = await fetch(`${base}/api/devices/${encodeURIComponent('plug-kettle@iot.localhost')}/command`, {
        method: 'POST',
        headers: { ...bearer, 'content-type': 'application/json' },
        body: JSON.stringify({ command: 'set', payload: { state: 'MAYBE' } }),
      });
      assert.equal(refused.status, 400);
      assert.equal(((await refused.json()) as { code: string }).code, 'COMMAND_INVALID');
      const r = await get('/metrics', bearer);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const m = parseMetrics(await r.text());
      const P = 'mqtt_xmpp_bridge_';
      assert.equal(m[`${P}readings`]?.type, 'counter');
      assert.ok(sample(m, `${P}readings`, `${P}readings_total`, { mapping: 'climate' })! >= 1);
      assert.equal(sample(m, `${P}uplink_rejected`, `${P}uplink_rejected_total`, { code: 'PAYLOAD_INVALID' }), 1);
      assert.equal(sample(m, `${P}commands`, `${P}commands_total`, { outcome: 'COMMAND_INVALID' }), 1);
      assert.equal(sample(m, `${P}xmpp_connects`, `${P}xmpp_connects_total`), 1);
      assert.equal(sample(m, `${P}xmpp_reconnects`, `${P}xmpp_reconnects_total`), 0);
      assert.equal(m[`${P}broker_events`]?.type, 'counter');
      for (const g of ['devices_online', 'devices_known', 'outbox_depth', 'outbox_oldest_age_seconds', 'held_publishes', 'subscribers_online', 'xmpp_link_up']) {
        assert.equal(m[P + g]?.type, 'gauge', g);
      }
      assert.equal(sample(m, `${P}devices_known`, `${P}devices_known`), 2);
      assert.equal(sample(m, `${P}mqtt_clients_connected`, `${P}mqtt_clients_connected`, { broker: 'embedded' }), 1);
      assert.equal(m[`${P}uplink_latency_seconds`]?.type, 'histogram');
      assert.equal(m[`${P}command_round_trip_seconds`]?.type, 'histogram');
      assert.equal(sample(m, `${P}command_round_trip_seconds`, `${P}command_round_trip_seconds_count`, { outcome: 'COMMAND_INVALID' }), 1);
      assert.equal(m['process_cpu_seconds']?.type, 'counter', 'Node process metrics');
      // No device id in any label (bounded cardinality).
      for (const f of Object.values(m)) for (const [, labels] of f.samples) assert.ok(!Object.values(labels).some((v) => v.includes('kitchen')), JSON.stringify(labels));
    });
  });

  describe('in a browser', function () {
    before(async function () {
      browser = await chromium.launch(CHROMIUM);
      page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
      // A wait that fails names what it waited for, well within the test's own timeout.
      page.setDefaultTimeout(10_000);
    });

    it('asks for the token before showing anything', async function () {
      await page.goto(base);
      await page.waitForSelector('#login');
      assert.equal(await page.isVisible('#nav'), false);
      const blocked = await page.evaluate("fetch('/api/devices').then((r) => r.status)");
      assert.equal(blocked, 401);
      await page.fill('#token', 'wrong-token-wrong-token');
      await page.click('#login button[type=submit]');
      await page.locator('#login-error', { hasText: 'wrong token' }).waitFor();
      await page.screenshot({ path: join(ARTIFACTS, 'login.png') });
      await page.fill('#token', TOKEN);
      await page.click('#login button[type=submit]');
      await page.waitForSelector('#card-xmpp');
      assert.equal(await page.textContent('#card-xmpp .value'), 'online');
      await page.waitForSelector('#live.on');
      await page.screenshot({ path: join(ARTIFACTS, 'overview.png') });
    });

    it('shows the devices in a table, with their last reading', async function () {
      await page.goto(`${base}/#/devices`);
      await page.waitForSelector(`#devices tr[data-jid="${KITCHEN}"]`);
      const rows = await Promise.all(
        (await page.locator('#devices tbody tr').all()).map(async (tr) => [await tr.getAttribute('data-jid'), await tr.locator('.reading').textContent(), await tr.locator('[data-state]').textContent()]),
      );
      assert.deepEqual(rows, [
        [KITCHEN, '21.5 °C, 40 % RH', 'online'],
        ['plug-kettle@iot.localhost', 'OFF, 0.0 W', 'online'],
      ]);
      await page.fill('#search', 'kettle');
      await page.locator('#devices tbody tr').nth(1).waitFor({ state: 'detached' });
      assert.deepEqual(await Promise.all((await page.locator('#devices tbody tr').all()).map((tr) => tr.getAttribute('data-jid'))), ['plug-kettle@iot.localhost']);
      await page.fill('#search', '');
      await page.locator('#devices tbody tr').nth(1).waitFor();
    });

    it('shows a reading published over MQTT within a second, without reloading the page', async function () {
      await page.evaluate('window.notReloaded = true');
      const cell = `#devices tr[data-jid="${KITCHEN}"] .reading`;
      await device.publishAsync('sensors/home/kitchen/telemetry', '{"temperature":23.4,"humidity":41}', { qos: 1 });
      // The publish is acknowledged: from here the page has one second (live updates are flushed every 250 ms).
      await page.locator(cell, { hasText: '23.4 °C, 41 % RH' }).waitFor({ timeout: 1000 });
      assert.equal(await page.evaluate('window.notReloaded'), true, 'the same page, not a reload');
      await page.screenshot({ path: join(ARTIFACTS, 'devices.png') });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: join(ARTIFACTS, 'devices-phone.png') });
      await page.setViewportSize({ width: 1280, height: 860 });
    });

    it('shows an invalid payload\'s schema error on the device page, live', async function () {
      // A few more readings for the chart.
      for (const [temperature, humidity] of [[22.1, 44], [22.8, 43], [22.4, 47], [21.9, 49]]) {
        await device.publishAsync('sensors/home/kitchen/telemetry', JSON.stringify({ temperature, humidity }), { qos: 1 });
      }
      await page.goto(`${base}/#/device/${encodeURIComponent(KITCHEN)}`);
      await page.waitForSelector('#chart svg polyline[data-field="temperature"]');
      const before = await page.locator('#rejections li[data-code]').count();
      await device.publishAsync('sensors/home/kitchen/telemetry', '{"temperature":"hot","humidity":40}', { qos: 1 });
      await page.locator('#rejections li[data-code="PAYLOAD_INVALID"]').nth(before).waitFor({ timeout: 5000 });
      const errors = await page.locator('#rejections li[data-code]').first().locator('.schema-error').allTextContents();
      assert.deepEqual(errors, ['/temperature: must be number']);
      await page.screenshot({ path: join(ARTIFACTS, 'device.png'), fullPage: true });
    });

    it('previews a publish: the stanza for a valid payload, the errors for an invalid one, nothing sent', async function () {
      const readings = run.bridge.metrics.get('readings_total');
      await page.goto(`${base}/#/mappings`);
      await page.waitForSelector('#mappings tr[data-mapping="climate"]');
      await page.fill('#preview-topic', 'sensors/home/attic/telemetry');
      await page.fill('#preview-payload', '{"temperature":30.25,"humidity":20}');
      await page.click('#preview-run');
      const stanza = await page.waitForSelector('#preview-stanza');
      assert.equal(
        await stanza.textContent(),
        '<message from="home-attic@iot.localhost" to="watcher@localhost" type="chat" id="preview"><body>30.3 °C, 20 % RH</body><json xmlns="urn:xmpp:json:0">{"temperature":30.25,"humidity":20}</json></message>',
      );
      await page.screenshot({ path: join(ARTIFACTS, 'mappings.png'), fullPage: true });
      await page.fill('#preview-payload', '{"temperature":"cold"}');
      await page.click('#preview-run');
      await page.waitForSelector('#preview-errors');
      assert.equal(await page.textContent('#preview-code'), 'PAYLOAD_INVALID: payload does not match urn:mqtt-xmpp-bridge:example:climate: /temperature must be number');
      assert.equal(run.bridge.registry.byJid('home-attic@iot.localhost'), undefined, 'the preview registered nothing');
      assert.equal(run.bridge.metrics.get('readings_total'), readings, 'and counted nothing');
    });
  });

  // Last: it stops the XMPP server.
  describe('without the XMPP server', function () {
    it('answers /readyz 503 while the XMPP link is down', async function () {
      const offline = new Promise<void>((resolve) => run.bridge.link.once('offline', resolve));
      await server.stop();
      await offline;
      const r = await get('/readyz');
      assert.equal(r.status, 503);
      assert.deepEqual(await r.json(), { status: 'not ready', xmpp: false, broker: true, database: true });
    });
  });
});
