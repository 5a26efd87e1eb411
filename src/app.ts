/**
 * Composition root: builds every part from a loaded setup and starts/stops them in dependency order.
 *
 *   start: database → registry → XMPP link (connects in the background) → MQTT side(s) → bridge topics
 *   stop:  availability timers → bridge state offline → unavailable presence → MQTT side(s) → XMPP stream → database
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { AccessControl } from './broker/access.js';
import { EmbeddedBroker } from './broker/embedded.js';
import { ExternalBroker } from './broker/external.js';
import type { Addresses, InboundPublish, MqttFilters, MqttSide, MqttSideHandlers } from './broker/mqtt-side.js';
import type { Device } from './devices/device.js';
import { DeviceRegistry } from './devices/registry.js';
import type { Result } from './errors.js';
import type { BridgeSetup } from './load.js';
import type { Logger } from './log.js';
import type { CommandSpec } from './mapping/mapping.js';
import { availabilityRouter, readingRouter } from './mapping/router.js';
import { TopicOwnership } from './mapping/ownership.js';
import { formatTopic } from './mapping/topic-pattern.js';
import { BridgeTopics } from './observe/bridge-topics.js';
import { Metrics } from './observe/metrics.js';
import { Throttle } from './observe/throttle.js';
import { AvailabilityTracker } from './pipeline/availability.js';
import { ConfirmationTracker } from './pipeline/confirmations.js';
import { QueuedCommands } from './pipeline/command-queue.js';
import { Downlink, type CommandOrigin, type CommandOutcome, type CommandRequest } from './pipeline/downlink.js';
import { Uplink, type Rejection } from './pipeline/uplink.js';
import { instanceId, openDatabase, type Db } from './store/db.js';
import { AuditLog } from './store/audit.js';
import { CommandQueueStore } from './store/command-queue.js';
import { CredentialStore } from './store/credentials.js';
import { Outbox } from './store/outbox.js';
import { DeviceStore } from './store/devices.js';
import { SubscriptionStore } from './store/subscriptions.js';
import { PRODUCT } from './version.js';
import { ChatService } from './xmpp/chat.js';
import { ComponentLink, type FatalLinkError } from './xmpp/component.js';
import { AdhocCommands, NS_ADHOC } from './xmpp/handlers/adhoc.js';
import { pingHandler, versionHandler } from './xmpp/handlers/basic.js';
import { commandIqHandler, NS_COMMAND } from './xmpp/handlers/commands.js';
import { discoInfoHandler, discoItemsHandler } from './xmpp/handlers/disco.js';
import { PresenceService } from './xmpp/presence.js';
import { Delivery } from './xmpp/delivery.js';
import { lateReplies } from './xmpp/late-replies.js';
import { ReadingStanzas } from './xmpp/readings.js';
import { NS_DATA, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_RECEIPTS, NS_VERSION } from './xmpp/stanzas.js';

const MAX_DEVICES = 100_000;

interface BridgeEvents {
  fatal: [FatalLinkError];
}

export class Bridge extends EventEmitter<BridgeEvents> {
  readonly metrics = new Metrics();
  readonly registry: DeviceRegistry;
  readonly link: ComponentLink;
  private readonly db: Db;
  private readonly subscriptions: SubscriptionStore;
  private readonly credentials: CredentialStore;
  private readonly audit: AuditLog;
  private readonly sides: MqttSide[] = [];
  private readonly topics: BridgeTopics;
  private readonly presence: PresenceService;
  private readonly stanzas: ReadingStanzas;
  readonly delivery: Delivery;
  private readonly uplink: Uplink;
  private readonly availability: AvailabilityTracker;
  private readonly confirmations = new ConfirmationTracker();
  private readonly downlink: Downlink;
  private readonly adhoc: AdhocCommands;
  private readonly chat: ChatService;
  private readonly queued: QueuedCommands;
  private readonly throttle = new Throttle(10_000);
  private readonly firstOnline: Promise<void>;
  private stopping = false;

  constructor(
    private readonly setup: BridgeSetup,
    private readonly log: Logger,
  ) {
    super();
    const { config, mappings } = setup;
    this.db = openDatabase(config.dataDir);
    this.subscriptions = new SubscriptionStore(this.db);
    this.credentials = new CredentialStore(this.db);
    this.audit = new AuditLog(this.db, (err, lost) => this.log.error({ err: err.message, lost }, 'audit log write failed'));
    if (config.mqtt.embedded.enabled) {
      const e = config.mqtt.embedded;
      const access = new AccessControl(
        this.credentials,
        new TopicOwnership(mappings, (m, segments) => this.registry.identify(m, segments)),
        { allowAnonymous: e.allowAnonymous, ...e.auth, acl: e.acl, baseTopic: config.baseTopic },
        log.child({ part: 'access' }),
        (type, key, data) => {
          this.metrics.inc('broker_events_total', type);
          // One report per source and window on the event topic; the counter above counts every one.
          const suppressed = this.throttle.admit(`${type}\u0000${key}`);
          if (suppressed !== undefined) this.topics.event(type, suppressed > 0 ? { ...data, suppressed } : data);
        },
      );
      this.sides.push(new EmbeddedBroker(e, log.child({ part: 'broker' }), access));
    }
    if (config.mqtt.external) this.sides.push(new ExternalBroker(config.mqtt.external, log.child({ part: 'mqtt-client' }), `${config.baseTopic}/bridge/state`));
    this.topics = new BridgeTopics(config.baseTopic, this.sides, log);
    this.registry = new DeviceRegistry(config.xmpp.domain, mappings, new DeviceStore(this.db), MAX_DEVICES, (d) => this.deviceAdded(d));
    this.link = new ComponentLink({
      service: config.xmpp.service,
      domain: config.xmpp.domain,
      secret: config.xmpp.secret,
      log: log.child({ part: 'xmpp' }),
      ...(config.xmpp.caFile ? { ca: readFileSync(config.xmpp.caFile) } : {}),
    });
    this.presence = new PresenceService(this.link, this.registry, this.subscriptions, this.metrics, log, (type, data) => this.topics.event(type, data));
    this.stanzas = new ReadingStanzas(this.subscriptions, config.xmpp, config.xmpp.domain);
    const d = config.delivery;
    this.delivery = new Delivery(
      this.link,
      new Outbox(this.db),
      this.stanzas,
      this.registry,
      instanceId(this.db),
      {
        maxOutbox: d.maxOutbox,
        maxAgeMs: d.maxAgeSeconds * 1000,
        qos0Buffer: d.qos0Buffer,
        barrierIntervalMs: d.barrierIntervalMs,
        barrierBatch: d.barrierBatch,
        barrierTimeoutMs: d.barrierTimeoutMs,
        highWaterBytes: d.highWaterBytes,
      },
      this.metrics,
      log.child({ part: 'delivery' }),
      (type, data) => this.topics.event(type, data),
    );
    this.uplink = new Uplink(readingRouter(mappings), this.registry);
    this.availability = new AvailabilityTracker(mappings, availabilityRouter(mappings), this.registry, (d, reason) => this.availabilityChanged(d, reason), log);
    this.downlink = new Downlink(
      this.registry,
      (d, topic, payload, command) => this.publishCommand(d, topic, payload, command),
      this.confirmations,
      config.delivery.commandTtlSeconds * 1000,
      (req, r) => this.commandDone(req, r),
      config.xmpp.commandRate,
    );
    this.adhoc = new AdhocCommands(this.downlink);
    this.chat = new ChatService(this.link, this.registry, this.downlink, (jid, bare) => this.mayView(jid, bare), log);
    this.queued = new QueuedCommands(
      new CommandQueueStore(this.db),
      this.registry,
      (device, command, json, value) => this.downlink.dispatch(device, command, json, value),
      (row, r) => {
        lateReplies(this.link, this.chat)(row, r);
        this.commandDone({ from: row.sender.split('/')[0]!, deviceJid: row.deviceJid, name: row.command, json: row.json, origin: row.origin as CommandOrigin }, r);
      },
      log.child({ part: 'commands' }),
      (device, command) => this.commandReachable(device, command),
    );
    this.downlink.holdWith(this.queued);

    this.firstOnline = new Promise((resolve, reject) => {
      this.link.once('online', resolve);
      this.link.once('fatal', reject);
    });
    this.firstOnline.catch(() => undefined); // surfaced through 'fatal' and ready()
    this.wireXmpp();
  }

  /** Start the MQTT side(s) and begin connecting to the XMPP server; resolves once devices can connect. */
  async start(): Promise<void> {
    this.link.start().catch(() => undefined); // fatal errors arrive as the 'fatal' event
    const filters = this.filters();
    this.delivery.start();
    this.queued.start();
    for (const side of this.sides) await side.start(this.handlersFor(side), filters);
    this.availability.start();
    await this.topics.state(true);
    await this.publishInfo();
    this.topics.devicesChanged(() => this.deviceList());
  }

  /** Resolves when the XMPP link is first online; rejects if the server refuses the component for good. */
  ready(): Promise<void> {
    return this.firstOnline;
  }

  addresses(): Addresses {
    return Object.assign({}, ...this.sides.map((s) => s.addresses())) as Addresses;
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.availability.stop();
    this.queued.stop();
    this.topics.stop();
    await this.topics.state(false);
    for (const side of this.sides) await side.stop(); // no new readings…
    await this.delivery.stop(); // …and what was accepted is committed and, if possible, confirmed
    this.presence.unavailableAll();
    await this.link.stop();
    this.registry.flush();
    this.audit.flush();
    this.db.close();
  }

  private filters(): MqttFilters {
    const { mappings } = this.setup;
    const watched = mappings.flatMap((m) => [
      ...(m.availability?.topic ? [m.availability.topic.filter] : []),
      ...m.commands.flatMap((c) => (c.confirm ? [c.confirm.topic.filter] : [])),
    ]);
    return { readings: [...new Set(mappings.map((m) => m.topic.filter))], watched: [...new Set(watched)] };
  }

  private handlersFor(side: MqttSide): MqttSideHandlers {
    return {
      onPublish: (msg, done) => this.onPublish(side, msg, done),
      onWatched: (topic, payload) => {
        this.availability.message(topic, payload, side.name);
        this.confirmations.message(topic, payload);
      },
      onClientConnected: (id) => this.availability.clientConnected(id, side.name),
      onClientDisconnected: (id) => this.availability.clientDisconnected(id),
      onBrokerEvent: (type, data) => {
        this.metrics.inc('broker_events_total', type);
        this.topics.event(type, data);
      },
      onSubscribed: () => this.queued.flushAll(),
      onAttached: () => {
        if (this.stopping) return;
        void this.topics.state(true);
        void this.publishInfo();
        this.topics.devicesChanged(() => this.deviceList());
      },
    };
  }

  private mayView(deviceJid: string, bare: string): boolean {
    const d = this.registry.byJid(deviceJid);
    return d !== undefined && this.presence.mayView(d, bare);
  }

  private wireXmpp(): void {
    const { config } = this.setup;
    const xmpp = this.link.xmpp;
    const mayView = (d: Device, bare: string): boolean => this.presence.mayView(d, bare);
    const disco = {
      domain: config.xmpp.domain,
      name: config.xmpp.name,
      registry: this.registry,
      mayView,
      deviceFeatures: (d: Device) => (d.mapping.commands.length > 0 ? [NS_ADHOC, NS_COMMAND, NS_DATA, NS_RECEIPTS] : []),
      componentFeatures: () => [NS_ADHOC],
      nodeInfo: (d: Device, node: string) => this.adhoc.info(d, node),
      nodeItems: (d: Device, node: string, from: string) => (node === NS_ADHOC ? this.adhoc.items(d, from) : undefined),
    };
    xmpp.iqCallee.get(NS_DISCO_INFO, 'query', discoInfoHandler(disco));
    xmpp.iqCallee.get(NS_DISCO_ITEMS, 'query', discoItemsHandler(disco));
    xmpp.iqCallee.get(
      NS_PING,
      'ping',
      pingHandler(config.xmpp.domain, this.registry, mayView, (id) => {
        if (this.delivery.isOwnBarrier(id)) return;
        this.metrics.inc('foreign_instances_total');
        if (this.throttle.admit('foreign-instance') === undefined) return;
        this.log.error({ domain: config.xmpp.domain }, 'another bridge is connected to this component domain; the server splits stanzas between them: run one bridge per domain');
        this.topics.event('another_instance', { domain: config.xmpp.domain });
      }),
    );
    xmpp.iqCallee.get(NS_VERSION, 'query', versionHandler(config.xmpp.domain));
    xmpp.iqCallee.set(NS_COMMAND, 'command', commandIqHandler(this.downlink));
    xmpp.iqCallee.set(NS_ADHOC, 'command', this.adhoc.handler());

    this.link.on('stanza', (el) => {
      if (el.name === 'presence') this.presence.handle(el);
      else if (el.name === 'message') {
        this.chat.handle(el).catch((err: unknown) => this.log.error({ err }, 'chat handler failed'));
      }
    });
    this.link.on('online', () => {
      this.metrics.inc('xmpp_connects_total');
      this.presence.announceAll();
      void this.publishInfo();
    });
    this.link.on('offline', () => void this.publishInfo());
    this.link.on('fatal', (err) => this.emit('fatal', err));
  }

  /** Every device publish, before its acknowledgement: `done` is called when it may be acknowledged. */
  private onPublish(side: MqttSide, msg: InboundPublish, done: (err?: Error) => void): void {
    const outcome = this.uplink.process(msg);
    if (outcome.kind === 'rejected') this.reject(outcome.rejection);
    if (outcome.kind !== 'reading') return done();
    const { reading } = outcome;
    const device = reading.device;
    device.via = side.name;
    this.availability.reading(device);
    // A retained message replayed on subscription is state the device reported earlier, not a new reading.
    if (msg.replay) {
      this.metrics.inc('readings_replayed_total');
      return done();
    }
    this.metrics.inc('readings_total');
    const built = this.stanzas.build(device, reading.json, reading.value, '');
    if (!built.ok) {
      this.reject({ error: built.error, topic: reading.topic, clientId: msg.clientId, deviceId: device.id, mappingId: device.mapping.id });
      return done();
    }
    if (built.value.recipients.length === 0) {
      this.metrics.inc('readings_without_recipients_total');
      return done();
    }
    this.delivery.accept(reading, built.value, done);
  }

  /** The broker a device was last heard on (commands go back the same way). */
  private sideOf(device: Device): MqttSide | undefined {
    return this.sides.find((s) => s.name === device.via) ?? this.sides[0];
  }

  /** A held command is published only once it would reach the device: it subscribed again after reconnecting. */
  private commandReachable(device: Device, command: CommandSpec): boolean {
    const topic = formatTopic(command.topic, device.segments).topic;
    const side = this.sideOf(device);
    return topic !== undefined && (side?.isSubscribed?.(device.id, topic) ?? true);
  }

  private publishCommand(device: Device, topic: string, payload: Buffer, command: CommandSpec): Promise<void> {
    const side = this.sideOf(device);
    if (!side) return Promise.reject(new Error('no MQTT broker'));
    return side.publish(topic, payload, { qos: command.qos, retain: command.retain });
  }

  private commandDone(req: CommandRequest, r: Result<CommandOutcome>): void {
    const code = r.ok ? 'OK' : r.error.code;
    this.metrics.inc('commands_total', code);
    this.audit.record({
      at: Date.now(),
      sender: req.from,
      device: req.deviceJid,
      command: req.name,
      origin: req.origin,
      outcome: code,
      detail: r.ok ? `${r.value.confirmation !== undefined ? 'confirmed' : 'published'} on ${r.value.topic}${r.value.queued ? ' after waiting' : ''}` : r.error.message,
      payload: req.json,
    });
    const data = {
      from: req.from,
      device: req.deviceJid,
      command: req.name,
      origin: req.origin,
      code,
      ...(r.ok ? { topic: r.value.topic, confirmed: r.value.confirmation !== undefined, queued: r.value.queued === true } : { message: r.error.message }),
    };
    this.log.info(data, r.ok ? 'command delivered' : 'command refused');
    this.topics.event(r.ok ? 'command_delivered' : 'command_failed', data);
  }

  private reject(r: Rejection): void {
    const code = r.error.code;
    this.metrics.inc('uplink_rejected_total', code);
    const suppressed = this.throttle.admit(`${r.deviceId ?? r.topic}\u0000${code}`);
    if (suppressed === undefined) return;
    const data = {
      code,
      message: r.error.message,
      deviceId: r.deviceId,
      topic: r.topic,
      mapping: r.mappingId,
      clientId: r.clientId,
      ...(r.schemaErrors ? { errors: r.schemaErrors } : {}),
      ...(suppressed > 0 ? { suppressed } : {}),
    };
    this.log.warn(data, 'reading rejected');
    this.topics.event('reading_rejected', data);
  }

  private deviceAdded(device: Device): void {
    this.log.info({ deviceId: device.id, jid: device.jid, mapping: device.mapping.id }, 'new device');
    this.topics.event('device_added', { deviceId: device.id, jid: device.jid, mapping: device.mapping.id, segments: device.segments });
    this.topics.devicesChanged(() => this.deviceList());
  }

  private availabilityChanged(device: Device, reason: string): void {
    this.presence.deviceChanged(device, reason);
    if (device.online) void this.queued.flush(device);
    this.topics.devicesChanged(() => this.deviceList());
  }

  private deviceList(): unknown[] {
    return [...this.registry.all()].map((d) => ({ id: d.id, jid: d.jid, name: d.name, mapping: d.mapping.id, online: d.online, lastSeen: d.lastSeen || null }));
  }

  private publishInfo(): Promise<void> {
    const { config, mappings } = this.setup;
    return this.topics.info({
      version: PRODUCT.version,
      xmpp: { domain: config.xmpp.domain, connected: this.link.online },
      mqtt: this.addresses(),
      mappings: mappings.map((m) => ({ id: m.id, topic: m.topic.source, jid: m.jid.source, schema: m.schema.id, commands: m.commands.map((c) => c.name) })),
    });
  }
}
