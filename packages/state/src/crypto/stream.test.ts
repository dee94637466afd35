import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { SwarmError } from '@swarm/core';
import { describe, expect, it } from 'vitest';
import { BUNDLE_HEADER_BYTES, createOpenStream, openBytes, sealBytes } from './stream.js';

const CHUNK = 64;
/** nonce (24) ‖ ciphertext ‖ tag (16). */
const OVERHEAD = 40;
const SEALED_CHUNK = CHUNK + OVERHEAD;

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
      expect(sealed.length).toBe(BUNDLE_HEADER_BYTES + length + OVERHEAD * chunks);
      expect((await openBytes(key, sealed)).equals(plaintext)).toBe(true);
    }
  });

  it('uses 64 KiB chunks by default and is deterministic', async () => {
    const plaintext = randomBytes(3 * 65_536 + 5);
    const sealed = await sealBytes(key, plaintext);
    expect(sealed.subarray(0, 12).toString()).toBe('SWARMBUNDLE1');
    expect(sealed.readUInt32BE(16)).toBe(65_536);
    expect(sealed.length).toBe(BUNDLE_HEADER_BYTES + plaintext.length + 4 * OVERHEAD);
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
    const { chunks: otherChunks } = split(await sealBytes(key, randomBytes(5 * CHUNK + 10), { chunkSize: CHUNK }));
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
      'an appended empty-looking chunk': Buffer.concat([sealed, randomBytes(OVERHEAD)]),
      'an appended tag-sized tail': Buffer.concat([sealed, randomBytes(16)]),
      'the last chunk moved to the front': Buffer.concat([header, chunks[chunks.length - 1]!, ...chunks.slice(0, -1)]),
      // (At the same index it would authenticate: chunks are bound to header, index and last flag,
      // not to each other; bundle_sha256, recorded by the node, catches such a splice.)
      'a chunk from another stream under the same key, at another index': Buffer.concat([header, chunks[0]!, otherChunks[2]!, ...chunks.slice(2)]),
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
    expect(sealed[12]).toBe(2);
    const future = Buffer.from(sealed);
    future[12] = 3;
    expect(await codeOf(openBytes(key, future))).toBe('STATE_BUNDLE_FORMAT_UNSUPPORTED');
  });

  it('refuses version 1 (counter nonces) as an unsupported format', async () => {
    const sealed = await sealBytes(key, randomBytes(10));
    const v1 = Buffer.from(sealed);
    v1[12] = 1;
    expect(await codeOf(openBytes(key, v1))).toBe('STATE_BUNDLE_FORMAT_UNSUPPORTED');
    // A real version 1 stream has 16-byte-overhead chunks: the header alone decides, not the body.
    const v1Body = Buffer.concat([v1.subarray(0, BUNDLE_HEADER_BYTES), randomBytes(10 + 16)]);
    expect(await codeOf(openBytes(key, v1Body))).toBe('STATE_BUNDLE_FORMAT_UNSUPPORTED');
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

/**
 * The format written out from its description (see stream.ts), with noble's XChaCha20-Poly1305 and
 * node's HKDF and HMAC, so the implementation is held to the documented bytes. `forge` lets a test
 * that knows the key seal chunks the real sealer never would.
 */
interface Forgery {
  /** Index and last flag fed to the nonce HMAC (default: the chunk's own). */
  macIndex?: number;
  macLast?: boolean;
  /** A nonce to use instead of the synthetic one. */
  nonce?: Buffer;
}

function reference(dataKey: Buffer, chunkSize: number) {
  const derive = (info: string, length = 32) => Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), info, length));
  const payloadKey = derive('swarm/v1/bundle/payload-key');
  const nonceKey = derive('swarm/v1/bundle/chunk-nonce-key');
  const header = Buffer.alloc(36);
  header.write('SWARMBUNDLE1', 0, 'ascii');
  header[12] = 2;
  header[13] = 1;
  header.writeUInt32BE(chunkSize, 16);
  derive('swarm/v1/bundle/key-check', 16).copy(header, 20);
  const position = (index: number, last: boolean) => {
    const out = Buffer.alloc(9);
    out.writeBigUInt64BE(BigInt(index));
    out[8] = last ? 1 : 0;
    return out;
  };
  const nonceOf = (index: number, last: boolean, plaintext: Buffer) =>
    createHmac('sha256', nonceKey)
      .update(Buffer.concat([Buffer.from('swarm-bundle-chunk-v2'), position(index, last), plaintext]))
      .digest()
      .subarray(0, 24);
  const sealChunk = (index: number, last: boolean, plaintext: Buffer, forge: Forgery = {}) => {
    const nonce = forge.nonce ?? nonceOf(forge.macIndex ?? index, forge.macLast ?? last, plaintext);
    const aad = Buffer.concat([header, position(index, last)]);
    return Buffer.concat([nonce, xchacha20poly1305(payloadKey, nonce, aad).encrypt(plaintext)]);
  };
  const plaintextChunks = (plaintext: Buffer) => {
    const out: Buffer[] = [];
    for (let at = 0; at < plaintext.length; at += chunkSize) out.push(plaintext.subarray(at, at + chunkSize));
    return out.length === 0 ? [Buffer.alloc(0)] : out;
  };
  const seal = (plaintext: Buffer, forge: (index: number, last: boolean) => Forgery | undefined = () => undefined) => {
    const parts = plaintextChunks(plaintext);
    const last = parts.length - 1;
    return Buffer.concat([header, ...parts.map((part, i) => sealChunk(i, i === last, part, forge(i, i === last)))]);
  };
  return { header, seal, sealChunk, nonceOf };
}

