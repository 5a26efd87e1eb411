/**
 * Reading YAML (and JSON, a subset of YAML 1.2) files with problems that point at a line, for every loader.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import type { LoadProblem } from '../errors.js';

/** Read a YAML (or JSON) file into a plain object, or a problem pointing at the line. */
export function readYamlFile(file: string, problems: LoadProblem[]): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push({ file, path: '', message: `cannot read file: ${(err as Error).message}` });
    return undefined;
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const pos = lines.linePos(e.pos[0]);
      problems.push({ file, path: '', message: `YAML ${pos ? `line ${pos.line} column ${pos.col}: ` : ''}${e.message.split('\n')[0]}` });
    }
    return undefined;
  }
  return doc.toJS() as unknown;
}
