/**
 * The Home Assistant template subset (src/importers/template.ts): what real discovery payloads use renders as Home
 * Assistant renders it; everything else is refused with TEMPLATE_UNSUPPORTED naming the construct; nothing throws,
 * nothing runs away (property tests).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileTemplate, evaluateTemplate, payloadInput, renderTemplate, type CompiledTemplate, type TemplateInput } from '../../src/importers/template.js';

function compile(src: string, variables?: readonly string[]): CompiledTemplate {
  const c = compileTemplate(src, variables ? { variables } : {});
  assert.ok(c.ok, `expected ${src} to compile: ${c.ok ? '' : c.error.message}`);
  return c.value;
}

function render(src: string, payload: string): string {
  const r = renderTemplate(compile(src), payloadInput(payload));
  assert.ok(r.ok, `expected ${src} to render: ${r.ok ? '' : r.error.message}`);
  return r.value;
}

function value(src: string, payload: string): unknown {
  const r = evaluateTemplate(compile(src), payloadInput(payload));
  assert.ok(r.ok, `expected ${src} to evaluate: ${r.ok ? '' : r.error.message}`);
  return r.value;
}

function refused(src: string, opts?: { variables?: readonly string[] }): { code: string; construct?: string } {
  const c = compileTemplate(src, opts ?? {});
  assert.equal(c.ok, false, `expected ${src} to be refused`);
  return c.ok ? { code: 'none' } : { code: c.error.code, ...(c.error.construct !== undefined ? { construct: c.error.construct } : {}) };
}

describe('importers: template subset — paths into value_json', () => {
  it('reads attributes, quoted keys, indexes and nested paths, as real publishers write them', () => {
    assert.equal(render('{{ value_json.temperature }}', '{"temperature":21.5}'), '21.5');
    assert.equal(render("{{value_json['ENERGY'].Today}}", '{"ENERGY":{"Today":1.163}}'), '1.163'); // Tasmota
    assert.equal(render('{{ value_json["state_left"] }}', '{"state_left":"ON"}'), 'ON'); // Zigbee2MQTT
    assert.equal(render("{{ value_json['a-b'] }}", '{"a-b":7}'), '7');
    assert.equal(render('{{ value_json.x[0] }} {{ value_json.x[-1] }} {{ value_json.x.1 }}', '{"x":[5,6]}'), '5 6 6');
    assert.equal(render('{{ value }}', 'raw text'), 'raw text');
  });

  it('gives no value for a missing key (Undefined renders empty, evaluates to undefined)', () => {
    assert.equal(render('{{ value_json.missing }}', '{"x":1}'), '');
    assert.equal(value('{{ value_json.missing }}', '{"x":1}'), undefined);
    assert.equal(value('{{ value_json.a.b.c }}', '{"x":1}'), undefined);
    assert.equal(value('{{ value_json.x }}', 'not json'), undefined);
  });

  it('lists the constant paths it reads, and recognises a plain path', () => {
    const t = compile("{{ value_json['ENERGY'].Today | float + value_json.x[0] }}");
    assert.deepEqual(t.jsonPaths, [['ENERGY', 'Today'], ['x', 0]]);
    assert.equal(t.simplePath, undefined);
    assert.deepEqual(compile('{{ value_json.a.b }}').simplePath, ['a', 'b']);
    assert.deepEqual(compile('{{ value }}').variables, ['value']);
  });

  it('keeps JSON values typed when the template is one expression', () => {
    assert.equal(value('{{ value_json.t }}', '{"t":21.5}'), 21.5);
    assert.equal(value('{{ value_json.on }}', '{"on":true}'), true);
    assert.deepEqual(value('{{ value_json.o }}', '{"o":{"a":[1,2]}}'), { a: [1, 2] });
    assert.equal(value(' {{ value_json.t }}\n', '{"t":1}'), 1);
    assert.equal(value('T={{ value_json.t }}', '{"t":1}'), 'T=1');
  });
});

describe('importers: template subset — Python semantics', () => {
  it('writes numbers as Python does', () => {
    assert.equal(render('{{ value | float }}', '21'), '21.0');
    assert.equal(render('{{ 1 / 2 }} {{ 7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}', ''), '0.5 3 2 1024 0.5');
    assert.equal(render('{{ 1e16 | float }} {{ 0.00001 }} {{ 123.456 }} {{ -0.5 }}', ''), '1e+16 1e-05 123.456 -0.5');
    assert.equal(render('{{ 0.1 + 0.2 }}', ''), '0.30000000000000004');
    assert.equal(render('{{ True }} {{ none }} {{ [1, "a"] }} {{ {"k": 1.0} }}', ''), "True None [1, 'a'] {'k': 1.0}");
  });

  it('compares and tests like Jinja', () => {
    assert.equal(render("{{ 'ON' if value_json.state == 1 else 'OFF' }}", '{"state":1}'), 'ON');
    assert.equal(render("{{ 'ON' if value_json.state == 1 else 'OFF' }}", '{"state":0}'), 'OFF');
    assert.equal(render('{{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ "1" == 1 }} {{ 2 in [1, 2] }} {{ "ab" in "cabd" }}', ''), 'True True False True True');
    assert.equal(render('{{ value_json.a is defined }} {{ value_json.b is not defined }} {{ none is none }}', '{"a":1}'), 'True True True');
    assert.equal(render("{{ not value_json.a and 'x' or 'y' }}", '{"a":0}'), 'x');
    assert.equal(render("{{ 'a' ~ 1 ~ none }}", ''), 'a1None');
  });

  it('runs if/elif/else blocks, set, and whitespace control', () => {
    const src = "{% if value_json.v > 10 %}high{% elif value_json.v > 5 %}mid{% else %}low{% endif %}";
    assert.equal(render(src, '{"v":11}'), 'high');
    assert.equal(render(src, '{"v":6}'), 'mid');
    assert.equal(render(src, '{"v":1}'), 'low');
    assert.equal(render('{% set t = value_json.v * 2 %}{{ t }}', '{"v":4}'), '8');
    assert.equal(render('a  {{- 1 -}}  b {# note #} c', ''), 'a1b  c');
  });

  it('renders the action template Zigbee2MQTT publishes for a thermostat (set + dict literal with a None key)', () => {
    const src = "{% set values = {None:None,'idle':'idle','heat':'heating','cool':'cooling','fan_only':'fan'} %}{{ values[value_json[\"running_state\"]] }}";
    assert.equal(render(src, '{"running_state":"heat"}'), 'heating');
    assert.equal(render(src, '{"running_state":null}'), 'None');
  });

  it('renders the mapped-value templates zwave-js-ui writes (int keys) and the OpenMQTTGateway is_defined filter', () => {
    assert.equal(render("{{ {0: \"off\", 1: \"heat\"}[value_json.value] | default('off') }}", '{"value":1}'), 'heat');
    assert.equal(render("{{ {0: \"off\", 1: \"heat\"}[value_json.value] | default('off') }}", '{"value":7}'), 'off');
    assert.equal(render('{{ value_json.value | is_defined }}', '{"value":15524904}'), '15524904');
  });

  it('renders the colour template of Tasmota lights (split, slice, join)', () => {
    assert.equal(render("{{value_json.Color.split(',')[0:3]|join(',')}}", '{"Color":"0,0,0,59,196"}'), '0,0,0');
  });
});

describe('importers: template subset — filters with Home Assistant rules', () => {
  it('float/int: convert, fall back to the default, fail without one', () => {
    assert.equal(render('{{ value | float }}', ' 21.5 '), '21.5');
    assert.equal(render('{{ value | int }}', '21.7'), '21'); // Jinja: int(float(x)) when int(x) fails
    assert.equal(render('{{ value | int(0) }}', 'abc'), '0');
    assert.equal(render('{{ value | float(default=1.5) }}', 'abc'), '1.5');
    assert.equal(render("{{ value | int(base=16) }}", '0x1A'), '26');
    assert.equal(render('{{ float(value, 0) }} {{ int("12") }}', 'x'), '0 12');
    const r = renderTemplate(compile('{{ value | float }}'), payloadInput('abc'));
    assert.equal(r.ok ? 'ok' : r.error.code, 'TEMPLATE_RUNTIME');
  });

  it('round: Python rounding, an int at precision 0, ceil/floor methods', () => {
    assert.equal(render('{{ value | float | round(1) }}', '21.46'), '21.5');
    assert.equal(render('{{ value | round }}', '21.6'), '22');
    assert.equal(render('{{ 2.5 | round }} {{ 3.5 | round }}', ''), '2 4');
    assert.equal(render("{{ 2.675 | round(2) }} {{ 0.125 | round(2) }} {{ 0.375 | round(2) }} {{ -2.5 | round }}", ''), '2.67 0.12 0.38 -2');
    assert.equal(render("{{ 1.21 | round(1, 'ceil') }} {{ 1.29 | round(1, 'floor') }} {{ 1.3 | round(0, 'half') }}", ''), '1.3 1.2 1');
  });

  it('text, default, json and the rest', () => {
    assert.equal(render('{{ value | lower }}|{{ value | upper }}|{{ value | trim }}|{{ value | title }}', ' Hello World '), ' hello world | HELLO WORLD |Hello World| Hello World ');
    assert.equal(render("{{ value_json.x | default('n/a') }} {{ value_json.x | d(3) }} {{ '' | default('e', true) }}", '{}'), 'n/a 3 e');
    assert.equal(render('{{ {"b": 1, "a": [true, none, 2.0]} | tojson }}', ''), '{"a": [true, null, 2.0], "b": 1}');
    assert.equal(render('{{ {"b": 1, "a": "<&>"} | to_json }}', ''), '{"b":1,"a":"<&>"}');
    assert.equal(render('{{ {"a": "<"} | tojson }}', ''), '{"a": "\\u003c"}');
    assert.equal(render('{{ (value | from_json).a }}', '{"a":4}'), '4');
    assert.equal(render('{{ -3 | abs }} {{ [3, 1] | max }} {{ [3, 1] | min }} {{ "abc" | length }} {{ value | string }}', '7'), '3 3 1 3 7');
    assert.equal(render('{{ "on" | bool }} {{ iif(value_json.a, "yes", "no") }}', '{"a":0}'), 'True no');
    assert.equal(render('{{ value_json.get("a", 9) }} {{ value_json.get("z", 9) }}', '{"a":1}'), '1 9');
  });

  it('renders command templates with the command value', () => {
    const t = compile('{"presenceawaytimer":{{value*60000}},"save":true}', ['value']);
    const r = renderTemplate(t, { value: 2 });
    assert.deepEqual(r, { ok: true, value: '{"presenceawaytimer":120000,"save":true}' });
    const p = compile('{ "position": {{ position }} }', ['value', 'position']);
    assert.deepEqual(renderTemplate(p, { value: 40, variables: { position: 40 } }), { ok: true, value: '{ "position": 40 }' });
  });
});

describe('importers: template subset — refusals', () => {
  it('names the unsupported construct: functions, filters, tests, methods, tags, variables', () => {
    assert.deepEqual(refused("{{ states('sensor.x') }}"), { code: 'TEMPLATE_UNSUPPORTED', construct: "function 'states'" });
    assert.deepEqual(refused('{{ now() }}'), { code: 'TEMPLATE_UNSUPPORTED', construct: "function 'now'" });
    assert.deepEqual(refused("{{ value | regex_findall('a') }}"), { code: 'TEMPLATE_UNSUPPORTED', construct: "filter 'regex_findall'" });
    assert.deepEqual(refused('{{ value | timestamp_custom("%H") }}'), { code: 'TEMPLATE_UNSUPPORTED', construct: "filter 'timestamp_custom'" });
    assert.deepEqual(refused('{{ value is match("a") }}'), { code: 'TEMPLATE_UNSUPPORTED', construct: "test 'match'" });
    assert.deepEqual(refused('{{ value.__class__() }}'), { code: 'TEMPLATE_UNSUPPORTED', construct: "method '__class__'" });
    assert.deepEqual(refused('{% for x in value_json %}{{ x }}{% endfor %}'), { code: 'TEMPLATE_UNSUPPORTED', construct: "tag 'for'" });
    assert.deepEqual(refused('{% macro m() %}{% endmacro %}'), { code: 'TEMPLATE_UNSUPPORTED', construct: "tag 'macro'" });
    assert.deepEqual(refused('{{ trigger.value.raw }}'), { code: 'TEMPLATE_UNSUPPORTED', construct: "variable 'trigger'" });
    assert.deepEqual(refused('{{ value }}', { variables: ['position'] }), { code: 'TEMPLATE_UNSUPPORTED', construct: "variable 'value'" });
    assert.deepEqual(refused('{{ (1, 2) }}'), { code: 'TEMPLATE_UNSUPPORTED', construct: 'tuple' });
  });

  it('reports printf-style "%" on a string as unsupported when it runs', () => {
    const r = renderTemplate(compile("{{ '%.1f' % value_json.t }}"), payloadInput('{"t":1}'));
    assert.deepEqual(r.ok ? 'ok' : [r.error.code, r.error.construct], ['TEMPLATE_UNSUPPORTED', "operator '%' on a string"]);
  });

  it('refuses broken syntax with its offset', () => {
    for (const src of ['{{', '{{ value ', '{% if value %}x', '{{ value | }}', '{{ [1, }}', '{{ "abc }}', '{# x', '{% endif %}', '{{ value ! 2 }}']) {
      const c = compileTemplate(src);
      assert.equal(c.ok ? 'ok' : c.error.code, 'TEMPLATE_SYNTAX', src);
    }
    const c = compileTemplate('ab {{ 1 +');
    assert.equal(c.ok ? -1 : c.error.offset, 3);
    assert.equal(compileTemplate(42).ok, false);
  });

  it('bounds source length, nesting, output and steps', () => {
    assert.equal(codeOf(compileTemplate('x'.repeat(4097))), 'TEMPLATE_LIMIT');
    assert.equal(codeOf(compileTemplate(`{{ ${'('.repeat(100)}1${')'.repeat(100)} }}`)), 'TEMPLATE_LIMIT');
    assert.equal(codeOf(compileTemplate(`{{ ${'-'.repeat(100)}1 }}`)), 'TEMPLATE_LIMIT');
    assert.equal(codeOf(compileTemplate(`{{ ${Array.from({ length: 2100 }, () => '1').join('+')} }}`, { maxLength: 100_000 })), 'TEMPLATE_LIMIT');
    assert.equal(codeOf(renderTemplate(compile("{{ 'a' * 100000 }}"), {})), 'TEMPLATE_LIMIT');
    assert.equal(codeOf(renderTemplate(compile("{% set s = 'aaaaaaaaaaaaaaaaaaaa' * 3000 %}{{ s ~ s }}"), {})), 'TEMPLATE_LIMIT');
    assert.equal(codeOf(renderTemplate(compile('{{ [1] * 20000 }}'), {})), 'TEMPLATE_LIMIT');
    const soup = compileTemplate(`{{ ${Array.from({ length: 800 }, () => 'value').join(' ~ ')} }}`, { maxLength: 10_000 });
    assert.ok(soup.ok);
    const many = soup.value;
    assert.equal(codeOf(renderTemplate(many, { value: 'x' }, { maxSteps: 500, maxString: 65_536, maxItems: 10_000 })), 'TEMPLATE_LIMIT');
    assert.equal(codeOf(renderTemplate(many, { value: 'x' })), 'ok');
  });

  it('cannot reach JavaScript objects: prototype names are plain (missing) keys', () => {
    for (const src of ['{{ value_json.__proto__ }}', '{{ value_json.constructor }}', "{{ value_json['__proto__'].polluted }}", '{{ value_json.toString }}', '{{ value.length }}']) {
      assert.equal(render(src, '{"a":1}'), '', src);
    }
    assert.equal(render('{{ value_json.__proto__.x }}', '{"__proto__":{"x":5}}'), '5');
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });
});

function codeOf(r: { ok: true } | { ok: false; error: { code: string } }): string {
  return r.ok ? 'ok' : r.error.code;
}

const PIECES = [
  'value', 'value_json', 'value_json.a', "value_json['b']", 'value_json.c[0]', '1', '2.5', '-3', "'s'", '"t"', 'true', 'none', '[1, 2]',
  "{'k': 1}", '+', '-', '*', '/', '//', '%', '**', '~', '==', '!=', '<', '>=', 'and', 'or', 'not', 'in', 'is', 'defined', 'if', 'else',
  '|', 'float', 'int', 'round(1)', 'lower', 'default(0)', 'tojson', '(', ')', '[', ']', '.', ',', ':', '{{', '}}', '{%', '%}', 'set', 'x', '=',
  'elif', 'endif', '{#', '#}', '-}}', '{{-', 'split', "(',')", 'states', 'for', '\\', "'", '"', ' ',
];

describe('importers: template subset — property tests', () => {
  const input = fc.record({
    value: fc.oneof(fc.string(), fc.integer(), fc.double(), fc.constant(undefined)),
    valueJson: fc.oneof(fc.json().map((j) => JSON.parse(j) as unknown), fc.constant(undefined)),
  }) as fc.Arbitrary<TemplateInput>;

  it('never throws and always answers, on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), input, (src, inp) => {
        const c = compileTemplate(src);
        if (c.ok) {
          renderTemplate(c.value, inp);
          evaluateTemplate(c.value, inp);
        } else assert.ok(['TEMPLATE_SYNTAX', 'TEMPLATE_UNSUPPORTED', 'TEMPLATE_LIMIT'].includes(c.error.code));
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws and ends within its step bound, on template-shaped token soup', () => {
    const soup = fc.array(fc.constantFrom(...PIECES), { maxLength: 60 }).map((parts) => `{{ ${parts.join(' ')} }}`);
    const block = fc.array(fc.constantFrom(...PIECES), { maxLength: 60 }).map((parts) => parts.join(' '));
    fc.assert(
      fc.property(fc.oneof(soup, block), input, (src, inp) => {
        const c = compileTemplate(src);
        if (!c.ok) return;
        for (const r of [renderTemplate(c.value, inp, { maxSteps: 1000, maxString: 4096, maxItems: 256 }), evaluateTemplate(c.value, inp)]) {
          if (!r.ok) assert.ok(['TEMPLATE_RUNTIME', 'TEMPLATE_UNSUPPORTED', 'TEMPLATE_LIMIT'].includes(r.error.code), r.error.code);
          else if (typeof r.value === 'string') assert.ok(r.value.length <= 65_536);
        }
      }),
      { numRuns: 4000 },
    );
  });

  it('reads any JSON path it is given, like JSON itself', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.oneof(fc.integer(), fc.string(), fc.boolean())), (obj) => {
        for (const [k, v] of Object.entries(obj)) {
          const t = compileTemplate(`{{ value_json[${JSON.stringify(k)}] }}`);
          if (!t.ok) return; // keys with characters JSON escapes differently (\b, \f) are not a concern here
          const r = evaluateTemplate(t.value, { valueJson: obj });
          assert.deepEqual(r, { ok: true, value: v });
        }
      }),
      { numRuns: 500 },
    );
  });
});
