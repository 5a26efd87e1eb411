/** A device: one mapped thing with a stable id (its JID local part) and a JID under the component domain; its readings. */
import type { Mapping } from '../mapping/mapping.js';
import type { Segments } from '../mapping/topic-pattern.js';

export interface Device {
  /** The JID local part: unique within the component domain and stable. */
  readonly id: string;
  /** Bare JID. */
  readonly jid: string;
  /** The mapping that describes it; replaced in place when its mapping is replaced with the JID unchanged. */
  mapping: Mapping;
  /** The topic segment values that formed the JID (original case). */
  readonly segments: Segments;
  /** Display name: the mapping's name template, or the unescaped local part. */
  name: string;
  online: boolean;
  /** Available but asleep (Homie `sleeping`): presence shows it away (`xa`); commands are held until it wakes. */
  asleep?: boolean;
  /** ms since epoch of the last message from the device; 0 when never seen since start. */
  lastSeen: number;
  /** The broker (`embedded` or `external`) the device was last heard on: commands go back the same way. */
  via: string | undefined;
}

/** One validated uplink payload of a device. */
export interface Reading {
  readonly device: Device;
  readonly topic: string;
  /** The JSON text as the device sent it. */
  readonly json: string;
  readonly value: unknown;
  readonly qos: 0 | 1 | 2;
  readonly receivedAt: number;
}
