/**
 * A TCP relay between a client (the bridge) and a server (Prosody's component port), able to make a cut that only
 * the client sees: what a NAT that dropped its mapping, or a path that died, does to a long-lived connection. The
 * server keeps its side of the connection open (the relay still reads and acknowledges what the server writes) until
 * `release()` ends it.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
}

export class TcpRelay {
  private readonly pairs = new Set<Pair>();
  private readonly held = new Set<Socket>();

  private readonly server: Server;

  private constructor(targetHost: string, targetPort: number) {
    this.server = createServer((client) => this.relay(client, targetHost, targetPort));
  }

  /** The port it listens on. */
  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  static async start(targetHost: string, targetPort: number, listenHost = '127.0.0.1'): Promise<TcpRelay> {
    const relay = new TcpRelay(targetHost, targetPort);
    relay.server.listen(0, listenHost);
    await once(relay.server, 'listening');
    return relay;
  }

  /** Connections relayed at the moment. */
  get connections(): number {
    return this.pairs.size;
  }

  /**
   * Drops the client side of every relayed connection (the client sees it close) and keeps the server side open,
   * discarding what the server writes, until `release()`.
   */
  cut(): void {
    for (const pair of this.pairs) {
      pair.client.removeAllListeners('data').removeAllListeners('end').removeAllListeners('close');
      pair.upstream.removeAllListeners('data').removeAllListeners('end').removeAllListeners('close');
      pair.client.on('error', () => undefined);
      pair.client.destroy();
      pair.upstream.on('data', () => undefined); // read and acknowledged, never delivered
      this.held.add(pair.upstream);
      pair.upstream.once('close', () => this.held.delete(pair.upstream));
    }
    this.pairs.clear();
  }

  /** Ends the server side of the connections held since `cut()` (the server sees a FIN). */
  release(): void {
    for (const s of this.held) s.end();
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    for (const s of this.held) s.destroy();
    this.pairs.clear();
    this.held.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket, host: string, port: number): void {
    const upstream = connect(port, host);
    const pair = { client, upstream };
    this.pairs.add(pair);
    const drop = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('data', (d: Buffer) => upstream.write(d));
    upstream.on('data', (d: Buffer) => client.write(d));
    // An ordinary close travels through: either side's FIN ends the other side.
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('close', () => {
      this.pairs.delete(pair);
      upstream.destroy();
    });
    upstream.on('close', () => {
      this.pairs.delete(pair);
      client.destroy();
    });
  }
}
