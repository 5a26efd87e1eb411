import assert from 'node:assert/strict';
import { parseTemplate, pathLookup, renderTemplate, templateMatcher, type Template } from '../../src/mapping/template.js';

function tpl(source: string, rich: boolean): Template {
  const { template, errors } = parseTemplate(source, { rich });
  assert.deepEqual(errors, []);
  assert.ok(template, `expected ${source} to parse`);
  return template;
}

describe('parseTemplate', () => {
  it('splits text and placeholders, listing distinct fields', () => {
    const t = tpl('{site}-{device} at {site}', false);
    assert.equal(t.source, '{site}-{device} at {site}');
    assert.deepEqual(t.parts, [
      { kind: 'field', path: ['site'] },
      { kind: 'text', text: '-' },
      { kind: 'field', path: ['device'] },
      { kind: 'text', text: ' at ' },
      { kind: 'field', path: ['site'] },
    ]);
    assert.deepEqual(t.fields, ['site', 'device']);
  });

  it('reads "{{" and "}}" as literal braces', () => {
    const t = tpl('{{lit}} {a} }}{{', false);
    assert.deepEqual(t.parts, [
      { kind: 'text', text: '{lit} ' },
      { kind: 'field', path: ['a'] },
      { kind: 'text', text: ' }{' },
    ]);
    assert.deepEqual(t.fields, ['a']);
  });

  it('accepts text without placeholders, and the empty template', () => {
    assert.deepEqual(tpl('plain', false).parts, [{ kind: 'text', text: 'plain' }]);
    assert.deepEqual(tpl('', false).parts, []);
  });

  it('refuses an unclosed "{"', () => {
    assert.deepEqual(parseTemplate('a {b', { rich: true }), { errors: ['unclosed "{" at offset 2'] });
  });

  it('refuses an unmatched "}"', () => {
    assert.deepEqual(parseTemplate('{a}} x', { rich: true }), { errors: ['unmatched "}" at offset 3 (write "}}" for a literal brace)'] });
  });

  it('refuses an empty placeholder', () => {
    assert.deepEqual(parseTemplate('{}', { rich: false }).errors, ['placeholder {}: expected a segment name']);
    assert.deepEqual(parseTemplate('{}', { rich: true }).errors, ['placeholder {}: expected a name or dotted path']);
  });

  it('allows dotted paths only when rich', () => {
    assert.deepEqual(tpl('{a.b_c.d-e}', true).parts, [{ kind: 'field', path: ['a', 'b_c', 'd-e'] }]);
    assert.deepEqual(tpl('{a.b}', true).fields, ['a.b']);
    assert.deepEqual(parseTemplate('{a.b}', { rich: false }).errors, ['placeholder {a.b}: expected a segment name']);
    assert.deepEqual(parseTemplate('{a..b}', { rich: true }).errors, ['placeholder {a..b}: expected a name or dotted path']);
  });

  it('parses the ".N" fixed-decimals filter', () => {
    assert.deepEqual(tpl('{temperature|.1}', true).parts, [{ kind: 'field', path: ['temperature'], filter: { kind: 'fixed', digits: 1 } }]);
    assert.deepEqual(tpl('{t|.0}', true).parts, [{ kind: 'field', path: ['t'], filter: { kind: 'fixed', digits: 0 } }]);
  });

  it('parses the "yes/no" choice filter (text before "/" for true)', () => {
    assert.deepEqual(tpl('{door|closed/OPEN}', true).parts, [{ kind: 'field', path: ['door'], filter: { kind: 'choice', yes: 'closed', no: 'OPEN' } }]);
    assert.deepEqual(tpl('{x|/off}', true).parts, [{ kind: 'field', path: ['x'], filter: { kind: 'choice', yes: '', no: 'off' } }]);
  });

  it('refuses an unknown filter (".N" takes one digit)', () => {
    const hint = '(use ".N" for N decimals or "yes/no" for a boolean)';
    assert.deepEqual(parseTemplate('{t|upper} {t|.10} {t|}', { rich: true }).errors, [
      `placeholder {t|upper}: unknown filter "upper" ${hint}`,
      `placeholder {t|.10}: unknown filter ".10" ${hint}`,
      `placeholder {t|}: unknown filter "" ${hint}`,
    ]);
  });

  it('refuses filters when not rich', () => {
    assert.deepEqual(parseTemplate('{t|.1}', { rich: false }).errors, ['placeholder {t|.1}: filters are only allowed in reading bodies']);
  });

  it('reports several problems at once', () => {
    const r = parseTemplate('{a.b} {c|.1} }', { rich: false });
    assert.equal(r.template, undefined);
    assert.deepEqual(r.errors, [
      'placeholder {a.b}: expected a segment name',
      'placeholder {c|.1}: filters are only allowed in reading bodies',
      'unmatched "}" at offset 13 (write "}}" for a literal brace)',
    ]);
  });
});

