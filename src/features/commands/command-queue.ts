/**
 * Commands for offline (sleeping) devices: held durably with a TTL and delivered, in order, when the device comes
 * back — persistent-session semantics at the bridge, so they survive a bridge restart even though the embedded
 * broker keeps its sessions in memory. The sender gets the outcome when the device's broker accepts the command
 * (and the device confirms it, with a declared echo), or an error when the TTL passes first. If the bridge restarted
 * in between, the answer is sent afresh from what was stored (the original IQ id, the sender's full JID).
 */
import type { Device } from '../../devices/device.js';
import type { DeviceRegistry } from '../../devices/registry.js';
import { fail, type Result } from '../../errors.js';
import type { CommandQueueStore, QueuedCommandRow } from '../../kernel/stores.js';
import type { Logger } from '../../log.js';
import type { CommandSpec } from '../../mapping/mapping.js';
import type { CommandOutcome, CommandRequest } from './downlink.js';

export type Dispatch = (device: Device, command: CommandSpec, json: string, value: unknown) => Promise<Result<CommandOutcome>>;
export type LateReply = (row: QueuedCommandRow, outcome: Result<CommandOutcome>) => void;

export class QueuedCommands {
  private readonly waiters = new Map<number, (r: Result<CommandOutcome>) => void>();
  private readonly flushing = new Set<string>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: CommandQueueStore,
    private readonly registry: DeviceRegistry,
    private readonly dispatch: Dispatch,
    private readonly lateReply: LateReply,
    private readonly log: Logger,
    /** Whether a command may be published now (e.g. the device has subscribed again after reconnecting). */
    private readonly ready: (device: Device, command: CommandSpec) => boolean = () => true,
  ) {}

  start(): void {
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), 1000);
    this.sweepTimer.unref();
  }

  stop(): void {
    clearInterval(this.sweepTimer);
  }

  /** Hold a validated command; resolves when it is delivered or expires (in this process). */
  enqueue(req: CommandRequest, device: Device, command: CommandSpec, ttlMs: number): Promise<Result<CommandOutcome>> {
    const now = Date.now();
    const id = this.store.add({
      deviceJid: device.jid,
      command: command.name,
      json: req.json,
      sender: req.replyTo?.jid ?? req.from,
      origin: req.origin,
      replyId: req.replyTo?.id,
      createdAt: now,
      expiresAt: now + ttlMs,
    });
    this.log.info({ deviceId: device.id, command: command.name, from: req.from, ttlMs }, `command queued: device ${device.online ? 'asleep' : 'offline'}`);
    return new Promise((resolve) => this.waiters.set(id, resolve));
  }

  /** The device is (or may be) reachable — online and awake: deliver its queued commands in order. */
  async flush(device: Device): Promise<void> {
    if (this.flushing.has(device.jid)) return;
    this.flushing.add(device.jid);
    try {
      for (const row of this.store.forDevice(device.jid)) {
        if (!device.online || device.asleep) return;
        const command = device.mapping.commands.find((c) => c.name === row.command);
        if (command && !this.ready(device, command)) return; // tried again when the device subscribes
        // Taken here, or already by another instance (cluster mode), which then delivers and answers it.
        if (!(await this.store.claim(row.id))) continue;
        if (!command) {
          this.answer(row, fail('COMMAND_UNKNOWN', `${device.name} no longer has a command "${row.command}"`));
          continue;
        }
        const outcome = await this.dispatch(device, command, row.json, JSON.parse(row.json) as unknown);
        this.answer(row, outcome.ok ? { ok: true, value: { ...outcome.value, queued: true } } : outcome);
      }
    } finally {
      this.flushing.delete(device.jid);
    }
  }

  /** Devices with queued commands that are online and awake now (after a restart, or when a subscription appears). */
  flushAll(): void {
    for (const jid of this.store.deviceJids()) {
      const d = this.registry.byJid(jid);
      if (d?.online && !d.asleep) void this.flush(d);
    }
  }

  sweep(now: number): void {
    for (const row of this.store.expired(now)) {
      if (this.flushing.has(row.deviceJid)) continue;
      // In cluster mode every instance sweeps: the one that takes the row answers it.
      void this.store.claim(row.id).then((mine) => {
        if (mine) this.answer(row, fail('TIMEOUT', `the device did not come back within ${Math.round((row.expiresAt - row.createdAt) / 1000)} s`));
      });
    }
  }

  /**
   * The outcome of a held command another instance delivered, for the request this instance holds (cluster mode):
   * its waiter gets it; without one (this instance restarted meanwhile) the answer is built from the row.
   */
  answerForwarded(row: QueuedCommandRow, outcome: Result<CommandOutcome>): void {
    this.answer(row, outcome);
  }

  private answer(row: QueuedCommandRow, outcome: Result<CommandOutcome>): void {
    const waiter = this.waiters.get(row.id);
    if (waiter) {
      this.waiters.delete(row.id);
      waiter(outcome);
    } else {
      this.lateReply(row, outcome);
    }
  }
}
