/**
 * The chat syntax of commands, for people in any XMPP client. Pure.
 *
 *   help | ?                       the device's commands and their fields
 *   set state=ON                   command name, then key=value pairs ("quoted values" may hold spaces;
 *                                  values are typed by the command schema, enum members match case-insensitively)
 *   set {"state":"ON"}             command name, then a JSON object, passed on byte for byte
 *   state=ON  |  {"state":"ON"}    the command name may be left out when the device has exactly one command
 *   on                             an alias declared in the mapping, standing for a whole command line
 */
import type { CommandSpec } from '../mapping/mapping.js';
import { jsonTooDeep } from './payload.js';
import { coerceText, schemaFields, type SchemaField } from './schema-fields.js';
import { setPath } from './json-path.js';

export type ChatCommand =
  | { readonly kind: 'help' }
  | { readonly kind: 'command'; readonly command: CommandSpec; readonly json: string }
  | { readonly kind: 'error'; readonly message: string };

export function parseCommandText(text: string, commands: readonly CommandSpec[], aliases: Readonly<Record<string, string>>): ChatCommand {
  let line = text.trim();
  if (line === '' || /^(help|\?)$/i.test(line)) return { kind: 'help' };
  const firstWord = (/^\S+/.exec(line)?.[0] ?? '').toLowerCase();
  const alias = Object.hasOwn(aliases, firstWord) ? aliases[firstWord] : undefined;
  if (alias !== undefined) line = `${alias}${line.slice(firstWord.length)}`;

  const head = /^([a-z][a-z0-9_-]*)(?:\s+|$)/i.exec(line);
  let command = head ? commands.find((c) => c.name === head[1]!.toLowerCase()) : undefined;
  let rest = command && head ? line.slice(head[0].length) : line;
  if (!command) {
    // With a single command its name may be left out, but then the line must be its arguments.
    const looksLikeArguments = line.startsWith('{') || /^[A-Za-z_][A-Za-z0-9_.-]*=/.test(line);
    if (commands.length !== 1 || !looksLikeArguments) {
      return { kind: 'error', message: commands.length === 0 ? 'this device accepts no commands' : `unknown command "${firstWord}"; send "help" for the list` };
    }
    command = commands[0]!;
    rest = line;
  }
  rest = rest.trim();
  if (rest.startsWith('{')) {
    if (jsonTooDeep(rest)) return { kind: 'error', message: 'the JSON is nested too deeply' };
    try {
      const v = JSON.parse(rest) as unknown;
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return { kind: 'error', message: 'the JSON must be an object' };
    } catch (err) {
      return { kind: 'error', message: `not valid JSON: ${(err as Error).message}` };
    }
    return { kind: 'command', command, json: rest };
  }
  const pairs = splitPairs(rest);
  if (typeof pairs === 'string') return { kind: 'error', message: pairs };
  const fields = new Map(schemaFields(command.schema.schema).map((f) => [f.name, f]));
  const payload: Record<string, unknown> = {};
  for (const [key, value] of pairs) {
    const path = key.split('.');
    // Keys come from whoever is chatting: never let one reach an object's prototype.
    if (path.some((p) => p === '__proto__' || p === 'constructor' || p === 'prototype')) return { kind: 'error', message: `"${key}" is not a field name` };
    if (jsonTooDeep(value)) return { kind: 'error', message: `the value of ${key} is nested too deeply` };
    setPath(payload, path, coerceText(fields.get(key), value));
  }
  return { kind: 'command', command, json: JSON.stringify(payload) };
}

/** `a=1 b="two words" c='x'` → pairs, or an error message. */
function splitPairs(text: string): [string, string][] | string {
  const out: [string, string][] = [];
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (i >= text.length) break;
    const key = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(text.slice(i))?.[0];
    if (!key || text[i + key.length] !== '=') {
      const word = /^\S+/.exec(text.slice(i))?.[0] ?? '';
      return `expected key=value, found "${word}"`;
    }
    i += key.length + 1;
    let value = '';
    const quote = text[i];
    if (quote === '"' || quote === "'") {
      i++;
      while (i < text.length && text[i] !== quote) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i];
        i++;
      }
      if (i >= text.length) return `unclosed ${quote} in the value of ${key}`;
      i++;
    } else {
      while (i < text.length && text[i] !== ' ' && text[i] !== '\t') value += text[i++];
    }
    out.push([key, value]);
  }
  return out;
}


/** The help text: one line per command with its fields, then the aliases and the syntax. */
export function commandHelp(deviceName: string, commands: readonly CommandSpec[], aliases: Readonly<Record<string, string>>): string {
  if (commands.length === 0) return `${deviceName} accepts no commands; it sends readings.`;
  const lines = [`${deviceName} accepts:`];
  for (const c of commands) {
    const fields = schemaFields(c.schema.schema);
    lines.push(`  ${c.name} ${fields.map(fieldUsage).join(' ')}${c.description ? ` — ${c.description}` : ''}`.trimEnd());
  }
  const aliasList = Object.entries(aliases);
  if (aliasList.length > 0) lines.push(`Shortcuts: ${aliasList.map(([w, l]) => `${w} = ${l}`).join(', ')}`);
  const example = commands[0]!;
  lines.push(`Write a command as "${example.name} key=value …" or "${example.name} {JSON}". Fields in [brackets] are optional.`);
  return lines.join('\n');
}

function fieldUsage(f: SchemaField): string {
  let value: string;
  switch (f.kind) {
    case 'enum':
      value = (f.options ?? []).map(String).join('|');
      break;
    case 'integer':
    case 'number':
      value = f.minimum !== undefined || f.maximum !== undefined ? `${f.kind}(${f.minimum ?? ''}..${f.maximum ?? ''})` : f.kind;
      break;
    case 'enum-list':
      value = `${(f.options ?? []).map(String).join('|')},…`;
      break;
    default:
      value = f.kind;
  }
  const usage = `${f.name}=${value}`;
  return f.required ? usage : `[${usage}]`;
}
