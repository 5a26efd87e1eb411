/**
 * Ajv errors as one line each with a JSON path, shared by the config, mapping and payload validators so every
 * validation message in the product reads the same way.
 */
import type { ErrorObject } from 'ajv';

export interface PathMessage {
  readonly path: string;
  readonly message: string;
}

export function ajvErrorsToPathMessages(errors: readonly ErrorObject[] | null | undefined): PathMessage[] {
  const out: PathMessage[] = [];
  const seen = new Set<string>();
  for (const e of errors ?? []) {
    let path = e.instancePath;
    let message = e.message ?? 'is invalid';
    const params = e.params as Record<string, unknown>;
    if (e.keyword === 'required' && typeof params['missingProperty'] === 'string') {
      path = `${path}/${params['missingProperty']}`;
      message = 'is required';
    } else if (e.keyword === 'additionalProperties' && typeof params['additionalProperty'] === 'string') {
      path = `${path}/${params['additionalProperty']}`;
      message = 'is not a known property';
    } else if (e.keyword === 'enum' && Array.isArray(params['allowedValues'])) {
      message = `must be one of ${params['allowedValues'].map((v) => JSON.stringify(v)).join(', ')}`;
    } else if (e.keyword === 'if') {
      continue; // the failing branch reports the real reason
    }
    const key = `${path}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path: path || '/', message });
  }
  return out;
}

/** One human line: `/temperature must be number; /humidity is required`. */
export function summarize(messages: readonly PathMessage[], max = 5): string {
  const shown = messages.slice(0, max).map((m) => `${m.path} ${m.message}`);
  if (messages.length > max) shown.push(`and ${messages.length - max} more`);
  return shown.join('; ');
}
