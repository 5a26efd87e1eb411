/**
 * Composition root: builds the kernel (kernel/kernel.ts) and the list of features, and runs them.
 *
 *   kernel    stores (SQLite) → event bus → registry → live mapping set (the loaded mappings applied) → access
 *             policy → the edges (embedded and/or external broker, XMPP component link — or the ones a test passes)
 *             → stanza router
 *   start     features in dependency order (kernel/feature.ts):
 *               metrics → reports → xmpp-link (connects in the background) → presence → uplink → availability →
 *               commands → disco → pubsub → vcard → audit → import (approved devices restored, discovery watched) →
 *               mqtt-listeners (devices may connect) → bridge-topics (state `online`) → reload → operations → requests
 *               (<base>/bridge/request/#) → http (status page, /metrics; when enabled)
 *   stop      `bridge_stopping` (availability stops tracking: disconnects are not news; reports flush what they
 *             counted), then the reverse order:
 *               http → requests → operations → reload → bridge-topics (state `offline`) → mqtt-listeners (no new
 *               readings) → import → audit (flushed) →
 *               vcard → pubsub → disco → commands (queue sweep) → availability → uplink (what was accepted is committed and, if
 *               possible, confirmed) → presence (unavailable for every online device) → xmpp-link (the stream
 *               closes) → reports → metrics
 *             then last-seen times are flushed and the database closes.
 *
 * To add a feature: a class implementing Feature (constructor takes the kernel; register stanza handlers and disco
 * contributions there; subscribe to events in start(), release in stop()), named in `needs` by whatever must come
 * after it, and one line in `features()` below.
 */
import { join } from 'node:path';
import { MediaFiles } from './store/media-files.js';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { AccessControl } from './broker/access.js';
import { EmbeddedBroker } from './broker/embedded.js';
import { ExternalBroker } from './broker/external.js';
import type { Addresses, MqttSide } from './broker/mqtt-side.js';
import { DeviceRegistry } from './devices/registry.js';
import { formatProblem } from './errors.js';
import { AvailabilityTracker } from './features/availability/tracker.js';
import { CommandsFeature } from './features/commands/feature.js';
import { DiscoFeature } from './features/disco/feature.js';
import { AuditFeature } from './features/observe/audit.js';
import { BridgeTopicsFeature } from './features/observe/bridge-topics.js';
import { MetricsFeature } from './features/observe/metrics.js';
import { ReportsFeature } from './features/observe/reports.js';
import { PresenceService } from './features/presence/presence.js';
import { PubsubFeature } from './features/pubsub/pubsub.js';
import { VcardFeature } from './features/vcard/vcard.js';
import { ReloadFeature, type ReloadOutcome } from './features/reload/reload.js';
import { HttpFeature } from './features/http/feature.js';
import { OperationsFeature } from './features/operations/feature.js';
import { RequestsFeature } from './features/requests/feature.js';
import type { Delivery } from './features/uplink/delivery.js';
import { UplinkFeature } from './features/uplink/feature.js';
import { AccessPolicy } from './kernel/access-policy.js';
import { DiscoRegistry } from './kernel/disco-registry.js';
import { MqttListenersFeature, XmppLinkFeature } from './kernel/edges.js';
import { EventBus, isBrokerEvent } from './kernel/events.js';
import { ImportFeature } from './features/import/feature.js';
import { FeatureRunner, type Feature } from './kernel/feature.js';
import type { Kernel } from './kernel/kernel.js';
import { MappingSet } from './kernel/mapping-set.js';
import { MqttEdge } from './kernel/mqtt-edge.js';
import { Operations } from './kernel/operations.js';
import { StanzaRouter } from './kernel/stanza-router.js';
import { UserPresence } from './kernel/user-presence.js';
import type { FatalRefusal, XmppLink } from './kernel/xmpp-link.js';
import type { BridgeSetup } from './load.js';
import type { Logger } from './log.js';
import { Metrics } from './observe/metrics.js';
import { AuditLog } from './store/audit.js';
import { SqliteCommandQueue } from './store/command-queue.js';
import { CredentialStore } from './store/credentials.js';
import { instanceId, openDatabase, probeWritable, type Db } from './store/db.js';
import { WalCheckpoints } from './store/wal-checkpoints.js';
import { ReportThrottle } from './observe/report-throttle.js';
import { SqliteDeviceStore } from './store/devices.js';
import { SqliteImportStore } from './store/imports.js';
import { Outbox } from './store/outbox.js';
import { SqliteSubscriptions } from './store/subscriptions.js';
import { SqliteLatestReadings } from './store/latest.js';
import { SqlitePresenceRequests } from './store/presence-requests.js';
import { SqlitePubsubSubscriptions } from './store/pubsub.js';
import { ComponentLink } from './xmpp/component.js';
import { ClusterCoordinator } from './features/cluster/coordinator.js';
import { ClusterFeature } from './features/cluster/feature.js';
import { CONFLICT_HINT } from './features/cluster/server-check.js';
import { SINGLE_INSTANCE } from './kernel/cluster.js';
import type { DeviceStore } from './kernel/stores.js';
import { requestIdPrefix } from './kernel/xmpp-link.js';
import { redisBrokerBackend } from './store/redis/broker-backend.js';
import { SharedState } from './store/redis/state.js';

