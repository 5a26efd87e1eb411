/**
 * The commands feature (the downlink): commands from XMPP users — typed in a chat, sent as an IQ, or filled in as an
 * XEP-0050 form — authorized, validated, published over MQTT to the device, confirmed by its state echo, held for a
 * device that is away, and reported (`command_delivered` / `command_failed`: the audit log, metrics and the event
 * topic subscribe).
 */
import type { Device } from '../../devices/device.js';
import { ERROR_CATALOGUE, fail, ok, type ErrorCode, type Result } from '../../errors.js';
import type { ForwardedOutcome } from '../../kernel/cluster.js';
import type { QueuedCommandRow } from '../../kernel/stores.js';
import { sessionIdPrefix } from '../../kernel/xmpp-link.js';
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { CommandSpec } from '../../mapping/mapping.js';
import { formatTopic } from '../../mapping/topic-pattern.js';
import { NS_DATA, NS_RECEIPTS } from '../../xmpp/namespaces.js';
import { AdhocCommands } from './adhoc.js';
import { NS_ADHOC } from '../../xmpp/namespaces.js';
import { ChatService } from './chat.js';
import { commandIqHandler } from './command-iq.js';
import { NS_COMMAND } from '../../xmpp/namespaces.js';
import { QueuedCommands } from './command-queue.js';
import { ConfirmationTracker } from './confirmations.js';
import { Downlink, type CommandOrigin, type CommandOutcome, type CommandRequest } from './downlink.js';
import { lateReplies } from './late-replies.js';
import { operatorCommand } from './operator.js';
import { FileFetcher } from '../media/file-fetch.js';
import { Uploader } from '../media/upload.js';

