/**
 * Device liveness from the MQTT side, per the mapping's `availability`:
 *   clientId   online while that MQTT client is connected (clean DISCONNECT and lost connections both end it);
 *   topic      online/offline payloads, including the Will the broker publishes when a device vanishes;
 *   timeout    offline after that many seconds without any message from the device;
 *   (none)     online once the device has sent a valid reading.
 * Changes are reported to `onChange`, which turns them into presence.
 */
import { availabilityOf } from '../convert/availability.js';
import type { Device } from '../devices/device.js';
import type { DeviceRegistry } from '../devices/registry.js';
import type { Logger } from '../log.js';
import type { Mapping } from '../mapping/mapping.js';
import type { TopicRouter } from '../mapping/router.js';
import { templateMatcher } from '../mapping/template.js';

export type AvailabilityReason = 'connected' | 'disconnected' | 'availability-topic' | 'reading' | 'timeout' | 'shutdown';

export class AvailabilityTracker {
  private readonly clientMatchers: { mapping: Mapping; match: (s: string) => Record<string, string> | undefined }[];
  private readonly timed: Set<Device> = new Set();
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    mappings: readonly Mapping[],
    private readonly router: TopicRouter<Mapping>,
    private readonly registry: DeviceRegistry,
    private readonly onChange: (device: Device, reason: AvailabilityReason) => void,
    private readonly log: Logger,
  ) {
    this.clientMatchers = mappings.flatMap((m) => (m.availability?.clientId ? [{ mapping: m, match: templateMatcher(m.availability.clientId) }] : []));
  }

  start(): void {
    // One sweep a second over devices with a timeout is cheaper than a timer per device.
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), 1000);
    this.sweepTimer.unref();
  }

  /** Stop tracking: devices disconnecting because the bridge shuts down are not news (presence says "bridge stopped"). */
  stop(): void {
    clearInterval(this.sweepTimer);
    this.stopped = true;
  }

  clientConnected(clientId: string, via: string): void {
    this.forClient(clientId, (d) => {
      d.via = via;
      this.set(d, true, 'connected');
    });
  }

  clientDisconnected(clientId: string): void {
    this.forClient(clientId, (d) => this.set(d, false, 'disconnected'));
  }

  /** A message on a watched topic (availability topics; Wills arrive here too). */
  message(topic: string, payload: Buffer, via: string): void {
    const route = this.router.route(topic);
    const a = route?.target.availability;
    if (!route || !a) return;
    const state = availabilityOf(payload, a.online, a.offline);
    if (state === undefined) {
      this.log.debug({ topic }, 'unrecognized availability payload');
      return;
    }
    const device = this.registry.resolve(route.target, route.segments);
    if (!device.ok) {
      this.log.warn({ topic, code: device.error.code, err: device.error.message }, 'availability for a device that cannot be registered');
      return;
    }
    device.value.lastSeen = Date.now();
    device.value.via = via;
    this.set(device.value, state, 'availability-topic');
  }

  /** A valid reading arrived. */
  reading(device: Device): void {
    const a = device.mapping.availability;
    if (a?.timeout) this.timed.add(device);
    // With an explicit source (connection or topic), readings do not override it.
    if (!a?.clientId && !a?.topic) this.set(device, true, 'reading');
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

  private forClient(clientId: string, fn: (d: Device) => void): void {
    for (const { mapping, match } of this.clientMatchers) {
      const segments = match(clientId);
      if (!segments) continue;
      const device = this.registry.resolve(mapping, segments);
      if (device.ok) {
        device.value.lastSeen = Date.now();
        fn(device.value);
      } else {
        this.log.warn({ clientId, code: device.error.code, err: device.error.message }, 'client id does not form a device JID');
      }
    }
  }

  private set(device: Device, online: boolean, reason: AvailabilityReason): void {
    if (this.stopped) return;
    if (online && device.mapping.availability?.timeout) this.timed.add(device);
    if (device.online === online) return;
    device.online = online;
    this.onChange(device, reason);
  }
}
