/**
 * Operator ACL rules for the embedded broker (`mqtt.embedded.acl`), on top of the rights derived from the mappings.
 * Pure: rules in, decisions out.
 *
 * Rules are ordered and the FIRST rule that matches decides (`allow` or `deny`); when none matches, the built-in
 * rights decide (access.ts). A rule matches a client when its `who` names it (`*`, `anonymous`, `device:*`,
 * `service:*`, `device:NAME`, `service:NAME`), an action when its `access` covers it (`publish`, `subscribe`, `both`),
 * and a topic when its `topic` filter does. `%u` in a rule's topic stands for the client's identity name and `%c` for
 * its client id, like Mosquitto's `pattern` lines.
 *
 * What "the topic filter matches" means per action:
 * - publish, and a message about to be forwarded to a subscriber: the filter matches the topic name;
 * - SUBSCRIBE: the requested filter lies entirely within the rule's filter. A broader request (`#` against a rule on
 *   `test/nosubscribe`) is not decided by that rule at SUBSCRIBE time, but every message forwarded to it is checked
 *   one by one, so a deny rule still holds for it (as in Mosquitto, whose read access is checked per message).
 */
import { filterMatches } from '../mapping/topic-pattern.js';

export type AclAction = 'allow' | 'deny';
export type AclAccess = 'publish' | 'subscribe' | 'both';

/** One rule as written in the configuration. */
export interface AclRule {
  readonly action: AclAction;
  readonly topic: string;
  readonly access?: AclAccess;
  readonly who?: readonly string[];
}

/** Who is asking, as the rules see it. */
export interface AclSubject {
  readonly kind: 'anonymous' | 'device' | 'service';
  /** The identity name (credential name or certificate CN); none for anonymous clients. */
  readonly name?: string;
  readonly clientId: string;
}

/** `topic`: the rule filter must match a topic name; `filter`: a requested filter must lie within the rule filter. */
export type AclMode = 'topic' | 'filter';

interface CompiledRule {
  readonly action: AclAction;
  readonly publish: boolean;
  readonly subscribe: boolean;
  readonly who: (s: AclSubject) => boolean;
  readonly topic: string;
  /** The topic contains %u or %c. */
  readonly pattern: boolean;
}

/** The first-match rule list. An empty list decides nothing. */
export class Acl {
  private readonly rules: readonly CompiledRule[];

  constructor(rules: readonly AclRule[]) {
    this.rules = rules.map(compile);
  }

  get size(): number {
    return this.rules.length;
  }

  /** The decision of the first rule that matches, or undefined when none does (the built-in rights then decide). */
  decide(subject: AclSubject, access: 'publish' | 'subscribe', topic: string, mode: AclMode): AclAction | undefined {
    for (const r of this.rules) {
      if (!(access === 'publish' ? r.publish : r.subscribe) || !r.who(subject)) continue;
      const filter = r.pattern ? substitute(r.topic, subject) : r.topic;
      if (filter === undefined) {
        // %u or %c has no usable value here (an anonymous client's %u; a value that is empty or holds "/", "+" or
        // "#", which would change the filter's levels): such a rule can never allow, and a deny rule denies, so
        // that an odd client id cannot slip past it.
        if (r.action === 'deny') return 'deny';
        continue;
      }
      if (mode === 'topic' ? filterMatches(filter, topic) : filterCovers(filter, topic)) return r.action;
    }
    return undefined;
  }
}

function compile(rule: AclRule): CompiledRule {
  const access = rule.access ?? 'both';
  return {
    action: rule.action,
    publish: access !== 'subscribe',
    subscribe: access !== 'publish',
    who: whoMatcher(rule.who ?? ['*']),
    topic: rule.topic,
    pattern: /%[uc]/.test(rule.topic),
  };
}

function whoMatcher(who: readonly string[]): (s: AclSubject) => boolean {
  const tests = who.map((w): ((s: AclSubject) => boolean) => {
    if (w === '*') return () => true;
    if (w === 'anonymous') return (s) => s.kind === 'anonymous';
    const colon = w.indexOf(':');
    const kind = w.slice(0, colon);
    const name = w.slice(colon + 1);
    return name === '*' ? (s) => s.kind === kind : (s) => s.kind === kind && s.name === name;
  });
  return (s) => tests.some((t) => t(s));
}

/** The rule's topic with %u and %c replaced, or undefined when a value cannot stand as one topic level. */
function substitute(topic: string, s: AclSubject): string | undefined {
  let unusable = false;
  const out = topic.replace(/%[uc]/g, (m) => {
    const v = m === '%u' ? s.name : s.clientId;
    if (v === undefined || v === '' || /[/+#]/.test(v)) unusable = true;
    return v ?? '';
  });
  return unusable ? undefined : out;
}

/**
 * Whether every topic that `inner` matches is also matched by `outer` (both topic filters): a SUBSCRIBE for `inner`
 * asks for nothing beyond `outer`. `+` in `outer` covers any one level of `inner` except `#` (which stands for many).
 */
export function filterCovers(outer: string, inner: string): boolean {
  const o = outer.split('/');
  const i = inner.split('/');
  // [MQTT-4.7.2-1] a leading wildcard does not match topics starting with "$": `#` does not cover `$SYS/#`.
  if (inner.startsWith('$') && (o[0] === '+' || o[0] === '#')) return false;
  for (let k = 0; k < o.length; k++) {
    const level = o[k]!;
    if (level === '#') return true;
    if (k >= i.length) return false;
    const want = i[k]!;
    if (level === '+') {
      if (want === '#') return false;
      continue;
    }
    if (level !== want) return false;
  }
  return o.length === i.length;
}

/**
 * Problems with a topic filter written in the configuration ([MQTT-4.7.1-2], [MQTT-4.7.1-3]): `#` only alone as the
 * last level, `+` only alone in its level, no U+0000 [MQTT-4.7.3-2]. Empty when it is valid.
 */
export function filterProblems(filter: string): string[] {
  const problems: string[] = [];
  if (filter.length === 0) problems.push('a topic filter cannot be empty');
  if (filter.includes('\u0000')) problems.push('a topic filter cannot contain U+0000');
  const levels = filter.split('/');
  levels.forEach((level, k) => {
    if (level.includes('#') && (level !== '#' || k !== levels.length - 1)) problems.push('"#" must be a whole level and the last one');
    if (level.includes('+') && level !== '+') problems.push('"+" must be a whole level');
  });
  return [...new Set(problems)];
}
