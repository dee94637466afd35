/**
 * Where the tar stream goes: sealed, hashed (the hash is `bundle_sha256`) and appended to a file.
 * Two implementations give identical bytes:
 * - inline: seal and hash on this thread, writes on libuv's pool (small bundles: no start-up cost);
 * - threaded: this thread reads files (straight into transferable batches), hashes their plaintext
 *   for the manifest, and hashes and writes the sealed bytes; a worker seals them (nonce HMAC and
 *   AEAD, the larger share), so a large bundle uses two cores.
 * Both keep a bounded amount in flight (MAX_PENDING per stage), whatever the bundle size. The
 * threaded sink also syncs written data as it goes, so the final fsync does not wait for it all.
 */
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Digest } from '@swarm/core';
import { BUNDLE_CHUNK_OVERHEAD, BundleSealer, streamSealParams } from '../crypto/stream.js';

/** Bytes allowed in each stage (with the sealing thread, waiting for the disk) before reads pause. */
const MAX_PENDING = 8 * 1024 * 1024;
const INLINE_BLOCK = 1024 * 1024;
const BATCH = 2 * 1024 * 1024;
/** The threaded sink starts a data sync each time this much more has been written. */
const SYNC_EVERY = 16 * 1024 * 1024;

export interface BundleSink {
  /** Room to read up to `max` plaintext bytes into; hand the filled length to commit(). */
  space(max: number): Buffer;
  commit(length: number): Promise<void> | undefined;
  /** Copies small plaintext (tar headers, padding, the manifest). */
  write(bytes: Buffer): Promise<void> | undefined;
  /** Seals the last chunk, flushes, fsyncs; returns the digest and size of the sealed bytes. */
  end(): Promise<{ sha256: Digest; size: number }>;
  /** Stops after a failure (nothing more is written); the caller then closes the file. */
  abort(): Promise<void>;
}

class Waiters {
  #waiters: Array<() => void> = [];

  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Seals and hashes here; one writev in flight on libuv's pool, later buffers queue behind it. */
export class InlineBundleSink implements BundleSink {
  readonly #sealer: BundleSealer;
  readonly #hash = createHash('sha256');
  readonly #block = Buffer.allocUnsafe(INLINE_BLOCK);
  readonly #waiters = new Waiters();
  #queue: Buffer[] = [];
  #queued = 0;
  #inFlight = 0;
  #writing = false;
  #error: unknown = null;
  #size = 0;

  constructor(
    readonly fd: number,
    dataKey: Buffer,
    chunkSize?: number,
  ) {
    this.#sealer = new BundleSealer(dataKey, { chunkSize });
  }

  space(max: number): Buffer {
    return this.#block.subarray(0, Math.min(max, INLINE_BLOCK));
  }

