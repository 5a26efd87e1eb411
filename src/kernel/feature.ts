/**
 * Features: what the bridge does, each a unit with a lifecycle, plugged into the kernel.
 *
 * A feature is built with the kernel, subscribes to events and registers stanza handlers in its constructor or its
 * `start()`, and releases everything in `stop()`. It names the features that must run before it (`needs`); the
 * runner starts them in dependency order and stops them in the reverse order, so a feature can rely on what it needs
 * while it starts and while it stops. Features never call into each other: they talk through the event bus and the
 * kernel's services.
 */

export interface Feature {
  /** Unique name, used by `needs` and in logs. */
  readonly name: string;
  /** Features that must be started before this one (and stopped after it). */
  readonly needs?: readonly string[];
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

/** The start order: every feature after the ones it needs; the declared order otherwise. Throws on cycles or unknown names. */
export function startOrder(features: readonly Feature[]): Feature[] {
  const byName = new Map<string, Feature>();
  for (const f of features) {
    if (byName.has(f.name)) throw new Error(`feature "${f.name}" is declared twice`);
    byName.set(f.name, f);
  }
  const order: Feature[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (f: Feature, path: readonly string[]): void => {
    const s = state.get(f.name);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`features depend on each other in a cycle: ${[...path, f.name].join(' → ')}`);
    state.set(f.name, 'visiting');
    for (const n of f.needs ?? []) {
      const dep = byName.get(n);
      if (!dep) throw new Error(`feature "${f.name}" needs "${n}", which is not in the feature list`);
      visit(dep, [...path, f.name]);
    }
    state.set(f.name, 'done');
    order.push(f);
  };
  for (const f of features) visit(f, []);
  return order;
}

/**
 * Starts features in dependency order; on a failed start, stops the ones already started and rethrows its error.
 * A stop that comes while the start is under way (a SIGTERM in the first second) waits for the feature starting then,
 * starts no further one, and stops what started: nothing keeps running — a broker attached, a session taking readings
 * — after the stores it writes to are closed.
 */
export class FeatureRunner {
  private readonly order: Feature[];
  private started: Feature[] = [];
  private starting: Promise<void> | undefined;
  private stopRequested = false;

  constructor(features: readonly Feature[]) {
    this.order = startOrder(features);
  }

  get names(): string[] {
    return this.order.map((f) => f.name);
  }

  start(): Promise<void> {
    this.starting = this.startAll();
    return this.starting;
  }

  /** Reverse start order; every feature is stopped even if another's stop fails (the first error is rethrown). */
  async stop(): Promise<void> {
    this.stopRequested = true;
    await this.starting?.catch(() => undefined);
    await this.stopStarted();
  }

  private async startAll(): Promise<void> {
    for (const f of this.order) {
      if (this.stopRequested) return;
      try {
        await f.start();
      } catch (err) {
        // The feature's own error says what went wrong ("the MQTT broker … refused the bridge"); keep it as it is.
        await this.stopStarted().catch(() => undefined);
        throw err;
      }
      this.started.push(f);
    }
  }

  private async stopStarted(): Promise<void> {
    let first: Error | undefined;
    const started = this.started;
    this.started = [];
    for (const f of [...started].reverse()) {
      try {
        await f.stop();
      } catch (err) {
        first ??= new Error(`feature "${f.name}" did not stop cleanly: ${(err as Error).message}`, { cause: err });
      }
    }
    if (first !== undefined) throw first;
  }
}
