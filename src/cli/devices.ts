/**
 * `mqtt-xmpp-bridge device add|list|remove|rotate`: MQTT credentials in the data directory. Works while the bridge
 * runs (SQLite in WAL mode; the bridge reads credentials at each login, and notices within a second that this process
 * changed them: `rotate` and `remove` end the sessions logged in with the credential). Passwords are printed once
 * and stored only as scrypt hashes.
 */
import { loadConfig } from '../config/load.js';
import { openDatabase } from '../store/db.js';
import { CredentialStore } from '../store/credentials.js';

export interface DeviceCommandArgs {
  readonly action: string | undefined;
  readonly name: string | undefined;
  readonly config: string;
  readonly service: boolean;
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/** A device name is the JID local part its topics map to: lower case, no characters XEP-0106 would escape. */
const NAME = /^[a-z0-9][a-z0-9._-]*$/;

export async function deviceCommand(a: DeviceCommandArgs): Promise<number> {
  const { config } = loadConfig(a.config);
  const db = openDatabase(config.dataDir);
  try {
    const store = new CredentialStore(db);
    switch (a.action) {
      case 'add': {
        if (!a.name || !NAME.test(a.name)) {
          console.error('device add NAME: NAME is the device\'s JID local part (lower case letters, digits, ".", "-", "_"), e.g. plug-kettle');
          return 1;
        }
        if (!a.service && (a.publish.length > 0 || a.subscribe.length > 0)) {
          console.error('--publish/--subscribe are for service accounts (--service): a device\'s rights come from the mappings');
          return 1;
        }
        const password = await store.add(a.name, a.service ? 'service' : 'device', { publish: a.publish, subscribe: a.subscribe });
        console.log(`Created ${a.service ? 'service account' : 'device'} ${a.name}.`);
        console.log(`  MQTT username: ${a.name}`);
        console.log(`  MQTT password: ${password}`);
        console.log('The password is shown only now; "device rotate" makes a new one.');
        return 0;
      }
      case 'rotate': {
        if (!a.name) return usage();
        const password = await store.rotate(a.name);
        console.log(`New password for ${a.name}: ${password}`);
        console.log('The old password no longer works; a running bridge disconnects the clients logged in with it within a second.');
        return 0;
      }
      case 'remove': {
        if (!a.name) return usage();
        if (!store.delete(a.name)) {
          console.error(`no credential "${a.name}"`);
          return 1;
        }
        console.log(`Removed ${a.name}; a running bridge disconnects the clients logged in with it within a second.`);
        return 0;
      }
      case 'list': {
        const all = store.list();
        if (all.length === 0) console.log('No credentials yet: "mqtt-xmpp-bridge device add NAME --config FILE" creates one.');
        for (const c of all) {
          const rights = c.kind === 'service' ? `  publish: ${c.publish.join(', ') || '-'}  subscribe: ${c.subscribe.join(', ') || '-'}` : '';
          console.log(`${c.name.padEnd(32)} ${c.kind.padEnd(8)} created ${new Date(c.createdAt).toISOString()}  updated ${new Date(c.updatedAt).toISOString()}${rights}`);
        }
        return 0;
      }
      default:
        return usage();
    }
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  } finally {
    db.close();
  }
}

function usage(): number {
  console.error('usage: mqtt-xmpp-bridge device add|list|remove|rotate [NAME] --config FILE');
  return 1;
}
