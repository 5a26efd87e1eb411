/**
 * Checks across mappings, shared by `validate`, start-up and every live change of the mapping set: ids are unique, no
 * reading topic is claimed by two mappings, no two JID templates have the same shape (two mappings could otherwise
 * form the same JID for different devices).
 *
 * Scales to imported fleets (thousands of single-device mappings with literal topics and JIDs): literal topics and
 * JID shapes are compared through maps, and only patterns with segments or wildcards are compared pairwise with the
 * rest. Pure: no I/O.
 */
import type { LoadProblem } from '../errors.js';
import { readingTopics, type Mapping } from './mapping.js';
import { isLiteralPattern } from './router.js';
import { matchTopic, patternsOverlap, type TopicPattern } from './topic-pattern.js';
import type { Template } from './template.js';

/**
 * Problems that `candidates` would cause in a set that also holds `others` (mappings already in place, which are
 * not checked against each other again). Problems are reported on the candidate. The file loader checks ids itself
 * (on every declared mapping, compiled or not) and turns the id check off here.
 */
export function crossCheck(candidates: readonly Mapping[], others: readonly Mapping[] = [], opts: { ids: boolean } = { ids: true }): LoadProblem[] {
  const problems: LoadProblem[] = [];
  const at = (m: Mapping, field: string): { file: string; path: string } => ({ file: m.file, path: `/mappings/${m.index}/${field}` });

  const ids = new Map<string, Mapping>();
  const literalTopics = new Map<string, { mapping: Mapping; topic: TopicPattern }>();
  const patterned: { mapping: Mapping; topic: TopicPattern }[] = [];
  const shapes = new Map<string, Mapping>();
  const remember = (m: Mapping): void => {
    ids.set(m.id, m);
    for (const t of readingTopics(m)) {
      if (isLiteralPattern(t)) literalTopics.set(t.filter, { mapping: m, topic: t });
      else patterned.push({ mapping: m, topic: t });
    }
    shapes.set(shape(m.jid), m);
  };
  /** The reading topic, of a mapping already remembered, that `t` overlaps. */
  const overlap = (t: TopicPattern): { mapping: Mapping; topic: TopicPattern } | undefined =>
    isLiteralPattern(t)
      ? (literalTopics.get(t.filter) ?? patterned.find((p) => matchTopic(p.topic, t.filter) !== undefined))
      : (patterned.find((p) => patternsOverlap(t, p.topic)) ?? [...literalTopics.values()].find((l) => matchTopic(t, l.topic.filter) !== undefined));
  for (const m of others) remember(m);

  for (const m of candidates) {
    const sameId = ids.get(m.id);
    if (sameId && opts.ids) problems.push({ ...at(m, 'id'), message: `id "${m.id}" is already used in ${sameId.file}` });

    for (const t of readingTopics(m)) {
      const o = overlap(t);
      if (o) {
        const which = t === m.topic ? '' : `its topic ${t.source} `;
        problems.push({ ...at(m, 'topic'), message: `${which}overlaps the topic of mapping "${o.mapping.id}" (${o.topic.source}): a reading would be claimed twice` });
        break;
      }
    }

    const sameShape = shapes.get(shape(m.jid));
    if (sameShape) {
      problems.push({ ...at(m, 'jid'), message: `has the same shape as the jid of mapping "${sameShape.id}" (${sameShape.jid.source}): add a distinguishing prefix such as "${m.id}-"` });
    }
    remember(m);
  }
  return problems;
}

/** A JID template with its placeholders blanked out: two templates of one shape can form the same local part. */
function shape(t: Template): string {
  return t.parts.map((p) => (p.kind === 'text' ? p.text.toLowerCase() : '{}')).join('');
}
