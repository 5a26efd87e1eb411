/**
 * Payload schemas: one Ajv instance, schemas registered by `$id`, each validator compiled once at load time and then
 * shared by every device of every mapping that names it.
 */
import { readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ValidateFunction } from 'ajv';
import type { LoadProblem } from '../errors.js';
import { readYamlFile } from '../config/yaml-file.js';
import { createAjv } from './ajv.js';

export interface CompiledSchema {
  readonly id: string;
  readonly file: string;
  readonly schema: Readonly<Record<string, unknown>>;
  readonly validate: ValidateFunction;
}

const SCHEMA_EXTENSIONS = new Set(['.json', '.yaml', '.yml']);

export class SchemaRegistry {
  private readonly ajv = createAjv();
  private readonly byId = new Map<string, CompiledSchema>();
  private readonly byFile = new Map<string, CompiledSchema>();

  /** Load every schema file under the given files/directories, collecting problems. */
  loadAll(paths: readonly string[], problems: LoadProblem[]): void {
    const files: string[] = [];
    for (const p of paths) files.push(...listFiles(p, SCHEMA_EXTENSIONS, problems));
    // Register all first so schemas may $ref each other regardless of file order, then compile.
    const added: { file: string; id: string; schema: Record<string, unknown> }[] = [];
    for (const file of files) {
      const a = this.add(file, problems);
      if (a) added.push(a);
    }
    for (const a of added) this.compile(a.file, a.id, a.schema, problems);
  }

  /** Resolve a mapping's `schema:` value: a registered `$id`, or a file path relative to the mapping file's directory. */
  resolve(ref: string, baseDir: string, problems: LoadProblem[], where: { file: string; path: string }): CompiledSchema | undefined {
    const known = this.byId.get(ref);
    if (known) return known;
    const file = resolve(baseDir, ref);
    const byFile = this.byFile.get(file);
    if (byFile) return byFile;
    let exists = false;
    try {
      exists = statSync(file).isFile();
    } catch {
      exists = false; // not a file: reported below as an unknown reference
    }
    if (!exists) {
      problems.push({ ...where, message: `"${ref}" is neither the $id of a loaded schema nor a schema file` });
      return undefined;
    }
    const before = problems.length;
    const a = this.add(file, problems);
    if (!a) return undefined;
    const compiled = this.compile(a.file, a.id, a.schema, problems);
    if (!compiled && problems.length === before) problems.push({ ...where, message: `schema ${file} could not be compiled` });
    return compiled;
  }

  get(id: string): CompiledSchema | undefined {
    return this.byId.get(id);
  }

  private add(file: string, problems: LoadProblem[]): { file: string; id: string; schema: Record<string, unknown> } | undefined {
    const doc = readYamlFile(file, problems);
    if (doc === undefined) return undefined;
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      problems.push({ file, path: '/', message: 'a JSON Schema must be an object' });
      return undefined;
    }
    const schema = doc as Record<string, unknown>;
    const id = typeof schema['$id'] === 'string' ? schema['$id'] : pathToFileURL(file).href;
    if (this.byId.has(id)) {
      problems.push({ file, path: '/$id', message: `$id "${id}" is already used by ${this.byId.get(id)?.file ?? 'another schema'}` });
      return undefined;
    }
    try {
      this.ajv.addSchema(schema, id);
    } catch (err) {
      problems.push({ file, path: '', message: `invalid JSON Schema: ${(err as Error).message}` });
      return undefined;
    }
    return { file, id, schema };
  }

  private compile(file: string, id: string, schema: Record<string, unknown>, problems: LoadProblem[]): CompiledSchema | undefined {
    try {
      const validate = this.ajv.getSchema(id);
      if (!validate) throw new Error('not registered');
      const compiled: CompiledSchema = { id, file, schema, validate };
      this.byId.set(id, compiled);
      this.byFile.set(file, compiled);
      return compiled;
    } catch (err) {
      problems.push({ file, path: '', message: `invalid JSON Schema: ${(err as Error).message}` });
      return undefined;
    }
  }
}

/** Files under a path: the file itself, or the matching files of a directory (sorted, not recursive). */
export function listFiles(path: string, extensions: ReadonlySet<string>, problems: LoadProblem[]): string[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    problems.push({ file: path, path: '', message: 'no such file or directory' });
    return [];
  }
  if (st.isFile()) return [path];
  return readdirSync(path)
    .filter((f) => extensions.has(extname(f).toLowerCase()))
    .sort()
    .map((f) => join(path, f));
}
