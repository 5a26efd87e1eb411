#!/usr/bin/env node
/**
 * Command-line entry: parse arguments, load, run a command, exit with a meaningful code.
 *   0 success · 1 invalid configuration, schemas or mappings · 2 refused by the XMPP server (wrong secret, domain taken)
 *   3 any other failure
 */
import { parseArgs } from 'node:util';
import { Bridge } from './app.js';
import { LoadError, formatProblem } from './errors.js';
import { loadSetup } from './load.js';
import { createLogger, errorText } from './log.js';
import { ENV_OVERRIDES } from './config/env.js';
import { PRODUCT } from './version.js';

const EXIT_CONFIG = 1;
const EXIT_REFUSED = 2;
const EXIT_FAILURE = 3;
/** A stop may first wait for a start under way (the broker's first CONNACK is awaited up to 10 s), then stops. */
const STOP_TIMEOUT_MS = 20_000;
/** After a completed stop, the process exits within this even if a library still holds a handle. */
const EXIT_GRACE_MS = 2000;

const HELP: Record<string, string> = {
  main: `${PRODUCT.name} ${PRODUCT.version}: MQTT devices as XMPP entities

Usage: mqtt-xmpp-bridge <command> [options]

Commands:
  start      run the bridge
  validate   check configuration, payload schemas and mappings, print every problem
  demo       run a private Prosody, the bridge and simulated devices, and print how to log in
  device     manage MQTT credentials: add, list, remove, rotate
  devices    imported devices (Zigbee2MQTT, Home Assistant discovery, Tasmota, Homie): list, approve, block
  audit      show the command audit log
  preview    show what the bridge would do with one publish (mapping, device, errors, stanza), sending nothing

Run 'mqtt-xmpp-bridge <command> --help' for a command's options.`,
  start: `Usage: mqtt-xmpp-bridge start --config FILE

Runs the bridge: the embedded MQTT broker and the XMPP component.

Options:
  -c, --config FILE   configuration file (YAML)
  -h, --help          this help

Environment variables override the file:
${ENV_OVERRIDES.map((o) => `  ${o.name.padEnd(28)} ${o.description}`).join('\n')}

Mapping and schema files are watched and reloaded when they change; SIGHUP reloads them too. A reload applies
nothing when anything is wrong (every problem is logged) and keeps connections and the XMPP stream up.

Exit codes: 0 stopped by SIGTERM/SIGINT, 1 invalid configuration, 2 refused by the XMPP server, 3 other failure.`,
  validate: `Usage: mqtt-xmpp-bridge validate --config FILE

Checks the configuration, the payload schemas and the mappings, and prints every problem at once, one per line,
with file and JSON path. Opens no socket. Exit code 0 when valid, 1 otherwise.

Options:
  -c, --config FILE   configuration file (YAML)
  -h, --help          this help`,
  device: `Usage: mqtt-xmpp-bridge device add NAME [--service --publish FILTER… --subscribe FILTER…] --config FILE
       mqtt-xmpp-bridge device list|remove NAME|rotate NAME --config FILE

MQTT credentials, stored as scrypt hashes in the data directory; works while the bridge runs.
A device's NAME is the local part of its JID (e.g. plug-kettle): it may publish only the topics that map to that JID
and subscribe only to its own command topics. A service account (--service) gets the topic filters given with
--publish and --subscribe instead (repeat them for several).

Options:
  -c, --config FILE   configuration file (YAML): where the data directory is
  --service           a service account instead of a device
  --publish FILTER    (service) topic filter it may publish to
  --subscribe FILTER  (service) topic filter it may subscribe to
  -h, --help          this help`,
  devices: `Usage: mqtt-xmpp-bridge devices list [--source SOURCE] [--status STATUS] [--json] --config FILE
       mqtt-xmpp-bridge devices approve ID [--source SOURCE] --config FILE
       mqtt-xmpp-bridge devices block ID [--source SOURCE] --config FILE

Devices that described themselves on the broker (import.<source> in the configuration). With mode "approve", new
devices wait (status pending: no presence, no disco) until approved here, by the request topic
<base>/bridge/request/import/approve, or by an administrator's XEP-0050 command. A blocked device stays out
whatever it announces. Works while the bridge runs: it applies a decision within a second.

ID is the device's hardware id (IEEE address, MAC, discovery identifier, Homie id) as "list" shows it.

Options:
  -c, --config FILE   configuration file (YAML): where the data directory is
  --source SOURCE     zigbee2mqtt, homeassistant, tasmota or homie (needed when an id is in two sources, and to block
                      a device not seen yet)
  --status STATUS     list only pending, approved or blocked devices
  --json              one JSON object per line
  -h, --help          this help`,
  audit: `Usage: mqtt-xmpp-bridge audit [--device JID] [--from JID] [--limit N] [--json] --config FILE

Every command the bridge received — who, which device, which command, the outcome — newest first.

Options:
  -c, --config FILE   configuration file (YAML)
  --device JID        only commands for this device
  --from JID          only commands from this sender (bare JID)
  --limit N           at most N entries (default 50)
  --json              one JSON object per line
  -h, --help          this help`,
  preview: `Usage: mqtt-xmpp-bridge preview --config FILE --topic T (--payload P | --file F) [--json]

Runs one publish through the bridge's own uplink and delivery mode without sending anything: the mapping and the
device it hits, the validation errors, and the exact stanza that would be sent. Needs no broker or XMPP server.
Exit code 0 when it would be delivered, 1 when it is rejected or no mapping takes the topic.

Options:
  -c, --config FILE   configuration file (YAML)
  --topic T           the MQTT topic
  --payload P         the payload, as text
  --file F            the payload, read from a file (bytes as they are)
  --json              print the result as JSON
  -h, --help          this help`,
  demo: `Usage: mqtt-xmpp-bridge demo [--dir DIR] [--host ADDR | --public]

Starts a private Prosody on 127.0.0.1 (needs: sudo apt-get install -y prosody), creates a demo account, starts the
bridge with the example mappings and a few simulated devices publishing over MQTT, and prints how to log in with any
XMPP client. Ctrl-C stops everything it started.

Options:
  --dir DIR           keep Prosody's and the bridge's state in DIR (default: a new temporary directory)
  --host ADDR         listen on ADDR instead of 127.0.0.1
  --public            listen on every interface, so a phone on the same network can log in (prints the address)
  -h, --help          this help`,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    console.log(HELP['main']);
    return command === undefined ? EXIT_CONFIG : 0;
  }
  if (command === '--version' || command === '-v') {
    console.log(PRODUCT.version);
    return 0;
  }
  const help = HELP[command];
  if (!help || command === 'main') {
    console.error(`unknown command "${command}"\n\n${HELP['main']}`);
    return EXIT_CONFIG;
  }
  let values: {
    config?: string;
    help?: boolean;
    dir?: string;
    service?: boolean;
    publish?: string[];
    subscribe?: string[];
    device?: string;
    from?: string;
    limit?: string;
    json?: boolean;
    host?: string;
    public?: boolean;
    topic?: string;
    payload?: string;
    file?: string;
    source?: string;
    status?: string;
  };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        dir: { type: 'string' },
        service: { type: 'boolean' },
        publish: { type: 'string', multiple: true },
        subscribe: { type: 'string', multiple: true },
        device: { type: 'string' },
        from: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
        host: { type: 'string' },
        public: { type: 'boolean' },
        topic: { type: 'string' },
        payload: { type: 'string' },
        file: { type: 'string' },
        source: { type: 'string' },
        status: { type: 'string' },
      },
      allowPositionals: command === 'device' || command === 'devices',
      strict: true,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${help}`);
    return EXIT_CONFIG;
  }
  if (values.help) {
    console.log(help);
    return 0;
  }
  switch (command) {
    case 'validate':
      return validate(values.config);
    case 'start':
      return start(values.config);
    case 'device': {
      if (!requireConfig(values.config)) return EXIT_CONFIG;
      const { deviceCommand } = await import('./cli/devices.js');
      return deviceCommand({
        action: positionals[0],
        name: positionals[1],
        config: values.config,
        service: values.service ?? false,
        publish: values.publish ?? [],
        subscribe: values.subscribe ?? [],
      });
    }
    case 'devices': {
      if (!requireConfig(values.config)) return EXIT_CONFIG;
      const { devicesCommand } = await import('./cli/devices-import.js');
      return devicesCommand({ action: positionals[0], id: positionals[1], config: values.config, source: values.source, status: values.status, json: values.json ?? false });
    }
    case 'audit': {
      if (!requireConfig(values.config)) return EXIT_CONFIG;
      const { auditCommand } = await import('./cli/audit.js');
      return auditCommand({ config: values.config, ...(values.device ? { device: values.device } : {}), ...(values.from ? { from: values.from } : {}), limit: Number(values.limit ?? 50) || 50, json: values.json ?? false });
    }
    case 'preview': {
      if (!requireConfig(values.config)) return EXIT_CONFIG;
      const { previewCommand } = await import('./cli/preview.js');
      return previewCommand({ config: values.config, topic: values.topic, payload: values.payload, file: values.file, json: values.json ?? false });
    }
    case 'demo': {
      const { runDemo } = await import('./demo/run.js');
      if (values.host !== undefined && values.public) {
        console.error('use --host ADDR or --public, not both');
        return EXIT_CONFIG;
      }
      return runDemo({ ...(values.dir !== undefined ? { dir: values.dir } : {}), ...(values.host !== undefined ? { host: values.host } : {}), public: values.public ?? false });
    }
  }
  return EXIT_CONFIG;
}

function requireConfig(file: string | undefined): file is string {
  if (file !== undefined) return true;
  console.error('missing --config FILE');
  return false;
}

function validate(file: string | undefined): number {
  if (!requireConfig(file)) return EXIT_CONFIG;
  try {
    const setup = loadSetup(file);
    for (const w of setup.warnings) console.error(`warning: ${w}`);
    console.log(`${file}: valid (${setup.mappings.length} mapping${setup.mappings.length === 1 ? '' : 's'}: ${setup.mappings.map((m) => m.id).join(', ')})`);
    return 0;
  } catch (err) {
    if (err instanceof LoadError) {
      for (const p of err.problems) console.error(formatProblem(p));
      console.error(`${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} found`);
      return EXIT_CONFIG;
    }
    throw err;
  }
}

async function start(file: string | undefined): Promise<number> {
  if (!requireConfig(file)) return EXIT_CONFIG;
  let setup;
  try {
    setup = loadSetup(file);
  } catch (err) {
    if (err instanceof LoadError) {
      for (const p of err.problems) console.error(formatProblem(p));
      console.error(`${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} found; not starting`);
      return EXIT_CONFIG;
    }
    throw err;
  }
  const log = createLogger({ level: setup.config.log.level, ...(setup.config.log.file ? { destination: setup.config.log.file } : {}) });
  for (const w of setup.warnings) log.warn(w);
  let bridge: Bridge;
  try {
    // Cluster mode joins the other instances (Redis) here; a single instance opens its database.
    bridge = await Bridge.open(setup, log);
  } catch (err) {
    console.error(`mqtt-xmpp-bridge: cannot start: ${errorText(err)}`);
    log.flush();
    return EXIT_FAILURE;
  }

  return new Promise<number>((resolve) => {
    let exiting = false;
    // The process ends with the stop: a connection a library still holds (a client reconnecting) must not keep a
    // stopped bridge alive, so it is ended for good shortly after, once the log is written.
    const exit = (code: number): void => {
      resolve(code);
      log.flush();
      setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
    };
    const shutdown = (code: number, why: string): void => {
      if (exiting) return;
      exiting = true;
      log.info({ why }, 'stopping');
      const timer = setTimeout(() => {
        log.error('stop took too long; exiting');
        exit(code === 0 ? EXIT_FAILURE : code);
      }, STOP_TIMEOUT_MS);
      timer.unref();
      bridge
        .stop()
        .catch((err: unknown) => log.error({ err }, 'error while stopping'))
        .finally(() => {
          clearTimeout(timer);
          log.info('stopped');
          exit(code);
        });
    };
    process.once('SIGTERM', () => shutdown(0, 'SIGTERM'));
    // SIGHUP: read the mapping and schema files again (nothing changes if anything is wrong; see the log).
    process.on('SIGHUP', () => {
      if (!exiting) bridge.reload();
    });
    process.once('SIGINT', () => shutdown(0, 'SIGINT'));
    // One line for the operator on stderr; the structured log has the same event as its `fatal` record.
    bridge.once('fatal', (err) => {
      console.error(`mqtt-xmpp-bridge: ${err.message}`);
      shutdown(EXIT_REFUSED, 'refused by the XMPP server');
    });
    bridge
      .start()
      .then(() => {
        // A stop that came during the start waited for it and stopped what had started (FeatureRunner).
        if (!exiting) log.info({ ...bridge.addresses(), domain: setup.config.xmpp.domain }, 'bridge started');
      })
      .catch((err: unknown) => {
        console.error(`mqtt-xmpp-bridge: cannot start: ${errorText(err)}`);
        shutdown(EXIT_FAILURE, 'start failed');
      });
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = EXIT_FAILURE;
  },
);