export class CommandsFeature implements Feature {
  readonly name = 'commands';
  readonly needs = ['xmpp-link'];
  readonly adhoc: AdhocCommands;
  private readonly confirmations = new ConfirmationTracker();
  private readonly downlink: Downlink;
  private readonly chat: ChatService;
  private readonly queued: QueuedCommands;
  private readonly files: FileFetcher;
  private readonly watches = new Map<string, () => void>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly k: Kernel) {
    const { config, log } = k;
    this.downlink = new Downlink(
      k.access,
      (d, topic, payload, command) => k.mqtt.publish(topic, payload, { qos: command.qos, retain: command.retain }, d.via),
      this.confirmations,
      config.delivery.commandTtlSeconds * 1000,
      (req, r, elapsedMs) => this.done(req, r, elapsedMs),
      config.xmpp.commandRate,
    );
    if (k.cluster.enabled) this.downlink.confirmWith((d) => k.cluster.confirmAvailability(d));
    this.adhoc = new AdhocCommands(this.downlink, k.access, sessionIdPrefix(k.stores.instanceId));
    this.chat = new ChatService(k.xmpp, k.access, this.downlink, log);
    const reply = lateReplies(k.xmpp, this.chat);
    const answerHere = (row: QueuedCommandRow, r: Result<CommandOutcome>): void => {
      reply(row, r);
      this.done({ from: row.sender.split('/')[0]!, deviceJid: row.deviceJid, name: row.command, json: row.json, origin: row.origin as CommandOrigin }, r, Date.now() - row.createdAt);
    };
    this.queued = new QueuedCommands(
      k.stores.commandQueue,
      k.registry,
      (device, command, json, value) => this.downlink.dispatch(device, command, json, value),
      (row, r) => {
        // Cluster mode: the instance holding the sender's request answers it (kernel/cluster.ts); if it is gone, here.
        if (row.holder === undefined || row.holder === k.stores.instanceId) return answerHere(row, r);
        void k.cluster.forwardCommandAnswer(row, forwardable(r)).then((taken) => {
          if (!taken) answerHere(row, r);
        });
      },
      log.child({ part: 'commands' }),
      (device, command) => this.reachable(device, command),
    );
    this.downlink.holdWith(this.queued);
    // Commands carrying a file (docs/MEDIA.md): the upload service's own slots tell the local users' upload host.
    const f = config.media.fetch;
    const uploader = new Uploader(k.xmpp, config.xmpp.serverDomain, config.media.uploadTimeoutSeconds * 1000, config.media.uploadService);
    this.files = new FileFetcher(
      { serverDomain: config.xmpp.serverDomain, allowHosts: f.allowHosts, maxBytes: f.maxBytes, timeoutMs: f.timeoutSeconds * 1000, concurrency: f.concurrency },
      () => uploader.slotOrigin(k.xmpp.domain),
    );
    this.downlink.fetchFilesWith(this.files);

    const { router, disco } = k;
    router.iq('set', NS_COMMAND, 'command', commandIqHandler(this.downlink));
    router.iq('set', NS_ADHOC, 'command', this.adhoc.handler());
    router.message((el) => this.chat.handle(el));
    disco.componentFeature(NS_ADHOC);
    disco.deviceFeatures((d) => (d.mapping.commands.length > 0 ? [NS_ADHOC, NS_COMMAND, NS_DATA, NS_RECEIPTS] : []));
    disco.node({
      info: (d, node) => this.adhoc.info(d, node),
      items: (d, node, from) => (node === NS_ADHOC ? this.adhoc.items(d, from) : undefined),
    });
  }

  start(): void {
    const { bus } = this.k;
    this.unsubscribe.push(
      bus.on('device_availability', ({ device }) => {
        if (device.online && !device.asleep) void this.queued.flush(device);
      }),
      // A client subscribed: commands held for its device may now reach it.
      bus.on('client_subscribed', () => this.queued.flushAll()),
      bus.on('mappings_changed', () => this.followMappings()),
      bus.on('command_answer_forwarded', ({ row, outcome }) => this.queued.answerForwarded(row, this.outcomeOf(row, outcome))),
      // The operator's commands (status page, request API), through the same downlink as everyone's.
      this.k.operations.provide('device/command', operatorCommand(this.downlink, this.k.registry, this.k.config.operator.jid)),
    );
    this.followMappings();
    this.queued.start();
  }

  stop(): void {
    void this.files.close();
    this.queued.stop();
    for (const u of this.unsubscribe.splice(0)) u();
    for (const unwatch of this.watches.values()) unwatch();
    this.watches.clear();
  }

  /** Watch exactly the confirmation topics of the mappings in force (every message there may confirm a command). */
  private followMappings(): void {
    const wanted = new Set(this.k.mappings.all().flatMap((m) => m.commands.flatMap((c) => (c.confirm ? [c.confirm.topic.filter] : []))));
    for (const [filter, unwatch] of this.watches) {
      if (wanted.has(filter)) continue;
      unwatch();
      this.watches.delete(filter);
    }
    for (const filter of wanted) {
      if (!this.watches.has(filter)) this.watches.set(filter, this.k.mqtt.watch(filter, (topic, payload) => this.confirmations.message(topic, payload)));
    }
  }

  /** A held command is published only once it would reach the device: its own session subscribed again. */
  private reachable(device: Device, command: CommandSpec): boolean {
    const topic = formatTopic(command.topic, device.segments).topic;
    return topic !== undefined && (this.k.mqtt.isSubscribed(device.id, topic, device.via) ?? true);
  }

  /** A held command's outcome as another instance sent it, with the device and command found again here. */
  private outcomeOf(row: QueuedCommandRow, o: ForwardedOutcome): Result<CommandOutcome> {
    // A code this version does not know (instances of two versions during an upgrade) is reported as INTERNAL.
    if (!o.ok) return fail(Object.hasOwn(ERROR_CATALOGUE, o.code) ? (o.code as ErrorCode) : 'INTERNAL', o.message);
    const device = this.k.registry.byJid(row.deviceJid);
    const command = device?.mapping.commands.find((c) => c.name === row.command);
    if (!device || !command) return fail('COMMAND_UNKNOWN', `${row.deviceJid} no longer has a command "${row.command}"`);
    return ok({ device, command, topic: o.topic, queued: true, ...(o.confirmation !== undefined ? { confirmation: o.confirmation } : {}) });
  }

  private done(req: CommandRequest, r: Result<CommandOutcome>, elapsedMs: number): void {
    const { from, deviceJid: device, name: command, origin, json } = req;
    if (r.ok) {
      const { topic, confirmation, queued } = r.value;
      this.k.bus.emit('command_delivered', { from, device, command, origin, json, elapsedMs, code: 'OK', topic, confirmed: confirmation !== undefined, queued: queued === true });
    } else {
      this.k.bus.emit('command_failed', { from, device, command, origin, json, elapsedMs, code: r.error.code, message: r.error.message });
    }
  }
}

/** A held command's outcome in the form that travels between instances. */
function forwardable(r: Result<CommandOutcome>): ForwardedOutcome {
  if (!r.ok) return { ok: false, code: r.error.code, message: r.error.message };
  return { ok: true, topic: r.value.topic, ...(r.value.confirmation !== undefined ? { confirmation: r.value.confirmation } : {}) };
}
