/**
 * Pack and seal: directory walk → deterministic tar → chunked AEAD → file, in one streaming pass.
 * File contents are read in blocks and never held whole, so memory stays bounded for any workspace.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { SwarmError, fsError, fsyncDir, isSwarmError, type Digest } from '@swarm/core';
import '../errors.js';
import { createSealStream } from '../crypto/stream.js';
import { assertKeyLength } from '../crypto/hkdf.js';
import { BUNDLE_MANIFEST_SCHEMA_VERSION, encodeBundleManifest, type BundleManifest, type BundleManifestEntry } from './manifest.js';
import { MANIFEST_ENTRY, STATE_DB_ENTRY } from './paths.js';
import { walkWorkspace, type SkippedEntry, type WorkspaceEntry } from './walk.js';

const READ_BLOCK = 1024 * 1024;
/** tar-stream writes mtime as a 32-bit number of seconds. */
const MAX_MTIME_SEC = 0x7fffffff;
type HeaderArgument = Parameters<tar.Pack['entry']>[0];
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

export interface CreateSealedBundleOptions {
  workspaceDir: string;
  /** The serialized state DB file. */
  stateDbPath: string;
  /** mtime of every entry, from the run clock (seconds). */
  mtimeSec: number;
  dataKey: Buffer;
  outFile: string;
  /** Called as content is packed: bytes done so far and the total to pack. */
  onProgress?: (bytes: number, totalBytes: number) => void;
  /** Plaintext chunk size of the sealed stream (tests use small ones); default 64 KiB. */
  chunkSize?: number;
}

export interface SealedBundle {
  bundleSha256: Digest;
  /** Bytes of the sealed file. */
  size: number;
  manifest: BundleManifest;
  manifestSha256: Digest;
  /** Bundle paths left out (special files, unsafe symlinks, names that are not UTF-8). */
  skipped: string[];
  skippedEntries: SkippedEntry[];
}

/** Writes the sealed stream to a temporary file, hashing exactly the bytes written, and fsyncs it. */
class SealedFileSink extends Writable {
  readonly hash = createHash('sha256');
  size = 0;
  #fd: number | null = null;

  constructor(readonly file: string) {
    super({ highWaterMark: 4 * READ_BLOCK });
  }