describe('renderTemplate with pathLookup', () => {
  const payload = {
    temperature: 21.456,
    humidity: 40,
    contact: true,
    open: false,
    state: 'ON',
    meta: { fw: '1.2', list: [1, 'a'] },
    nothing: null,
    text: 'hi',
  };
  const render = (source: string, value: unknown = payload): string => renderTemplate(tpl(source, true), pathLookup(value));

  it('renders strings as they are, numbers and null with String()', () => {
    assert.equal(render('{text} {humidity} {temperature} {nothing}'), 'hi 40 21.456 null');
  });

  it('renders a missing value as "?"', () => {
    assert.equal(render('{pressure} {meta.missing} {text.length} {meta.fw.x}'), '? ? ? ?');
  });

  it('renders objects and arrays as JSON', () => {
    assert.equal(render('{meta} / {meta.list}'), '{"fw":"1.2","list":[1,"a"]} / [1,"a"]');
  });

  it('follows dotted paths into nested objects', () => {
    assert.equal(render('{meta.fw} {a.b.c}', { meta: { fw: '1.2' }, a: { b: { c: 3 } } }), '1.2 3');
  });

  it('indexes arrays with numbers after the first name', () => {
    assert.equal(render('{meta.list.1}'), 'a');
    assert.deepEqual(parseTemplate('{meta.list.1}', { rich: true }).errors, []);
    assert.deepEqual(parseTemplate('{1.list}', { rich: true }).errors, ['placeholder {1.list}: expected a name or dotted path']);
  });

  it('applies the fixed filter to numbers only', () => {
    assert.equal(render('{temperature|.1} {humidity|.0} {temperature|.0} {humidity|.2}'), '21.5 40 21 40.00');
    assert.equal(render('{text|.1} {pressure|.1}'), 'hi ?');
  });

  it('applies the choice filter: true, "true", 1, "ON" and "on" choose the first text, anything else the second', () => {
    assert.equal(render('{contact|closed/OPEN} {open|closed/OPEN} {state|on/off}'), 'closed OPEN on');
    for (const yes of [true, 'true', 1, 'ON', 'on']) assert.equal(render('{v|y/n}', { v: yes }), 'y', JSON.stringify(yes));
    for (const no of [false, 'false', 0, 'OFF', 'On', 2, null, {}]) assert.equal(render('{v|y/n}', { v: no }), 'n', JSON.stringify(no));
    // A missing value is "not true": the choice filter gives its second text, not "?".
    assert.equal(render('{missing|y/n}'), 'n');
  });

  it('does not look up inherited properties', () => {
    assert.equal(render('{constructor} {toString}', {}), '? ?');
  });

  it('renders literal braces', () => {
    assert.equal(render('{{{text}}}'), '{hi}');
  });
});

describe('templateMatcher', () => {
  it('recovers segment values from a rendered client id', () => {
    const match = templateMatcher(tpl('climate-{site}-{device}', false));
    assert.deepEqual(match('climate-home-kitchen'), { site: 'home', device: 'kitchen' });
  });

  it('matches placeholders lazily: the first "-" after {site} ends it', () => {
    const match = templateMatcher(tpl('climate-{site}-{device}', false));
    // Ambiguous input: the lazy match gives the shortest {site}, everything else goes to {device}.
    assert.deepEqual(match('climate-my-home-kitchen'), { site: 'my', device: 'home-kitchen' });
  });

  it('refuses strings that do not have the template shape', () => {
    const match = templateMatcher(tpl('climate-{site}-{device}', false));
    assert.equal(match('climate-home'), undefined);
    assert.equal(match('climate--kitchen'), undefined); // a placeholder matches at least one character
    assert.equal(match('heating-home-kitchen'), undefined);
    assert.equal(match('xclimate-home-kitchen'), undefined);
  });

  it('treats regular-expression characters in the text literally', () => {
    const match = templateMatcher(tpl('a.b+({x})[{y}]', false));
    assert.deepEqual(match('a.b+(1)[2]'), { x: '1', y: '2' });
    assert.equal(match('aXb+(1)[2]'), undefined);
  });

  it('round-trips what renderTemplate produced', () => {
    const t = tpl('{site}_{device}', false);
    const values: Record<string, string> = { site: 'home', device: 'living_room' };
    const rendered = renderTemplate(t, (path) => values[path[0]!]);
    assert.equal(rendered, 'home_living_room');
    assert.deepEqual(templateMatcher(t)(rendered), values);
  });
});
