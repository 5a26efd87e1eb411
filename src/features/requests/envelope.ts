/**
 * The request API's envelope, Zigbee2MQTT style: a client publishes on `<base>/bridge/request/<op>` (optionally a JSON
 * object, whose `transaction` is echoed), and the bridge answers on `<base>/bridge/response/<op>` with
 * `{"status": "ok" | "error", "data": {…}, "error"?: "…", "code"?: "…", "transaction"?: …}`.
 */
import type { OperationOutcome } from '../../kernel/operations.js';

export interface RequestEnvelope {
  /** The request's JSON object (empty when the payload was empty or not an object). */
  readonly body: Record<string, unknown>;
  readonly transaction?: unknown;
}

/** Requests larger than this are answered with an error without being parsed. */
export const MAX_REQUEST_BYTES = 64 * 1024;

export function requestTopic(base: string, op: string): string {
  return `${base}/bridge/request/${op}`;
}

export function responseTopic(base: string, op: string): string {
  return `${base}/bridge/response/${op}`;
}

/** Parse a request payload: a JSON object carries parameters; anything else (empty, a word) carries none. */
export function parseRequest(payload: Buffer): RequestEnvelope | { readonly tooLarge: true } {
  if (payload.length > MAX_REQUEST_BYTES) return { tooLarge: true };
  let body: Record<string, unknown> = {};
  const text = payload.toString('utf8').trim();
  try {
    const parsed: unknown = text === '' ? {} : JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    // a plain-text request (e.g. an empty string or a word) carries no parameters
  }
  const transaction = body['transaction'];
  return { body, ...(transaction !== undefined ? { transaction } : {}) };
}

/** The response document for an outcome. */
export function responseBody(outcome: OperationOutcome, transaction: unknown): Record<string, unknown> {
  const tx = transaction !== undefined ? { transaction } : {};
  return outcome.ok
    ? { status: 'ok', data: outcome.data, ...tx }
    : { status: 'error', data: outcome.data ?? {}, error: outcome.error, ...(outcome.code ? { code: outcome.code } : {}), ...tx };
}
