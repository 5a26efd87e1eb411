/**
 * The cluster feature (cluster mode, docs/SCALING.md): what one instance does so that several, on one component
 * domain of ejabberd, act as one bridge.
 *
 *   IQ forwarding   an IQ response for another instance's request, or the next step of an XEP-0050 session another
 *                   instance holds, is sent to that instance over its Redis inbox and handled there as if it had
 *                   arrived on its own stream (the server hands the domain's stanzas to any connection). If that
 *                   instance is gone, a request is answered here (an unknown session: `bad-sessionid`).
 *   shared state    devices another instance registered are adopted into the registry; last-seen times of devices
 *                   with an availability timeout are exchanged once a second (each instance hears only its share of
 *                   the readings); availability follows the shared state (coordinator.ts).
 *   membership      an instance whose heartbeat stops is lost: one survivor takes over — the devices whose MQTT
 *                   connection it held go offline (unless they reconnected elsewhere), and its broker session on an
 *                   existing broker is drained (what the broker queued or had in flight for it is delivered here).
 *   the server      on the first connection, the XMPP server is asked what it is: Prosody (one connection per
 *                   component domain) is refused with the reason (server-check.ts).
 *
 * Not here: the QoS 1 outbox, which stays in the SQLite database of the instance that acknowledged its readings —
 * a lost instance's outbox is delivered when it is restarted with its data directory.
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import type { Device } from '../../devices/device.js';
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { FatalRefusal } from '../../kernel/xmpp-link.js';
import type { DeviceRow } from '../../kernel/stores.js';
import type { InboxMessage } from '../../store/redis/messages.js';
import type { SharedState } from '../../store/redis/state.js';
import type { ClusterCoordinator } from './coordinator.js';
import { isIqRequest, iqOwner } from './ownership.js';
import { clusterRefusal, serverInfoRequest, serverName } from './server-check.js';

/** How often heard-from times are exchanged. */
const SEEN_FLUSH_MS = 1000;
const SERVER_CHECK_TIMEOUT_MS = 10_000;

class ClusterRefusal extends Error implements FatalRefusal {
  readonly condition = 'cluster-unsupported';
}

export class ClusterFeature implements Feature {
  readonly name = 'cluster';
  /** Started after, and stopped before, the features whose state it keeps in step. */
  readonly needs = ['xmpp-link', 'presence', 'uplink', 'availability', 'commands'];
  private readonly me: string;
  private readonly unsubscribe: (() => void)[] = [];
  private seen = new Map<string, number>();
  private seenTimer: NodeJS.Timeout | undefined;
  private checked = false;
  private readonly takingOver = new Set<string>();

  constructor(
    private readonly k: Kernel,
    private readonly shared: SharedState,
    private readonly coordinator: ClusterCoordinator,
    private readonly onFatal: (err: FatalRefusal) => void,
  ) {
    this.me = shared.instance;
    k.xmpp.divert((stanza) => this.divert(stanza));
  }

  start(): void {
    const { bus, xmpp } = this.k;
    const shared = this.shared;
    const onInbox = (m: InboxMessage): void => this.inbox(m);
    const onDevice = (row: DeviceRow): void => this.adopt(row);
    const onSeen = (at: Readonly<Record<string, number>>): void => this.merge(at);
    const onMembers = (m: { alive: readonly string[]; lost: readonly string[] }): void => this.members(m.alive, m.lost);
    const onResynced = (): void => {
      for (const row of shared.devices.all()) this.adopt(row);
      this.coordinator.syncOnline();
    };
    const onOnline = (): void => void this.checkServer();
    shared.on('inbox', onInbox);
    shared.on('device', onDevice);
    shared.on('seen', onSeen);
    shared.on('members', onMembers);
    shared.on('resynced', onResynced);
    xmpp.on('online', onOnline);
    this.unsubscribe.push(
      () => shared.off('inbox', onInbox),
      () => shared.off('device', onDevice),
      () => shared.off('seen', onSeen),
      () => shared.off('members', onMembers),
      () => shared.off('resynced', onResynced),
      () => xmpp.off('online', onOnline),
      bus.on('reading', ({ reading }) => {
        if (reading.device.mapping.availability?.timeout) this.seen.set(reading.device.jid, reading.receivedAt);
      }),
      bus.on('mappings_changed', () => {
        for (const row of shared.devices.all()) this.adopt(row);
        this.coordinator.syncOnline();
      }),
    );
    for (const row of shared.devices.all()) this.adopt(row);
    this.coordinator.syncOnline();
    this.releaseOwn();
    this.seenTimer = setInterval(() => this.flushSeen(), SEEN_FLUSH_MS);
    this.seenTimer.unref();
    if (xmpp.online) void this.checkServer();
  }

