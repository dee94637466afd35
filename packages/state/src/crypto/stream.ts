/**
 * Sealed bundle format: a fixed header, then the payload as a chunked XChaCha20-Poly1305 stream in
 * the manner of age's STREAM construction, so gigabyte bundles seal and open in bounded memory.
 *
 * Header (36 bytes):
 *   0  magic "SWARMBUNDLE1" (12 bytes)
 *  12  format version (u8) = 1
 *  13  algorithm (u8) = 1: XChaCha20-Poly1305 STREAM
 *  14  reserved (u16) = 0
 *  16  plaintext chunk size (u32 big-endian), 65536 by default
 *  20  key check (16 bytes): HKDF(data key, "swarm/v1/bundle/key-check"), so a wrong key is told
 *      apart from corrupt bytes
 *
 * Body: the plaintext is cut into chunks of exactly `chunk size` bytes; the last chunk holds the
 * remainder (1..chunk size bytes; 0 bytes only when the whole plaintext is empty). Each chunk is
 * sealed as ciphertext ‖ 16-byte tag with
 *   key   = HKDF(data key, "swarm/v1/bundle/payload-key")
 *   nonce = HKDF(data key, "swarm/v1/bundle/nonce-prefix", 16) ‖ u64 big-endian counter, whose top
 *           bit is set on the last chunk only (the counter starts at 0)
 *   aad   = the 36 header bytes.
 * A dropped, duplicated or reordered chunk breaks the counter; truncation or appended bytes break
 * the last-chunk flag; any change to the header breaks every tag.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { SwarmError } from '@swarm/core';
import '../errors.js';
import { assertKeyLength, hkdf } from './hkdf.js';
import { POLY1305_TAG_BYTES, hchacha20, xchachaSubkeyCipher, type XChaChaSubkeyCipher } from './xchacha.js';
import { timingSafeEqual } from 'node:crypto';

export const BUNDLE_MAGIC = 'SWARMBUNDLE1';
export const BUNDLE_FORMAT_VERSION = 1;
export const BUNDLE_ALGORITHM_XCHACHA20POLY1305_STREAM = 1;
export const BUNDLE_HEADER_BYTES = 36;
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
export const MIN_CHUNK_SIZE = 64;
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;

const MAGIC_BYTES = Buffer.from(BUNDLE_MAGIC, 'ascii');
const LAST_CHUNK_FLAG = 0x80000000;

export interface BundleHeader {
  version: number;
  algorithm: number;
  chunkSize: number;
}

interface StreamKeys {
  cipher: XChaChaSubkeyCipher;
  keyCheck: Buffer;
  payloadKey: Buffer;
  noncePrefix: Buffer;
}

function streamKeys(dataKey: Buffer): StreamKeys {
  assertKeyLength(dataKey, 32, 'data key');
  const payloadKey = hkdf(dataKey, 'swarm/v1/bundle/payload-key');
  const noncePrefix = hkdf(dataKey, 'swarm/v1/bundle/nonce-prefix', 16);
  return {
    cipher: xchachaSubkeyCipher(payloadKey, noncePrefix),
    keyCheck: hkdf(dataKey, 'swarm/v1/bundle/key-check', 16),
    payloadKey,
    noncePrefix,
  };
}

/**
 * What another thread needs to seal a stream byte-for-byte like BundleSealer: the header (also the
 * AAD of every chunk), and the XChaCha20 subkey HChaCha20(payload key, nonce prefix), under which
 * chunk i is IETF ChaCha20-Poly1305 with nonce 0x00000000 ‖ u64be(i | last << 63).
 */
export interface StreamSealParams {
  header: Buffer;
  subkey: Buffer;
  chunkSize: number;
}

export function streamSealParams(dataKey: Buffer, options: SealStreamOptions = {}): StreamSealParams {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  assertChunkSize(chunkSize);
  const keys = streamKeys(dataKey);
  return { header: encodeHeader(chunkSize, keys.keyCheck), subkey: hchacha20(keys.payloadKey, keys.noncePrefix), chunkSize };
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
  header[13] = BUNDLE_ALGORITHM_XCHACHA20POLY1305_STREAM;
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
  if (version !== BUNDLE_FORMAT_VERSION || algorithm !== BUNDLE_ALGORITHM_XCHACHA20POLY1305_STREAM || header.readUInt16BE(14) !== 0) {
    throw new SwarmError('STATE_BUNDLE_FORMAT_UNSUPPORTED', `unsupported sealed bundle format (version ${version}, algorithm ${algorithm})`, {
      details: { version, algorithm },
    });
  }
  if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new SwarmError('STATE_BUNDLE_CORRUPT', `sealed bundle declares an impossible chunk size ${chunkSize}`);
  }
  return { version, algorithm, chunkSize };
}

function nonceTail(counter: number, last: boolean): Buffer {
  const tail = Buffer.allocUnsafe(8);
  tail.writeUInt32BE((Math.floor(counter / 0x1_0000_0000) | (last ? LAST_CHUNK_FLAG : 0)) >>> 0, 0);
  tail.writeUInt32BE(counter >>> 0, 4);
  return tail;
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
  readonly #cipher: XChaChaSubkeyCipher;
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
    this.#cipher = keys.cipher;
    this.#chunkSize = chunkSize;
    this.#header = encodeHeader(chunkSize, keys.keyCheck);
    this.#pending = Buffer.allocUnsafe(chunkSize);
  }

  #seal(plaintext: Uint8Array, last: boolean, out: Buffer[]): void {
    const [body, tag] = this.#cipher.seal(nonceTail(this.#counter, last), plaintext, this.#header);
    this.#counter += 1;
    if (body.length > 0) out.push(body);
    out.push(tag);
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
  #header: Buffer | null = null;
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
    this.#header = Buffer.from(header);
    this.#sealedChunk = parsed.chunkSize + POLY1305_TAG_BYTES;
  }

  #open(sealed: Buffer, last: boolean, out: Buffer[]): void {
    const split = sealed.length - POLY1305_TAG_BYTES;
    const plaintext = this.#keys.cipher.open(nonceTail(this.#counter, last), sealed.subarray(0, split), sealed.subarray(split), this.#header!);
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
    if (this.#header === null) {
      if (this.#buffered < BUNDLE_HEADER_BYTES) return out;
      this.#readHeader();
    }
    // Keep at least one sealed chunk back: only the end of input says which chunk is last.
    while (this.#buffered > this.#sealedChunk) this.#open(this.#take(this.#sealedChunk), false, out);
    return out;
  }

  final(): Buffer[] {
    const out: Buffer[] = [];
    if (this.#header === null) {
      // Fewer bytes than a header: a truncated bundle if they start like one, else not a bundle.
      const start = Buffer.concat(this.#parts).subarray(0, MAGIC_BYTES.length);
      if (!start.equals(MAGIC_BYTES.subarray(0, start.length))) {
        throw new SwarmError('STATE_BUNDLE_FORMAT_UNSUPPORTED', 'not a sealed swarm bundle (bad magic)');
      }
      throw new SwarmError('STATE_BUNDLE_CORRUPT', 'sealed bundle is truncated inside its header');
    }
    if (this.#buffered < POLY1305_TAG_BYTES) throw new SwarmError('STATE_BUNDLE_CORRUPT', 'sealed bundle is truncated');
    if (this.#buffered === POLY1305_TAG_BYTES && this.#counter > 0) {
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
