/**
 * MQTT topic patterns with named segments: `sensors/{site}/{device}/telemetry`.
 *
 * A pattern is the mapping author's view of an MQTT topic filter: each `{name}` level is a single-level wildcard
 * (`+`) whose value is captured under `name`; `+` and a final `#` are anonymous wildcards; every other level is a
 * literal. The same grammar serves as a *template* for topics the bridge publishes (command topics), where every
 * level must be a literal or a named segment.
 *
 * Pure: no I/O. Spec references are to MQTT 3.1.1 (OASIS, 2014), §4.7 "Topic Names and Topic Filters".
 */

export type Level =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'segment'; readonly name: string }
  | { readonly kind: 'single' } // anonymous `+`
  | { readonly kind: 'multi' }; // anonymous `#`, last level only

export interface TopicPattern {
  readonly source: string;
  readonly levels: readonly Level[];
  /** The MQTT subscription filter, named segments replaced by `+`. */
  readonly filter: string;
  /** Named segments in order of appearance. */
  readonly segments: readonly string[];
  /** Whether the pattern has wildcards that a published topic may not contain (so it cannot be a template). */
  readonly hasAnonymousWildcards: boolean;
}

export type Segments = Readonly<Record<string, string>>;

const SEGMENT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parse a pattern; returns every problem found, not just the first. */
export function parseTopicPattern(source: string): { pattern?: TopicPattern; errors: string[] } {
  const errors: string[] = [];
  // [MQTT-4.7.3-1] topic names and filters are at least one character long.
  if (source.length === 0) return { errors: ['topic pattern is empty'] };
  // [MQTT-4.7.3-2] they must not contain U+0000.
  if (source.includes('\u0000')) errors.push('topic pattern contains U+0000');
  if (Buffer.byteLength(source, 'utf8') > 65535) errors.push('topic pattern is longer than 65535 bytes');

  const raw = source.split('/');
  const levels: Level[] = [];
  const seen = new Set<string>();
  raw.forEach((text, i) => {
    const where = `level ${i + 1} ("${text}")`;
    if (text === '+') {
      levels.push({ kind: 'single' });
    } else if (text === '#') {
      // [MQTT-4.7.1-2] the multi-level wildcard must be the last character of the filter.
      if (i !== raw.length - 1) errors.push(`${where}: "#" is only allowed as the last level`);
      levels.push({ kind: 'multi' });
    } else if (text.startsWith('{') && text.endsWith('}')) {
      const name = text.slice(1, -1);
      if (/[{}]/.test(name)) {
        errors.push(`${where}: a named segment must fill a whole level, like {name}`);
      } else if (!SEGMENT_NAME.test(name)) {
        errors.push(`${where}: segment name must match ${SEGMENT_NAME.source}`);
      } else if (seen.has(name)) {
        errors.push(`${where}: segment {${name}} appears twice`);
      } else {
        seen.add(name);
      }
      levels.push({ kind: 'segment', name });
    } else if (/[{}]/.test(text)) {
      errors.push(`${where}: a named segment must fill a whole level, like {name}`);
      levels.push({ kind: 'literal', text });
    } else if (/[+#]/.test(text)) {
      // [MQTT-4.7.1-2] [MQTT-4.7.1-3] wildcards must occupy an entire level.
      errors.push(`${where}: "+" and "#" must occupy an entire level`);
      levels.push({ kind: 'literal', text });
    } else {
      levels.push({ kind: 'literal', text });
    }
  });
  if (errors.length > 0) return { errors };

  const filter = levels
    .map((l) => (l.kind === 'literal' ? l.text : l.kind === 'multi' ? '#' : '+'))
    .join('/');
  return {
    pattern: {
      source,
      levels,
      filter,
      segments: [...seen],
      hasAnonymousWildcards: levels.some((l) => l.kind === 'single' || l.kind === 'multi'),
    },
    errors,
  };
}

/** Match a concrete topic name; returns the named segment values, or undefined. */
export function matchTopic(pattern: TopicPattern, topic: string): Segments | undefined {
  // [MQTT-4.7.2-1] a filter starting with a wildcard must not match topic names beginning with '$'.
  const first = pattern.levels[0];
  if (topic.startsWith('$') && first !== undefined && first.kind !== 'literal') return undefined;
  const parts = topic.split('/');
  const levels = pattern.levels;
  const values: Record<string, string> = {};
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.kind === 'multi') return values; // [MQTT-4.7.1-2] '#' also matches the parent level
    const part = parts[i];
    if (part === undefined) return undefined;
    if (level.kind === 'literal') {
      if (part !== level.text) return undefined;
    } else if (level.kind === 'segment') {
      values[level.name] = part;
    }
  }
  return parts.length === levels.length ? values : undefined;
}

/**
 * Build a concrete topic from a template and segment values (downlink: command topics).
 * Returns an error string when a value cannot be a topic level.
 */
export function formatTopic(pattern: TopicPattern, values: Segments): { topic?: string; error?: string } {
  const out: string[] = [];
  for (const level of pattern.levels) {
    if (level.kind === 'literal') {
      out.push(level.text);
    } else if (level.kind === 'segment') {
      const v = values[level.name];
      if (v === undefined) return { error: `no value for segment {${level.name}}` };
      // A value must stay one level and must not introduce wildcards into a topic name ([MQTT-4.7.1-1]).
      // eslint-disable-next-line no-control-regex -- [MQTT-4.7.3-2] U+0000 is exactly what must be refused
      if (v.length === 0 || /[/+#\u0000]/.test(v)) return { error: `segment {${level.name}} value "${v}" cannot be a topic level` };
      out.push(v);
    } else {
      return { error: 'a topic template cannot contain "+" or "#"' };
    }
  }
  return { topic: out.join('/') };
}

/** Whether two filters can match a common topic name (used to report overlapping mappings at load time). */
export function patternsOverlap(a: TopicPattern, b: TopicPattern): boolean {
  const n = Math.max(a.levels.length, b.levels.length);
  for (let i = 0; i < n; i++) {
    const x = a.levels[i];
    const y = b.levels[i];
    if (x?.kind === 'multi' || y?.kind === 'multi') return true;
    if (x === undefined || y === undefined) return false;
    if (x.kind === 'literal' && y.kind === 'literal' && x.text !== y.text) return false;
  }
  return true;
}

/** Whether an MQTT topic filter matches a topic name (MQTT 3.1.1 §4.7), for filters the bridge subscribed to. */
export function filterMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  // [MQTT-4.7.2-1] a leading wildcard does not match topics starting with '$'.
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}
