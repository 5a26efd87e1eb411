/**
 * Generated schemas of imported devices, compiled once per device model and shared by every device of that model
 * (5,000 Zigbee bulbs of one kind: one reading validator, one per command). Counted by users: a model no imported
 * device uses any more is removed from Ajv, so a fleet that churns through models does not grow memory.
 *
 * One Ajv instance of its own (a duplicate `$id` would throw in a shared one); Ajv's optimizing pass is skipped
 * (`code.optimize: false`): it halves compile time, and these schemas are flat.
 */
import type { ValidateFunction } from 'ajv';
import type { Generated } from '../../importers/generate.js';
import { createAjv } from '../../schemas/ajv.js';
import type { CompiledSchema } from '../../schemas/registry.js';

export interface ModelSchemas {
  readonly reading: CompiledSchema;
  readonly commands: ReadonlyMap<string, CompiledSchema>;
}

interface Entry {
  readonly schemas: ModelSchemas;
  readonly users: Set<string>;
}

export class ModelSchemaCache {
  private readonly ajv = createAjv({ code: { optimize: false } });
  private readonly byModel = new Map<string, Entry>();

  /** The compiled schemas of a model, compiling them the first time; `user` (a mapping id) now uses them. */
  acquire(modelKey: string, generated: () => Generated, file: string, user: string): ModelSchemas {
    let entry = this.byModel.get(modelKey);
    if (!entry) {
      const g = generated();
      const compile = (schema: Record<string, unknown>): CompiledSchema => {
        const id = schema['$id'] as string;
        // Compiled from a description the importer generated: a schema Ajv refuses is a bug, not input (it throws).
        const validate: ValidateFunction = this.ajv.compile(schema);
        return { id, file, schema, validate };
      };
      entry = { schemas: { reading: compile(g.readingSchema), commands: new Map(g.commands.map((c) => [c.name, compile(c.schema)])) }, users: new Set() };
      this.byModel.set(modelKey, entry);
    }
    entry.users.add(user);
    return entry.schemas;
  }

  /** `user` no longer uses the model; the last user frees it. */
  release(modelKey: string, user: string): void {
    const entry = this.byModel.get(modelKey);
    if (!entry?.users.delete(user) || entry.users.size > 0) return;
    this.byModel.delete(modelKey);
    this.ajv.removeSchema(entry.schemas.reading.id);
    for (const c of entry.schemas.commands.values()) this.ajv.removeSchema(c.id);
  }

  get models(): number {
    return this.byModel.size;
  }
}
