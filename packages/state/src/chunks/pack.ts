/**
 * Pack files `.swarm/packs/<name>.pack`: sealed chunks one after another, written once, never
 * changed (gc writes new packs and deletes old ones). Many chunks share one file and one fsync, so
 * a tree of fifty thousand small files is not fifty thousand files of the store. Where each chunk
 * lies (pack, offset, length) is in the catalog's `chunks` table, written in the same transaction
 * as the node that first refers to it; a pack no committed row names is garbage for `swarm gc`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SwarmError, fsError, fsyncDir } from '@swarm/core';
import '../engine-errors.js';
import type { ChunkCodec } from './codec.js';

export const PACK_SUFFIX = '.pack';
/** A pack is closed and a new one started beyond this size. */
const PACK_TARGET = 64 * 1024 * 1024;
const WRITE_BUFFER = 4 * 1024 * 1024;

export interface ChunkRow {
  id: Buffer;
  pack: string;
  offset: number;
  length: number;
  /** Plaintext bytes. */
  size: number;
}

export function packFile(packsDir: string, pack: string): string {
  return path.join(packsDir, `${pack}${PACK_SUFFIX}`);
}

/**
 * Writes new chunks into packs in the store's temporary directory, then, on finish(), syncs them
 * and moves them into `packs/`. `beforeAdopt` runs before a pack becomes visible there (the run
 * marks it pending so a concurrent gc keeps it until the commit).
 */
export class PackWriter {
  readonly rows: ChunkRow[] = [];
  readonly #finished: Array<{ tmp: string; name: string }> = [];
  #fd = -1;
  #tmp = '';
  #name = '';
  #offset = 0;
  #buffer: Buffer[] = [];
  #buffered = 0;
  /** Plaintext and sealed bytes written. */
  plainBytes = 0;
  storedBytes = 0;

  constructor(
    private readonly codec: ChunkCodec,
    private readonly tmpDir: string,
    private readonly packsDir: string,
    private readonly beforeAdopt: (pack: string) => void = () => {},
  ) {}

  add(id: Buffer, plain: Buffer): void {
    const sealed = this.codec.seal(id, plain);
    if (this.#fd < 0) this.#open();
    this.rows.push({ id, pack: this.#name, offset: this.#offset, length: sealed.length, size: plain.length });
    this.#buffer.push(sealed);
    this.#buffered += sealed.length;
    this.#offset += sealed.length;
    this.plainBytes += plain.length;
    this.storedBytes += sealed.length;
    if (this.#buffered >= WRITE_BUFFER) this.#flush();
    if (this.#offset >= PACK_TARGET) this.#close();
  }

  /** Syncs and adopts every pack written; returns the rows to commit. */
  finish(): ChunkRow[] {
    this.#close();
    if (this.#finished.length === 0) return this.rows;
    fs.mkdirSync(this.packsDir, { recursive: true });
    for (const { tmp, name } of this.#finished) {
      this.beforeAdopt(name);
      try {
        fs.renameSync(tmp, packFile(this.packsDir, name));
      } catch (cause) {
        throw fsError('IO_WRITE_FAILED', tmp, cause);
      }
    }
    fsyncDir(this.packsDir);
    this.#finished.length = 0;
    return this.rows;
  }

  /** Removes what was written and not adopted. */
  abort(): void {
    if (this.#fd >= 0) {
      const fd = this.#fd;
      this.#fd = -1;
      this.#finished.push({ tmp: this.#tmp, name: this.#name });
      try {
        fs.closeSync(fd);
      } catch {
        // closing a descriptor that failed already
      }
    }
    for (const { tmp } of this.#finished) fs.rmSync(tmp, { force: true });
    this.#finished.length = 0;
  }

  #open(): void {
    this.#name = randomBytes(16).toString('hex');
    this.#tmp = path.join(this.tmpDir, `pack-${process.pid}-${this.#name}`);
    try {
      this.#fd = fs.openSync(this.#tmp, 'wx', 0o600);
    } catch (cause) {
      throw fsError('IO_WRITE_FAILED', this.#tmp, cause);
    }
    this.#offset = 0;
  }

  #flush(): void {
    this.#flushTo(this.#fd);
  }

  #flushTo(fd: number): void {
    if (this.#buffered === 0) return;
    const data = this.#buffer.length === 1 ? this.#buffer[0]! : Buffer.concat(this.#buffer, this.#buffered);
    let done = 0;
    try {
      while (done < data.length) done += fs.writeSync(fd, data, done);
    } catch (cause) {
      throw fsError('IO_WRITE_FAILED', this.#tmp, cause);
    }
    this.#buffer = [];
    this.#buffered = 0;
  }

  #close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    // Counted as written either way, so abort() removes it.
    this.#finished.push({ tmp: this.#tmp, name: this.#name });
    try {
      this.#flushTo(fd);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Reads sealed chunks back by id, keeping a few packs open. */
export class ChunkReader {
  readonly #fds = new Map<string, number>();

  constructor(
    private readonly codec: ChunkCodec,
    private readonly packsDir: string,
    private readonly lookup: (id: Buffer) => ChunkRow | undefined,
  ) {}

  get(id: Buffer): Buffer {
    try {
      return this.#get(id);
    } catch (error) {
      // gc may have moved the chunk to a new pack between the lookup and the open: look again once.
      if (!(error instanceof SwarmError && error.code === 'STORE_CHUNK_MISSING')) throw error;
      this.close();
      return this.#get(id);
    }
  }

  #get(id: Buffer): Buffer {
    const row = this.lookup(id);
    if (!row) {
      throw new SwarmError('STORE_CHUNK_MISSING', `chunk ${id.toString('hex')} is not in this store`, { details: { chunk: id.toString('hex') } });
    }
    let fd = this.#fds.get(row.pack);
    if (fd === undefined) {
      const file = packFile(this.packsDir, row.pack);
      try {
        fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      } catch (cause) {
        throw new SwarmError('STORE_CHUNK_MISSING', `pack ${row.pack} of chunk ${id.toString('hex')} cannot be opened`, { details: { chunk: id.toString('hex'), pack: row.pack }, cause });
      }
      if (this.#fds.size >= 16) this.close();
      this.#fds.set(row.pack, fd);
    }
    const sealed = Buffer.allocUnsafe(row.length);
    let done = 0;
    while (done < row.length) {
      const n = fs.readSync(fd, sealed, done, row.length - done, row.offset + done);
      if (n === 0) throw new SwarmError('STORE_CHUNK_CORRUPT', `pack ${row.pack} is truncated`, { details: { chunk: id.toString('hex'), pack: row.pack } });
      done += n;
    }
    const plain = this.codec.open(id, sealed);
    if (plain.length !== row.size) throw new SwarmError('STORE_CHUNK_CORRUPT', `chunk ${id.toString('hex')} has the wrong size`, { details: { chunk: id.toString('hex') } });
    return plain;
  }

  close(): void {
    for (const fd of this.#fds.values()) fs.closeSync(fd);
    this.#fds.clear();
  }
}
