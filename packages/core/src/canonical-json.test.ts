import { describe, expect, it } from 'vitest';
import { codeOf, thrown } from '@swarm/test-utils';
import { canonicalBytes, canonicalize } from './canonical-json.js';
import type { SwarmError } from './errors.js';

/** A small deterministic PRNG so the generated values are the same on every run. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomValue(next: () => number, depth = 0): unknown {
  const pick = Math.floor(next() * (depth > 3 ? 4 : 6));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return next() < 0.5;
    case 2:
      return Math.round((next() - 0.5) * 1e6) / (next() < 0.5 ? 1 : 1000);
    case 3:
      return String.fromCodePoint(...Array.from({ length: Math.floor(next() * 6) }, () => Math.floor(next() * 0x2fff)));
    case 4:
      return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1));
    default: {
      const record: Record<string, unknown> = {};
      for (let i = Math.floor(next() * 5); i > 0; i--) record[`k${Math.floor(next() * 50)}é`] = randomValue(next, depth + 1);
      return record;
    }
  }
}

/** The same record with keys inserted in reverse order, recursively. */
function reversedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reversedKeys(v)]));
  }
  return value;
}

describe('canonicalize', () => {
  it('sorts object keys and writes no whitespace', () => {
    expect(canonicalize({ b: 1, a: [3, 2, 1], c: { z: true, y: null } })).toBe('{"a":[3,2,1],"b":1,"c":{"y":null,"z":true}}');
  });

  it('sorts nested objects inside arrays and keeps array order', () => {
    expect(canonicalize([{ b: 2, a: 1 }, [{ d: 0, c: 0 }]])).toBe('[{"a":1,"b":2},[{"c":0,"d":0}]]');
  });

  it('orders keys by UTF-16 code units, not by code points', () => {
    // U+1F600 is the surrogate pair D83D DE00, which sorts before U+FFFD in UTF-16 order.
    const text = canonicalize({ '\uFFFD': 1, '\u{1F600}': 2, é: 3, z: 4, A: 5 });
    expect(text).toBe('{"A":5,"z":4,"é":3,"\u{1F600}":2,"\uFFFD":1}');
  });

  it('keeps non-ASCII text as UTF-8 and escapes control characters', () => {
    const text = canonicalize({ s: 'é€😀\u0001\n"\\' });
    expect(text).toBe('{"s":"é€😀\\u0001\\n\\"\\\\"}');
    expect(canonicalBytes({ s: 'é' })).toEqual(Buffer.from([0x7b, 0x22, 0x73, 0x22, 0x3a, 0x22, 0xc3, 0xa9, 0x22, 0x7d]));
  });

  it('writes numbers the way ECMAScript does (RFC 8785)', () => {
    const cases: Array<[number, string]> = [
      [0, '0'],
      [-0, '0'],
      [1.0, '1'],
      [4.5, '4.5'],
      [0.002, '0.002'],
      [1e-7, '1e-7'],
      [1e21, '1e+21'],
      [1e30, '1e+30'],
      [333333333.33333329, '333333333.3333333'],
      [-1.5e-27, '-1.5e-27'],
      [9007199254740991, '9007199254740991'],
    ];
    for (const [value, text] of cases) expect(canonicalize(value)).toBe(text);
  });

  it('omits object properties whose value is undefined, like JSON', () => {
    expect(canonicalize({ a: undefined, b: 1 })).toBe('{"b":1}');
  });

  it('accepts objects without a prototype', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.y = 1;
    bare.x = 2;
    expect(canonicalize(bare)).toBe('{"x":2,"y":1}');
  });

  it('is byte-stable: key insertion order and re-parsing never change the bytes', () => {
    const next = prng(42);
    for (let i = 0; i < 300; i++) {
      const value = randomValue(next);
      const text = canonicalize(value);
      expect(canonicalize(reversedKeys(value))).toBe(text);
      expect(canonicalize(JSON.parse(text))).toBe(text);
      expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
    }
  });

  it.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['nested NaN', { a: [1, { b: NaN }] }],
    ['undefined at the top', undefined],
    ['undefined in an array', [1, undefined, 2]],
    ['a hole in a sparse array', [1, , 2]], // eslint-disable-line no-sparse-arrays
    ['a Date', { at: new Date(0) }],
    ['a Map', new Map([['a', 1]])],
    ['a class instance', { x: new (class Point { x = 1 })() }],
    ['a Buffer', { b: Buffer.from('hi') }],
    ['a function', { f: () => 1 }],
    ['a bigint', { n: 1n }],
    ['a symbol', [Symbol('s')]],
  ])('rejects %s', (_label, value) => {
    expect(codeOf(() => canonicalize(value))).toBe('CANONICAL_JSON_UNSUPPORTED');
  });

  it('names where the unsupported value sits', () => {
    const error = thrown(() => canonicalize({ a: [0, { b: NaN }] })) as SwarmError;
    expect(error.details).toEqual({ path: '/a/1/b' });
  });
});
