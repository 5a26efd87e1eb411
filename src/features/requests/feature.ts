/**
 * The request API over MQTT: every `<base>/bridge/request/<op>` is run as the operation `<op>` (kernel/operations.ts)
 * and answered on `<base>/bridge/response/<op>` (envelope.ts). Operations: health, reload, device/list,
 * device/rename, device/remove, device/command, import/list, import/approve, import/block (docs/OPERATIONS.md).
 *
 * Who may ask is the broker's business: the embedded broker lets only the bridge's service accounts whose publish
 * filters cover `<base>/bridge/request/…` publish there (broker/access.ts); devices may publish only their own
 * topics. On an existing broker, its ACL must say the same.
 */
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import { parseRequest, responseBody, responseTopic } from './envelope.js';

/** Requests waiting for their answer at once; beyond it, new ones are answered "busy" (a flood cannot pile up work). */
const MAX_IN_FLIGHT = 32;

export class RequestsFeature implements Feature {
  readonly name = 'requests';
  readonly needs = ['mqtt-listeners'];
  private unwatch: (() => void) | undefined;
  private inFlight = 0;

  constructor(private readonly k: Kernel) {}

  start(): void {
    const prefix = `${this.k.config.baseTopic}/bridge/request/`;
    this.unwatch = this.k.mqtt.watch(`${prefix}#`, (topic, payload) => {
      const op = topic.slice(prefix.length);
      if (op === '') return;
      void this.answer(op, payload);
    });
  }

  stop(): void {
    this.unwatch?.();
  }

  private async answer(op: string, payload: Buffer): Promise<void> {
    const { k } = this;
    const req = parseRequest(payload);
    let body: Record<string, unknown>;
    if ('tooLarge' in req) {
      body = responseBody({ ok: false, code: 'REQUEST_INVALID', error: 'request too large' }, undefined);
    } else if (this.inFlight >= MAX_IN_FLIGHT) {
      body = responseBody({ ok: false, code: 'RATE_LIMITED', error: 'too many requests at once; try again' }, req.transaction);
    } else {
      this.inFlight += 1;
      try {
        const outcome = await k.operations.run(op, req.body, { via: 'mqtt', name: 'service account' });
        if (!outcome.ok) k.log.info({ op, code: outcome.code, err: outcome.error }, 'request refused');
        body = responseBody(outcome, req.transaction);
      } finally {
        this.inFlight -= 1;
      }
    }
    await k.mqtt.publishEverywhere(responseTopic(k.config.baseTopic, op), JSON.stringify(body), { qos: 0, retain: false });
  }
}
