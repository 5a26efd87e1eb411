/**
 * The catalogue of stable error codes, and their translation to the two protocols in one place.
 *
 * Codes are part of the public surface: they appear in logs, on `<base>/bridge/event`, in metrics and in
 * stanza error texts, and tests assert them. Prose may change; codes may not.
 */

/** RFC 6120 §8.3.3 defined conditions used by the bridge. */
export type StanzaErrorCondition =
  | 'bad-request'
  | 'forbidden'
  | 'item-not-found'
  | 'internal-server-error'
  | 'not-acceptable'
  | 'policy-violation'
  | 'recipient-unavailable'
  | 'remote-server-timeout'
  | 'resource-constraint'
  | 'service-unavailable'
  | 'feature-not-implemented';

/** RFC 6120 §8.3.2 error types. */
export type StanzaErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait';

interface CatalogueEntry {
  readonly condition: StanzaErrorCondition;
  readonly type: StanzaErrorType;
  readonly summary: string;
}

export const ERROR_CATALOGUE = {
  // Uplink: a device payload that never becomes a reading.
  PAYLOAD_NOT_JSON: { condition: 'bad-request', type: 'modify', summary: 'payload is not valid JSON' },
  PAYLOAD_INVALID: { condition: 'bad-request', type: 'modify', summary: 'payload does not match the mapping schema' },
  PAYLOAD_TOO_LARGE: { condition: 'policy-violation', type: 'modify', summary: 'payload exceeds the configured maximum' },
  PAYLOAD_TOO_DEEP: { condition: 'policy-violation', type: 'modify', summary: 'JSON nested deeper than the bridge accepts' },
  MEDIA_TOO_LARGE: { condition: 'policy-violation', type: 'modify', summary: 'binary payload above the media size limit' },
  MEDIA_QUOTA: { condition: 'resource-constraint', type: 'wait', summary: 'the device used its daily upload budget' },
  MEDIA_SUPERSEDED: { condition: 'resource-constraint', type: 'wait', summary: 'a newer snapshot of the device replaced this one before it was sent' },
  MEDIA_UPLOAD_REFUSED: { condition: 'not-acceptable', type: 'cancel', summary: 'the upload service refused a slot' },
  MEDIA_UPLOAD_FAILED: { condition: 'remote-server-timeout', type: 'wait', summary: 'the upload (slot or PUT) failed or timed out' },
  MEDIA_NO_UPLOAD_SERVICE: { condition: 'service-unavailable', type: 'cancel', summary: 'no upload service and no built-in file server' },
  // Commands carrying a file (docs/MEDIA.md): the URL the sender gave, fetched under the fetch policy.
  MEDIA_FETCH_HOST: { condition: 'forbidden', type: 'auth', summary: "the file's URL is not on the sender's own upload server" },
  MEDIA_FETCH_SIZE: { condition: 'policy-violation', type: 'modify', summary: 'the file is larger than the command accepts' },
  MEDIA_FETCH_TIMEOUT: { condition: 'remote-server-timeout', type: 'wait', summary: 'the file was not fetched in time' },
  MEDIA_FETCH_TYPE: { condition: 'not-acceptable', type: 'modify', summary: "the file's media type is not one the command accepts" },
  MEDIA_FETCH_STATUS: { condition: 'not-acceptable', type: 'cancel', summary: 'the file server answered with an error, a redirect or nothing' },
  MEDIA_FETCH_FAILED: { condition: 'remote-server-timeout', type: 'wait', summary: 'the file server could not be reached' },
  MEDIA_FETCH_BUSY: { condition: 'resource-constraint', type: 'wait', summary: 'a file for this device (or too many files) is being fetched already' },
  STANZA_TOO_LARGE: { condition: 'policy-violation', type: 'modify', summary: 'the stanza would exceed the XMPP server limit' },
  JID_INVALID: { condition: 'bad-request', type: 'modify', summary: 'topic segments cannot form a valid JID local part' },
  JID_COLLISION: { condition: 'not-acceptable', type: 'cancel', summary: 'another device already owns this JID' },
  // Either direction.
  DEVICE_UNKNOWN: { condition: 'item-not-found', type: 'cancel', summary: 'no such device' },
  FORBIDDEN: { condition: 'forbidden', type: 'auth', summary: 'the sender is not allowed to do this' },
  COMMAND_INVALID: { condition: 'bad-request', type: 'modify', summary: 'command does not match the command schema' },
  COMMAND_UNKNOWN: { condition: 'item-not-found', type: 'cancel', summary: 'the device has no such command' },
  DEVICE_OFFLINE: { condition: 'recipient-unavailable', type: 'wait', summary: 'the device is offline' },
  TIMEOUT: { condition: 'remote-server-timeout', type: 'wait', summary: 'the device did not confirm in time' },
  RATE_LIMITED: { condition: 'resource-constraint', type: 'wait', summary: 'too many requests; slow down' },
  XMPP_OFFLINE: { condition: 'remote-server-timeout', type: 'wait', summary: 'the XMPP server is not connected' },
  MQTT_PUBLISH_FAILED: { condition: 'remote-server-timeout', type: 'wait', summary: 'the MQTT broker did not accept the publish' },
  MAPPING_INVALID: { condition: 'bad-request', type: 'modify', summary: 'the mapping change is not valid' },
  NOT_IMPLEMENTED: { condition: 'service-unavailable', type: 'cancel', summary: 'not supported' },
  // Operator requests (MQTT request API, status page).
  REQUEST_UNKNOWN: { condition: 'feature-not-implemented', type: 'cancel', summary: 'no such request' },
  REQUEST_INVALID: { condition: 'bad-request', type: 'modify', summary: 'the request\'s parameters are not valid' },
  INTERNAL: { condition: 'internal-server-error', type: 'cancel', summary: 'internal error' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** An error the bridge knows how to report: a stable code plus human detail. */
export class BridgeError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message?: string, details?: unknown) {
    super(message ?? ERROR_CATALOGUE[code].summary);
    this.name = 'BridgeError';
    this.code = code;
    this.details = details;
  }
}

/** Per-message outcome: stages return results and never throw across a stage boundary. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: BridgeError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(code: ErrorCode, message?: string, details?: unknown): Result<T> {
  return { ok: false, error: new BridgeError(code, message, details) };
}

export function stanzaErrorOf(code: ErrorCode): { condition: StanzaErrorCondition; type: StanzaErrorType } {
  const { condition, type } = ERROR_CATALOGUE[code];
  return { condition, type };
}


/**
 * A problem found while loading configuration, schemas or mappings. Loading collects all of them and reports them at
 * once, one line each, before any socket opens.
 */
export interface LoadProblem {
  readonly file: string;
  /** JSON path inside the file, e.g. `/mappings/0/topic`; empty for the whole file. */
  readonly path: string;
  readonly message: string;
}

export class LoadError extends Error {
  readonly problems: readonly LoadProblem[];

  constructor(problems: readonly LoadProblem[]) {
    super(`${problems.length} problem${problems.length === 1 ? '' : 's'} found:\n${problems.map(formatProblem).join('\n')}`);
    this.name = 'LoadError';
    this.problems = problems;
  }
}

export function formatProblem(p: LoadProblem): string {
  return `${p.file}${p.path ? ` ${p.path}` : ''}: ${p.message}`;
}