const MAX_DEVICES = 100_000;

/** The edges to use instead of the real ones (tests: an in-memory component link, brokers over in-memory streams). */
export interface EdgeOverrides {
  readonly link?: XmppLink;
  readonly sides?: (kernel: Pick<Kernel, 'mappings' | 'registry' | 'log'>) => MqttSide[];
  /** The embedded broker without listeners: connections only through `EmbeddedBroker.accept` (in-memory streams). */
  readonly listen?: false;
}

/** What Bridge.open prepares before the bridge is built: the database, and in cluster mode the shared state. */
interface Prepared {
  readonly db: Db;
  readonly shared: SharedState | undefined;
}

interface BridgeEvents {
  fatal: [FatalRefusal];
}

export class Bridge extends EventEmitter<BridgeEvents> {
  readonly kernel: Kernel;
  private readonly db: Db;
  /** WAL checkpoints in a worker thread, so that the outbox's commits seldom stall the event loop (store/wal-checkpoints.ts). */
  private readonly checkpoints: WalCheckpoints;
  private readonly audit: AuditLog;
  private readonly runner: FeatureRunner;
  private readonly uplink: UplinkFeature;
  private readonly reloader: ReloadFeature;
  private readonly http: HttpFeature | undefined;
  private readonly firstOnline: Promise<void>;
  private readonly shared: SharedState | undefined;
  private readonly coordinator: ClusterCoordinator | undefined;
  private stopping = false;

