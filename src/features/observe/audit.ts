/**
 * The audit log: every command's outcome — who asked which device for what, by which path, and what came of it — from
 * the command events, into the durable log the `audit` CLI queries.
 */
import type { CommandEvent } from '../../kernel/events.js';
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { AuditLog } from '../../store/audit.js';

export class AuditFeature implements Feature {
  readonly name = 'audit';
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly k: Kernel,
    private readonly audit: AuditLog,
  ) {}

  start(): void {
    const { bus } = this.k;
    this.unsubscribe.push(
      bus.on('command_delivered', (c) => this.record(c, `${c.confirmed ? 'confirmed' : 'published'} on ${c.topic ?? ''}${c.queued ? ' after waiting' : ''}`)),
      bus.on('command_failed', (c) => this.record(c, c.message ?? c.code)),
    );
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    this.audit.flush();
  }

  private record(c: CommandEvent, detail: string): void {
    this.audit.record({ at: Date.now(), sender: c.from, device: c.device, command: c.command, origin: c.origin, outcome: c.code, detail, payload: c.json });
  }
}
