import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { codeOf } from '@swarm/test-utils';
import { decodeBase64UrlStrict, encodeBase64Url } from './base64url.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

describe('strict base64url', () => {
  it('round-trips random bytes of every length class', () => {
    for (let length = 0; length < 70; length++) {
      const data = randomBytes(length);
      const text = encodeBase64Url(data);
      expect(text).not.toMatch(/[=+/]/);
      expect(decodeBase64UrlStrict(text)).toEqual(data);
    }
  });

  it.each([
    ['padding', 'AA=='],
    ['single padding', 'AAA='],
    ["standard alphabet '+'", 'ab+c'],
    ["standard alphabet '/'", 'ab/c'],
    ['whitespace inside', 'AA AA'],
    ['a trailing newline', 'AAAA\n'],
    ['impossible length 1', 'A'],
    ['impossible length 5', 'AAAAA'],
    ['non-zero trailing bits (AB decodes like AA)', 'AB'],
    ['non-zero trailing bits in a 3-character tail', 'AAB'],
    ['non-ASCII', 'AAé'],
  ])('rejects %s', (_label, text) => {
    expect(codeOf(() => decodeBase64UrlStrict(text))).toBe('CAPABILITY_MALFORMED');
  });

  it('reports with the code the caller asks for', () => {
    expect(codeOf(() => decodeBase64UrlStrict('A=', 'DSSE_MALFORMED'))).toBe('DSSE_MALFORMED');
  });

  it('accepts exactly one encoding per byte string (every 2-character text)', () => {
    // The canonical encodings of all single bytes; every other 2-character text must be refused.
    const canonical = new Set(Array.from({ length: 256 }, (_, b) => Buffer.from([b]).toString('base64url')));
    let accepted = 0;
    for (const a of ALPHABET) {
      for (const b of ALPHABET) {
        const text = a + b;
        const ok = codeOf(() => decodeBase64UrlStrict(text)) === '(no error)';
        expect(ok, text).toBe(canonical.has(text));
        if (ok) accepted++;
      }
    }
    expect(accepted).toBe(256);
  });

  it('accepts a 3-character text only when it is the encoding of its bytes', () => {
    for (let i = 0; i < 3000; i++) {
      const pick = randomBytes(3);
      const text = [...pick].map((n) => ALPHABET[n % 64]).join('');
      const ok = codeOf(() => decodeBase64UrlStrict(text)) === '(no error)';
      // 18 bits carry 2 bytes; the last 2 bits of the third character must be zero.
      expect(ok, text).toBe((ALPHABET.indexOf(text[2]!) & 0b11) === 0);
    }
  });
});
