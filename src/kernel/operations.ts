/**
 * What an operator can ask of the bridge — reload, health, device list/rename/remove, command send, import
 * approve/block — as named operations, each provided by the feature that owns it and reached the same way from
 * every front end: the MQTT request API (`<base>/bridge/request/<op>`, features/requests.ts) and the status page's
 * HTTP API (features/http). A front end authenticates its caller; the operation decides nothing about transport.
 *
 * Parameters arrive as an untrusted JSON object; an operation checks them and answers with an outcome (never
 * throws for bad input: `{ok: false, error}`), whose `code` is one of the stable error codes.
 */
import type { ErrorCode } from '../errors.js';

/** Who asked: the front end and the account it authenticated (a service account, the status page's admin). */
export interface Actor {
  readonly via: 'mqtt' | 'http';
  readonly name: string;
}

export type OperationOutcome =
  | { readonly ok: true; readonly data: Record<string, unknown> }
  | { readonly ok: false; readonly error: string; readonly code?: ErrorCode; readonly data?: Record<string, unknown> };

export type Operation = (params: Record<string, unknown>, actor: Actor) => OperationOutcome | Promise<OperationOutcome>;

/** Operations named in the API whose feature is not part of this bridge (yet): what they answer meanwhile. */
const NOT_PROVIDED: Readonly<Record<string, string>> = {
  'import/list': 'no importer enabled',
  'import/approve': 'no importer enabled',
  'import/block': 'no importer enabled',
};

export class Operations {
  private readonly ops = new Map<string, Operation>();

  /** Provide an operation; returns the function that withdraws it (a feature stopping). */
  provide(name: string, op: Operation): () => void {
    if (this.ops.has(name)) throw new Error(`operation "${name}" is already provided`);
    this.ops.set(name, op);
    return () => {
      if (this.ops.get(name) === op) this.ops.delete(name);
    };
  }

  has(name: string): boolean {
    return this.ops.has(name);
  }

  names(): string[] {
    return [...this.ops.keys()].sort();
  }

  /** Run one; never throws (a failing operation is an error outcome). */
  async run(name: string, params: Record<string, unknown>, actor: Actor): Promise<OperationOutcome> {
    const op = this.ops.get(name);
    if (!op) {
      const why = NOT_PROVIDED[name];
      return why ? { ok: false, code: 'NOT_IMPLEMENTED', error: why } : { ok: false, code: 'REQUEST_UNKNOWN', error: `unknown request "${name}"` };
    }
    try {
      return await op(params, actor);
    } catch (err) {
      return { ok: false, code: 'INTERNAL', error: (err as Error).message };
    }
  }
}
