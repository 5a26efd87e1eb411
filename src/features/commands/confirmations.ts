/**
 * Waiting for a device to confirm a command: after publishing `set state=ON` on `plugs/kettle/set`, the command is
 * confirmed when the device reports on its state topic (`plugs/kettle/state`) a payload whose listed fields equal the
 * command's — or, without listed fields, when it reports anything at all.
 */
import type { Device } from '../../devices/device.js';
import { BridgeError, fail, ok, type Result } from '../../errors.js';
import type { CommandSpec } from '../../mapping/mapping.js';
import { formatTopic } from '../../mapping/topic-pattern.js';
import { parseJsonPayload } from '../../convert/payload.js';

interface Pending {
  readonly fields: readonly string[] | undefined;
  readonly expected: Readonly<Record<string, unknown>>;
  readonly resolve: (r: Result<string>) => void;
}

export interface Expectation {
  /** Resolves with the echo's JSON text, or TIMEOUT. */
  readonly result: Promise<Result<string>>;
  cancel(): void;
}

export class ConfirmationTracker {
  private readonly byTopic = new Map<string, Set<Pending>>();

  /** Register before publishing: a fast device may answer before the publish callback runs. */
  expect(device: Device, confirm: NonNullable<CommandSpec['confirm']>, command: Readonly<Record<string, unknown>>): Expectation {
    const topic = formatTopic(confirm.topic, device.segments).topic;
    if (topic === undefined) return { result: Promise.resolve(fail('INTERNAL', 'the confirmation topic cannot be formed')), cancel: () => undefined };
    let pending!: Pending;
    let timer: NodeJS.Timeout | undefined;
    const result = new Promise<Result<string>>((resolve) => {
      pending = {
        fields: confirm.fields,
        expected: command,
        resolve: (r) => {
          clearTimeout(timer);
          this.remove(topic, pending);
          resolve(r);
        },
      };
      timer = setTimeout(() => pending.resolve(fail('TIMEOUT', `no confirmation on ${topic} within ${confirm.timeoutMs / 1000} s`)), confirm.timeoutMs);
    });
    let set = this.byTopic.get(topic);
    if (!set) this.byTopic.set(topic, (set = new Set()));
    set.add(pending);
    return { result, cancel: () => pending.resolve({ ok: false, error: new BridgeError('INTERNAL', 'cancelled') }) };
  }

  /** Every message on a confirmation topic passes through here. */
  message(topic: string, payload: Buffer): void {
    const set = this.byTopic.get(topic);
    if (!set || set.size === 0) return;
    const parsed = parseJsonPayload(payload);
    if (!parsed.ok) return; // not a state report
    for (const p of [...set]) if (matches(p, parsed.value.value)) p.resolve(ok(parsed.value.text));
  }


  private remove(topic: string, p: Pending): void {
    const set = this.byTopic.get(topic);
    set?.delete(p);
    if (set?.size === 0) this.byTopic.delete(topic);
  }
}

function matches(p: Pending, value: unknown): boolean {
  if (!p.fields) return true;
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return p.fields.every((f) => JSON.stringify(v[f]) === JSON.stringify(p.expected[f]));
}
