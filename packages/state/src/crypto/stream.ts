/**
 * Sealed bundle format (version 2): a fixed header, then the payload as chunked XChaCha20-Poly1305
 * whose chunk nonces are synthetic (SIV-style), so gigabyte bundles seal and open in bounded memory,
 * sealing is deterministic, and sealing different content under one data key never reuses a nonce.
 *
 * Header (36 bytes):
 *   0  magic "SWARMBUNDLE1" (12 bytes)
 *  12  format version (u8) = 2 (version 1, counter nonces, is refused)
 *  13  algorithm (u8) = 1: XChaCha20-Poly1305, synthetic chunk nonces
 *  14  reserved (u16) = 0
 *  16  plaintext chunk size (u32 big-endian), 65536 by default
 *  20  key check (16 bytes): HKDF(data key, "swarm/v1/bundle/key-check"), so a wrong key is told
 *      apart from corrupt bytes
 *
 * Body: the plaintext is cut into chunks of exactly `chunk size` bytes; the last chunk holds the
 * remainder (1..chunk size bytes; 0 bytes only when the whole plaintext is empty). Chunk i (from 0),
 * with f = 1 on the last chunk and 0 elsewhere, is stored as nonce (24) ‖ ciphertext ‖ tag (16):
 *   key   = HKDF(data key, "swarm/v1/bundle/payload-key")
 *   nonce = first 24 bytes of HMAC-SHA256(HKDF(data key, "swarm/v1/bundle/chunk-nonce-key"),
 *           "swarm-bundle-chunk-v2" ‖ u64be(i) ‖ u8(f) ‖ plaintext_i)
 *   aad   = the 36 header bytes ‖ u64be(i) ‖ u8(f)
 * Opening decrypts with the stored nonce, then recomputes it from the plaintext, i and f and
 * compares. A dropped, duplicated or reordered chunk breaks i; truncation or appended bytes break f;
 * any change to the header breaks every tag; a chunk that authenticates under a nonce the sealer
 * would not have chosen is refused as well. Chunks are bound to the header, i and f, not to each
 * other: were one data key to seal two streams, chunk i of one would open in place of chunk i of the
 * other. The node's bundle_sha256, checked before restore, is what pins the whole sealed file.
 *
 * Nonces depend on the plaintext, so the same data key may seal different content (two projects of
 * one installation starting the same run id from root, a rerun of a collected run with a
 * nondeterministic step) without the keystream reuse that counter nonces would suffer. What is
 * inherent to deterministic encryption remains: equal plaintext chunks at the same index under the
 * same data key give equal sealed chunks, so two such bundles show which chunks they share.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { SwarmError } from '@swarm/core';
import '../errors.js';
import { assertKeyLength, hkdf } from './hkdf.js';
import { POLY1305_TAG_BYTES, XCHACHA_NONCE_BYTES, XChaCha20Poly1305 } from './xchacha.js';

export const BUNDLE_MAGIC = 'SWARMBUNDLE1';
export const BUNDLE_FORMAT_VERSION = 2;
export const BUNDLE_ALGORITHM_XCHACHA20POLY1305_SIV = 1;
export const BUNDLE_HEADER_BYTES = 36;
/** Stored bytes a chunk adds to its plaintext: the nonce and the tag. */
export const BUNDLE_CHUNK_OVERHEAD = XCHACHA_NONCE_BYTES + POLY1305_TAG_BYTES;
/** The domain label that starts the input of every chunk nonce's HMAC. */
export const BUNDLE_CHUNK_NONCE_LABEL = 'swarm-bundle-chunk-v2';
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
export const MIN_CHUNK_SIZE = 64;
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;

const MAGIC_BYTES = Buffer.from(BUNDLE_MAGIC, 'ascii');
const LABEL_BYTES = Buffer.from(BUNDLE_CHUNK_NONCE_LABEL, 'ascii');
/** u64be(i) ‖ u8(f). */
const POSITION_BYTES = 9;

export interface BundleHeader {
  version: number;
  algorithm: number;
  chunkSize: number;
}

interface StreamKeys {
  payloadKey: Buffer;
  nonceKey: Buffer;
  keyCheck: Buffer;
}

function streamKeys(dataKey: Buffer): StreamKeys {
  assertKeyLength(dataKey, 32, 'data key');
  return {
    payloadKey: hkdf(dataKey, 'swarm/v1/bundle/payload-key'),
    nonceKey: hkdf(dataKey, 'swarm/v1/bundle/chunk-nonce-key'),
    keyCheck: hkdf(dataKey, 'swarm/v1/bundle/key-check', 16),
  };
}