  commit(length: number): Promise<void> | undefined {
    return this.write(this.#block.subarray(0, length));
  }

  write(bytes: Buffer): Promise<void> | undefined {
    // The sealer copies what it keeps, so `bytes` (often the read block) may be reused at once.
    this.#push(this.#sealer.update(bytes));
    return this.#backpressure();
  }

  async end(): Promise<{ sha256: Digest; size: number }> {
    this.#push(this.#sealer.final());
    while (this.#writing || this.#queue.length > 0) {
      if (this.#error) throw this.#error;
      await this.#waiters.wait();
    }
    if (this.#error) throw this.#error;
    await new Promise<void>((resolve, reject) => fs.fsync(this.fd, (error) => (error ? reject(error) : resolve())));
    return { sha256: `sha256:${this.#hash.digest('hex')}`, size: this.#size };
  }

  async abort(): Promise<void> {
    this.#queue = [];
    while (this.#writing) await this.#waiters.wait();
  }

  #push(sealed: Buffer[]): void {
    if (this.#error) throw this.#error;
    for (const buffer of sealed) {
      this.#hash.update(buffer);
      this.#size += buffer.length;
      this.#queue.push(buffer);
      this.#queued += buffer.length;
    }
    this.#pump();
  }

  #backpressure(): Promise<void> | undefined {
    if (this.#error) throw this.#error;
    if (this.#queued + this.#inFlight <= MAX_PENDING) return undefined;
    return (async () => {
      while (this.#queued + this.#inFlight > MAX_PENDING && !this.#error) await this.#waiters.wait();
      if (this.#error) throw this.#error;
    })();
  }

  #pump(): void {
    if (this.#writing || this.#queue.length === 0 || this.#error) return;
    const batch = this.#queue;
    this.#queue = [];
    this.#inFlight = this.#queued;
    this.#queued = 0;
    this.#writing = true;
    appendAll(this.fd, batch, (error) => {
      this.#writing = false;
      this.#inFlight = 0;
      if (error) this.#error = error;
      this.#pump();
      this.#waiters.wake();
    });
  }
}

function appendAll(fd: number, buffers: Buffer[], callback: (error?: Error | null) => void): void {
  // IOV_MAX is 1024 on Linux.
  fs.writev(fd, buffers.slice(0, 1024), (error, written) => {
    if (error) return callback(error);
    let rest = written;
    const remaining: Buffer[] = [];
    for (const buffer of buffers) {
      if (rest >= buffer.length) rest -= buffer.length;
      else {
        remaining.push(rest > 0 ? buffer.subarray(rest) : buffer);
        rest = 0;
      }
    }
    if (remaining.length === 0) callback();
    else appendAll(fd, remaining, callback);
  });
}

/*
 * The sealing thread. A plain script, so it runs the same from sources and from the build (built-ins
 * come through import(), which works whether eval code is treated as a script or a module). Its
 * chunk loop is BundleSealer's (see crypto/stream.ts for the format), driven by the header and keys
 * from streamSealParams(), with its own HChaCha20 since noble cannot be imported here; a test holds
 * the two paths to identical bytes over thousands of chunks. It only seals: the sealed bytes go back
 * to the main thread, which hashes and writes them, so the two threads carry similar loads.
 */
const SEAL_THREAD_SOURCE = `
(async () => {
  const { parentPort, workerData } = await import('node:worker_threads');
  const { createCipheriv, createHmac } = await import('node:crypto');
  const { chunkSize, outCapacity } = workerData;
  const header = Buffer.from(workerData.header);
  const payloadKey = Buffer.from(workerData.payloadKey);
  const nonceKey = Buffer.from(workerData.nonceKey);
  const label = Buffer.from(workerData.nonceLabel, 'ascii');
  const pending = Buffer.allocUnsafe(chunkSize);
  const free = [];
  let fill = 0;
  let counter = 0;
  let started = false;
  let failed = false;

  // HChaCha20: ChaCha20's 20 rounds without the final addition; output words 0..3 and 12..15.
  const keyWords = new Uint32Array(8);
  for (let j = 0; j < 8; j += 1) keyWords[j] = payloadKey.readUInt32LE(4 * j);
  const state = new Uint32Array(16);
  const quarter = (a, b, c, d) => {
    const s = state;
    s[a] += s[b]; s[d] ^= s[a]; s[d] = (s[d] << 16) | (s[d] >>> 16);
    s[c] += s[d]; s[b] ^= s[c]; s[b] = (s[b] << 12) | (s[b] >>> 20);
    s[a] += s[b]; s[d] ^= s[a]; s[d] = (s[d] << 8) | (s[d] >>> 24);
    s[c] += s[d]; s[b] ^= s[c]; s[b] = (s[b] << 7) | (s[b] >>> 25);
  };
  const subkey = Buffer.alloc(32);
  const hchacha20 = (nonce16) => {
    state[0] = 0x61707865; state[1] = 0x3320646e; state[2] = 0x79622d32; state[3] = 0x6b206574;
    state.set(keyWords, 4);
    for (let j = 0; j < 4; j += 1) state[12 + j] = nonce16.readUInt32LE(4 * j);
    for (let round = 0; round < 20; round += 2) {
      quarter(0, 4, 8, 12); quarter(1, 5, 9, 13); quarter(2, 6, 10, 14); quarter(3, 7, 11, 15);
      quarter(0, 5, 10, 15); quarter(1, 6, 11, 12); quarter(2, 7, 8, 13); quarter(3, 4, 9, 14);
    }
    for (let j = 0; j < 4; j += 1) {
      subkey.writeUInt32LE(state[j], 4 * j);
      subkey.writeUInt32LE(state[12 + j], 16 + 4 * j);
    }
  };

  // label ‖ u64be(i) ‖ u8(f) starts the nonce's HMAC; header ‖ u64be(i) ‖ u8(f) is the aad.
  const macPrefix = Buffer.alloc(label.length + 9);
  label.copy(macPrefix, 0);
  const aad = Buffer.alloc(header.length + 9);
  header.copy(aad, 0);
  const writePosition = (buffer, at, last) => {
    buffer.writeUInt32BE(Math.floor(counter / 0x100000000), at);
    buffer.writeUInt32BE(counter >>> 0, at + 4);
    buffer[at + 8] = last ? 1 : 0;
  };
  const ietfNonce = Buffer.alloc(12);
  const sealChunk = (plaintext, last, out) => {
    writePosition(macPrefix, label.length, last);
    writePosition(aad, header.length, last);
    const nonce = createHmac('sha256', nonceKey).update(macPrefix).update(plaintext).digest().subarray(0, 24);
    hchacha20(nonce);
    nonce.copy(ietfNonce, 4, 16, 24);
    const cipher = createCipheriv('chacha20-poly1305', subkey, ietfNonce, { authTagLength: 16 });
    cipher.setAAD(aad, { plaintextLength: plaintext.length });
    const body = cipher.update(plaintext);
    cipher.final();
    counter += 1;
    out.push(nonce);
    if (body.length > 0) out.push(body);
    out.push(cipher.getAuthTag());
  };
  const update = (chunk, out) => {
    let offset = 0;
    while (offset < chunk.length) {
      if (fill === chunkSize) {
        sealChunk(pending, false, out);
        fill = 0;
      }
      if (fill === 0 && chunk.length - offset > chunkSize) {
        sealChunk(chunk.subarray(offset, offset + chunkSize), false, out);
        offset += chunkSize;
        continue;
      }
      const take = Math.min(chunkSize - fill, chunk.length - offset);
      chunk.copy(pending, fill, offset, offset + take);
      fill += take;
      offset += take;
    }
  };
  // Gathers the pieces into one reused buffer: one transfer and one write per batch.
  const send = (out, plain, ack) => {
    let length = 0;
    for (const piece of out) length += piece.length;
    let index = free.findIndex((buffer) => buffer.length >= length);
    const target = index >= 0 ? free.splice(index, 1)[0] : Buffer.allocUnsafeSlow(Math.max(length, outCapacity));
    let at = 0;
    for (const piece of out) at += piece.copy(target, at);
    const transfer = plain ? [target.buffer, plain] : [target.buffer];
    parentPort.postMessage({ type: 'sealed', buffer: target.buffer, length, plain, ack }, transfer);
  };
  parentPort.on('message', (message) => {
    if (message.type === 'recycle') return free.push(Buffer.from(message.buffer));
    if (failed) return;
    try {
      const out = [];
      if (!started) out.push(header);
      started = true;
      if (message.type === 'data') {
        // Sealing copied what it keeps, so the batch goes back for reuse (fresh pages fault, slowly).
        update(Buffer.from(message.buffer, 0, message.length), out);
        send(out, message.buffer, message.length);
      } else if (message.type === 'end') {
        sealChunk(pending.subarray(0, fill), true, out);
        send(out, null, 0);
        parentPort.postMessage({ type: 'done' });
      }
    } catch (error) {
      failed = true;
      parentPort.postMessage({ type: 'error', message: String(error && error.message), code: error && error.code });
    }
  });
})();
`;

interface SealThreadReply {
  type: 'sealed' | 'done' | 'error';
  buffer?: ArrayBuffer;
  length?: number;
  plain?: ArrayBuffer | null;
  ack?: number;
  message?: string;
  code?: string;
}

/**
 * Reads go straight into 2 MiB batches that are transferred (not copied) to the sealing thread;
 * the sealed batches come back in order, are hashed here and written at their offsets by libuv's
 * pool, then go back to the thread for reuse.
 */
export class ThreadedBundleSink implements BundleSink {
  readonly #worker: Worker;
  readonly #waiters = new Waiters();
  readonly #hash = createHash('sha256');
  #batch: Buffer = Buffer.allocUnsafeSlow(BATCH);
  readonly #free: Buffer[] = [];
  #fill = 0;
  /** Plaintext bytes with the sealing thread, and sealed bytes waiting for the disk. */
  #inFlight = 0;
  #writing = 0;
  /** Writes and syncs of the file on libuv's pool. */
  #writes = 0;
  #unsynced = 0;
  #syncing = false;
  #size = 0;
  #sealedAll = false;
  #stopped = false;
  #error: unknown = null;

  constructor(
    readonly fd: number,
    dataKey: Buffer,
    chunkSize?: number,
  ) {
    const params = streamSealParams(dataKey, { chunkSize });
    const { header, payloadKey, nonceKey, nonceLabel } = params;
    // Room for the sealed form of one batch, whatever its alignment to chunks.
    const outCapacity = header.length + (Math.ceil(BATCH / params.chunkSize) + 1) * (params.chunkSize + BUNDLE_CHUNK_OVERHEAD);
    const workerData = { header, payloadKey, nonceKey, nonceLabel, chunkSize: params.chunkSize, outCapacity };
    this.#worker = new Worker(SEAL_THREAD_SOURCE, { eval: true, execArgv: [], workerData });
    // The worker got a copy.
    payloadKey.fill(0);
    nonceKey.fill(0);
    this.#worker.on('message', (reply: SealThreadReply) => {
      if (reply.type === 'sealed') this.#onSealed(reply);
      else if (reply.type === 'done') this.#sealedAll = true;
      else this.#fail(Object.assign(new Error(reply.message), { code: reply.code }));
      this.#waiters.wake();
    });
    this.#worker.on('error', (error) => this.#fail(error));
  }

  #fail(error: unknown): void {
    this.#error ??= error;
    this.#waiters.wake();
  }

  #onSealed(reply: SealThreadReply): void {
    if (reply.plain) this.#free.push(Buffer.from(reply.plain));
    if (this.#stopped || this.#error) return;
    const sealed = Buffer.from(reply.buffer!, 0, reply.length!);
    // Messages arrive in the order the thread sealed, so hashing here follows the file.
    this.#hash.update(sealed);
    const at = this.#size;
    this.#size += sealed.length;
    this.#inFlight -= reply.ack!;
    this.#writing += sealed.length;
    this.#writes += 1;
    writeAt(this.fd, sealed, at, (error) => {
      this.#writes -= 1;
      this.#writing -= sealed.length;
      this.#unsynced += sealed.length;
      if (error) this.#fail(error);
      else if (!this.#stopped) {
        this.#worker.postMessage({ type: 'recycle', buffer: reply.buffer }, [reply.buffer!]);
        this.#syncSome();
      }
      this.#waiters.wake();
    });
  }

  /** Pushes written bytes to the disk while sealing goes on, so the final fsync has little left. */
  #syncSome(): void {
    if (this.#syncing || this.#unsynced < SYNC_EVERY) return;
    this.#syncing = true;
    this.#unsynced = 0;
    this.#writes += 1;
    fs.fdatasync(this.fd, (error) => {
      this.#syncing = false;
      this.#writes -= 1;
      if (error) this.#fail(error);
      this.#waiters.wake();
    });
  }

  space(max: number): Buffer {
    if (this.#fill === BATCH) this.#send();
    return this.#batch.subarray(this.#fill, this.#fill + Math.min(max, BATCH - this.#fill));
  }

  commit(length: number): Promise<void> | undefined {
    this.#fill += length;
    if (this.#fill === BATCH) this.#send();
    return this.#backpressure();
  }

  write(bytes: Buffer): Promise<void> | undefined {
    let offset = 0;
    while (offset < bytes.length) {
      const room = this.space(bytes.length - offset);
      bytes.copy(room, 0, offset, offset + room.length);
      offset += room.length;
      this.#fill += room.length;
    }
    if (this.#fill === BATCH) this.#send();
    return this.#backpressure();
  }

  #send(): void {
    if (this.#error) throw this.#error;
    if (this.#fill === 0) return;
    const batch = this.#batch;
    this.#worker.postMessage({ type: 'data', buffer: batch.buffer, length: this.#fill }, [batch.buffer as ArrayBuffer]);
    this.#inFlight += this.#fill;
    this.#batch = this.#free.pop() ?? Buffer.allocUnsafeSlow(BATCH);
    this.#fill = 0;
  }

  #backpressure(): Promise<void> | undefined {
    if (this.#error) throw this.#error;
    if (this.#inFlight <= MAX_PENDING && this.#writing <= MAX_PENDING) return undefined;
    return (async () => {
      while ((this.#inFlight > MAX_PENDING || this.#writing > MAX_PENDING) && !this.#error) await this.#waiters.wait();
      if (this.#error) throw this.#error;
    })();
  }

  async end(): Promise<{ sha256: Digest; size: number }> {
    this.#send();
    this.#worker.postMessage({ type: 'end' });
    while (!(this.#sealedAll && this.#writes === 0) && !this.#error) await this.#waiters.wait();
    this.#stopped = true;
    await this.#worker.terminate();
    while (this.#writes > 0) await this.#waiters.wait();
    if (this.#error) throw this.#error;
    await new Promise<void>((resolve, reject) => fs.fsync(this.fd, (error) => (error ? reject(error) : resolve())));
    return { sha256: `sha256:${this.#hash.digest('hex')}`, size: this.#size };
  }

  async abort(): Promise<void> {
    // The thread never touches the file; writes still on the pool must land before the caller
    // closes the descriptor (its number could be reused).
    this.#stopped = true;
    await this.#worker.terminate();
    while (this.#writes > 0) await this.#waiters.wait();
  }
}

function writeAt(fd: number, bytes: Buffer, position: number, callback: (error?: Error | null) => void): void {
  fs.write(fd, bytes, 0, bytes.length, position, (error, written) => {
    if (error) return callback(error);
    if (written < bytes.length) writeAt(fd, bytes.subarray(written), position + written, callback);
    else callback();
  });
}
