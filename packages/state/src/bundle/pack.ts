/**
 * Pack and seal: directory walk → deterministic tar → chunked AEAD → file, in one streaming pass.
 * File contents are read in blocks and never held whole; at most a few MiB of sealed bytes wait for
 * the disk. See sealed-sink.ts for how sealing, hashing and writing share the work between threads.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { SwarmError, fsError, fsyncDir, isSwarmError, type Digest } from '@swarm/core';
import '../errors.js';
import { assertKeyLength } from '../crypto/hkdf.js';
import { BUNDLE_MANIFEST_SCHEMA_VERSION, encodeBundleManifest, type BundleManifest, type BundleManifestEntry } from './manifest.js';
import { BUNDLE_LIMITS, type BundleLimits } from './limits.js';
import { HOME_PREFIX, MANIFEST_ENTRY, STATE_DB_ENTRY, makeDirs } from './paths.js';
import { SecretScanner } from './secret-scan.js';
import { InlineBundleSink, ThreadedBundleSink, type BundleSink } from './sealed-sink.js';
import { MAX_TAR_MTIME_SEC, TAR_END, encodeTarHeader, tarPadding } from './tar-format.js';
import { entryChanged, sameIdentity, walkWorkspace, type SkippedEntry, type WorkspaceEntry } from './walk.js';

const READ_BLOCK = 1024 * 1024;
/** From this much content on, sealing runs on a worker thread (it costs ~30 ms to start). */
const SEAL_THREAD_MIN_BYTES = 32 * 1024 * 1024;

export interface CreateSealedBundleOptions {
  workspaceDir: string;
  /** The serialized state DB file. */
  stateDbPath: string;
  /** The step's HOME, carried under `home/` (absent: no home entries). */
  homeDir?: string;
  /** Home entries never sealed (credentials, environment dumps): true for a path relative to HOME. */
  homeExclude?: (rel: string, type: 'dir' | 'file' | 'symlink' | 'other') => boolean;
  /**
   * Values that must not be sealed (secrets granted to the step): a file's content, a name or a
   * link target that holds one refuses the whole bundle with STATE_SNAPSHOT_HOLDS_SECRET.
   */
  secrets?: string[];
  /**
   * The run clock (seconds): each entry keeps its own mtime, clamped to this, and the manifest
   * entry has exactly this. With a fixed clock, identical trees give identical bytes when every
   * entry's min(mtime, clock) agrees, e.g. when the clock is no later than the files were written.
   */
  mtimeSec: number;
  dataKey: Buffer;
  outFile: string;
  /** Called as content is packed: bytes done so far and the total to pack. */
  onProgress?: (bytes: number, totalBytes: number) => void;
  /** Plaintext chunk size of the sealed stream (tests use small ones); default 64 KiB. */
  chunkSize?: number;
  /**
   * Seal, hash and write on a worker thread while this one reads: 'auto' (the default) does so for
   * bundles of 32 MiB and more, where it pays for the thread's start-up. The bytes are the same.
   */
  sealThread?: 'auto' | 'always' | 'never';
  /** What restore will accept (default BUNDLE_LIMITS, the restore default); more is refused unsealed. */
  limits?: Partial<BundleLimits>;
  /** Test hook: runs between the walk and the pack, where a step's leftover process could act. */
  afterWalk?: () => void;
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
  /** Home paths left out on purpose (credentials, environment dumps). */
  excluded: string[];
}

interface PackContext {
  out: BundleSink;
  mtimeSec: number;
  done: number;
  total: number;
  scanner: SecretScanner | null;
  onProgress?: (bytes: number, totalBytes: number) => void;
}

export function changed(file: string, reason: string): SwarmError {
  return new SwarmError('STATE_SNAPSHOT_SOURCE_CHANGED', `${file} changed while it was packed (${reason})`, {
    details: { path: file, reason },
  });
}

export function tooLarge(bytes: number, limits: BundleLimits): SwarmError {
  return new SwarmError('STATE_SNAPSHOT_TOO_LARGE', `the workspace and state DB come to ${bytes} bytes; restore accepts at most ${limits.maxBytes}`, {
    details: { limit: 'maxBytes', bytes, maxBytes: limits.maxBytes, maxManifestBytes: limits.maxManifestBytes },
  });
}

/**
 * An entry's tar mtime: whole seconds (truncated, as tar does), never before 1970 and never after
 * the run clock, so a file dated in the future cannot pass for newer than the run.
 */
export function clampMtime(mtimeMs: number, clockSec: number): number {
  return Math.min(Math.max(0, Math.floor(mtimeMs / 1000)), clockSec);
}

const O_NOATIME = (fs.constants as Record<string, number>).O_NOATIME ?? 0;

/**
 * Opens the regular file the walk saw at `abs` for reading: without following a link as its last
 * component, and it must be the very file (device and inode) and size the walk saw, or the packing
 * stops. With `noAtime` the file's atime is left as it is (when it is ours to open so).
 */
