/** `mqtt-xmpp-bridge audit`: the command audit log, newest first. */
import { loadConfig } from '../config/load.js';
import { AuditLog } from '../store/audit.js';
import { openDatabase } from '../store/db.js';

export function auditCommand(a: { config: string; device?: string; from?: string; limit: number; json: boolean }): number {
  const { config } = loadConfig(a.config);
  const db = openDatabase(config.dataDir);
  try {
    const entries = new AuditLog(db).query({ limit: a.limit, ...(a.device ? { device: a.device } : {}), ...(a.from ? { sender: a.from } : {}) });
    if (a.json) {
      for (const e of entries) console.log(JSON.stringify(e));
      return 0;
    }
    for (const e of entries) {
      console.log(`${new Date(e.at).toISOString()}  ${e.sender}  ${e.device}  ${e.command} (${e.origin})  ${e.outcome}${e.count ? ` ×${e.count}` : ''}${e.detail ? `  ${e.detail}` : ''}`);
    }
    return 0;
  } finally {
    db.close();
  }
}
