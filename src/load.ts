/**
 * Everything the bridge reads before it opens a socket: configuration, payload schemas, mappings. Problems from all
 * of them are collected and reported together (LoadError), so one run of `validate` shows every mistake. A reload
 * reads the same way (`loadDefinitions`), and applies nothing when anything is wrong.
 */
import { LoadError, type LoadProblem } from './errors.js';
import { loadConfig } from './config/load.js';
import type { BridgeConfig } from './config/schema.js';
import { loadMappings } from './mapping/load.js';
import type { Mapping } from './mapping/mapping.js';
import { SchemaRegistry } from './schemas/registry.js';

export interface BridgeSetup {
  readonly config: BridgeConfig;
  readonly mappings: readonly Mapping[];
  readonly schemas: SchemaRegistry;
  readonly warnings: readonly string[];
}

export function loadSetup(configFile: string | undefined, env: NodeJS.ProcessEnv = process.env): BridgeSetup {
  const { config, warnings } = loadConfig(configFile, env); // throws LoadError with every config problem
  const { mappings, schemas, problems } = loadDefinitions(config);
  if (problems.length > 0) throw new LoadError(problems);
  return { config, mappings, schemas, warnings };
}

/** The payload schemas and mapping files a configuration names, compiled afresh, with every problem found. */
export function loadDefinitions(config: BridgeConfig): { mappings: Mapping[]; schemas: SchemaRegistry; problems: LoadProblem[] } {
  const problems: LoadProblem[] = [];
  const schemas = new SchemaRegistry();
  schemas.loadAll(config.schemas, problems);
  const mappings = loadMappings(config.mappings, { registry: schemas, jidVariables: { serverDomain: config.xmpp.serverDomain, domain: config.xmpp.domain } }, problems);
  if (!config.mqtt.embedded.enabled) {
    for (const m of mappings) {
      if (m.availability?.clientId) {
        problems.push({
          file: m.file,
          path: `/mappings/${m.index}/availability/clientId`,
          message: 'needs the embedded broker: a broker reached as a client does not report who is connected; use an availability topic and the device\'s Will',
        });
      }
    }
  }
  return { mappings, schemas, problems };
}
