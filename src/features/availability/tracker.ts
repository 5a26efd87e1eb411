/**
 * Device liveness from the MQTT side, per the mapping's `availability`:
 *   clientId   online while that MQTT client is connected (clean DISCONNECT and lost connections both end it);
 *   topics     online/offline payloads, including the Will the broker publishes when a device vanishes; several
 *              topics combine by the mapping's mode (all / any / latest, convert/availability.ts); a `sleeping`
 *              payload keeps the device available but asleep (presence `xa`);
 *   timeout    offline after that many seconds without any message from the device;
 *   (none)     online once the device has sent a valid reading.
 * Changes become `device_availability` events (presence turns them into stanzas).
 *
 * It follows the live mapping set: the availability topics of the mappings in force are watched, and the devices a
 * mapping change removes are forgotten.
 */
import { availabilityWord, classifyWord, combineAvailability, sparkplugWord, type AvailabilityState } from '../../convert/availability.js';
import type { Device } from '../../devices/device.js';
import { compileTemplate, payloadInput, renderTemplate } from '../../importers/template.js';
import type { Mapping } from '../../mapping/mapping.js';
import type { Route } from '../../mapping/router.js';
import { matchTopic } from '../../mapping/topic-pattern.js';
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';

export type AvailabilityReason = 'connected' | 'disconnected' | 'availability-topic' | 'reading' | 'timeout';

