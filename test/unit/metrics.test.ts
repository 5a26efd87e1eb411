/**
 * The bridge's metrics on prom-client: the small API the code uses (inc/get/observe/gauge), the text exposition with
 * process metrics, bounded label cardinality, and what the core measures — readings by mapping, uplink latency,
 * command round trip, reconnects, connected clients, outbox depth.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import { MAX_LABEL_VALUES, Metrics } from '../../src/observe/metrics.js';
import { startTestBridge, type TestBridge } from '../support/test-bridge.js';

/** `name{labels} value` lines of the exposition, as a map. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('metrics', () => {
  it('counts with and without labels, sums over labels, and exposes them with help and type', async () => {
    const m = new Metrics();
    m.inc('uplink_rejected_total', 'PAYLOAD_INVALID');
    m.inc('uplink_rejected_total', 'PAYLOAD_INVALID');
    m.inc('uplink_rejected_total', 'PAYLOAD_NOT_JSON', 3);
    m.inc('readings_delivered_total');
    assert.equal(m.get('uplink_rejected_total', 'PAYLOAD_INVALID'), 2);
    assert.equal(m.get('uplink_rejected_total'), 5);
    assert.equal(m.get('nothing_total'), 0);
    const { contentType, body } = await m.text();
    assert.match(contentType, /^text\/plain; version=0\.0\.4/);
    assert.match(body, /^# HELP mqtt_xmpp_bridge_uplink_rejected_total Device publishes refused by the uplink/m);
    assert.match(body, /^# TYPE mqtt_xmpp_bridge_uplink_rejected_total counter$/m);
    const s = samples(body);
    assert.equal(s.get('mqtt_xmpp_bridge_uplink_rejected_total{code="PAYLOAD_INVALID"}'), 2);
    assert.equal(s.get('mqtt_xmpp_bridge_uplink_rejected_total{code="PAYLOAD_NOT_JSON"}'), 3);
    assert.equal(s.get('mqtt_xmpp_bridge_readings_delivered_total'), 1);
    assert.equal(s.get('mqtt_xmpp_bridge_barrier_timeouts_total'), 0, 'declared counters start at 0');
    assert.ok(s.has('process_cpu_user_seconds_total'), 'Node process metrics');
    assert.ok([...s.keys()].some((k) => k.startsWith('nodejs_eventloop_lag_seconds')));
  });

  it('keeps at most MAX_LABEL_VALUES label values per metric; the rest count as "other"', async () => {
    const m = new Metrics();
    for (let i = 0; i < MAX_LABEL_VALUES + 50; i++) m.inc('uplink_rejected_total', `CODE_${i}`);
    const s = samples((await m.text()).body);
    const series = [...s.keys()].filter((k) => k.startsWith('mqtt_xmpp_bridge_uplink_rejected_total{'));
    assert.equal(series.length, MAX_LABEL_VALUES + 1);
    assert.equal(s.get('mqtt_xmpp_bridge_uplink_rejected_total{code="other"}'), 50);
  });

  it('reads gauges when scraped, adding up several readers, and records histograms', async () => {
    const m = new Metrics();
    let depth = 3;
    m.gauge('outbox_depth', () => depth);
    m.gauge('mqtt_clients_connected', () => new Map([['embedded', 2]]));
    m.gauge('mqtt_clients_connected', () => new Map([['embedded', 1], ['external', 4]]));
    m.observe('uplink_latency_seconds', 0.004);
    m.observe('uplink_latency_seconds', 0.2);
    depth = 5;
    const s = samples((await m.text()).body);
    assert.equal(s.get('mqtt_xmpp_bridge_outbox_depth'), 5);
    assert.equal(s.get('mqtt_xmpp_bridge_mqtt_clients_connected{broker="embedded"}'), 3);
    assert.equal(s.get('mqtt_xmpp_bridge_mqtt_clients_connected{broker="external"}'), 4);
    assert.equal(s.get('mqtt_xmpp_bridge_uplink_latency_seconds_count'), 2);
    assert.equal(s.get('mqtt_xmpp_bridge_uplink_latency_seconds_bucket{le="0.005"}'), 1);
    assert.equal(s.get('mqtt_xmpp_bridge_uplink_latency_seconds_bucket{le="0.25"}'), 2);
    assert.equal(m.read('outbox_depth'), 5);
    assert.equal(m.read('mqtt_clients_connected'), 7, 'a labelled gauge reads as the sum over its labels');
    assert.equal(m.read('qos0_buffered'), 0, 'a gauge nobody reports');
  });

  describe('in the core', () => {
    let t: TestBridge;
    afterEach(() => t?.stop());

    it('measures readings by mapping, uplink latency, reconnects, connected clients and devices', async () => {
      t = await startTestBridge({ config: { delivery: { barrierIntervalMs: 5 } } });
      t.link.down();
      t.link.up();
      t.side.connect('climate-home-kitchen'); // the device exists (its client id names it)
      await t.link.inject(xml('presence', { to: 'home-kitchen@iot.example.org', from: 'alice@example.org/phone', type: 'subscribe' }));
      // Readings go to followers who are online: her client tells the device she is.
      await t.link.inject(xml('presence', { to: 'home-kitchen@iot.example.org', from: 'alice@example.org/phone' }));
      const written = t.link.next((el) => el.name === 'message' && el.attrs['to'] === 'alice@example.org', 'the reading');
      await t.side.device('sensors/home/kitchen/telemetry', '{"temperature":1}', { clientId: 'climate-home-kitchen' });
      await written;
      // Within the shipped climate mapping's minInterval: counted, held by the change policy, not written.
      await t.side.device('sensors/home/kitchen/telemetry', '{"temperature":2}', { clientId: 'climate-home-kitchen' });
      const s = samples((await t.bridge.metrics.text()).body);
      assert.equal(s.get('mqtt_xmpp_bridge_readings_total{mapping="climate"}'), 2);
      assert.equal(s.get('mqtt_xmpp_bridge_uplink_latency_seconds_count'), 1, 'one reading had a recipient and was written');
      assert.equal(s.get('mqtt_xmpp_bridge_readings_held_total{reason="min_interval"}'), 1, 'the other was held');
      assert.equal(s.get('mqtt_xmpp_bridge_xmpp_connects_total'), 2);
      assert.equal(s.get('mqtt_xmpp_bridge_xmpp_reconnects_total'), 1);
      assert.equal(s.get('mqtt_xmpp_bridge_mqtt_clients_connected{broker="embedded"}'), 1);
      assert.equal(s.get('mqtt_xmpp_bridge_devices_known'), 1);
      assert.equal(s.get('mqtt_xmpp_bridge_devices_online'), 1);
      assert.equal(s.get('mqtt_xmpp_bridge_subscriptions'), 1);
      assert.equal(s.get('mqtt_xmpp_bridge_xmpp_link_up'), 1);
      assert.equal(s.get('mqtt_xmpp_bridge_mappings{origin="file"}'), 3);
      t.side.disconnect('climate-home-kitchen');
      assert.equal(samples((await t.bridge.metrics.text()).body).get('mqtt_xmpp_bridge_mqtt_clients_connected{broker="embedded"}'), 0);
    });

    it('measures the command round trip by outcome', async () => {
      t = await startTestBridge();
      await t.side.device('plugs/kettle/availability', 'online');
      const answered = t.link.next((el) => el.name === 'message' && el.attrs['to'] === 'alice@example.org/phone', 'the answer');
      await t.link.inject(
        xml('message', { to: 'plug-kettle@iot.example.org', from: 'alice@example.org/phone', type: 'chat', id: 'c1' }, xml('body', {}, 'set state=maybe')),
      );
      await answered;
      const s = samples((await t.bridge.metrics.text()).body);
      assert.equal(s.get('mqtt_xmpp_bridge_commands_total{outcome="COMMAND_INVALID"}'), 1);
      assert.equal(s.get('mqtt_xmpp_bridge_command_round_trip_seconds_count{outcome="COMMAND_INVALID"}'), 1);
    });
  });
});
