import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { SWARM_DIGEST_RE, createDigester, digestHex, isSwarmDigest, sha256Digest, sha256Hex, sha256Stream } from './digest.js';

const nobleHex = (data: Uint8Array) => Buffer.from(sha256(data)).toString('hex');

describe('sha256', () => {
  it('node:crypto and @noble/hashes give identical digests on random inputs', () => {
    // Lengths around the 64-byte block and the 55/56-byte padding boundary, plus random ones.
    const lengths = [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 65_537];
    for (let i = 0; i < 40; i++) lengths.push(randomBytes(2).readUInt16BE(0));
    for (const length of lengths) {
      const data = randomBytes(length);
      expect(sha256Hex(data)).toBe(nobleHex(data));
    }
  });

  it('hashes strings as UTF-8', () => {
    expect(sha256Hex('é😀')).toBe(nobleHex(Buffer.from('é😀', 'utf8')));
  });

  it('matches the FIPS 180-2 test vector for "abc"', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('writes digests as sha256: and 64 lowercase hex digits', () => {
    const digest = sha256Digest(randomBytes(10));
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(isSwarmDigest(digest)).toBe(true);
    expect(digestHex(digest)).toBe(digest.slice(7));
  });

  it.each([
    ['uppercase hex', `sha256:${'A'.repeat(64)}`],
    ['short hex', `sha256:${'a'.repeat(63)}`],
    ['long hex', `sha256:${'a'.repeat(65)}`],
    ['no prefix', 'a'.repeat(64)],
    ['another algorithm', `sha512:${'a'.repeat(64)}`],
    ['trailing newline', `sha256:${'a'.repeat(64)}\n`],
  ])('does not take %s as a swarm digest', (_label, text) => {
    expect(isSwarmDigest(text)).toBe(false);
    expect(SWARM_DIGEST_RE.test(text)).toBe(false);
    expect(digestHex(text)).toBeUndefined();
  });

  it('streams and chunked updates give the same digest as one call', async () => {
    const data = randomBytes(200_000);
    const chunks = [data.subarray(0, 1), data.subarray(1, 70_001), data.subarray(70_001)];
    expect(await sha256Stream(Readable.from(chunks))).toBe(sha256Digest(data));
    const digester = createDigester();
    for (const chunk of chunks) digester.update(chunk);
    expect(digester.digest()).toBe(sha256Digest(data));
  });
});
