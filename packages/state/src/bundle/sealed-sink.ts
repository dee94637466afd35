/**
 * Where sealed bytes go: appended to a file and hashed (the hash is `bundle_sha256`). Two ways with
 * identical results: inline (hash on this thread, writes on libuv's pool), and on a worker thread
 * that hashes and writes, so that large bundles use a second core while this thread reads and seals.
 * Only sealed bytes reach the worker, never keys.
 */
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Digest } from '@swarm/core';

/** Sealed bytes allowed to wait for the disk before the producer pauses. */
const MAX_PENDING = 16 * 1024 * 1024;
const BATCH = 4 * 1024 * 1024;

export interface SealedSink {
  /** Takes sealed buffers (copied or consumed; the caller may reuse nothing it passed). */
  push(buffers: Buffer[]): void;
  /** Resolves at once (undefined) unless too much is waiting for the disk. */
  backpressure(): Promise<void> | undefined;
  /** Flushes, fsyncs and returns the digest of everything pushed. */
  end(): Promise<Digest>;
  /** Stops after a failure; the caller closes the fd afterwards. */
  abort(): Promise<void>;
  readonly size: number;
}

abstract class QueueingSink {
  size = 0;
  protected error: unknown = null;
  #waiters: Array<() => void> = [];

  protected wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  protected wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  protected abstract pending(): number;

  backpressure(): Promise<void> | undefined {
    if (this.error) throw this.error;
    if (this.pending() <= MAX_PENDING) return undefined;
    return (async () => {
      while (this.pending() > MAX_PENDING && !this.error) await this.wait();
      if (this.error) throw this.error;
    })();
  }
}

/** Hashes here; one writev in flight on libuv's pool, later buffers queue behind it. */
export class InlineSealedSink extends QueueingSink implements SealedSink {
  readonly #hash = createHash('sha256');
  #queue: Buffer[] = [];
  #queued = 0;
  #inFlight = 0;
  #writing = false;

  constructor(readonly fd: number) {
    super();
  }

  protected pending(): number {
    return this.#queued + this.#inFlight;
  }

  push(buffers: Buffer[]): void {
    if (this.error) throw this.error;
    for (const buffer of buffers) {
      this.#hash.update(buffer);
      this.size += buffer.length;
      this.#queue.push(buffer);
      this.#queued += buffer.length;
    }
    this.#pump();
  }

  async end(): Promise<Digest> {
    while (this.#writing || this.#queue.length > 0) {
      if (this.error) throw this.error;
      await this.wait();
    }
    if (this.error) throw this.error;
    await new Promise<void>((resolve, reject) => fs.fsync(this.fd, (error) => (error ? reject(error) : resolve())));
    return `sha256:${this.#hash.digest('hex')}`;
  }

  async abort(): Promise<void> {
    this.#queue = [];
    while (this.#writing) await this.wait();
  }

  #pump(): void {
    if (this.#writing || this.#queue.length === 0 || this.error) return;
    const batch = this.#queue;
    this.#queue = [];
    this.#inFlight = this.#queued;
    this.#queued = 0;
    this.#writing = true;
    writeAll(this.fd, batch, (error) => {
      this.#writing = false;
      this.#inFlight = 0;
      if (error) this.error = error;
      this.#pump();
      this.wake();
    });
  }
}

function writeAll(fd: number, buffers: Buffer[], callback: (error?: Error | null) => void): void {
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
    else writeAll(fd, remaining, callback);
  });
}

// Plain script (no imports to resolve), so it runs the same from sources and from the build; it
// loads built-ins with import(), which works whether Node treats eval code as a script or a module.
const WORKER_SOURCE = `
(async () => {
  const { parentPort, workerData } = await import('node:worker_threads');
  const fs = await import('node:fs');
  const { createHash } = await import('node:crypto');
  const hash = createHash('sha256');
  const fd = workerData.fd;
  let position = 0;
  let writing = 0;
  let failed = false;
  let ending = false;
  const fail = (error) => {
    if (failed) return;
    failed = true;
    parentPort.postMessage({ type: 'error', message: String(error && error.message), code: error && error.code });
  };
  const finish = () => {
    if (!ending || writing > 0 || failed) return;
    fs.fsync(fd, (error) => (error ? fail(error) : parentPort.postMessage({ type: 'done', digest: hash.digest('hex') })));
  };
  // Positional writes: the pool writes one batch while this thread hashes the next.
  const writeAt = (bytes, offset, at, length) => {
    fs.write(fd, bytes, offset, length - offset, at + offset, (error, written) => {
      if (error) return fail(error);
      if (offset + written < length) return writeAt(bytes, offset + written, at, length);
      writing -= 1;
      parentPort.postMessage({ type: 'ack', length });
      finish();
    });
  };
  parentPort.on('message', (message) => {
    if (failed) return;
    try {
      if (message.type === 'data') {
        const bytes = Buffer.from(message.buffer, 0, message.length);
        hash.update(bytes);
        writing += 1;
        writeAt(bytes, 0, position, message.length);
        position += message.length;
      } else if (message.type === 'end') {
        ending = true;
        finish();
      }
    } catch (error) {
      fail(error);
    }
  });
})();
`;

interface WorkerReply {
  type: 'ack' | 'done' | 'error';
  length?: number;
  digest?: string;
  message?: string;
  code?: string;
}

/** Batches sealed bytes into 1 MiB transfers to a worker that hashes and writes them. */
export class ThreadedSealedSink extends QueueingSink implements SealedSink {
  readonly #worker: Worker;
  #batch: Buffer = Buffer.allocUnsafeSlow(BATCH);
  #fill = 0;
  #inFlight = 0;
  #digest: string | null = null;

  constructor(fd: number) {
    super();
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { fd } });
    this.#worker.on('message', (reply: WorkerReply) => {
      if (reply.type === 'ack') this.#inFlight -= reply.length!;
      else if (reply.type === 'done') this.#digest = reply.digest!;
      else this.error = Object.assign(new Error(reply.message), { code: reply.code });
      this.wake();
    });
    this.#worker.on('error', (error) => {
      this.error = error;
      this.wake();
    });
  }

  protected pending(): number {
    return this.#inFlight;
  }

  push(buffers: Buffer[]): void {
    if (this.error) throw this.error;
    for (const buffer of buffers) {
      this.size += buffer.length;
      let offset = 0;
      while (offset < buffer.length) {
        const take = Math.min(BATCH - this.#fill, buffer.length - offset);
        buffer.copy(this.#batch, this.#fill, offset, offset + take);
        this.#fill += take;
        offset += take;
        if (this.#fill === BATCH) this.#send();
      }
    }
  }

  #send(): void {
    if (this.#fill === 0) return;
    const batch = this.#batch;
    this.#worker.postMessage({ type: 'data', buffer: batch.buffer, length: this.#fill }, [batch.buffer as ArrayBuffer]);
    this.#inFlight += this.#fill;
    this.#batch = Buffer.allocUnsafeSlow(BATCH);
    this.#fill = 0;
  }

  async end(): Promise<Digest> {
    this.#send();
    this.#worker.postMessage({ type: 'end' });
    while (this.#digest === null && !this.error) await this.wait();
    await this.#worker.terminate();
    if (this.error) throw this.error;
    return `sha256:${this.#digest!}`;
  }

  async abort(): Promise<void> {
    await this.#worker.terminate();
  }
}
