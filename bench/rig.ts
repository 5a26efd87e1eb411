/**
 * What every scenario provides to the rate search: a way to connect N devices at a QoS, to offer a paced run of
 * messages, and the tally of the receiver at the far end.
 */
import { randomBytes } from 'node:crypto';
import { startProsody, type ProsodyInstance } from '../src/servers/prosody.js';
import type { Tally } from './receiver.js';
import { XmppReceiver } from './receiver.js';

export type ScenarioId = 'B' | 'S' | 'X' | 'N' | 'M' | 'P';
export type Qos = 0 | 1;

export interface OfferArgs {
  readonly runId: number;
  readonly rate: number;
  readonly total: number;
  readonly startAtUs: number;
}

export interface OfferResult {
  readonly offered: number;
  readonly sent: number;
  readonly lagMaxMs: number;
}

export interface Rig {
  readonly id: ScenarioId;
  readonly title: string;
  /** Processes whose CPU use is reported per step (name → pid). */
  readonly pids: Record<string, number | undefined>;
  readonly tally: Tally;
  /** Whether this path can carry the QoS at all. */
  supports(qos: Qos): boolean | string;
  /** Connect `devices` devices for `qos` runs (and warm up). */
  prepare(devices: number, qos: Qos): Promise<void>;
  offer(a: OfferArgs): Promise<OfferResult>;
  /** Disconnect the devices of prepare(). */
  unprepare(): Promise<void>;
  /** Diagnostics after a step (e.g. the bridge's counters). */
  diagnostics?(): Promise<unknown>;
  close(): Promise<void>;
}

export const DOMAIN = 'iot.localhost';
/** A second component domain: the downlink's reference (a bare component answering commands) runs there beside the bridge. */
export const ECHO_DOMAIN = 'echo.localhost';
/** A third: the downlink's null bridge (aedes + a component, no mapping) runs there beside the two. */
export const NULL_DOMAIN = 'null.localhost';
export const HOST = 'localhost';
/** The PubSub service of scenario P: a component, so mod_pubsub is loaded before mod_pubsub_mqtt looks for it. */
export const PUBSUB = 'pubsub.localhost';
export const RECEIVER_USER = 'bench';
export const COMMANDER_USER = 'commander';
export const RECEIVER_JID = `${RECEIVER_USER}@${HOST}`;

export interface BenchServer {
  readonly prosody: ProsodyInstance;
  readonly secret: string;
  readonly service: string;
  readonly receiver: XmppReceiver;
  stop(): Promise<void>;
}

/**
 * Prosody 0.12 leaves Nagle's algorithm on for its sockets (server_epoll `nagle = true`): a small stanza to a client
 * can then wait for the client's delayed ACK (~40 ms on Linux), which would dominate every latency figure. The bench
 * turns it off (`network_settings = { nagle = false }`) unless BENCH_PROSODY_NAGLE=1.
 */
export const PROSODY_NAGLE = process.env['BENCH_PROSODY_NAGLE'] === '1';

/**
 * The same Prosody for every XMPP scenario: 0.12 from Debian, private dir, log level warn, no `limits` module, the
 * component domain, and PubSub with mod_pubsub_mqtt loaded (used by P only), with the receiver logged in.
 */
export async function startBenchServer(): Promise<BenchServer> {
  const secret = randomBytes(12).toString('hex');
  const prosody = await startProsody({
    components: [
      { domain: DOMAIN, secret },
      { domain: ECHO_DOMAIN, secret },
      { domain: NULL_DOMAIN, secret },
    ],
    // mod_pubsub_mqtt finds its PubSub service when the host is added: loaded next to mod_pubsub on a VirtualHost it
    // only works if the (random) module load order happens to put pubsub first. On a PubSub component the component
    // module is always loaded first.
    extraModules: ['pubsub_mqtt'],
    extraHostConfig: `Component "${PUBSUB}" "pubsub"\n  modules_enabled = { "pubsub_mqtt" }`,
    logLevel: 'warn',
    // Admin: may create PubSub nodes on the host service (scenario P). Nagle: see PROSODY_NAGLE.
    extraGlobalConfig: [`admins = { "${RECEIVER_JID}" }`, ...(PROSODY_NAGLE ? [] : ['network_settings = { nagle = false }'])].join('\n'),
  });
  try {
    await prosody.register(RECEIVER_USER, `pw-${RECEIVER_USER}`);
    await prosody.register(COMMANDER_USER, `pw-${COMMANDER_USER}`);
    const receiver = await XmppReceiver.connect(prosody, RECEIVER_USER, `pw-${RECEIVER_USER}`);
    return {
      prosody,
      secret,
      service: `xmpp://${prosody.listen}:${prosody.componentPort}`,
      receiver,
      async stop() {
        await receiver.stop();
        await prosody.removeDir();
      },
    };
  } catch (err) {
    await prosody.removeDir();
    throw err;
  }
}

let shared: Promise<BenchServer> | undefined;

/** The one Prosody (and receiver) of a bench run, started on first use; stop it with stopSharedServer(). */
export function sharedServer(): Promise<BenchServer> {
  shared ??= startBenchServer();
  shared.catch(() => {
    shared = undefined;
  });
  return shared;
}

export async function stopSharedServer(): Promise<void> {
  const s = shared;
  shared = undefined;
  if (s) await (await s).stop();
}

/** Device topics and ids shared by the MQTT scenarios (the bench mapping turns them into bench-dN@iot.localhost). */
export const DEVICE = {
  clientId: 'climate-bench-d{i}',
  topic: 'sensors/bench/d{i}/telemetry',
  commands: 'sensors/bench/d{i}/set',
  filter: 'sensors/+/+/telemetry',
} as const;

/** Source addresses of the device simulator: spread like a fleet would be (and past one address's port range). */
export const SIM_SOURCES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