export class AvailabilityTracker implements Feature {
  readonly name = 'availability';
  private readonly timed = new Set<Device>();
  /** Devices with several availability topics (modes all/any): the last state each topic gave. */
  private readonly perTopic = new WeakMap<Device, (AvailabilityState | undefined)[]>();
  /** Watched availability filters and their users (mapping ids): one watch per filter. */
  private readonly watches = new Map<string, { users: Set<string>; unwatch: () => void }>();
  private readonly unsubscribe: (() => void)[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopped = true;

  constructor(private readonly k: Kernel) {}

  start(): void {
    const { bus } = this.k;
    this.stopped = false;
    this.unsubscribe.push(
      bus.on('client_connected', ({ clientId, side }) => this.clientConnected(clientId, side)),
      bus.on('client_disconnected', ({ clientId }) => this.clientDisconnected(clientId)),
      bus.on('reading', ({ reading }) => this.reading(reading.device)),
      bus.on('device_removed', ({ device }) => this.timed.delete(device)),
      bus.on('mappings_changed', () => this.followMappings()),
      bus.on('bridge_stopping', () => {
        this.stopped = true;
      }),
    );
    this.followMappings();
    // One sweep a second over devices with a timeout is cheaper than a timer per device.
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), 1000);
    this.sweepTimer.unref();
  }

  /** Stop tracking: devices disconnecting because the bridge shuts down are not news (presence says "bridge stopped"). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    for (const u of this.unsubscribe.splice(0)) u();
    for (const w of this.watches.values()) w.unwatch();
    this.watches.clear();
  }

  sweep(now: number): void {
    for (const d of this.timed) {
      const timeout = d.mapping.availability?.timeout ?? 0;
      if (d.online && timeout > 0 && now - d.lastSeen > timeout * 1000) {
        this.timed.delete(d);
        this.set(d, false, 'timeout');
      }
    }
  }

  /** Watch exactly the availability filters of the mappings in force. */
  private followMappings(): void {
    const wanted = new Map<string, Set<string>>();
    for (const m of this.k.mappings.all()) {
      for (const t of m.availability?.topics ?? []) {
        const f = t.topic.filter;
        let users = wanted.get(f);
        if (!users) wanted.set(f, (users = new Set()));
        users.add(m.id);
      }
    }
    for (const [filter, w] of this.watches) {
      if (wanted.has(filter)) continue;
      w.unwatch();
      this.watches.delete(filter);
    }
    for (const [filter, users] of wanted) {
      const w = this.watches.get(filter);
      if (w) w.users = users;
      // `once`: in a cluster, each availability message is acted on by one instance (kernel/mqtt-edge.ts).
      else this.watches.set(filter, { users, unwatch: this.k.mqtt.watch(filter, (topic, payload, side) => this.message(topic, payload, side.name), { once: true }) });
    }
    // A device whose mapping lost its timeout is no longer timed.
    for (const d of this.timed) if (!d.mapping.availability?.timeout) this.timed.delete(d);
  }

  private clientConnected(clientId: string, via: string): void {
    this.forClient(clientId, (d) => {
      d.via = via;
      this.set(d, true, 'connected');
    });
  }

  private clientDisconnected(clientId: string): void {
    this.forClient(clientId, (d) => this.set(d, false, 'disconnected'));
  }

  /** A message on an availability topic (Wills arrive here too); a topic several devices share is each one's. */
  private message(topic: string, payload: Buffer, via: string): void {
    for (const route of this.k.mappings.routeAvailabilityAll(topic)) this.messageFor(route, topic, payload, via);
  }

  private messageFor(route: Route<Mapping>, topic: string, payload: Buffer, via: string): void {
    const a = route.target.availability;
    if (!a) return;
    // Which of the mapping's topics this is (one, or a few for a device with several).
    const index = a.topics.findIndex((t) => matchTopic(t.topic, topic) !== undefined);
    const spec = a.topics[index];
    if (!spec) return;
    // A template reads the payload as sent (`{{ value_json.state }}`); without one, the word is unwrapped here.
    const word = spec.sparkplug
      ? sparkplugWord(topic, payload, spec.sparkplug.bdSeq, spec.online, spec.offline)
      : spec.template !== undefined
        ? payload.length <= 1024
          ? templateWord(spec.template, payload.toString('utf8'))
          : undefined
        : availabilityWord(payload);
    const state = word === undefined ? undefined : classifyWord(word, spec.online, spec.offline, a.sleeping);
    if (state === undefined) {
      this.k.log.debug({ topic }, 'unrecognized availability payload');
      return;
    }
    const device = this.k.registry.resolve(route.target, route.segments);
    if (!device.ok) {
      this.k.log.warn({ topic, code: device.error.code, err: device.error.message }, 'availability for a device that cannot be registered');
      return;
    }
    const d = device.value;
    d.lastSeen = Date.now();
    d.via = via;
    let combined = state;
    if (a.mode !== 'latest' && a.topics.length > 1) {
      let states = this.perTopic.get(d);
      if (!states || states.length !== a.topics.length) this.perTopic.set(d, (states = a.topics.map(() => undefined)));
      states[index] = state;
      combined = combineAvailability(a.mode, states);
    }
    this.set(d, combined !== 'offline', 'availability-topic', combined === 'asleep');
  }

  /** A valid reading arrived. */
  private reading(device: Device): void {
    const a = device.mapping.availability;
    if (a?.timeout) this.timed.add(device);
    // With an explicit source (connection or topic), readings do not override it.
    if (!a?.clientId && !a?.topics.length) this.set(device, true, 'reading');
  }

  private forClient(clientId: string, fn: (d: Device) => void): void {
    for (const { mapping, segments } of this.k.mappings.clientIdMatches(clientId)) {
      const device = this.k.registry.resolve(mapping, segments);
      if (device.ok) {
        device.value.lastSeen = Date.now();
        fn(device.value);
      } else {
        this.k.log.warn({ clientId, code: device.error.code, err: device.error.message }, 'client id does not form a device JID');
      }
    }
  }

  private set(device: Device, online: boolean, reason: AvailabilityReason, asleep = false): void {
    if (this.stopped) return;
    if (online && device.mapping.availability?.timeout) this.timed.add(device);
    const wasAsleep = device.asleep === true;
    if (this.k.cluster.enabled) {
      // Online or not, asleep or awake: once per change, whichever instance sees it first (kernel/cluster.ts); every
      // instance's copy follows. An observation that changes nothing is dropped there (in cluster mode a connection
      // is news even to a device already online: it may have moved here).
      this.k.cluster.changeAvailability(device, online, reason, () => this.k.bus.emit('device_availability', { device, reason }), asleep);
      return;
    }
    if (device.online === online && wasAsleep === (online && asleep)) return;
    device.online = online;
    device.asleep = online && asleep;
    this.k.bus.emit('device_availability', { device, reason });
  }
}

/** Compiled availability templates, by source (few distinct ones: bounded by the mappings in force). */
const templates = new Map<string, ReturnType<typeof compileTemplate>>();
const MAX_TEMPLATES = 1000;

/** The word a Home Assistant availability template makes of a payload (`{{ value_json.state }}`). */
function templateWord(source: string, text: string): string | undefined {
  let t = templates.get(source);
  if (!t) {
    if (templates.size >= MAX_TEMPLATES) templates.clear();
    templates.set(source, (t = compileTemplate(source)));
  }
  if (!t.ok) return undefined;
  const r = renderTemplate(t.value, payloadInput(text));
  return r.ok ? r.value : undefined;
}
