/**
 * Where the tar stream goes: sealed, hashed (the hash is `bundle_sha256`) and appended to a file.
 * Two implementations give identical bytes:
 * - inline: seal and hash on this thread, writes on libuv's pool (small bundles: no start-up cost);
 * - threaded: this thread only reads files (straight into transferable batches) and hashes their
 *   plaintext for the manifest; a worker seals, hashes and writes, so a large bundle uses two cores.
 * Both keep at most a few MiB in flight, whatever the bundle size.
 */
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Digest } from '@swarm/core';
import { BundleSealer, streamSealParams } from '../crypto/stream.js';

/** Plaintext or sealed bytes allowed in flight before the producer pauses. */
const MAX_PENDING = 8 * 1024 * 1024;
const INLINE_BLOCK = 1024 * 1024;
const BATCH = 2 * 1024 * 1024;

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
 * chunk loop is BundleSealer's (see crypto/stream.ts for the format), driven by the header and
 * XChaCha subkey from streamSealParams(); a test holds the two to identical bytes.
 */
const SEAL_THREAD_SOURCE = `
(async () => {
  const { parentPort, workerData } = await import('node:worker_threads');
  const fs = await import('node:fs');
  const { createCipheriv, createHash } = await import('node:crypto');
  const { fd, chunkSize } = workerData;
  const header = Buffer.from(workerData.header);
  const subkey = Buffer.from(workerData.subkey);
  const hash = createHash('sha256');
  const pending = Buffer.allocUnsafe(chunkSize);
  let fill = 0;
  let counter = 0;
  let started = false;
  let position = 0;
  let writing = 0;
  let failed = false;
  let ending = false;

  const sealChunk = (plaintext, last, out) => {
    const nonce = Buffer.alloc(12);
    nonce.writeUInt32BE((Math.floor(counter / 0x100000000) | (last ? 0x80000000 : 0)) >>> 0, 4);
    nonce.writeUInt32BE(counter >>> 0, 8);
    const cipher = createCipheriv('chacha20-poly1305', subkey, nonce, { authTagLength: 16 });
    cipher.setAAD(header, { plaintextLength: plaintext.length });
    const body = cipher.update(plaintext);
    cipher.final();
    counter += 1;
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
  const fail = (error) => {
    if (failed) return;
    failed = true;
    parentPort.postMessage({ type: 'error', message: String(error && error.message), code: error && error.code });
  };
  let stopping = false;
  const finish = () => {
    if (stopping && writing === 0) return parentPort.postMessage({ type: 'stopped' });
    if (!ending || writing > 0 || failed) return;
    fs.fsync(fd, (error) => (error ? fail(error) : parentPort.postMessage({ type: 'done', digest: hash.digest('hex'), size: position })));
  };
  // Positional writes on the pool, so this thread seals the next batch meanwhile.
  const writeAt = (buffers, at, ack) => {
    fs.writev(fd, buffers.slice(0, 1024), at, (error, written) => {
      if (error) {
        writing -= 1;
        fail(error);
        return finish();
      }
      let rest = written;
      const remaining = [];
      for (const buffer of buffers) {
        if (rest >= buffer.length) rest -= buffer.length;
        else {
          remaining.push(rest > 0 ? buffer.subarray(rest) : buffer);
          rest = 0;
        }
      }
      if (remaining.length > 0 && !stopping) return writeAt(remaining, at + written, ack);
      writing -= 1;
      parentPort.postMessage({ type: 'ack', length: ack });
      finish();
    });
  };
  const emit = (out, ack) => {
    let length = 0;
    for (const buffer of out) {
      hash.update(buffer);
      length += buffer.length;
    }
    writing += 1;
    writeAt(out, position, ack);
    position += length;
  };
  parentPort.on('message', (message) => {
    if (message.type === 'stop') {
      // The caller is about to close the file: report once no write is left in flight.
      stopping = true;
      return finish();
    }
    if (failed || stopping) return;
    try {
      const out = [];
      if (!started) out.push(header);
      started = true;
      if (message.type === 'data') {
        update(Buffer.from(message.buffer, 0, message.length), out);
        // Sealing copied what it keeps: hand the batch back for reuse (fresh pages fault, slowly).
        parentPort.postMessage({ type: 'free', buffer: message.buffer }, [message.buffer]);
        emit(out, message.length);
      } else if (message.type === 'end') {
        sealChunk(pending.subarray(0, fill), true, out);
        emit(out, 0);
        ending = true;
        finish();
      }
    } catch (error) {
      fail(error);
    }
  });
})();
`;

interface SealThreadReply {
  type: 'ack' | 'free' | 'done' | 'stopped' | 'error';
  length?: number;
  buffer?: ArrayBuffer;
  digest?: string;
  size?: number;
  message?: string;
  code?: string;
}

/** Reads go straight into 4 MiB batches that are transferred (not copied) to the sealing thread. */
export class ThreadedBundleSink implements BundleSink {
  readonly #worker: Worker;
  readonly #waiters = new Waiters();
  #batch: Buffer = Buffer.allocUnsafeSlow(BATCH);
  readonly #free: Buffer[] = [];
  #fill = 0;
  #inFlight = 0;
  #error: unknown = null;
  #result: { sha256: Digest; size: number } | null = null;
  #stopped = false;
  #exited = false;

  constructor(fd: number, dataKey: Buffer, chunkSize?: number) {
    const { header, subkey, chunkSize: size } = streamSealParams(dataKey, { chunkSize });
    this.#worker = new Worker(SEAL_THREAD_SOURCE, { eval: true, execArgv: [], workerData: { fd, header, subkey, chunkSize: size } });
    subkey.fill(0);
    this.#worker.on('message', (reply: SealThreadReply) => {
      if (reply.type === 'ack') this.#inFlight -= reply.length!;
      else if (reply.type === 'free') this.#free.push(Buffer.from(reply.buffer!));
      else if (reply.type === 'done') this.#result = { sha256: `sha256:${reply.digest!}`, size: reply.size! };
      else if (reply.type === 'stopped') this.#stopped = true;
      else this.#error = Object.assign(new Error(reply.message), { code: reply.code });
      this.#waiters.wake();
    });
    this.#worker.on('error', (error) => {
      this.#error = error;
      this.#waiters.wake();
    });
    this.#worker.on('exit', () => {
      this.#exited = true;
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
    if (this.#inFlight <= MAX_PENDING) return undefined;
    return (async () => {
      while (this.#inFlight > MAX_PENDING && !this.#error) await this.#waiters.wait();
      if (this.#error) throw this.#error;
    })();
  }

  async end(): Promise<{ sha256: Digest; size: number }> {
    this.#send();
    this.#worker.postMessage({ type: 'end' });
    while (this.#result === null && !this.#error) await this.#waiters.wait();
    await this.#worker.terminate();
    if (this.#error) throw this.#error;
    return this.#result!;
  }

  async abort(): Promise<void> {
    // Terminating with writes still on the pool could let one land after the caller closes the
    // descriptor (and the number is reused), so first let the worker drain them.
    if (!this.#exited) {
      this.#worker.postMessage({ type: 'stop' });
      const deadline = setTimeout(() => this.#waiters.wake(), 30_000);
      const started = Date.now();
      while (!this.#stopped && !this.#exited && Date.now() - started < 30_000) await this.#waiters.wait();
      clearTimeout(deadline);
    }
    await this.#worker.terminate();
  }
}
