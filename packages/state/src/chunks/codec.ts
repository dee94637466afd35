/**
 * One stored chunk: nonce (24) ‖ ciphertext ‖ tag (16) of a flag byte (0 raw, 1 deflate) and the
 * bytes, sealed with XChaCha20-Poly1305 under the installation's chunk key, with the id as aad.
 * The nonce is HMAC-SHA256(nonce key, id ‖ message), first 24 bytes: synthetic, so a key and a
 * nonce never seal two different messages (deflate's output may differ between zlib builds for
 * the same chunk) and the same message seals to the same bytes. Compression is
 * kept only where it pays: a sample of the chunk is tried first, so incompressible data (media,
 * archives, what an agent downloads) costs almost nothing. Opening checks the tag and then that
 * the plaintext hashes to the id, so a chunk can never stand in for another.
 */
import { createHash, createHmac } from 'node:crypto';
import zlib from 'node:zlib';
import { SwarmError } from '@swarm/core';
import '../engine-errors.js';
import { POLY1305_TAG_BYTES, XCHACHA_NONCE_BYTES, XChaCha20Poly1305 } from '../crypto/xchacha.js';
import { chunkId, type ChunkKeys } from './keys.js';

const RAW = 0;
const DEFLATE = 1;
const SAMPLE = 16 * 1024;
/** Chunks smaller than this are stored as they are. */
const MIN_COMPRESS = 512;

export class ChunkCodec {
  readonly #cipher: XChaCha20Poly1305;

  constructor(readonly keys: ChunkKeys) {
    this.#cipher = new XChaCha20Poly1305(keys.enc);
  }

  /** The sealed form of `plain`, whose id is `id`. */
  seal(id: Buffer, plain: Buffer): Buffer {
    const [flag, body] = compress(plain);
    const message = Buffer.concat([Buffer.of(flag), body]);
    const nonce = createHmac('sha256', this.keys.nonce).update(id).update(message).digest().subarray(0, XCHACHA_NONCE_BYTES);
    const [ciphertext, tag] = this.#cipher.seal(nonce, message, id);
    return Buffer.concat([nonce, ciphertext, tag]);
  }

  /** The plaintext of a sealed chunk; STORE_CHUNK_CORRUPT unless it is exactly chunk `id`. */
  open(id: Buffer, sealed: Buffer): Buffer {
    const corrupt = (why: string) => new SwarmError('STORE_CHUNK_CORRUPT', `chunk ${id.toString('hex')} is corrupt (${why})`, { details: { chunk: id.toString('hex'), reason: why } });
    if (sealed.length < XCHACHA_NONCE_BYTES + POLY1305_TAG_BYTES + 1) throw corrupt('too short');
    const split = sealed.length - POLY1305_TAG_BYTES;
    const opened = this.#cipher.open(sealed.subarray(0, XCHACHA_NONCE_BYTES), sealed.subarray(XCHACHA_NONCE_BYTES, split), sealed.subarray(split), id);
    if (!opened) throw corrupt('authentication failed');
    let plain: Buffer;
    if (opened[0] === RAW) plain = opened.subarray(1);
    else if (opened[0] === DEFLATE) {
      try {
        plain = zlib.inflateRawSync(opened.subarray(1));
      } catch {
        throw corrupt('bad compressed data');
      }
    } else throw corrupt('unknown encoding');
    if (!chunkId(this.keys, createHash('sha256').update(plain).digest()).equals(id)) throw corrupt('content does not match its id');
    return plain;
  }
}

function compress(plain: Buffer): [number, Buffer] {
  if (plain.length < MIN_COMPRESS) return [RAW, plain];
  if (plain.length > SAMPLE) {
    const sample = zlib.deflateRawSync(plain.subarray(0, SAMPLE), { level: 1 });
    if (sample.length > SAMPLE * 0.85) return [RAW, plain];
  }
  const packed = zlib.deflateRawSync(plain, { level: 1 });
  return packed.length < plain.length * 0.95 ? [DEFLATE, packed] : [RAW, plain];
}
