/**
 * The operator's command (`device/command`, kernel/operations.ts): the status page and the request API send a
 * command as the configured operator identity (`operator.jid`), through the same downlink as every XMPP user — the
 * same authorization (the JID must be among the mapping's operators), validation, holding for an offline device,
 * confirmation, audit log and metrics. Its origin (`http` or `mqtt`) is what the audit log shows.
 */
import type { DeviceRegistry } from '../../devices/registry.js';
import type { Operation } from '../../kernel/operations.js';
import type { Downlink } from './downlink.js';

export function operatorCommand(downlink: Downlink, registry: DeviceRegistry, operatorJid: string | undefined): Operation {
  return async (params, actor) => {
    if (operatorJid === undefined) return { ok: false, code: 'FORBIDDEN', error: 'no operator identity is configured (operator.jid)' };
    const { device, command, payload } = params;
    if (typeof device !== 'string' || device === '') return { ok: false, code: 'REQUEST_INVALID', error: '"device" (a device JID or id) is required' };
    if (typeof command !== 'string' || command === '') return { ok: false, code: 'REQUEST_INVALID', error: '"command" (a command name) is required' };
    // A device id names the device under the component domain; a JID is taken as it is.
    const jid = device.includes('@') ? device.toLowerCase() : `${device.toLowerCase()}@${registry.domain}`;
    const json = typeof payload === 'string' ? payload : JSON.stringify(payload ?? {});
    const r = await downlink.execute({ from: operatorJid, deviceJid: jid, name: command, json, origin: actor.via });
    if (!r.ok) {
      const details = r.error.details;
      return { ok: false, code: r.error.code, error: r.error.message, ...(Array.isArray(details) ? { data: { errors: details } } : {}) };
    }
    const { topic, confirmation, queued } = r.value;
    return { ok: true, data: { device: jid, command, topic, confirmed: confirmation !== undefined, queued: queued === true, as: operatorJid } };
  };
}
