/**
 * What the broker has sent a client and is waiting to hear back about, read from the bytes aedes writes.
 *
 * aedes answers whatever acknowledgement arrives: a PUBREC for a QoS 1 message it sent gets a PUBREL, a PUBACK for a
 * QoS 2 one is taken as its PUBCOMP. Both are protocol violations of the receiving client ([MQTT-4.3.2-2]: a QoS 1
 * PUBLISH is answered with PUBACK; [MQTT-4.3.3-2]: a QoS 2 one with PUBREC, and PUBREL with PUBCOMP), which the
 * server MUST close on [MQTT-4.8.0-1]. So the packet identifiers in flight from server to client are tracked per
 * connection, and the inbound rules (packet-rules.ts) check each acknowledgement's type against them.
 *
 * The outbound scanner also reports the CONNACK's return code: until it is 0 the connection is not accepted.
 * Pure: chunks of the outbound byte stream in (split anywhere), facts out.
 */

/** The state of one packet identifier the server used (§4.3). */
export const enum Sent {
  /** QoS 1 PUBLISH sent: PUBACK expected. */
  Qos1 = 1,
  /** QoS 2 PUBLISH sent: PUBREC expected. */
  Qos2 = 2,
  /** PUBREL sent: PUBCOMP expected. */
  Released = 3,
}

/**
 * At most this many identifiers are tracked per connection; beyond it the oldest is forgotten (an acknowledgement
 * for it is then no longer checked, never wrongly refused). aedes has no limit of its own on unacknowledged
 * messages towards a client, so without one a client that never acknowledges would grow this map up to 65,535
 * entries per connection.
 */
export const MAX_TRACKED_IN_FLIGHT = 1024;

export class InFlight {
  /**
   * Made when the first identifier is sent and dropped when none is left: most connections (an idle device's) have
   * nothing in flight most of the time, and an empty Map with its table is ~165 bytes per connection.
   */
  private ids: Map<number, Sent> | undefined;

  sent(id: number, state: Sent): void {
    const ids = (this.ids ??= new Map<number, Sent>());
    // Re-insert so that the order stays oldest-first (a reused id moves to the end).
    if (ids.delete(id) || ids.size < MAX_TRACKED_IN_FLIGHT) {
      ids.set(id, state);
      return;
    }
    const oldest = ids.keys().next().value;
    if (oldest !== undefined) ids.delete(oldest);
    ids.set(id, state);
  }

  get(id: number): Sent | undefined {
    return this.ids?.get(id);
  }

  done(id: number): void {
    const ids = this.ids;
    if (ids?.delete(id) && ids.size === 0) this.ids = undefined;
  }

  get size(): number {
    return this.ids?.size ?? 0;
  }
}

const enum Out {
  Type,
  Length,
  /** Skipping the rest of the current packet's body. */
  Skip,
  /** PUBLISH: the topic length's two bytes. */
  TopicLength,
  /** PUBLISH: skipping the topic. */
  Topic,
  /** PUBLISH with QoS > 0, PUBREL: the packet identifier's two bytes. */
  Id,
  /** CONNACK: the acknowledge flags, then the return code. */
  Connack,
}

/** Reads the outbound stream: the CONNACK's return code, and the identifiers of QoS 1/2 PUBLISH and PUBREL. */
export class OutboundScanner {
  private state = Out.Type;
  private type = 0;
  private qos = 0;
  private length = 0;
  private multiplier = 1;
  /** Body bytes of the current packet not consumed yet. */
  private remaining = 0;
  /** Bytes still to skip of the current field (topic) or of the packet. */
  private skip = 0;
  private word = 0;
  private wordBytes = 0;
  /** The first CONNACK's return code, once seen. */
  connackCode: number | undefined;

  constructor(private readonly inFlight: InFlight) {}

  /** Scans the next chunk; returns true when this chunk completed the first CONNACK. */
  push(chunk: Uint8Array): boolean {
    let connack = false;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case Out.Skip: {
          const take = Math.min(this.remaining, n - i);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = Out.Type;
          continue;
        }
        case Out.Type: {
          const b = chunk[i++]!;
          this.type = b >> 4;
          this.qos = (b >> 1) & 3;
          this.length = 0;
          this.multiplier = 1;
          this.state = Out.Length;
          continue;
        }
        case Out.Length: {
          const b = chunk[i++]!;
          this.length += (b & 0x7f) * this.multiplier;
          this.multiplier *= 128;
          if (b & 0x80) continue;
          this.remaining = this.length;
          this.wordBytes = 0;
          this.state = this.bodyState();
          continue;
        }
        case Out.TopicLength:
        case Out.Id: {
          this.word = ((this.word << 8) | chunk[i++]!) & 0xffff;
          this.remaining -= 1;
          if (++this.wordBytes < 2) continue;
          this.wordBytes = 0;
          if (this.state === Out.TopicLength) {
            this.skip = this.word;
            this.state = this.skip === 0 ? Out.Id : Out.Topic;
          } else {
            this.inFlight.sent(this.word, this.type === 6 ? Sent.Released : this.qos === 1 ? Sent.Qos1 : Sent.Qos2);
            this.state = this.remaining === 0 ? Out.Type : Out.Skip;
          }
          this.word = 0;
          continue;
        }
        case Out.Topic: {
          const take = Math.min(this.skip, n - i);
          i += take;
          this.skip -= take;
          this.remaining -= take;
          if (this.skip === 0) this.state = Out.Id;
          continue;
        }
        case Out.Connack: {
          const b = chunk[i++]!;
          this.remaining -= 1;
          if (++this.wordBytes === 2) {
            if (this.connackCode === undefined) {
              this.connackCode = b;
              connack = true;
            }
            this.state = this.remaining === 0 ? Out.Type : Out.Skip;
          }
          continue;
        }
      }
    }
    return connack;
  }

  /** What to read of a body that starts now (§3: what aedes writes is well formed). */
  private bodyState(): Out {
    if (this.remaining === 0) return Out.Type;
    if (this.type === 3 && this.qos > 0) return Out.TopicLength; // PUBLISH QoS 1/2
    if (this.type === 6) return Out.Id; // PUBREL
    if (this.type === 2 && this.remaining >= 2) return Out.Connack;
    return Out.Skip;
  }
}