  stop(): void {
    clearInterval(this.seenTimer);
    this.flushSeen();
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** An IQ that belongs to another instance is sent there (kernel/xmpp-link.ts#divert); true when taken. */
  private divert(stanza: Element): boolean {
    const owner = iqOwner(stanza);
    if (owner === undefined || owner === this.me) return false;
    const { metrics, log, xmpp } = this.k;
    const handleHere = (why: string): void => {
      if (isIqRequest(stanza)) {
        xmpp.handleForwarded(stanza);
        return;
      }
      metrics.inc('cluster_iq_dropped_total');
      log.debug({ owner, id: stanza.attrs['id'], why }, 'IQ response for an instance that is gone; dropped');
    };
    this.shared.send(owner, { k: 'stanza', xml: stanza.toString() }).then(
      (taken) => {
        if (taken) metrics.inc('cluster_iq_forwarded_total');
        else handleHere('nobody listening');
      },
      (err: unknown) => handleHere((err as Error).message),
    );
    return true;
  }

  private inbox(m: InboxMessage): void {
    if (m.k === 'answer') {
      this.k.bus.emit('command_answer_forwarded', { row: m.row, outcome: m.outcome });
      return;
    }
    const stanza = parseStanza(m.xml);
    if (!stanza) {
      this.k.log.warn({ from: m.i }, 'forwarded stanza is not XML; dropped');
      return;
    }
    this.k.xmpp.handleForwarded(stanza);
  }

  /** A device another instance registered. */
  private adopt(row: DeviceRow): void {
    const { registry, mappings } = this.k;
    if (registry.byJid(row.jid)) return;
    const mapping = mappings.get(row.mappingId);
    const device = mapping ? registry.adopt(mapping, row) : undefined;
    if (device) this.coordinator.sync(device);
  }

  private merge(at: Readonly<Record<string, number>>): void {
    for (const [jid, t] of Object.entries(at)) {
      const d = this.k.registry.byJid(jid);
      if (d && typeof t === 'number' && t > d.lastSeen) d.lastSeen = t;
    }
  }

  private flushSeen(): void {
    if (this.seen.size === 0) return;
    const at = Object.fromEntries(this.seen);
    this.seen = new Map();
    this.shared.announceSeen(at);
  }

  /** Devices whose connection this instance held before it (re)started are no longer connected here. */
  private releaseOwn(): void {
    this.release(this.me);
  }

  /** The devices an instance held go offline — those that reconnected elsewhere are held there and stay online. */
  private release(instance: string): number {
    let n = 0;
    for (const jid of this.shared.availability.heldBy(instance)) {
      const device: Device | undefined = this.k.registry.byJid(jid);
      if (!device) continue;
      n += 1;
      this.shared.availability.change(device, false, 'disconnected', () => this.k.bus.emit('device_availability', { device, reason: 'disconnected' }), instance);
    }
    return n;
  }

  private members(alive: readonly string[], lost: readonly string[]): void {
    this.k.bus.emit('cluster_members', { instances: [...alive] });
    for (const instance of lost) if (!this.takingOver.has(instance)) void this.takeOver(instance);
  }

  /** One survivor takes over what a lost instance held. */
  private async takeOver(instance: string): Promise<void> {
    this.takingOver.add(instance);
    try {
      if (!(await this.shared.claimTakeover(instance))) return;
      const devices = this.release(instance);
      const readings = await this.k.mqtt.takeOver(instance, async () => !(await this.shared.isAlive(instance)));
      await this.shared.forget(instance);
      this.k.bus.emit('cluster_member_lost', { instance, devices, readings });
    } catch (err) {
      this.k.log.error({ instance, err: (err as Error).message }, 'taking over a lost instance failed; another survivor will try');
      await this.shared.releaseTakeover(instance).catch(() => undefined);
    } finally {
      this.takingOver.delete(instance);
    }
  }

  /** What the XMPP server is: a Prosody cannot carry a cluster (server-check.ts). */
  private async checkServer(): Promise<void> {
    if (this.checked) return;
    this.checked = true;
    const { config, xmpp, log } = this.k;
    let name: string | undefined;
    try {
      name = serverName(await xmpp.request(serverInfoRequest(config.xmpp.serverDomain, config.xmpp.domain), SERVER_CHECK_TIMEOUT_MS));
    } catch (err) {
      log.info({ serverDomain: config.xmpp.serverDomain, err: (err as Error).message }, 'the XMPP server did not say what it is');
      return;
    }
    log.info({ server: name ?? 'unnamed' }, 'XMPP server');
    const refusal = clusterRefusal(name, config.xmpp.serverDomain, config.xmpp.domain);
    if (refusal) {
      log.fatal({ server: name }, refusal);
      this.onFatal(new ClusterRefusal(refusal));
    }
  }
}

/** One stanza from its XML text (a forwarded one). */
export function parseStanza(text: string): Element | undefined {
  const parser = new xml.Parser();
  let out: Element | undefined;
  let failed = false;
  parser.on('element', (el) => {
    out ??= el;
  });
  parser.on('error', () => {
    failed = true;
  });
  try {
    parser.write(`<forwarded>${text}</forwarded>`);
  } catch {
    return undefined;
  }
  return failed ? undefined : out;
}
