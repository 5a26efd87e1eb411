/**
 * The real embedded broker (aedes behind the bridge's guard, hooks and sessions) with no listener: MQTT clients
 * (mqtt.js) talk to it over in-memory duplex streams. No sockets, the broker's own behaviour.
 */
import { Duplex } from 'node:stream';
import { MqttClient, type IClientOptions } from 'mqtt';
import type { EmbeddedBroker } from '../../src/broker/embedded.js';

/** Two connected in-memory streams: what one end writes, the other reads (Node 20 has no stream.duplexPair). */
export function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const make = (other: () => Duplex): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        other().push(chunk);
        cb();
      },
      final(cb) {
        other().push(null);
        cb();
      },
      destroy(err, cb) {
        const o = other();
        if (!o.destroyed) o.destroy();
        cb(err);
      },
    });
  ends.push(make(() => ends[1]!), make(() => ends[0]!));
  return [ends[0]!, ends[1]!];
}

let remotes = 0;

/** An mqtt.js client connected to `broker` over an in-memory stream; resolves at CONNACK (rejects on a refusal). */
export function memoryClient(broker: EmbeddedBroker, opts: IClientOptions = {}): Promise<MqttClient> {
  const client = new MqttClient(
    () => {
      const [clientEnd, brokerEnd] = duplexPair();
      broker.accept(brokerEnd, `memory:${++remotes}`);
      return clientEnd;
    },
    { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...opts },
  );
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}
