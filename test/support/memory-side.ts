/**
 * An in-memory MQTT side for unit tests of the core: devices "publish" (the bridge decides when the publish is
 * acknowledged, as with a real broker), connect, disconnect and subscribe; what the bridge publishes is recorded and
 * routed back to its own watched filters, as a broker would. (Broker behaviour itself is tested on the real aedes.)
 */
import type { InboundPublish, MqttSide, MqttSideHandlers, Publisher, PublishOptions, SubscriptionKind } from '../../src/broker/mqtt-side.js';
import { filterMatches } from '../../src/mapping/topic-pattern.js';

export interface Published {
  readonly topic: string;
  readonly payload: Buffer;
  readonly opts: PublishOptions;
}

export class MemorySide implements MqttSide {
  readonly name = 'embedded';
  readonly knowsPublishers = true;
  readonly published: Published[] = [];
  readonly subscriptions = new Map<string, Set<SubscriptionKind>>();
  /** Granted subscriptions per device identity (what `isSubscribed` answers from). */
  readonly clientSubscriptions = new Map<string, Set<string>>();
  /** Publishes the bridge fails, for the next N calls. */
  failPublishes = 0;
  private handlers: MqttSideHandlers | undefined;
  private waiters: { pred: (p: Published) => boolean; resolve: (p: Published) => void }[] = [];

  start(handlers: MqttSideHandlers): Promise<void> {
    this.handlers = handlers;
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.handlers = undefined;
    return Promise.resolve();
  }

  subscribe(filter: string, kind: SubscriptionKind): Promise<void> {
    let kinds = this.subscriptions.get(filter);
    if (!kinds) this.subscriptions.set(filter, (kinds = new Set()));
    kinds.add(kind);
    return Promise.resolve();
  }

  unsubscribe(filter: string, kind: SubscriptionKind): Promise<void> {
    const kinds = this.subscriptions.get(filter);
    kinds?.delete(kind);
    if (kinds?.size === 0) this.subscriptions.delete(filter);
    return Promise.resolve();
  }

  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
    if (this.failPublishes > 0) {
      this.failPublishes -= 1;
      return Promise.reject(new Error('broker refused the publish'));
    }
    const p = { topic, payload: Buffer.from(payload), opts };
    this.published.push(p);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(p)) return true;
      w.resolve(p);
      return false;
    });
    this.route(topic, p.payload);
    return Promise.resolve();
  }

  isSubscribed(identity: string, topic: string): boolean {
    for (const f of this.clientSubscriptions.get(identity) ?? []) if (filterMatches(f, topic)) return true;
    return false;
  }

  addresses(): Record<string, string> {
    return { mqtt: 'mqtt://memory' };
  }

  /** A device publish; resolves when the bridge lets it be acknowledged (rejects when it refuses it). */
  device(topic: string, payload: string | Buffer, opts: { qos?: 0 | 1 | 2; clientId?: string; retain?: boolean } = {}): Promise<void> {
    const h = this.must();
    const msg: InboundPublish = { topic, payload: Buffer.from(payload), qos: opts.qos ?? 1, retain: opts.retain ?? false, clientId: opts.clientId ?? 'device', replay: false };
    return new Promise((resolve, reject) => {
      h.onPublish(msg, (err) => {
        if (err) return reject(err);
        resolve();
        this.route(topic, msg.payload);
      });
    });
  }

  /** A message the broker routes (e.g. a Will) without the device publish path; `publisher`: who sent it, if known. */
  route(topic: string, payload: Buffer, publisher?: Publisher): void {
    const h = this.handlers;
    if (!h) return;
    for (const [filter, kinds] of this.subscriptions) {
      if ((kinds.has('watched') || kinds.has('watched-once')) && filterMatches(filter, topic)) h.onWatched(filter, topic, payload, publisher);
    }
  }

  connect(clientId: string): void {
    this.must().onClientConnected(clientId);
  }

  disconnect(clientId: string): void {
    this.must().onClientDisconnected(clientId);
  }

  /** A device's session subscribes (granted). */
  subscribeClient(identity: string, filter: string): void {
    let set = this.clientSubscriptions.get(identity);
    if (!set) this.clientSubscriptions.set(identity, (set = new Set()));
    set.add(filter);
    this.must().onSubscribed?.(identity);
  }

  /** The first publish by the bridge from now on that matches. */
  next(pred: (p: Published) => boolean, what = 'a publish', timeoutMs = 2000): Promise<Published> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (p) => {
          clearTimeout(timer);
          resolve(p);
        },
      });
    });
  }

  private must(): MqttSideHandlers {
    if (!this.handlers) throw new Error('the side is not started');
    return this.handlers;
  }
}