/**
 * What another thread needs to seal a stream byte-for-byte like BundleSealer: the header, the
 * payload key and the chunk nonce key (see the format above).
 */
export interface StreamSealParams {
  header: Buffer;
  payloadKey: Buffer;
  nonceKey: Buffer;
  nonceLabel: string;
  chunkSize: number;
}

export function streamSealParams(dataKey: Buffer, options: SealStreamOptions = {}): StreamSealParams {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  assertChunkSize(chunkSize);
  const keys = streamKeys(dataKey);
  return {
    header: encodeHeader(chunkSize, keys.keyCheck),
    payloadKey: keys.payloadKey,
    nonceKey: keys.nonceKey,
    nonceLabel: BUNDLE_CHUNK_NONCE_LABEL,
    chunkSize,
  };
}

function assertChunkSize(chunkSize: number): void {
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new SwarmError('STATE_KEY_INVALID', `chunk size must be an integer in ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE}`);
  }
}

function encodeHeader(chunkSize: number, keyCheck: Buffer): Buffer {
  const header = Buffer.alloc(BUNDLE_HEADER_BYTES);
  MAGIC_BYTES.copy(header, 0);
  header[12] = BUNDLE_FORMAT_VERSION;
  header[13] = BUNDLE_ALGORITHM_XCHACHA20POLY1305_SIV;
  header.writeUInt32BE(chunkSize, 16);
  keyCheck.copy(header, 20);
  return header;
}

/** Reads the public part of a sealed header (no key needed). */
export function parseBundleHeader(bytes: Uint8Array): BundleHeader {
  const header = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (header.length < BUNDLE_HEADER_BYTES || !header.subarray(0, 12).equals(MAGIC_BYTES)) {
    throw new SwarmError('STATE_BUNDLE_FORMAT_UNSUPPORTED', 'not a sealed swarm bundle (bad magic)');
  }
  const version = header[12]!;
  const algorithm = header[13]!;
  const chunkSize = header.readUInt32BE(16);
  if (version !== BUNDLE_FORMAT_VERSION || algorithm !== BUNDLE_ALGORITHM_XCHACHA20POLY1305_SIV || header.readUInt16BE(14) !== 0) {
    throw new SwarmError('STATE_BUNDLE_FORMAT_UNSUPPORTED', `unsupported sealed bundle format (version ${version}, algorithm ${algorithm})`, {
      details: { version, algorithm },
    });
  }
  if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new SwarmError('STATE_BUNDLE_CORRUPT', `sealed bundle declares an impossible chunk size ${chunkSize}`);
  }
  return { version, algorithm, chunkSize };
}

/** Writes u64be(index) ‖ u8(last) at `at`. */
function writePosition(buffer: Buffer, at: number, index: number, last: boolean): void {
  buffer.writeUInt32BE(Math.floor(index / 0x1_0000_0000), at);
  buffer.writeUInt32BE(index >>> 0, at + 4);
  buffer[at + 8] = last ? 1 : 0;
}

/**
 * Per-chunk work shared by sealer and opener: the AEAD under the payload key, and the chunk nonce.
 * The HMAC prefix (label ‖ i ‖ f) and the aad (header ‖ i ‖ f) live in two buffers rewritten per
 * chunk; node:crypto consumes them before returning, so nothing else is allocated for them.
 */
class ChunkCrypto {
  readonly #aead: XChaCha20Poly1305;
  readonly #nonceKey: Buffer;
  readonly #macPrefix = Buffer.alloc(LABEL_BYTES.length + POSITION_BYTES);
  readonly #aad = Buffer.alloc(BUNDLE_HEADER_BYTES + POSITION_BYTES);

