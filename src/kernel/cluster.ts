/**
 * What the rest of the bridge needs to know about other instances of it (cluster mode, docs/SCALING.md), as one
 * small seam: a single instance decides everything at once, a member of a cluster agrees with the others first.
 *
 * - A device's availability change is acted on (presence broadcast, held commands flushed, the event reported) by
 *   exactly one instance: the one whose change was the first to reach the shared state.
 * - The answer to a held command that another instance delivered goes back to the instance still holding the
 *   sender's request, which answers it as if it had delivered it itself.
 *
 * The cluster implementation lives in features/cluster/; this file is what a feature may call.
 */
import type { Device } from '../devices/device.js';
import type { QueuedCommandRow } from './stores.js';

/** The outcome of a held command as it travels between instances (devices and specs are looked up again there). */
export type ForwardedOutcome =
  | { readonly ok: true; readonly topic: string; readonly confirmation?: string }
  | { readonly ok: false; readonly code: string; readonly message: string };

export interface ClusterSeam {
  /** Whether other instances may share this component domain. */
  readonly enabled: boolean;
  /** No other instance is alive (a single instance always is): what this one says for the bridge is said for all. */
  readonly alone: boolean;
  /**
   * A device's availability is `online` (and `asleep`, when online) for `reason` (availability/tracker.ts): when that
   * is a change, `apply` runs — here, once, possibly later — only if this instance is the one that makes it; every
   * instance's `device.online` and `device.asleep` follow either way. Called for every observation, changes or not (a
   * device that reconnected through another instance is held by that one from then on).
   */
  changeAvailability(device: Device, online: boolean, reason: string, apply: () => void, asleep?: boolean): void;
  /**
   * Whether a device is online and awake as the shared state has it now, for a decision that must not rest on a copy
   * a moment late (a command to a device this instance still believes offline or asleep). Alone: the device itself.
   */
  confirmAvailability(device: Device): Promise<{ readonly online: boolean; readonly asleep: boolean }>;
  /**
   * The outcome of a held command whose sender's request is held by another instance: resolves true once that
   * instance took it (it answers), false when nobody did (answer here).
   */
  forwardCommandAnswer(row: QueuedCommandRow, outcome: ForwardedOutcome): Promise<boolean>;
}

/** One bridge per component domain: every change is this instance's, at once. */
export const SINGLE_INSTANCE: ClusterSeam = {
  enabled: false,
  alone: true,
  changeAvailability(device, online, _reason, apply, asleep = false) {
    const sleeps = online && asleep;
    if (device.online === online && (device.asleep === true) === sleeps) return;
    device.online = online;
    device.asleep = sleeps;
    apply();
  },
  confirmAvailability: (device) => Promise.resolve({ online: device.online, asleep: device.asleep === true }),
  forwardCommandAnswer: () => Promise.resolve(false),
};
