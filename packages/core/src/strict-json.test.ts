import { describe, expect, it } from 'vitest';
import { parseStrictJson, type StrictJson } from './strict-json.js';

const notes = (result: StrictJson) => (result.ok ? result.numbers : `not ok: ${result.problem}`);
const problem = (result: StrictJson) => (result.ok ? 'ok' : result.problem);

describe('parseStrictJson', () => {
  it('parses JSON like JSON.parse (control)', () => {
    const text = '{"a":[1,"x",null,true,false,{"b":-2}],"c":"\\u00e9\\ud83d\\ude00"}';
    const result = parseStrictJson(Buffer.from(text));
    expect(result).toEqual({ ok: true, value: JSON.parse(text), numbers: [] });
  });

  it('notes every number written with a fraction, an exponent or beyond u64, by JSON Pointer', () => {
    const text = '{"a":1.0,"b":[1,1e0,2,1E+2],"c":{"d/e~":18446744073709551616},"f":18446744073709551615,"g":-1.5,"h":[[0.5],[3,{"x":7e-1}]],"i":123456789012345678901}';
    expect(notes(parseStrictJson(text))).toEqual([
      { path: '/a', form: 'fraction' },
      { path: '/b/1', form: 'exponent' },
      { path: '/b/3', form: 'exponent' },
      { path: '/c/d~1e~0', form: 'beyond_u64' },
      { path: '/g', form: 'fraction' },
      { path: '/h/0/0', form: 'fraction' },
      { path: '/h/1/1/x', form: 'exponent' },
      { path: '/i', form: 'beyond_u64' },
    ]);
  });

  it('counts array positions past strings, literals and nested values', () => {
    expect(notes(parseStrictJson('["a,]",{"k":"}"},[],true,null,false,1.5]'))).toEqual([{ path: '/6', form: 'fraction' }]);
    expect(notes(parseStrictJson('1e3'))).toEqual([{ path: '', form: 'exponent' }]);
  });

  it('rejects a UTF-8 byte order mark, as bytes and as text', () => {
    expect(problem(parseStrictJson(Buffer.from('\ufeff{}', 'utf8')))).toBe('bom');
    expect(problem(parseStrictJson('\ufeff{}'))).toBe('bom');
    expect(problem(parseStrictJson(Buffer.from('{}')))).toBe('ok');
  });

  it('rejects invalid UTF-8 and invalid JSON', () => {
    expect(problem(parseStrictJson(Buffer.from([0x7b, 0xff, 0x7d])))).toBe('utf8');
    expect(problem(parseStrictJson('{"a":1,}'))).toBe('syntax');
  });

  it.each([
    ['a lone high surrogate', '{"a":"\\ud800"}'],
    ['a lone low surrogate', '{"a":"\\udc00"}'],
    ['a high surrogate followed by text', '{"a":"\\ud800x"}'],
    ['a high surrogate followed by another escape', '{"a":"\\ud800\\u0041"}'],
    ['two high surrogates', '{"a":"\\ud800\\ud800\\udc00"}'],
    ['a lone surrogate in a key', '{"\\uDBFF":1}'],
    ['a lone surrogate in an array', '[1,"ok","\\ud800"]'],
  ])('rejects %s', (_label, text) => {
    expect(problem(parseStrictJson(text))).toBe('lone_surrogate');
  });

  it('accepts surrogate pairs, escaped or raw, and a literal backslash before "ud800"', () => {
    expect(problem(parseStrictJson('{"a":"\\ud83d\\ude00"}'))).toBe('ok');
    expect(problem(parseStrictJson(Buffer.from('{"a":"😀"}')))).toBe('ok');
    expect(problem(parseStrictJson('{"a":"\\\\ud800"}'))).toBe('ok');
  });

  it('scans deep nesting without overflowing the stack', () => {
    const depth = 50_000;
    const text = `${'['.repeat(depth)}1.5${']'.repeat(depth)}`;
    const result = parseStrictJson(text);
    if (!result.ok && result.problem === 'syntax') return; // the engine's own JSON.parse limit, not ours
    expect(notes(result)).toEqual([{ path: '/0'.repeat(depth), form: 'fraction' }]);
  });
});
