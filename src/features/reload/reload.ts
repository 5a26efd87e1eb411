/**
 * Reloading mappings and payload schemas while the bridge runs — on a change of the watched files, on SIGHUP, and on a
 * request over MQTT (`<base>/bridge/request/reload`, answered on `<base>/bridge/response/reload` with
 * `{status, data, error, transaction}`, Zigbee2MQTT style).
 *
 * A reload reads everything again (configuration, schemas, mappings) and checks it all — the same checks as
 * `validate`, plus the cross-checks against mappings from other origins (imported devices) — before anything
 * changes: with any problem nothing is applied, every problem is logged and reported, and the mappings in force keep
 * working. Otherwise the file mappings are replaced at once (kernel/mapping-set.ts): unchanged ones stay as they are,
 * devices keep their JIDs and subscriptions, connections and the XMPP stream are untouched. Configuration keys that
 * cannot change without a restart are listed as warnings (the change takes effect at the next start).
 */
import { watch, statSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { loadConfig } from '../../config/load.js';
import type { BridgeConfig } from '../../config/schema.js';
import { formatProblem, LoadError } from '../../errors.js';
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import { loadDefinitions } from '../../load.js';

/** Editors write a file in several steps (truncate, write, rename): one reload after the last of them. */
const DEBOUNCE_MS = 250;

export interface ReloadOutcome {
  readonly ok: boolean;
  readonly added: readonly string[];
  readonly replaced: readonly string[];
  readonly removed: readonly string[];
  /** Configuration changes that wait for a restart. */
  readonly warnings: readonly string[];
  readonly problems: readonly string[];
}

/** Keys that take effect live; every other configuration change waits for a restart. */
const LIVE_KEYS = new Set(['mappings', 'schemas']);

export class ReloadFeature implements Feature {
  readonly name = 'reload';
  readonly needs = ['mqtt-listeners'];
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private unwatchRequest: (() => void) | undefined;
  /** The configuration the running mappings came from (the one the bridge started with, then each applied reload's). */
  private current: BridgeConfig;

  constructor(
    private readonly k: Kernel,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.current = k.config;
  }

  start(): void {
    this.watchFiles(this.current);
    // The `reload` operation: <base>/bridge/request/reload and the status page.
    this.unwatchRequest = this.k.operations.provide('reload', () => {
      const r = this.reload('request');
      return r.ok
        ? { ok: true, data: { added: r.added, replaced: r.replaced, removed: r.removed, warnings: r.warnings } }
        : { ok: false, code: 'MAPPING_INVALID', error: `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}; nothing was changed`, data: { problems: r.problems } };
    });
  }

  stop(): void {
    clearTimeout(this.timer);
    this.unwatchRequest?.();
    this.closeWatchers();
  }

  /** Read and apply the mapping and schema files now (synchronous: nothing else runs in between). */
  reload(origin: 'file' | 'signal' | 'request'): ReloadOutcome {
    return this.run(origin);
  }

  private run(origin: string): ReloadOutcome {
    const { bus } = this.k;
    const failed = (problems: string[]): ReloadOutcome => {
      bus.emit('mappings_reload_failed', { origin, problems });
      return { ok: false, added: [], replaced: [], removed: [], warnings: [], problems };
    };
    let config: BridgeConfig;
    let warnings: string[];
    try {
      const loaded = loadConfig(this.k.config.configFile, this.env);
      config = loaded.config;
      warnings = restartNeeded(this.k.config, config);
    } catch (err) {
      if (err instanceof LoadError) return failed(err.problems.map(formatProblem));
      return failed([(err as Error).message]);
    }
    const defs = loadDefinitions(config);
    if (defs.problems.length > 0) return failed(defs.problems.map(formatProblem));
    const r = this.k.mappings.replaceOrigin((o) => o.kind === 'file', defs.mappings);
    if (!r.ok) return failed((r.problems ?? [{ file: '', path: '', message: r.error.message }]).map(formatProblem));
    this.current = config;
    this.watchFiles(config);
    const outcome: ReloadOutcome = {
      ok: true,
      added: r.value.added.map((m) => m.id),
      replaced: r.value.replaced.map((x) => x.after.id),
      removed: r.value.removed.map((m) => m.id),
      warnings,
      problems: [],
    };
    bus.emit('mappings_reloaded', { origin, added: outcome.added, replaced: outcome.replaced, removed: outcome.removed, warnings });
    return outcome;
  }

  /** Watch the directories of the mapping and schema paths (files are replaced by editors, so their directory is watched). */
  private watchFiles(config: BridgeConfig): void {
    this.closeWatchers();
    const targets = new Map<string, Set<string> | 'all'>();
    for (const p of [...config.mappings, ...config.schemas, ...(config.configFile ? [config.configFile] : [])]) {
      let isDir = false;
      try {
        isDir = statSync(p).isDirectory();
      } catch {
        continue; // reported by the reload itself when it matters
      }
      const dir = isDir ? p : dirname(p);
      const known = targets.get(dir);
      if (isDir) targets.set(dir, 'all');
      else if (known !== 'all') targets.set(dir, new Set([...(known ?? []), basename(p)]));
    }
    for (const [dir, names] of targets) {
      try {
        const w = watch(dir, { persistent: false }, (_event, file) => {
          if (names !== 'all' && file !== null && !names.has(String(file))) return;
          this.schedule();
        });
        w.on('error', (err) => this.k.log.warn({ dir, err: err.message }, 'cannot watch for mapping changes'));
        this.watchers.push(w);
      } catch (err) {
        this.k.log.warn({ dir, err: (err as Error).message }, 'cannot watch for mapping changes');
      }
    }
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload('file'), DEBOUNCE_MS);
    this.timer.unref();
  }

  private closeWatchers(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }
}

/** Configuration keys (dotted) that differ and cannot change while the bridge runs. */
export function restartNeeded(running: BridgeConfig, next: BridgeConfig): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (LIVE_KEYS.has(path)) return;
    if (isObject(a) && isObject(b)) {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[key], b[key], path ? `${path}.${key}` : key);
      return;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path} changed: it takes effect after a restart`);
  };
  walk(running, next, '');
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
