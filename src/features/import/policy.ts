/**
 * Which devices of a source are imported, and how (docs/IMPORT.md, "Approval and limits"). Pure.
 *
 *   deny      a device whose hardware id or name matches a deny glob is never imported (refused, IMPORT_DENIED)
 *   allow     when the list is not empty, only devices matching one of its globs are (others: IMPORT_DENIED)
 *   blocked   an operator blocked it: it stays out, whatever it announces
 *   maxDevices  a new device beyond the source's cap is refused (IMPORT_LIMIT); known devices keep their place
 *   mode      `auto`: imported at once; `approve`: pending (no presence, no disco) until an operator approves it
 *
 * Globs: `*` any run of characters, `?` one character, case-insensitive, matched against the whole id or name.
 */
import type { ImportSourceConfig } from '../../config/schema.js';
import type { ImportStatus } from '../../kernel/stores.js';

export type Admission =
  | { readonly kind: 'import'; readonly status: Extract<ImportStatus, 'approved' | 'pending'>; readonly decidedBy?: string }
  | { readonly kind: 'ignore' }
  | { readonly kind: 'refuse'; readonly code: 'IMPORT_DENIED' | 'IMPORT_LIMIT'; readonly reason: string };

export interface Candidate {
  readonly hardwareId: string;
  readonly name: string;
}

export function admit(
  c: Candidate,
  cfg: Pick<ImportSourceConfig, 'mode' | 'allow' | 'deny' | 'maxDevices'>,
  known: { readonly status: ImportStatus } | undefined,
  devicesOfSource: number,
): Admission {
  if (known?.status === 'blocked') return { kind: 'ignore' };
  const denied = cfg.deny.find((g) => globMatches(g, c.hardwareId) || globMatches(g, c.name));
  if (denied) return { kind: 'refuse', code: 'IMPORT_DENIED', reason: `matches the deny glob "${denied}"` };
  if (cfg.allow.length > 0 && !cfg.allow.some((g) => globMatches(g, c.hardwareId) || globMatches(g, c.name))) {
    return { kind: 'refuse', code: 'IMPORT_DENIED', reason: 'matches no allow glob' };
  }
  if (known) return { kind: 'import', status: known.status === 'approved' ? 'approved' : cfg.mode === 'auto' ? 'approved' : 'pending', ...(known.status !== 'approved' && cfg.mode === 'auto' ? { decidedBy: 'auto' } : {}) };
  if (devicesOfSource >= cfg.maxDevices) return { kind: 'refuse', code: 'IMPORT_LIMIT', reason: `the source already has ${cfg.maxDevices} devices (maxDevices)` };
  return cfg.mode === 'auto' ? { kind: 'import', status: 'approved', decidedBy: 'auto' } : { kind: 'import', status: 'pending' };
}

const compiled = new Map<string, RegExp>();

export function globMatches(glob: string, text: string): boolean {
  let re = compiled.get(glob);
  if (!re) {
    re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'is');
    if (compiled.size > 1000) compiled.clear();
    compiled.set(glob, re);
  }
  return re.test(text);
}