  /**
   * The bridge, ready to start. In cluster mode its shared state is opened first (Redis: joining the cluster, loading
   * the devices, subscriptions, held commands and availability every instance shares).
   */
  static async open(setup: BridgeSetup, log: Logger, edges: EdgeOverrides = {}): Promise<Bridge> {
    const db = openDatabase(setup.config.dataDir);
    try {
      const cluster = setup.config.cluster;
      const shared = cluster.enabled ? await SharedState.open(cluster, instanceId(db), log.child({ part: 'cluster' })) : undefined;
      return new Bridge(setup, log, edges, { db, shared });
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** A single-instance bridge (cluster mode needs Bridge.open). */
  constructor(setup: BridgeSetup, log: Logger, edges: EdgeOverrides = {}, prepared?: Prepared) {
    super();
    const { config } = setup;
    if (config.cluster.enabled && !prepared?.shared) throw new Error('cluster mode: open the bridge with Bridge.open()');
    this.db = prepared?.db ?? openDatabase(config.dataDir);
    // A checkpoint that fails (a full disk) fails again every 100 ms: one line per minute and message, counted.
    const checkpointErrors = new ReportThrottle(60_000, 100);
    this.checkpoints = new WalCheckpoints(this.db.name, (message) =>
      checkpointErrors.record(message, message, (err, count) => log.warn({ err, count }, 'WAL checkpoint failed')),
    );
    this.shared = prepared?.shared;
    const instance = instanceId(this.db);
    const credentials = new CredentialStore(this.db);
    this.audit = new AuditLog(this.db, { ...config.audit, retention: true, onError: (err, lost) => log.error({ err: err.message, lost }, 'audit log write failed') });
    const bus = new EventBus(log);
    // Cluster mode: devices, subscriptions, held commands, imports, latest readings, PubSub subscriptions and presence
    // requests are shared (Redis); the outbox stays local.
    const shared = this.shared;
    const devices: DeviceStore = shared?.devices ?? new SqliteDeviceStore(this.db);
    const registry = new DeviceRegistry(config.xmpp.domain, devices, MAX_DEVICES, bus);
    const mappings = new MappingSet(registry, bus);
    const sides = edges.sides?.({ mappings, registry, log }) ?? realSides(setup, log, bus, mappings, credentials, edges.listen ?? true, instance, shared);
    const xmpp =
      edges.link ??
      new ComponentLink({
        service: config.xmpp.service,
        domain: config.xmpp.domain,
        secret: config.xmpp.secret,
        log: log.child({ part: 'xmpp' }),
        handshakeTimeoutMs: config.xmpp.handshakeTimeoutMs,
        conflictRetryMs: config.xmpp.conflictRetrySeconds * 1000,
        requestIdPrefix: requestIdPrefix(instance),
        ...(shared ? { conflictHint: CONFLICT_HINT } : {}),
        ...(config.xmpp.caFile ? { ca: readFileSync(config.xmpp.caFile) } : {}),
      });
    const router = new StanzaRouter(log);
    xmpp.serveIq((stanza, child) => router.handleIq(stanza, child));
    xmpp.on('stanza', (el) => router.handle(el));
    this.coordinator = shared ? new ClusterCoordinator(shared, registry, bus) : undefined;
    this.kernel = {
      config,
      log,
      bus,
      metrics: new Metrics(),
      mappings,
      registry,
      access: new AccessPolicy(registry),
      stores: {
        devices,
        subscriptions: shared?.subscriptions ?? new SqliteSubscriptions(this.db),
        outbox: new Outbox(this.db),
        commandQueue: shared?.commandQueue ?? new SqliteCommandQueue(this.db),
        presenceRequests: shared?.presenceRequests ?? new SqlitePresenceRequests(this.db),
        pubsub: shared?.pubsub ?? new SqlitePubsubSubscriptions(this.db),
        latest: shared?.latest ?? new SqliteLatestReadings(this.db),
        imports: shared?.imports ?? new SqliteImportStore(this.db),
        ...(config.http.enabled ? { mediaFiles: new MediaFiles(join(config.dataDir, 'media'), config.media.localFiles.maxTotalBytes, config.media.localFiles.ttlHours * 3_600_000) } : {}),
        instanceId: instance,
        writable: () => probeWritable(this.db),
      },
      mqtt: new MqttEdge(sides, bus, log.child({ part: 'mqtt' })),
      xmpp,
      router,
      disco: new DiscoRegistry(),
      cluster: this.coordinator ?? SINGLE_INSTANCE,
      operations: new Operations(),
      users: shared?.userPresence.users ?? new UserPresence(),
    };
    // The loaded mappings were checked together by the loader; the set checks them again, as it does every change.
    const applied = mappings.apply(setup.mappings);
    if (!applied.ok) throw new Error(`mappings refused: ${(applied.problems ?? []).map(formatProblem).join('; ')}`);

    this.firstOnline = new Promise((resolve, reject) => {
      xmpp.once('online', resolve);
      xmpp.once('fatal', reject);
    });
    this.firstOnline.catch(() => undefined); // surfaced through 'fatal' and ready()
    this.uplink = new UplinkFeature(this.kernel);
    this.reloader = new ReloadFeature(this.kernel);
    this.http = config.http.enabled ? new HttpFeature(this.kernel) : undefined;
    this.runner = new FeatureRunner(this.features());
  }

  /** The features, in their declared order (the runner orders them by `needs`). */
  private features(): Feature[] {
    const k = this.kernel;
    return [
      // Counting and reporting first: they hear every event, the first (re)connection included.
      new MetricsFeature(k),
      new ReportsFeature(k),
      new XmppLinkFeature(k, (err) => this.emit('fatal', err)),
      new PresenceService(k),
      this.uplink,
      new AvailabilityTracker(k),
      new CommandsFeature(k),
      new DiscoFeature(k),
      new PubsubFeature(k),
      new VcardFeature(k),
      new AuditFeature(k, this.audit),
      new ImportFeature(k),
      new MqttListenersFeature(k, ['uplink', 'availability', 'commands', 'presence', 'import']),
      new BridgeTopicsFeature(k),
      this.reloader,
      new OperationsFeature(k),
      new RequestsFeature(k),
      ...(this.http ? [this.http] : []),
      ...(this.shared && this.coordinator ? [new ClusterFeature(k, this.shared, this.coordinator, (err) => this.emit('fatal', err))] : []),
    ];
  }

  get metrics(): Metrics {
    return this.kernel.metrics;
  }

  get registry(): DeviceRegistry {
    return this.kernel.registry;
  }

  get link(): XmppLink {
    return this.kernel.xmpp;
  }

  /** The status page's base URL, when it is enabled and listening. */
  get httpUrl(): string | undefined {
    return this.http?.url;
  }

  get delivery(): Delivery {
    return this.uplink.delivery;
  }

  /** Start every feature; resolves once devices can connect (the XMPP link may still be connecting). */
  async start(): Promise<void> {
    this.checkpoints.start();
    await this.runner.start();
  }

  /** Resolves when the XMPP link is first online; rejects if the server refuses the component for good. */
  ready(): Promise<void> {
    return this.firstOnline;
  }

  /** Read the mapping and schema files again and apply them, or nothing (SIGHUP). */
  reload(): ReloadOutcome {
    return this.reloader.reload('signal');
  }

  addresses(): Addresses {
    return this.kernel.mqtt.addresses();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.kernel.bus.emit('bridge_stopping', {});
    try {
      await this.runner.stop();
    } finally {
      this.kernel.registry.flush();
      this.kernel.stores.latest.flush();
      this.kernel.stores.mediaFiles?.close();
      await this.shared?.close();
      this.audit.close();
      await this.checkpoints.stop();
      this.db.close();
    }
  }
}

/** The brokers the configuration asks for (in cluster mode: the embedded brokers joined over Redis, shared subscriptions). */
function realSides(
  setup: BridgeSetup,
  log: Logger,
  bus: EventBus,
  mappings: MappingSet,
  credentials: CredentialStore,
  listen: boolean,
  instance: string,
  shared: SharedState | undefined,
): MqttSide[] {
  const { config } = setup;
  const cluster = config.cluster.enabled ? config.cluster : undefined;
  const sides: MqttSide[] = [];
  if (config.mqtt.embedded.enabled) {
    const e = config.mqtt.embedded;
    // Every refused login is an event (counted); reports are throttled per address by the catalogue.
    const access = new AccessControl(credentials, mappings, { allowAnonymous: e.allowAnonymous, ...e.auth, acl: e.acl, baseTopic: config.baseTopic }, log.child({ part: 'access' }), (type, _key, data) => {
      if (isBrokerEvent(type)) bus.emit(type, data);
    });
    const backend = cluster ? redisBrokerBackend(cluster, instance, log.child({ part: 'broker-cluster' })) : undefined;
    sides.push(new EmbeddedBroker(e, log.child({ part: 'broker' }), access, { listen, ...(backend ? { backend } : {}) }));
  }
  if (config.mqtt.external) {
    const state = `${config.baseTopic}/bridge/state`;
    sides.push(new ExternalBroker(config.mqtt.external, log.child({ part: 'mqtt-client' }), state, cluster && shared ? { instance, group: cluster.group, others: () => shared.others.length > 0 } : undefined));
  }
  return sides;
}
