/**
 * ejabberd as the XMPP server of the integration tests: the same TestServer shape as `startTestServer` (harness.ts)
 * builds for Prosody, so `startBridge({ server })` and the users work unchanged.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EJABBERD_INSTALL_HINT, ejabberdBinary, startEjabberd, type EjabberdInstance, type EjabberdOptions } from '../../src/servers/ejabberd.js';
import { DOMAIN, XmppUser, type TestServer } from './harness.js';

export interface EjabberdTestServer extends TestServer {
  readonly prosody: EjabberdInstance;
  readonly ejabberd: EjabberdInstance;
  /** DIR/logs/ejabberd.log so far ('' when absent). */
  log(): Promise<string>;
}

/** Fail loudly, with the command that fixes it, when ejabberd is missing (no skipped tests). */
export function requireEjabberd(): void {
  if (!ejabberdBinary()) throw new Error(`ejabberd is not installed; install it with: ${EJABBERD_INSTALL_HINT}`);
}

/** A private ejabberd (host `localhost` unless told otherwise) with the component domain declared and a fresh secret. */
export async function startEjabberdTestServer(opts: { domain?: string } & Omit<EjabberdOptions, 'components'> = {}): Promise<EjabberdTestServer> {
  requireEjabberd();
  const { domain = DOMAIN, ...rest } = opts;
  const secret = randomBytes(12).toString('hex');
  const ejabberd = await startEjabberd({ ...rest, components: [{ domain, secret }] });
  const users: XmppUser[] = [];
  return {
    prosody: ejabberd,
    ejabberd,
    secret,
    domain,
    service: `xmpp://${ejabberd.listen}:${ejabberd.componentPort}`,
    async user(name: string): Promise<XmppUser> {
      const password = `pw-${name}`;
      await ejabberd.register(name, password);
      const u = await XmppUser.connect(ejabberd, name, password);
      users.push(u);
      return u;
    },
    log(): Promise<string> {
      return ejabberdLog(ejabberd);
    },
    async stop(): Promise<void> {
      await Promise.all(users.map((u) => u.stop()));
      await ejabberd.removeDir();
    },
  };
}

export function ejabberdLog(ejabberd: EjabberdInstance): Promise<string> {
  return readFile(join(ejabberd.logDir, 'ejabberd.log'), 'utf8').catch(() => '');
}