export function openWalkedFile(abs: string, size: number, seen: { dev: number; ino: number }, noAtime = false): { fd: number; stat: fs.Stats } {
  const flags = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;
  let fd: number;
  try {
    try {
      fd = fs.openSync(abs, noAtime && O_NOATIME !== 0 ? flags | O_NOATIME : flags);
    } catch (error) {
      // O_NOATIME is for the file's owner only.
      if (!(noAtime && (error as NodeJS.ErrnoException).code === 'EPERM')) throw error;
      fd = fs.openSync(abs, flags);
    }
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code;
    if (errno === 'ELOOP' || errno === 'ENOTDIR' || errno === 'ENXIO') throw entryChanged(abs, 'replaced by a link or a special file', cause);
    if (errno === 'ENOENT') throw changed(abs, 'removed');
    throw fsError('IO_READ_FAILED', abs, cause);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile() || !sameIdentity(stat, seen)) throw entryChanged(abs, 'not the file the walk saw');
    if (stat.size !== size) throw changed(abs, 'size changed');
    return { fd, stat };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/**
 * Streams one regular file into the tar as `name`. It is opened without following a link as its
 * last component and must be the very file the walk saw (device and inode): a parent directory
 * swapped for a symlink resolves to another file, which is refused, never read.
 */
async function addFile(
  ctx: PackContext,
  name: string,
  abs: string,
  size: number,
  mode: number,
  seen: { dev: number; ino: number },
): Promise<{ sha256: Digest; mtime: number }> {
  const { fd, stat } = openWalkedFile(abs, size, seen);
  try {
    // The descriptor's own time: the one of the content about to be read.
    const mtime = clampMtime(stat.mtimeMs, ctx.mtimeSec);
    await ctx.out.write(encodeTarHeader({ name, type: 'file', mode, size, mtimeSec: mtime }));
    const hash = createHash('sha256');
    const scan = ctx.scanner?.stream(name);
    let offset = 0;
    while (offset < size) {
      const block = ctx.out.space(Math.min(READ_BLOCK, size - offset));
      let read: number;
      try {
        read = fs.readSync(fd, block, 0, block.length, offset);
      } catch (cause) {
        throw fsError('IO_READ_FAILED', abs, cause);
      }
      if (read === 0) throw changed(abs, 'shrank');
      hash.update(block.subarray(0, read));
      scan?.update(block.subarray(0, read));
      offset += read;
      ctx.done += read;
      await ctx.out.commit(read);
      ctx.onProgress?.(ctx.done, ctx.total);
    }
    if (fs.readSync(fd, Buffer.allocUnsafe(1), 0, 1, offset) !== 0) throw changed(abs, 'grew');
    await ctx.out.write(tarPadding(size));
    return { sha256: `sha256:${hash.digest('hex')}`, mtime };
  } finally {
    fs.closeSync(fd);
  }
}

async function addWorkspaceEntry(ctx: PackContext, entry: WorkspaceEntry): Promise<BundleManifestEntry> {
  ctx.scanner?.checkText(entry.path, entry.path);
  if (entry.target !== undefined) ctx.scanner?.checkText(entry.path, entry.target);
  switch (entry.type) {
    case 'dir': {
      const mtime = clampMtime(entry.mtimeMs, ctx.mtimeSec);
      await ctx.out.write(encodeTarHeader({ name: `${entry.path}/`, type: 'dir', mode: entry.mode, size: 0, mtimeSec: mtime }));
      return { path: entry.path, type: 'dir', mode: entry.mode, size: 0, mtime };
    }
    case 'symlink': {
      const mtime = clampMtime(entry.mtimeMs, ctx.mtimeSec);
      await ctx.out.write(encodeTarHeader({ name: entry.path, type: 'symlink', mode: entry.mode, size: 0, mtimeSec: mtime, linkname: entry.target! }));
      return { path: entry.path, type: 'symlink', mode: entry.mode, size: 0, target: entry.target!, mtime };
    }
    case 'file': {
      const { sha256, mtime } = await addFile(ctx, entry.path, entry.abs, entry.size, entry.mode, entry);
      return { path: entry.path, type: 'file', mode: entry.mode, size: entry.size, sha256, mtime };
    }
  }
}

/**
 * Packs `workspaceDir`, `homeDir` (when given) and `stateDbPath` into a deterministic tar (entries sorted by path bytes,
 * each entry's mtime clamped to `mtimeSec`, uid/gid 0, empty owner names, permission bits only, symlinks verbatim),
 * then `state.db`, then `manifest.json`; seals it under `dataKey`; and renames the result to `outFile`
 * only once it is complete and fsynced. The same inputs give the same bytes.
 */
export async function createSealedBundle(options: CreateSealedBundleOptions): Promise<SealedBundle> {
  const { workspaceDir, stateDbPath, mtimeSec, dataKey, outFile } = options;
  assertKeyLength(dataKey, 32, 'data key');
  if (!Number.isInteger(mtimeSec) || mtimeSec < 0 || mtimeSec > MAX_TAR_MTIME_SEC) {
    throw new SwarmError('INVALID_ARGUMENT', `mtimeSec must be an integer number of seconds in 0..${MAX_TAR_MTIME_SEC}`);
  }
  let dbStat: fs.Stats;
  try {
    dbStat = fs.lstatSync(stateDbPath);
  } catch (cause) {
    throw fsError('STATE_SNAPSHOT_SOURCE_INVALID', stateDbPath, cause);
  }
  if (!dbStat.isFile()) throw new SwarmError('STATE_SNAPSHOT_SOURCE_INVALID', `state DB ${stateDbPath} is not a regular file`);

  const limits: BundleLimits = { ...BUNDLE_LIMITS, ...options.limits };
  const workspace = walkWorkspace(workspaceDir, { maxEntries: limits.maxEntries });
  const home = options.homeDir
    ? walkWorkspace(options.homeDir, { maxEntries: limits.maxEntries - workspace.entries.length, prefix: HOME_PREFIX, exclude: options.homeExclude })
    : { entries: [], skipped: [], excluded: [] };
  const entries = [...workspace.entries, ...home.entries];
  const skipped = [...workspace.skipped, ...home.skipped];
  const total = entries.reduce((sum, entry) => sum + entry.size, dbStat.size);
  // Restore counts the manifest too; checked again once its size is known.
  if (total > limits.maxBytes) throw tooLarge(total, limits);
  options.afterWalk?.();

  const outDir = path.dirname(path.resolve(outFile));
  const tmp = path.join(outDir, `.${path.basename(outFile)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number;
  try {
    makeDirs(outDir);
    fd = fs.openSync(tmp, 'wx', 0o644);
  } catch (cause) {
    throw fsError('IO_WRITE_FAILED', tmp, cause);
  }
  const threaded = options.sealThread === 'always' || (options.sealThread !== 'never' && total >= SEAL_THREAD_MIN_BYTES);
  let out: BundleSink | undefined;
  try {
    out = threaded ? new ThreadedBundleSink(fd, dataKey, options.chunkSize) : new InlineBundleSink(fd, dataKey, options.chunkSize);
    const scanner = options.secrets && options.secrets.length > 0 ? new SecretScanner(options.secrets) : null;
    // Left out or not, a name that holds a secret would be reported (result.json lists skipped entries).
    for (const entry of [...skipped, ...home.excluded.map((p) => ({ path: p }))]) scanner?.checkText(entry.path, entry.path);
    const ctx: PackContext = { out, mtimeSec, done: 0, total, scanner, onProgress: options.onProgress };
    const manifestEntries: BundleManifestEntry[] = [];
    for (const entry of entries) manifestEntries.push(await addWorkspaceEntry(ctx, entry));
    const dbMode = dbStat.mode & 0o777;
    const db = await addFile(ctx, STATE_DB_ENTRY, stateDbPath, dbStat.size, dbMode, dbStat);
    manifestEntries.push({ path: STATE_DB_ENTRY, type: 'file', mode: dbMode, size: dbStat.size, sha256: db.sha256, mtime: db.mtime });
    const manifest: BundleManifest = { schema_version: BUNDLE_MANIFEST_SCHEMA_VERSION, entries: manifestEntries };
    const encoded = encodeBundleManifest(manifest);
    if (encoded.bytes.length > limits.maxManifestBytes || total + encoded.bytes.length > limits.maxBytes) {
      throw tooLarge(total + encoded.bytes.length, limits);
    }
    await out.write(encodeTarHeader({ name: MANIFEST_ENTRY, type: 'file', mode: 0o644, size: encoded.bytes.length, mtimeSec }));
    await out.write(encoded.bytes);
    await out.write(tarPadding(encoded.bytes.length));
    await out.write(TAR_END);
    const sealed = await out.end();
    fs.closeSync(fd);
    fs.renameSync(tmp, outFile);
    fsyncDir(outDir);
    return {
      bundleSha256: sealed.sha256,
      size: sealed.size,
      manifest,
      manifestSha256: encoded.sha256,
      skipped: skipped.map((entry) => entry.path),
      skippedEntries: skipped,
      excluded: home.excluded,
    };
  } catch (error) {
    await out?.abort();
    try {
      fs.closeSync(fd);
    } catch {
      // already closed after a successful end()
    }
    fs.rmSync(tmp, { force: true });
    if (isSwarmError(error)) throw error;
    throw new SwarmError('IO_WRITE_FAILED', `cannot write the sealed bundle ${outFile}`, { details: { path: outFile }, cause: error });
  }
}