  override _construct(callback: (error?: Error | null) => void): void {
    fs.open(this.file, 'wx', 0o644, (error, fd) => {
      if (error) return callback(error);
      this.#fd = fd;
      callback();
    });
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const buffers = chunks.map(({ chunk }) => chunk);
    for (const buffer of buffers) {
      this.hash.update(buffer);
      this.size += buffer.length;
    }
    writeAll(this.#fd!, buffers, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    fs.fsync(this.#fd!, (error) => callback(error));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#fd === null) return callback(error);
    fs.close(this.#fd, (closeError) => callback(error ?? closeError));
    this.#fd = null;
  }
}

function writeAll(fd: number, buffers: Buffer[], callback: (error?: Error | null) => void): void {
  fs.writev(fd, buffers, (error, written) => {
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

interface PackContext {
  pack: tar.Pack;
  mtime: Date;
  /** Rejects when the pipeline fails, so no wait on tar-stream can hang. */
  failed: Promise<never>;
  done: number;
  total: number;
  onProgress?: (bytes: number, totalBytes: number) => void;
}

/** Adds an entry; its completion (or failure) is reported through the returned promise only. */
function startEntry(ctx: PackContext, header: HeaderArgument, body?: Buffer): { sink: ReturnType<tar.Pack['entry']>; done: Promise<void> } {
  let settle!: (error?: Error | null) => void;
  const done = new Promise<void>((resolve, reject) => {
    settle = (error) => (error ? reject(error) : resolve());
  });
  done.catch(() => undefined);
  const sink = body === undefined ? ctx.pack.entry(header, settle) : ctx.pack.entry(header, body, settle);
  // Destroying the pack re-emits its error on the open entry; the pipeline already reports it.
  sink.on('error', () => undefined);
  const raced = Promise.race([done, ctx.failed]);
  raced.catch(() => undefined);
  return { sink, done: raced };
}

function addVoidEntry(ctx: PackContext, header: HeaderArgument): Promise<void> {
  return startEntry(ctx, header).done;
}

function changed(file: string, reason: string): SwarmError {
  return new SwarmError('STATE_SNAPSHOT_SOURCE_CHANGED', `${file} changed while it was packed (${reason})`, {
    details: { path: file, reason },
  });
}

/** Streams one regular file into the tar as `name`, checking it is still the file the walk saw. */
async function addFile(ctx: PackContext, name: string, abs: string, size: number, mode: number): Promise<Digest> {
  let fd: number;
  try {
    fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ELOOP' || (cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw changed(abs, 'replaced or removed');
    }
    throw fsError('IO_READ_FAILED', abs, cause);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw changed(abs, 'no longer a regular file');
    if (stat.size !== size) throw changed(abs, 'size changed');
    const hash = createHash('sha256');
    const { sink, done: entryDone } = startEntry(ctx, {
      name,
      type: 'file',
      size,
      mode: S_IFREG | mode,
      mtime: ctx.mtime,
      uid: 0,
      gid: 0,
      uname: '',
      gname: '',
    });
    let offset = 0;
    while (offset < size) {
      const block = Buffer.allocUnsafe(Math.min(READ_BLOCK, size - offset));
      let read: number;
      try {
        read = fs.readSync(fd, block, 0, block.length, offset);
      } catch (cause) {
        throw fsError('IO_READ_FAILED', abs, cause);
      }
      if (read === 0) throw changed(abs, 'shrank');
      const chunk = read === block.length ? block : block.subarray(0, read);
      hash.update(chunk);
      offset += read;
      ctx.done += read;
      ctx.onProgress?.(ctx.done, ctx.total);
      if (!sink.write(chunk)) await Promise.race([new Promise<void>((resolve) => sink.once('drain', () => resolve())), ctx.failed]);
    }
    if (fs.readSync(fd, Buffer.allocUnsafe(1), 0, 1, offset) !== 0) throw changed(abs, 'grew');
    (sink as unknown as { end(): void }).end();
    await entryDone;
    return `sha256:${hash.digest('hex')}`;
  } finally {
    fs.closeSync(fd);
  }
}

async function addWorkspaceEntry(ctx: PackContext, entry: WorkspaceEntry): Promise<BundleManifestEntry> {
  const common = { mtime: ctx.mtime, uid: 0, gid: 0, uname: '', gname: '' };
  switch (entry.type) {
    case 'dir':
      await addVoidEntry(ctx, { ...common, name: `${entry.path}/`, type: 'directory', mode: S_IFDIR | entry.mode });
      return { path: entry.path, type: 'dir', mode: entry.mode, size: 0 };
    case 'symlink':
      await addVoidEntry(ctx, { ...common, name: entry.path, type: 'symlink', linkname: entry.target!, mode: S_IFLNK | entry.mode });
      return { path: entry.path, type: 'symlink', mode: entry.mode, size: 0, target: entry.target! };
    case 'file': {
      const sha256 = await addFile(ctx, entry.path, entry.abs, entry.size, entry.mode);
      return { path: entry.path, type: 'file', mode: entry.mode, size: entry.size, sha256 };
    }
  }
}

/**
 * Packs `workspaceDir` and `stateDbPath` into a deterministic tar (entries sorted by path bytes,
 * `mtimeSec` for every mtime, uid/gid 0, empty owner names, permission bits only, symlinks verbatim),
 * then `state.db`, then `manifest.json`; seals it under `dataKey`; and renames the result to `outFile`
 * only once it is complete and fsynced. The same inputs give the same bytes.
 */
export async function createSealedBundle(options: CreateSealedBundleOptions): Promise<SealedBundle> {
  const { workspaceDir, stateDbPath, mtimeSec, dataKey, outFile } = options;
  assertKeyLength(dataKey, 32, 'data key');
  if (!Number.isInteger(mtimeSec) || mtimeSec < 0 || mtimeSec > MAX_MTIME_SEC) {
    throw new SwarmError('INVALID_ARGUMENT', `mtimeSec must be an integer number of seconds in 0..${MAX_MTIME_SEC}`);
  }
  let dbStat: fs.Stats;
  try {
    dbStat = fs.lstatSync(stateDbPath);
  } catch (cause) {
    throw fsError('STATE_SNAPSHOT_SOURCE_INVALID', stateDbPath, cause);
  }
  if (!dbStat.isFile()) throw new SwarmError('STATE_SNAPSHOT_SOURCE_INVALID', `state DB ${stateDbPath} is not a regular file`);

  const { entries, skipped } = walkWorkspace(workspaceDir);
  const total = entries.reduce((sum, entry) => sum + entry.size, dbStat.size);

  const outDir = path.dirname(path.resolve(outFile));
  try {
    fs.mkdirSync(outDir, { recursive: true });
  } catch (cause) {
    throw fsError('IO_WRITE_FAILED', outDir, cause);
  }
  const tmp = path.join(outDir, `.${path.basename(outFile)}.${randomBytes(6).toString('hex')}.tmp`);
  const pack = tar.pack();
  const sink = new SealedFileSink(tmp);
  const done = pipeline(pack, createSealStream(dataKey, { chunkSize: options.chunkSize }), sink);
  const failed = done.then(() => new Promise<never>(() => undefined));
  failed.catch(() => undefined);
  const ctx: PackContext = { pack, mtime: new Date(mtimeSec * 1000), failed, done: 0, total, onProgress: options.onProgress };

  let manifest: BundleManifest;
  let manifestSha256: Digest;
  try {
    const manifestEntries: BundleManifestEntry[] = [];
    for (const entry of entries) manifestEntries.push(await addWorkspaceEntry(ctx, entry));
    const dbMode = dbStat.mode & 0o777;
    const dbSha256 = await addFile(ctx, STATE_DB_ENTRY, stateDbPath, dbStat.size, dbMode);
    manifestEntries.push({ path: STATE_DB_ENTRY, type: 'file', mode: dbMode, size: dbStat.size, sha256: dbSha256 });
    manifest = { schema_version: BUNDLE_MANIFEST_SCHEMA_VERSION, entries: manifestEntries };
    const encoded = encodeBundleManifest(manifest);
    manifestSha256 = encoded.sha256;
    await addBufferEntry(ctx, MANIFEST_ENTRY, encoded.bytes);
    pack.finalize();
    await done;
    fs.renameSync(tmp, outFile);
    fsyncDir(outDir);
  } catch (error) {
    pack.destroy(error as Error);
    await done.catch(() => undefined);
    fs.rmSync(tmp, { force: true });
    if (isSwarmError(error)) throw error;
    throw new SwarmError('IO_WRITE_FAILED', `cannot write the sealed bundle ${outFile}`, { details: { path: outFile }, cause: error });
  }

  return {
    bundleSha256: `sha256:${sink.hash.digest('hex')}`,
    size: sink.size,
    manifest,
    manifestSha256,
    skipped: skipped.map((entry) => entry.path),
    skippedEntries: skipped,
  };
}

function addBufferEntry(ctx: PackContext, name: string, body: Buffer): Promise<void> {
  const header: HeaderArgument = { name, type: 'file', size: body.length, mode: S_IFREG | 0o644, mtime: ctx.mtime, uid: 0, gid: 0, uname: '', gname: '' };
  return startEntry(ctx, header, body).done;
}
