/** A device: one mapped thing with a stable id (its JID local part) and a JID under the component domain. */
import type { Mapping } from '../mapping/mapping.js';
import type { Segments } from '../mapping/topic-pattern.js';

export interface Device {
  /** The JID local part: unique within the component domain and stable. */
  readonly id: string;
  /** Bare JID. */
  readonly jid: string;
  readonly mapping: Mapping;
  /** The topic segment values that formed the JID (original case). */
  readonly segments: Segments;
  /** Display name: the mapping's name template, or the unescaped local part. */
  readonly name: string;
  online: boolean;
  /** ms since epoch of the last message from the device; 0 when never seen since start. */
  lastSeen: number;
  /** The broker (`embedded` or `external`) the device was last heard on: commands go back the same way. */
  via: string | undefined;
}
