/**
 * Imports pending approval on the status page, in Debian's Chromium, against the bridge with a real Prosody: two
 * ESPHome-style nodes announce themselves through Home Assistant discovery with `mode: approve`; the operator sees both
 * on the Imports view, approves one (it appears in disco, with presence) and blocks the other (it stays out).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startEsphomeNode, type EsphomeNode } from '../../src/demo/esphome-sim.js';
import { CHROMIUM } from './browser.js';
import { isPresenceFrom, removeDir, ROOT, startBridge, startTestServer, type RunningBridge, type TestServer, type XmppUser } from './harness.js';
import { discoItems, nextEvent } from './import-helpers.js';

const TOKEN = 'status-page-imports-token-0123456789';
const KITCHEN = '240ac4a1b2c3@iot.localhost';
const GARAGE = '240ac4a1b2c4@iot.localhost';

describe('status page: imports pending approval', function () {
  this.timeout(60_000);
  let server: TestServer;
  let run: RunningBridge;
  let alice: XmppUser;
  let kitchen: EsphomeNode | undefined;
  let garage: EsphomeNode | undefined;
  let browser: Browser | undefined;
  let page: Page;

  before(async function () {
    server = await startTestServer();
    run = await startBridge({
      server,
      config: { http: { enabled: true, port: 0, token: TOKEN }, import: { homeassistant: { mode: 'approve', access: { viewers: ['*@localhost'] } } } },
    });
    alice = await server.user('alice');
    const pending = Promise.all([nextEvent(run, 'import_pending', (e) => e.jid === KITCHEN), nextEvent(run, 'import_pending', (e) => e.jid === GARAGE)]);
    kitchen = await startEsphomeNode(run.mqttUrl);
    garage = await startEsphomeNode(run.mqttUrl, { node: 'garage', name: 'Garage', mac: '240ac4a1b2c4' });
    await pending;
    browser = await chromium.launch(CHROMIUM);
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.setDefaultTimeout(10_000);
    await page.goto(run.bridge.httpUrl!);
    await page.fill('#token', TOKEN);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#card-xmpp');
  });

  after(async function () {
    await browser?.close().catch(() => undefined);
    await kitchen?.stop();
    await garage?.stop();
    await run?.stop();
    await server?.stop();
    if (run) removeDir(run.dir);
  });

  it('lists the waiting devices with their source, id and model', async function () {
    await page.goto(`${run.bridge.httpUrl!}/#/imports`);
    await page.waitForSelector('#imports li[data-id="240ac4a1b2c4"]');
    const rows = await Promise.all((await page.locator('#imports li').all()).map(async (li) => [await li.getAttribute('data-id'), (await li.textContent())!.replace(/\s+/g, ' ').trim()]));
    assert.deepEqual(rows.sort(), [
      ['240ac4a1b2c3', 'Kitchen homeassistant 240ac4a1b2c3 (esp32dev) Approve Block'],
      ['240ac4a1b2c4', 'Garage homeassistant 240ac4a1b2c4 (esp32dev) Approve Block'],
    ]);
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'imports.png') });
  });

  it('approves one: it leaves the list and appears to users, with presence', async function () {
    assert.equal((await discoItems(alice)).has(KITCHEN), false);
    const added = nextEvent(run, 'import_added', (e) => e.jid === KITCHEN);
    await page.click('#imports li[data-id="240ac4a1b2c3"] button:has-text("Approve")');
    await added;
    await page.locator('#imports li[data-id="240ac4a1b2c3"]').waitFor({ state: 'detached' });
    assert.equal((await discoItems(alice)).get(KITCHEN), 'Kitchen');
    const online = alice.waitFor(isPresenceFrom(KITCHEN, undefined), 'the node online');
    assert.equal((await alice.subscribe(KITCHEN)).attrs['type'], 'subscribed');
    await online;
  });

  it('blocks the other: it leaves the list and stays invisible', async function () {
    const decided = nextEvent(run, 'import_decided', (e) => e.hardwareId === '240ac4a1b2c4' && e.status === 'blocked');
    await page.click('#imports li[data-id="240ac4a1b2c4"] button:has-text("Block")');
    await decided;
    await page.locator('#imports-status', { hasText: 'None pending.' }).waitFor();
    assert.equal((await discoItems(alice)).has(GARAGE), false);
    assert.equal((await alice.subscribe(GARAGE)).attrs['type'], 'unsubscribed');
  });
});
