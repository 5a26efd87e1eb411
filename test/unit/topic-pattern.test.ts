import assert from 'node:assert/strict';
import { formatTopic, matchTopic, parseTopicPattern, patternsOverlap, type TopicPattern } from '../../src/mapping/topic-pattern.js';

/** Parse a pattern that must be valid. */
function pat(source: string): TopicPattern {
  const { pattern, errors } = parseTopicPattern(source);
  assert.deepEqual(errors, []);
  assert.ok(pattern, `expected ${source} to parse`);
  return pattern;
}

describe('parseTopicPattern', () => {
  it('turns named segments into "+" in the subscription filter and lists them in order', () => {
    const p = pat('sensors/{site}/{device}/telemetry');
    assert.equal(p.source, 'sensors/{site}/{device}/telemetry');
    assert.equal(p.filter, 'sensors/+/+/telemetry');
    assert.deepEqual(p.segments, ['site', 'device']);
    assert.equal(p.hasAnonymousWildcards, false);
    assert.deepEqual(p.levels, [
      { kind: 'literal', text: 'sensors' },
      { kind: 'segment', name: 'site' },
      { kind: 'segment', name: 'device' },
      { kind: 'literal', text: 'telemetry' },
    ]);
  });

  it('keeps anonymous "+" and a final "#" and flags them', () => {
    const p = pat('a/+/{x}/#');
    assert.equal(p.filter, 'a/+/+/#');
    assert.deepEqual(p.segments, ['x']);
    assert.equal(p.hasAnonymousWildcards, true);
    assert.deepEqual(p.levels, [{ kind: 'literal', text: 'a' }, { kind: 'single' }, { kind: 'segment', name: 'x' }, { kind: 'multi' }]);
  });

  it('accepts empty levels as literals (MQTT allows zero-length levels)', () => {
    const p = pat('a//b');
    assert.equal(p.filter, 'a//b');
    assert.deepEqual(p.levels[1], { kind: 'literal', text: '' });
  });

  it('refuses an empty pattern [MQTT-4.7.3-1]', () => {
    assert.deepEqual(parseTopicPattern(''), { errors: ['topic pattern is empty'] });
  });

  it('refuses U+0000 [MQTT-4.7.3-2]', () => {
    assert.deepEqual(parseTopicPattern('a/\u0000/b'), { errors: ['topic pattern contains U+0000'] });
  });

  it('refuses a pattern longer than 65535 UTF-8 bytes', () => {
    // 'é' is two bytes in UTF-8: 32768 of them are 65536 bytes but only 32768 UTF-16 units.
    assert.deepEqual(parseTopicPattern('é'.repeat(32768)).errors, ['topic pattern is longer than 65535 bytes']);
    assert.deepEqual(parseTopicPattern('a'.repeat(65535)).errors, []);
  });

  it('refuses braces that do not fill a whole level', () => {
    assert.deepEqual(parseTopicPattern('a/x{b}/c').errors, ['level 2 ("x{b}"): a named segment must fill a whole level, like {name}']);
    assert.deepEqual(parseTopicPattern('a/{b}x').errors, ['level 2 ("{b}x"): a named segment must fill a whole level, like {name}']);
  });

  it('refuses an empty segment name', () => {
    assert.deepEqual(parseTopicPattern('a/{}/b').errors, ['level 2 ("{}"): segment name must match ^[A-Za-z_][A-Za-z0-9_]*$']);
  });

  it('refuses wildcards that share a level with other characters [MQTT-4.7.1-2] [MQTT-4.7.1-3]', () => {
    assert.deepEqual(parseTopicPattern('a+b').errors, ['level 1 ("a+b"): "+" and "#" must occupy an entire level']);
    assert.deepEqual(parseTopicPattern('a/b#').errors, ['level 2 ("b#"): "+" and "#" must occupy an entire level']);
  });

  it('refuses "#" anywhere but the last level [MQTT-4.7.1-2]', () => {
    assert.deepEqual(parseTopicPattern('#/a').errors, ['level 1 ("#"): "#" is only allowed as the last level']);
  });

  it('refuses a segment name used twice', () => {
    assert.deepEqual(parseTopicPattern('{a}/x/{a}').errors, ['level 3 ("{a}"): segment {a} appears twice']);
  });

  it('refuses segment names that are not identifiers', () => {
    assert.deepEqual(parseTopicPattern('{1a}/{a-b}/{a b}').errors, [
      'level 1 ("{1a}"): segment name must match ^[A-Za-z_][A-Za-z0-9_]*$',
      'level 2 ("{a-b}"): segment name must match ^[A-Za-z_][A-Za-z0-9_]*$',
      'level 3 ("{a b}"): segment name must match ^[A-Za-z_][A-Za-z0-9_]*$',
    ]);
  });

  it('reports every problem at once, and no pattern', () => {
    const r = parseTopicPattern('a+b/#/{x}/{x}/c{d}\u0000');
    assert.equal(r.pattern, undefined);
    assert.deepEqual(r.errors, [
      'topic pattern contains U+0000',
      'level 1 ("a+b"): "+" and "#" must occupy an entire level',
      'level 2 ("#"): "#" is only allowed as the last level',
      'level 4 ("{x}"): segment {x} appears twice',
      'level 5 ("c{d}\u0000"): a named segment must fill a whole level, like {name}',
    ]);
  });
});

