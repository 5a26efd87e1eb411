import { readdir, readFile, readlink } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const POLL_INTERVAL_MS = 50;
const CONNECT_ATTEMPT_TIMEOUT_MS = 1000;

// Ports this process has already handed out. The kernel may return the same ephemeral port to two
// listen(0) calls made in quick succession once the first probe socket is closed; remembering them
// keeps two servers started by the same process from being given the same port.
const handedOut = new Set<number>();

function probePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error(`could not read a free port on ${host}`))));
    });
  });
}

/** A TCP port on `host` that was free a moment ago (there is an unavoidable race with other processes). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await probePort(host);
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no unused free port found on ${host}`);
}

/** `requested`, checked, or a free port on `listen` when it is 0 or undefined. */
export async function pickPort(requested: number | undefined, listen: string): Promise<number> {
  if (requested === undefined || requested === 0) return freePort(listen);
  if (!Number.isInteger(requested) || requested < 0 || requested > 65535) throw new Error(`invalid port: ${requested}`);
  return requested;
}

/**
 * One TCP conversation with host:port, bounded by `timeoutMs`: `converse` attaches its handlers to the socket and
 * calls `done` with the outcome; an error or the timeout count as false. The socket is destroyed at the end.
 */
export function probeSocket(
  host: string,
  port: number,
  timeoutMs: number,
  converse: (socket: Socket, done: (ok: boolean) => void) => void,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    converse(socket, done);
  });
}

function tryConnect(host: string, port: number): Promise<boolean> {
  return probeSocket(host, port, CONNECT_ATTEMPT_TIMEOUT_MS, (socket, done) => socket.once('connect', () => done(true)));
}

/**
 * Resolves once a TCP connection to host:port succeeds. Rejects after `timeoutMs`, or as soon as
 * `isAlive` returns false (so a server that died during start-up fails fast instead of timing out).
 */
export async function waitForPort(
  host: string,
  port: number,
  timeoutMs: number,
  isAlive?: () => boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (isAlive && !isAlive()) throw new Error(`process exited before ${host}:${port} accepted connections`);
    if (await tryConnect(host, port)) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${host}:${port}`);
    await sleep(POLL_INTERVAL_MS);
  }
}

/** The TCP ports `pid` listens on, from Linux /proc; undefined where /proc is not available. */
export async function listeningPorts(pid: number): Promise<Set<number> | undefined> {
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  const inodes = new Set<string>();
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) inodes.add(inode);
  }
  const ports = new Set<number>();
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st ... inode: st 0A is LISTEN, local_address is HEXADDR:HEXPORT.
      const f = line.trim().split(/\s+/);
      const port = f[1]?.split(':')[1];
      if (f[3] === '0A' && port && f[9] && inodes.has(f[9])) ports.add(parseInt(port, 16));
    }
  }
  return ports;
}

/**
 * Throws when `pid` does not itself listen on every one of `ports`: a readiness probe may have reached another
 * process holding one of them. Nothing is checked without a pid or where /proc is not available.
 */
export async function assertListening(pid: number | undefined, host: string, ports: readonly number[]): Promise<void> {
  const owned = pid === undefined ? undefined : await listeningPorts(pid);
  const missing = owned && ports.filter((p) => !owned.has(p));
  if (missing && missing.length > 0) {
    throw new Error(`${ports.length === 1 ? 'port' : 'port(s)'} ${missing.join(', ')} on ${host} already in use by another process`);
  }
}