  constructor(keys: StreamKeys, header: Buffer) {
    this.#aead = new XChaCha20Poly1305(keys.payloadKey);
    this.#nonceKey = keys.nonceKey;
    LABEL_BYTES.copy(this.#macPrefix, 0);
    header.copy(this.#aad, 0);
  }

  #position(index: number, last: boolean): void {
    writePosition(this.#macPrefix, LABEL_BYTES.length, index, last);
    writePosition(this.#aad, BUNDLE_HEADER_BYTES, index, last);
  }

  #nonce(plaintext: Uint8Array): Buffer {
    return createHmac('sha256', this.#nonceKey).update(this.#macPrefix).update(plaintext).digest().subarray(0, XCHACHA_NONCE_BYTES);
  }

  /** Pushes nonce, ciphertext (when not empty) and tag. */
  seal(index: number, last: boolean, plaintext: Uint8Array, out: Buffer[]): void {
    this.#position(index, last);
    const nonce = this.#nonce(plaintext);
    const [body, tag] = this.#aead.seal(nonce, plaintext, this.#aad);
    out.push(nonce);
    if (body.length > 0) out.push(body);
    out.push(tag);
  }

  /** The plaintext of a stored chunk, or null unless it authenticates and its nonce is synthetic. */
  open(index: number, last: boolean, sealed: Buffer): Buffer | null {
    this.#position(index, last);
    const nonce = sealed.subarray(0, XCHACHA_NONCE_BYTES);
    const split = sealed.length - POLY1305_TAG_BYTES;
    const plaintext = this.#aead.open(nonce, sealed.subarray(XCHACHA_NONCE_BYTES, split), sealed.subarray(split), this.#aad);
    if (plaintext === null) return null;
    if (!timingSafeEqual(this.#nonce(plaintext), nonce)) {
      plaintext.fill(0);
      return null;
    }
    return plaintext;
  }
}

export interface SealStreamOptions {
  /** Plaintext bytes per chunk; the default is 64 KiB. */
  chunkSize?: number;
}

/**
 * The sealing state machine without stream plumbing: feed plaintext with `update`, then `final`
 * once; each returns the sealed bytes ready to write, in order. Memory: one chunk.
 */
export class BundleSealer {
  readonly #chunks: ChunkCrypto;
  readonly #header: Buffer;
  readonly #chunkSize: number;
  readonly #pending: Buffer;
  #fill = 0;
  #counter = 0;
  #started = false;
  #finished = false;

  constructor(dataKey: Buffer, options: SealStreamOptions = {}) {
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    assertChunkSize(chunkSize);
    const keys = streamKeys(dataKey);
    this.#chunkSize = chunkSize;
    this.#header = encodeHeader(chunkSize, keys.keyCheck);
    this.#chunks = new ChunkCrypto(keys, this.#header);
    this.#pending = Buffer.allocUnsafe(chunkSize);
  }

  #seal(plaintext: Uint8Array, last: boolean, out: Buffer[]): void {
    this.#chunks.seal(this.#counter, last, plaintext, out);
    this.#counter += 1;
  }

  #start(out: Buffer[]): void {
    if (this.#finished) throw new SwarmError('INTERNAL', 'bundle sealer used after final()');
    if (this.#started) return;
    this.#started = true;
    out.push(this.#header);
  }

  update(chunk: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    this.#start(out);
    const size = this.#chunkSize;
    let offset = 0;
    while (offset < chunk.length) {
      // A full chunk is sealed only once more data follows it: until then it may be the last one.
      if (this.#fill === size) {
        this.#seal(this.#pending, false, out);
        this.#fill = 0;
      }
      if (this.#fill === 0 && chunk.length - offset > size) {
        this.#seal(chunk.subarray(offset, offset + size), false, out);
        offset += size;
        continue;
      }
      const take = Math.min(size - this.#fill, chunk.length - offset);
      this.#pending.set(chunk.subarray(offset, offset + take), this.#fill);
      this.#fill += take;
      offset += take;
    }
    return out;
  }

  final(): Buffer[] {
    const out: Buffer[] = [];
    this.#start(out);
    this.#seal(this.#pending.subarray(0, this.#fill), true, out);
    this.#finished = true;
    return out;
  }
}

export interface OpenStreamOptions {
  /** Refuse headers that declare larger chunks (bounds memory); the default is the format maximum. */
  maxChunkSize?: number;
}

/** The opening state machine: `update` with sealed bytes, then `final`; each returns plaintext. */
export class BundleOpener {
  readonly #keys: StreamKeys;
  readonly #maxChunkSize: number;
  #chunks: ChunkCrypto | null = null;
  #sealedChunk = 0;
  #parts: Buffer[] = [];
  #buffered = 0;
  #counter = 0;

  constructor(dataKey: Buffer, options: OpenStreamOptions = {}) {
    this.#keys = streamKeys(dataKey);
    this.#maxChunkSize = options.maxChunkSize ?? MAX_CHUNK_SIZE;
  }

  #take(n: number): Buffer {
    const first = this.#parts[0]!;
    this.#buffered -= n;
    if (first.length === n) {
      this.#parts.shift();
      return first;
    }
    if (first.length > n) {
      this.#parts[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const part = this.#parts[0]!;
      const want = n - filled;
      if (part.length <= want) {
        part.copy(out, filled);
        filled += part.length;
        this.#parts.shift();
      } else {
        part.copy(out, filled, 0, want);
        this.#parts[0] = part.subarray(want);
        filled += want;
      }
    }
    return out;
  }

  #readHeader(): void {
    const header = this.#take(BUNDLE_HEADER_BYTES);
    const parsed = parseBundleHeader(header);
    if (parsed.chunkSize > this.#maxChunkSize) {
      throw new SwarmError('STATE_BUNDLE_TOO_LARGE', `sealed bundle chunk size ${parsed.chunkSize} exceeds the limit ${this.#maxChunkSize}`);
    }
    if (!timingSafeEqual(header.subarray(20, 36), this.#keys.keyCheck)) {
      throw new SwarmError('STATE_KEY_MISMATCH', 'this key does not open the sealed bundle');
    }
    this.#chunks = new ChunkCrypto(this.#keys, header);
    this.#sealedChunk = parsed.chunkSize + BUNDLE_CHUNK_OVERHEAD;
  }

  #open(sealed: Buffer, last: boolean, out: Buffer[]): void {
    const plaintext = this.#chunks!.open(this.#counter, last, sealed);
    if (plaintext === null) {
      throw new SwarmError('STATE_BUNDLE_CORRUPT', `sealed bundle chunk ${this.#counter} fails authentication`, {
        details: { chunk: this.#counter, last },
      });
    }
    this.#counter += 1;
    if (plaintext.length > 0) out.push(plaintext);
  }

  update(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    this.#parts.push(chunk);
    this.#buffered += chunk.length;
    if (this.#chunks === null) {
      if (this.#buffered < BUNDLE_HEADER_BYTES) return out;
      this.#readHeader();
    }
    // Keep at least one sealed chunk back: only the end of input says which chunk is last.
    while (this.#buffered > this.#sealedChunk) this.#open(this.#take(this.#sealedChunk), false, out);
    return out;
  }

  final(): Buffer[] {
    const out: Buffer[] = [];
    if (this.#chunks === null) {
      // Fewer bytes than a header: a truncated bundle if they start like one, else not a bundle.
      const start = Buffer.concat(this.#parts).subarray(0, MAGIC_BYTES.length);
      if (!start.equals(MAGIC_BYTES.subarray(0, start.length))) {
        throw new SwarmError('STATE_BUNDLE_FORMAT_UNSUPPORTED', 'not a sealed swarm bundle (bad magic)');
      }
      throw new SwarmError('STATE_BUNDLE_CORRUPT', 'sealed bundle is truncated inside its header');
    }
    if (this.#buffered < BUNDLE_CHUNK_OVERHEAD) throw new SwarmError('STATE_BUNDLE_CORRUPT', 'sealed bundle is truncated');
    if (this.#buffered === BUNDLE_CHUNK_OVERHEAD && this.#counter > 0) {
      throw new SwarmError('STATE_BUNDLE_CORRUPT', 'sealed bundle ends with an empty chunk');
    }
    this.#open(this.#take(this.#buffered), true, out);
    return out;
  }
}

/** Wraps an update/final state machine as a Transform. */
class StateMachineTransform extends Transform {
  constructor(readonly machine: { update(chunk: Buffer): Buffer[]; final(): Buffer[] }) {
    super({ readableHighWaterMark: 4 * DEFAULT_CHUNK_SIZE, writableHighWaterMark: 4 * DEFAULT_CHUNK_SIZE });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      for (const out of this.machine.update(chunk)) this.push(out);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      for (const out of this.machine.final()) this.push(out);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }
}

/** Plaintext in, sealed bundle bytes (header + chunks) out. */
export function createSealStream(dataKey: Buffer, options: SealStreamOptions = {}): Transform {
  return new StateMachineTransform(new BundleSealer(dataKey, options));
}

/** Sealed bundle bytes in, authenticated plaintext out; fails with a coded error on any tampering. */
export function createOpenStream(dataKey: Buffer, options: OpenStreamOptions = {}): Transform {
  return new StateMachineTransform(new BundleOpener(dataKey, options));
}

/** Whole-buffer helpers for small payloads and tests; streams are the way for bundles. */
export async function sealBytes(dataKey: Buffer, plaintext: Uint8Array, options: SealStreamOptions = {}): Promise<Buffer> {
  return collect(createSealStream(dataKey, options), plaintext);
}

export async function openBytes(dataKey: Buffer, sealed: Uint8Array, options: OpenStreamOptions = {}): Promise<Buffer> {
  return collect(createOpenStream(dataKey, options), sealed);
}

function collect(transform: Transform, input: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    transform.on('data', (chunk: Buffer) => out.push(chunk));
    transform.on('error', reject);
    transform.on('end', () => resolve(Buffer.concat(out)));
    transform.end(Buffer.from(input.buffer, input.byteOffset, input.byteLength));
  });
}
