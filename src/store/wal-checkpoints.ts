/**
 * WAL checkpoints mostly off the event loop.
 *
 * SQLite checkpoints a WAL database when a commit leaves more than 1,000 pages in the WAL — inside that commit, on
 * the thread that made it: the pages copied into the database file and, with `synchronous = NORMAL`, an fsync of the
 * WAL before and of the database after (https://sqlite.org/pragma.html#pragma_synchronous). The outbox commits
 * thousands of readings a second, so that was a stall of several milliseconds on the bridge's event loop about twice a
 * second: the QoS 1 latency tail (docs/PERFORMANCE.md, "The QoS 1 latency tail").
 *
 * A worker thread with its own connection checkpoints PASSIVE every `intervalMs`, so when the commit's own checkpoint
 * comes, the WAL is already copied but for the last frames: it copies those and syncs little. The commit's checkpoint
 * stays on — a checkpoint of another connection cannot restart the WAL while commits keep landing during it, the
 * one after a commit can — so the WAL stays bounded as before, and if the worker fails nothing is worse than without it.
 */
import { Worker } from 'node:worker_threads';

export const CHECKPOINT_INTERVAL_MS = 100;

/** How long a stop waits for the worker to close its connection before ending it. */
const STOP_GRACE_MS = 2000;

export class WalCheckpoints {
  private worker: Worker | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly onError: (message: string) => void,
    private readonly intervalMs = CHECKPOINT_INTERVAL_MS,
  ) {}

  start(): void {
    if (this.worker || this.path === '' || this.path === ':memory:') return;
    const worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData: { path: this.path, intervalMs: this.intervalMs } });
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (m: { error?: string }) => {
      if (m.error) this.onError(m.error);
    });
    worker.on('error', (err) => this.onError(err.message));
    // Nothing of the bridge waits for it: the process may end while it runs.
    worker.unref();
    this.worker = worker;
  }

  /** Resolves once the worker has closed its connection and ended (or, after a grace period, was ended). */
  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    worker.postMessage('stop');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), STOP_GRACE_MS)));
    if ((await Promise.race([this.exited, late])) === 'late') await worker.terminate();
    clearTimeout(timer);
  }
}