describe('sealed stream format (version 2, synthetic chunk nonces)', () => {
  const key = randomBytes(32);

  it('matches the documented construction byte for byte', async () => {
    for (const chunkSize of [CHUNK, 65_536]) {
      const ref = reference(key, chunkSize);
      for (const length of [0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3 * chunkSize + 17]) {
        const plaintext = randomBytes(length);
        expect((await sealBytes(key, plaintext, { chunkSize })).equals(ref.seal(plaintext))).toBe(true);
      }
    }
  });

  it('derives each chunk nonce from its plaintext, index and last flag', async () => {
    const plaintext = randomBytes(3 * CHUNK + 5);
    const { chunks } = split(await sealBytes(key, plaintext, { chunkSize: CHUNK }));
    const ref = reference(key, CHUNK);
    chunks.forEach((chunk, i) => {
      const part = plaintext.subarray(i * CHUNK, (i + 1) * CHUNK);
      expect(chunk.subarray(0, 24).equals(ref.nonceOf(i, i === chunks.length - 1, part))).toBe(true);
    });
  });

  it('never reuses a nonce for different plaintexts under one data key', async () => {
    // The case that counter nonces got wrong: one node's data key sealing two different bundles.
    const a = randomBytes(4 * CHUNK);
    const b = randomBytes(4 * CHUNK);
    const sa = split(await sealBytes(key, a, { chunkSize: CHUNK })).chunks;
    const sb = split(await sealBytes(key, b, { chunkSize: CHUNK })).chunks;
    expect(sa.length).toBe(4);
    for (let i = 0; i < 4; i += 1) {
      expect(sa[i]!.subarray(0, 24).equals(sb[i]!.subarray(0, 24))).toBe(false);
      const bodyXor = xor(sa[i]!.subarray(24, 24 + CHUNK), sb[i]!.subarray(24, 24 + CHUNK));
      const plainXor = xor(a.subarray(i * CHUNK, (i + 1) * CHUNK), b.subarray(i * CHUNK, (i + 1) * CHUNK));
      expect(bodyXor.equals(plainXor)).toBe(false);
    }
  });

  it('changes the nonce of a chunk when one bit of it changes, and only of that chunk', async () => {
    const a = randomBytes(4 * CHUNK);
    const b = Buffer.from(a);
    b[CHUNK + 5]! ^= 0x01;
    const sa = split(await sealBytes(key, a, { chunkSize: CHUNK })).chunks;
    const sb = split(await sealBytes(key, b, { chunkSize: CHUNK })).chunks;
    expect(sa[1]!.subarray(0, 24).equals(sb[1]!.subarray(0, 24))).toBe(false);
    const bodyXor = xor(sa[1]!.subarray(24, 24 + CHUNK), sb[1]!.subarray(24, 24 + CHUNK));
    expect(bodyXor.equals(xor(a.subarray(CHUNK, 2 * CHUNK), b.subarray(CHUNK, 2 * CHUNK)))).toBe(false);
    // Inherent to deterministic encryption (and documented): equal chunks at one index look equal.
    for (const i of [0, 2, 3]) expect(sa[i]!.equals(sb[i]!)).toBe(true);
  });

  it('gives a chunk another nonce when it is last in one stream and not in another', async () => {
    const a = randomBytes(2 * CHUNK);
    const b = Buffer.concat([a, randomBytes(CHUNK)]);
    const sa = split(await sealBytes(key, a, { chunkSize: CHUNK })).chunks;
    const sb = split(await sealBytes(key, b, { chunkSize: CHUNK })).chunks;
    expect(sa[0]!.equals(sb[0]!)).toBe(true);
    expect(sa[1]!.subarray(0, 24).equals(sb[1]!.subarray(0, 24))).toBe(false);
  });

  describe('refuses chunks that authenticate under a nonce the sealer would not choose', () => {
    const plaintext = randomBytes(3 * CHUNK + 9);
    const ref = reference(key, CHUNK);
    const forgeries: Record<string, (index: number, last: boolean) => Forgery | undefined> = {
      'a random nonce': (i) => (i === 1 ? { nonce: randomBytes(24) } : undefined),
      "a nonce computed for another chunk's index": (i) => (i === 1 ? { macIndex: 2 } : undefined),
      'a middle chunk whose nonce says last': (i) => (i === 1 ? { macLast: true } : undefined),
      'a last chunk whose nonce says not last': (_i, last) => (last ? { macLast: false } : undefined),
    };

    it('(the reference itself opens)', async () => {
      expect((await openBytes(key, ref.seal(plaintext))).equals(plaintext)).toBe(true);
    });

    for (const [name, forge] of Object.entries(forgeries)) {
      it(name, async () => {
        expect(await codeOf(openBytes(key, ref.seal(plaintext, forge)))).toBe('STATE_BUNDLE_CORRUPT');
      });
    }

    it('a last chunk re-sealed as a middle one (the last flag swapped)', async () => {
      const parts = [0, 1, 2, 3].map((i) => plaintext.subarray(i * CHUNK, (i + 1) * CHUNK));
      const swapped = Buffer.concat([ref.header, ...parts.map((part, i) => ref.sealChunk(i, false, part))]);
      expect(await codeOf(openBytes(key, swapped))).toBe('STATE_BUNDLE_CORRUPT');
      const early = Buffer.concat([ref.header, ref.sealChunk(0, true, parts[0]!), ...parts.slice(1).map((part, i) => ref.sealChunk(i + 1, i === 2, part))]);
      expect(await codeOf(openBytes(key, early))).toBe('STATE_BUNDLE_CORRUPT');
    });
  });
});

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i += 1) out[i] = a[i]! ^ b[i]!;
  return out;
}
