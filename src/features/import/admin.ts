/**
 * The admin command on the component JID (XEP-0050): the bridge's administrators (`xmpp.admins`) list the imported
 * devices waiting for approval and approve or block them with a form, from any client that renders data forms.
 *
 *   disco#items on the component's commands node   this command, for administrators only
 *   execute                                         a form: the pending devices (list-multi), the action
 *                                                   (approve / block) and, for any other device, ids as text
 *   complete with the form                          the decisions, and a note saying what was done
 *
 * Anyone else gets `forbidden` — the same answer whatever the request, so nothing about the fleet leaks.
 */
import { randomBytes } from 'node:crypto';
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { anyMatch, parseJidPattern, type JidPattern } from '../../mapping/jid-pattern.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { IqRequest } from '../../kernel/stanza-router.js';
import { errorElement, field } from '../../xmpp/stanzas.js';
import { NS_ADHOC, NS_DATA, NS_DISCO_INFO } from '../../xmpp/namespaces.js';
import type { ImportFeature } from './feature.js';

export const IMPORT_NODE = 'import-devices';
/** Pending devices offered in the form at most; others are named in the text field. */
const MAX_OPTIONS = 200;

export class ImportAdmin {
  private readonly admins: JidPattern[];

  constructor(
    private readonly k: Kernel,
    private readonly imports: Pick<ImportFeature, 'list' | 'decide' | 'enabled'>,
  ) {
    this.admins = k.config.xmpp.admins.flatMap((source) => {
      const { pattern, error } = parseJidPattern(source, { serverDomain: k.config.xmpp.serverDomain });
      if (error) k.log.warn({ pattern: source, err: error }, 'xmpp.admins: pattern ignored');
      return pattern ? [pattern] : [];
    });
  }

  register(): void {
    const { router, disco } = this.k;
    router.iq('set', NS_ADHOC, 'command', (req) => this.handle(req), 'component');
    disco.componentFeature(NS_ADHOC);
    disco.componentNode({
      items: (node, from) => (node === NS_ADHOC && this.isAdmin(from) && this.imports.enabled.length > 0 ? [xml('item', { jid: this.k.config.xmpp.domain, node: IMPORT_NODE, name: 'Approve or block imported devices' })] : undefined),
      info: (node, from) =>
        node === IMPORT_NODE && this.isAdmin(from)
          ? xml(
              'query',
              { xmlns: NS_DISCO_INFO, node },
              xml('identity', { category: 'automation', type: 'command-node', name: 'Approve or block imported devices' }),
              xml('feature', { var: NS_ADHOC }),
              xml('feature', { var: NS_DATA }),
            )
          : undefined,
    });
  }

  private isAdmin(bare: string): boolean {
    return anyMatch(this.admins, bare);
  }

  private handle(req: IqRequest): Element {
    const el = req.child;
    const node = el.attrs['node'] ?? '';
    if (!this.isAdmin(req.fromBare)) return errorElement('FORBIDDEN', 'only the bridge\'s administrators may run commands on it');
    if (node !== IMPORT_NODE || this.imports.enabled.length === 0) return errorElement('COMMAND_UNKNOWN', `no command "${node}"`);
    const action = el.attrs['action'] ?? 'execute';
    const sessionid = el.attrs['sessionid'] ?? randomBytes(8).toString('hex');
    if (action === 'cancel') return xml('command', { xmlns: NS_ADHOC, node, sessionid, status: 'canceled' });
    const form = el.getChild('x', NS_DATA);
    if (!form || form.attrs['type'] !== 'submit') return this.form(node, sessionid);
    return this.submit(node, sessionid, form, req.fromBare);
  }

  private form(node: string, sessionid: string): Element {
    const pending = this.imports.list({ status: 'pending' });
    const shown = pending.slice(0, MAX_OPTIONS);
    return xml(
      'command',
      { xmlns: NS_ADHOC, node, sessionid, status: 'executing' },
      xml('actions', { execute: 'complete' }, xml('complete')),
      xml(
        'x',
        { xmlns: NS_DATA, type: 'form' },
        xml('title', {}, 'Imported devices'),
        xml(
          'instructions',
          {},
          pending.length === 0
            ? 'No device waits for approval. To approve or block another device, name it below.'
            : `${pending.length} device${pending.length === 1 ? ' waits' : 's wait'} for approval${pending.length > shown.length ? ` (the first ${shown.length} are listed)` : ''}. Choose them and the action.`,
        ),
        xml(
          'field',
          { var: 'devices', type: 'list-multi', label: 'Devices waiting for approval' },
          ...shown.map((d) => xml('option', { label: `${d.name} — ${d.source} ${d.id}${d.model ? ` (${d.model})` : ''}` }, xml('value', {}, `${d.source}:${d.id}`))),
        ),
        xml('field', { var: 'action', type: 'list-single', label: 'Action' }, xml('value', {}, 'approve'), option('approve', 'Approve: import them'), option('block', 'Block: keep them out')),
        field({ var: 'other', type: 'text-multi', label: 'Other devices (source:id, one per line)' }),
      ),
    );
  }

  private submit(node: string, sessionid: string, form: Element, by: string): Element {
    const values = (name: string): string[] =>
      form
        .getChildren('field')
        .find((f) => f.attrs['var'] === name)
        ?.getChildren('value')
        .map((v) => v.text().trim())
        .filter((v) => v !== '') ?? [];
    const action = values('action')[0] ?? 'approve';
    if (action !== 'approve' && action !== 'block') return errorElement('COMMAND_INVALID', 'action must be approve or block');
    const ids = [...values('devices'), ...values('other').flatMap((v) => v.split('\n').map((x) => x.trim()))].filter((v) => v !== '');
    if (ids.length === 0) return errorElement('COMMAND_INVALID', 'no device chosen');
    const done: string[] = [];
    const failed: string[] = [];
    for (const id of ids.slice(0, 1000)) {
      const colon = id.indexOf(':');
      const source = colon > 0 && this.imports.enabled.includes(id.slice(0, colon) as never) ? id.slice(0, colon) : undefined;
      const hardwareId = source !== undefined ? id.slice(colon + 1) : id;
      const r = this.imports.decide(hardwareId, action === 'approve' ? 'approved' : 'blocked', `xmpp:${by}`, source);
      if (r.ok) done.push(`${r.value.name} (${r.value.jid ?? r.value.id})`);
      else failed.push(`${id}: ${r.error.message}`);
    }
    const verb = action === 'approve' ? 'Approved' : 'Blocked';
    const note = [done.length > 0 ? `${verb}: ${done.join(', ')}.` : '', failed.length > 0 ? `Not done: ${failed.join('; ')}.` : ''].filter(Boolean).join(' ');
    return xml('command', { xmlns: NS_ADHOC, node, sessionid, status: 'completed' }, xml('note', { type: failed.length > 0 && done.length === 0 ? 'error' : 'info' }, note));
  }
}

function option(value: string, label: string): Element {
  return xml('option', { label }, xml('value', {}, value));
}

