/**
 * The request API over MQTT, Zigbee2MQTT style: a client publishes on `<base>/bridge/request/<op>` (optionally a JSON
 * object, whose `transaction` is echoed), and the bridge answers on `<base>/bridge/response/<op>` with
 * `{"status": "ok" | "error", "data": {…}, "error"?: "…", "transaction"?: …}`. Who may publish requests is the
 * broker's ACL (service accounts with the right to publish there).
 */
import type { Kernel } from '../kernel/kernel.js';

export interface RequestEnvelope {
  /** The request's JSON object (empty when the payload was empty or not an object). */
  readonly body: Record<string, unknown>;
  readonly transaction?: unknown;
}

export type RequestOutcome = { readonly ok: true; readonly data: Record<string, unknown> } | { readonly ok: false; readonly error: string; readonly data?: Record<string, unknown> };

export function requestTopic(base: string, op: string): string {
  return `${base}/bridge/request/${op}`;
}

export function responseTopic(base: string, op: string): string {
  return `${base}/bridge/response/${op}`;
}

/** Parse a request, run it, publish the response (never throws: a failing handler is an error response). */
export async function respond(k: Kernel, op: string, payload: Buffer, handle: (req: RequestEnvelope) => RequestOutcome | Promise<RequestOutcome>): Promise<void> {
  let body: Record<string, unknown> = {};
  let outcome: RequestOutcome;
  const text = payload.toString('utf8').trim();
  try {
    const parsed: unknown = text === '' ? {} : JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    // a plain-text request (e.g. an empty string or a word) carries no parameters
  }
  const transaction = body['transaction'];
  try {
    outcome = await handle({ body, ...(transaction !== undefined ? { transaction } : {}) });
  } catch (err) {
    k.log.error({ op, err: (err as Error).message }, 'request failed');
    outcome = { ok: false, error: (err as Error).message };
  }
  const response = outcome.ok
    ? { status: 'ok', data: outcome.data, ...(transaction !== undefined ? { transaction } : {}) }
    : { status: 'error', data: outcome.data ?? {}, error: outcome.error, ...(transaction !== undefined ? { transaction } : {}) };
  await k.mqtt.publishEverywhere(responseTopic(k.config.baseTopic, op), JSON.stringify(response), { qos: 0, retain: false });
}