describe('matchTopic', () => {
  const telemetry = pat('sensors/{site}/{device}/telemetry');

  it('captures named segments', () => {
    assert.deepEqual(matchTopic(telemetry, 'sensors/home/kitchen/telemetry'), { site: 'home', device: 'kitchen' });
  });

  it('captures an empty level as an empty value', () => {
    assert.deepEqual(matchTopic(telemetry, 'sensors//kitchen/telemetry'), { site: '', device: 'kitchen' });
  });

  it('does not match when the level count differs', () => {
    assert.equal(matchTopic(telemetry, 'sensors/home/kitchen'), undefined);
    assert.equal(matchTopic(telemetry, 'sensors/home/kitchen/telemetry/extra'), undefined);
    assert.equal(matchTopic(telemetry, 'sensors/home/kitchen/telemetry/'), undefined);
  });

  it('does not match when a literal level differs (case-sensitive)', () => {
    assert.equal(matchTopic(telemetry, 'sensors/home/kitchen/state'), undefined);
    assert.equal(matchTopic(telemetry, 'Sensors/home/kitchen/telemetry'), undefined);
  });

  it('lets "+" match any one level without capturing it', () => {
    assert.deepEqual(matchTopic(pat('a/+/{x}'), 'a/anything/val'), { x: 'val' });
  });

  it('lets "#" match any number of levels, including the parent level itself [MQTT-4.7.1-2]', () => {
    const p = pat('sport/{kind}/#');
    assert.deepEqual(matchTopic(p, 'sport/tennis/player1/ranking'), { kind: 'tennis' });
    assert.deepEqual(matchTopic(p, 'sport/tennis/player1'), { kind: 'tennis' });
    assert.deepEqual(matchTopic(p, 'sport/tennis'), { kind: 'tennis' });
    assert.equal(matchTopic(p, 'sport'), undefined);
  });

  it('does not let a leading wildcard match a topic beginning with "$" [MQTT-4.7.2-1]', () => {
    assert.equal(matchTopic(pat('#'), '$SYS/broker/uptime'), undefined);
    assert.equal(matchTopic(pat('+/broker/uptime'), '$SYS/broker/uptime'), undefined);
    assert.equal(matchTopic(pat('{root}/broker/uptime'), '$SYS/broker/uptime'), undefined);
    // A literal first level may name a $ topic explicitly.
    assert.deepEqual(matchTopic(pat('$SYS/{what}/uptime'), '$SYS/broker/uptime'), { what: 'broker' });
    // A "$" that is not the first character is nothing special.
    assert.deepEqual(matchTopic(pat('{a}/x'), 'a$/x'), { a: 'a$' });
  });
});

describe('formatTopic', () => {
  const cmd = pat('plugs/{device}/set');

  it('fills segments with their values', () => {
    assert.deepEqual(formatTopic(cmd, { device: 'lamp' }), { topic: 'plugs/lamp/set' });
  });

  it('refuses a value that would add a level or a wildcard [MQTT-4.7.1-1]', () => {
    assert.deepEqual(formatTopic(cmd, { device: 'a/b' }), { error: 'segment {device} value "a/b" cannot be a topic level' });
    assert.deepEqual(formatTopic(cmd, { device: 'a+' }), { error: 'segment {device} value "a+" cannot be a topic level' });
    assert.deepEqual(formatTopic(cmd, { device: '#' }), { error: 'segment {device} value "#" cannot be a topic level' });
  });

  it('refuses a value containing U+0000 [MQTT-4.7.3-2]', () => {
    assert.deepEqual(formatTopic(cmd, { device: 'a\u0000' }), { error: 'segment {device} value "a\u0000" cannot be a topic level' });
  });

  it('refuses an empty value', () => {
    assert.deepEqual(formatTopic(cmd, { device: '' }), { error: 'segment {device} value "" cannot be a topic level' });
  });

  it('refuses a missing value', () => {
    assert.deepEqual(formatTopic(cmd, { other: 'x' }), { error: 'no value for segment {device}' });
  });

  it('refuses a pattern with anonymous wildcards as a template', () => {
    assert.deepEqual(formatTopic(pat('a/+/{b}'), { b: 'x' }), { error: 'a topic template cannot contain "+" or "#"' });
    assert.deepEqual(formatTopic(pat('a/{b}/#'), { b: 'x' }), { error: 'a topic template cannot contain "+" or "#"' });
  });

  it('round-trips with matchTopic', () => {
    const p = pat('sensors/{site}/{device}/telemetry');
    const values = { site: 'home', device: 'Küche $1' };
    const { topic } = formatTopic(p, values);
    assert.equal(topic, 'sensors/home/Küche $1/telemetry');
    assert.deepEqual(matchTopic(p, topic), values);
  });
});

describe('patternsOverlap', () => {
  const overlap = (a: string, b: string): boolean => {
    const r = patternsOverlap(pat(a), pat(b));
    assert.equal(patternsOverlap(pat(b), pat(a)), r, 'overlap must be symmetric');
    return r;
  };

  it('sees the overlap of segments with literals at the same level', () => {
    assert.equal(overlap('sensors/{site}/{device}', 'sensors/home/{x}'), true);
    assert.equal(overlap('{a}/x', 'y/{b}'), true);
  });

  it('separates different literals at one level', () => {
    assert.equal(overlap('sensors/{site}/telemetry', 'sensors/{site}/state'), false);
    assert.equal(overlap('plugs/{device}/state', 'sensors/{site}/{device}'), false);
  });

  it('separates patterns with different level counts', () => {
    assert.equal(overlap('a/{b}', 'a/{b}/c'), false);
  });

  it('treats "#" as matching its parent level and anything below', () => {
    assert.equal(overlap('a/#', 'a'), true);
    assert.equal(overlap('a/#', 'a/b/c/d'), true);
    assert.equal(overlap('a/#', 'b/c'), false);
  });
});
