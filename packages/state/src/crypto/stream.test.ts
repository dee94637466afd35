import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { SwarmError } from '@swarm/core';
import { describe, expect, it } from 'vitest';
import { BUNDLE_HEADER_BYTES, createOpenStream, openBytes, sealBytes } from './stream.js';

const CHUNK = 64;
const SEALED_CHUNK = CHUNK + 16;

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SwarmError);
    return (error as SwarmError).code;
  }
  return undefined;
}

/** Splits a sealed buffer into header and sealed chunks (every chunk full but the last). */
function split(sealed: Buffer): { header: Buffer; chunks: Buffer[] } {
  const header = sealed.subarray(0, BUNDLE_HEADER_BYTES);
  const chunks: Buffer[] = [];
  for (let at = BUNDLE_HEADER_BYTES; at < sealed.length; at += SEALED_CHUNK) chunks.push(sealed.subarray(at, at + SEALED_CHUNK));
  return { header, chunks };
}

describe('sealed stream', () => {
  const key = randomBytes(32);

  it('round-trips every length around chunk boundaries', async () => {
    for (const length of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7, 1000]) {
      const plaintext = randomBytes(length);
      const sealed = await sealBytes(key, plaintext, { chunkSize: CHUNK });
      const chunks = Math.max(1, Math.ceil(length / CHUNK));
      expect(sealed.length).toBe(BUNDLE_HEADER_BYTES + length + 16 * chunks);
      expect((await openBytes(key, sealed)).equals(plaintext)).toBe(true);
    }
  });

  it('uses 64 KiB chunks by default and is deterministic', async () => {
    const plaintext = randomBytes(3 * 65_536 + 5);
    const sealed = await sealBytes(key, plaintext);
    expect(sealed.subarray(0, 12).toString()).toBe('SWARMBUNDLE1');
    expect(sealed.readUInt32BE(16)).toBe(65_536);
    expect(sealed.length).toBe(BUNDLE_HEADER_BYTES + plaintext.length + 4 * 16);
    expect((await sealBytes(key, plaintext)).equals(sealed)).toBe(true);
    expect((await openBytes(key, sealed)).equals(plaintext)).toBe(true);
  });

  it('opens input that arrives in arbitrary pieces', async () => {
    const plaintext = randomBytes(10 * CHUNK + 3);
    const sealed = await sealBytes(key, plaintext, { chunkSize: CHUNK });
    const pieces: Buffer[] = [];
    for (let at = 0; at < sealed.length; ) {
      const size = 1 + Math.floor(Math.random() * 150);
      pieces.push(sealed.subarray(at, at + size));
      at += size;
    }
    const out: Buffer[] = [];
    for await (const chunk of Readable.from(pieces).pipe(createOpenStream(key))) out.push(chunk as Buffer);
    expect(Buffer.concat(out).equals(plaintext)).toBe(true);
  });

  it('tells a wrong key apart from corruption', async () => {
    const sealed = await sealBytes(key, randomBytes(500), { chunkSize: CHUNK });
    expect(await codeOf(openBytes(randomBytes(32), sealed))).toBe('STATE_KEY_MISMATCH');
  });

  describe('refuses tampering with STATE_BUNDLE_CORRUPT', async () => {
    const plaintext = randomBytes(5 * CHUNK + 10);
    const sealed = await sealBytes(key, plaintext, { chunkSize: CHUNK });
    const { header, chunks } = split(sealed);
    const cases: Record<string, Buffer> = {
      'truncation at a chunk boundary': Buffer.concat([header, ...chunks.slice(0, 3)]),
      'truncation of all but the header': header,
      'truncation inside the last chunk': sealed.subarray(0, sealed.length - 5),
      'truncation inside a middle chunk': sealed.subarray(0, BUNDLE_HEADER_BYTES + 2 * SEALED_CHUNK + 30),
      'truncation inside the header': sealed.subarray(0, 20),
      'truncation to nothing': Buffer.alloc(0),
      'a dropped chunk': Buffer.concat([header, chunks[0]!, chunks[2]!, ...chunks.slice(3)]),
      'a duplicated chunk': Buffer.concat([header, chunks[0]!, chunks[1]!, chunks[1]!, ...chunks.slice(2)]),
      'reordered chunks': Buffer.concat([header, chunks[1]!, chunks[0]!, ...chunks.slice(2)]),
      'the last chunk duplicated': Buffer.concat([header, ...chunks, chunks[chunks.length - 1]!]),
      'appended bytes': Buffer.concat([sealed, Buffer.from('x')]),
      'an appended empty-looking chunk': Buffer.concat([sealed, randomBytes(16)]),
      'two streams concatenated': Buffer.concat([sealed, sealed.subarray(BUNDLE_HEADER_BYTES)]),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      it(name, async () => {
        expect(await codeOf(openBytes(key, bytes))).toBe('STATE_BUNDLE_CORRUPT');
      });
    }

    it('a flipped bit anywhere in the body', async () => {
      for (let i = BUNDLE_HEADER_BYTES; i < sealed.length; i += 7) {
        const bad = Buffer.from(sealed);
        bad[i]! ^= 0x20;
        expect(await codeOf(openBytes(key, bad))).toBe('STATE_BUNDLE_CORRUPT');
      }
    });

    it('a changed chunk size in the header', async () => {
      const bad = Buffer.from(sealed);
      bad.writeUInt32BE(CHUNK * 2, 16);
      expect(await codeOf(openBytes(key, bad))).toBe('STATE_BUNDLE_CORRUPT');
    });
  });

  it('refuses data that is not a sealed bundle', async () => {
    expect(await codeOf(openBytes(key, Buffer.from('plain tar bytes, not a bundle at all....')))).toBe('STATE_BUNDLE_FORMAT_UNSUPPORTED');
    expect(await codeOf(openBytes(key, Buffer.from('hello')))).toBe('STATE_BUNDLE_FORMAT_UNSUPPORTED');
    const sealed = await sealBytes(key, randomBytes(10));
    const future = Buffer.from(sealed);
    future[12] = 2;
    expect(await codeOf(openBytes(key, future))).toBe('STATE_BUNDLE_FORMAT_UNSUPPORTED');
  });

  it('refuses a header whose key check was altered as a key mismatch', async () => {
    const sealed = await sealBytes(key, randomBytes(10));
    const bad = Buffer.from(sealed);
    bad[25]! ^= 1;
    expect(await codeOf(openBytes(key, bad))).toBe('STATE_KEY_MISMATCH');
  });

  it('refuses chunk sizes over the opener limit', async () => {
    const sealed = await sealBytes(key, randomBytes(10), { chunkSize: 1 << 20 });
    expect(await codeOf(openBytes(key, sealed, { maxChunkSize: 1 << 16 }))).toBe('STATE_BUNDLE_TOO_LARGE');
  });
});
