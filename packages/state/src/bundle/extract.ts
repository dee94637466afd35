/**
 * Open and extract: file → authenticated decryption → tar → `destDir/workspace`, `destDir/home`
 * and `destDir/state.db`, streaming. Every entry is checked before anything is written (layout, type,
 * duplicates, size limits), nothing is written through a symlink (parents are created one by one
 * after an lstat, files are opened O_EXCL|O_NOFOLLOW), symlinks are checked again against the whole
 * extracted tree, and the result must match the manifest exactly. On any failure everything
 * extracted is removed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { SwarmError, fsError, isSwarmError, openBoundedFile, sha256Stream, type Digest } from '@swarm/core';
import '../errors.js';
import { BUNDLE_CHUNK_OVERHEAD, BUNDLE_HEADER_BYTES, MIN_CHUNK_SIZE, createOpenStream } from '../crypto/stream.js';
import { assertKeyLength } from '../crypto/hkdf.js';
import {
  BUNDLE_MANIFEST_SCHEMA_VERSION_V1,
  parseBundleManifest,
  type BundleEntryType,
  type BundleManifest,
  type BundleManifestEntry,
} from './manifest.js';
import { BUNDLE_LIMITS } from './limits.js';
import { TREE_PREFIX, makeDirs, parseEntryName, symlinkEscapesTree, symlinkTargetEscapesLexically, type TreeName } from './paths.js';

export const DEFAULT_MAX_BYTES = BUNDLE_LIMITS.maxBytes;
export const DEFAULT_MAX_ENTRIES = BUNDLE_LIMITS.maxEntries;
/** The manifest is held in memory to be parsed; larger ones are refused. */
export const MAX_MANIFEST_BYTES = BUNDLE_LIMITS.maxManifestBytes;
/** The largest sealed file the limits allow: every tar header and padding, at the smallest chunk size. */
const MAX_SEALED_BYTES =
  BUNDLE_HEADER_BYTES +
  Math.ceil((BUNDLE_LIMITS.maxBytes + BUNDLE_LIMITS.maxEntries * 1024 + 1024) / MIN_CHUNK_SIZE) * (MIN_CHUNK_SIZE + BUNDLE_CHUNK_OVERHEAD);
const READ_BLOCK = 1024 * 1024;

export interface RestoreLimits {
  /** Total content bytes (files, state DB and manifest); default 8 GiB. */
  maxBytes?: number;
  /** Tar entries; default 1,000,000. */
  maxEntries?: number;
}

export interface OpenSealedBundleOptions {
  file: string;
  dataKey: Buffer;
  /** The digest the node recorded for the sealed bytes. */
  expectedSha256?: string;
  destDir: string;
  limits?: RestoreLimits;
  /** Sealed bytes read so far, and in all (for progress on a terminal). */
  onProgress?: (bytes: number, totalBytes: number) => void;
}

export interface OpenedBundle {
  manifest: BundleManifest;
  manifestSha256: Digest;
  bundleSha256: Digest;
  workspaceDir: string;
  /** The step's HOME as sealed (empty for bundles sealed before v3). */
  homeDir: string;
  stateDbPath: string;
}

type TarEntry = tar.Header;
type TarSource = AsyncIterable<Buffer> & { header: TarEntry; resume(): unknown };

function corrupt(cause: unknown): SwarmError {
  return new SwarmError('STATE_BUNDLE_CORRUPT', 'the sealed bundle does not hold a well-formed archive', { cause });
}

async function drain(stream: TarSource): Promise<void> {
  for await (const _chunk of stream) {
    // discard
  }
}

/**
 * Decrypts a sealed bundle and hands each tar entry to `onEntry` in order (each entry's content
 * must be consumed or drained before it returns). Resolves with the digest of the sealed bytes.
 */
async function scanSealedBundle(
  file: string,
  dataKey: Buffer,
  onEntry: (entry: TarSource) => Promise<void>,
  onProgress?: (bytes: number, totalBytes: number) => void,
): Promise<Digest> {
  assertKeyLength(dataKey, 32, 'data key');
  let fd: number;
  let total = 0;
  try {
    // An object is a regular file swarm wrote: never a link, a device or a FIFO.
    const opened = openBoundedFile(file, { what: 'sealed bundle', maxBytes: MAX_SEALED_BYTES, noFollow: true });
    fd = opened.fd;
    total = opened.stat.size;
  } catch (cause) {
    if (isSwarmError(cause) && cause.code === 'FILE_TOO_LARGE') {
      throw new SwarmError('STATE_BUNDLE_TOO_LARGE', `sealed bundle ${file} is larger than any bundle the restore limits allow`, {
        details: { path: file, limit: 'maxSealedBytes' },
        cause,
      });
    }
    throw new SwarmError('STATE_BUNDLE_NOT_FOUND', `cannot open sealed bundle ${file}: ${(cause as Error).message}`, {
      details: { path: file, cause_code: isSwarmError(cause) ? cause.code : null },
      cause,
    });
  }
  const hash = createHash('sha256');
  let read = 0;
  const tap = new Transform({
    readableHighWaterMark: READ_BLOCK,
    writableHighWaterMark: READ_BLOCK,
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      read += chunk.length;
      onProgress?.(read, total);
      callback(null, chunk);
    },
  });
  const extract = tar.extract();
  await scanTar(extract, pipeline(fs.createReadStream('', { fd, highWaterMark: READ_BLOCK }), tap, createOpenStream(dataKey), extract), onEntry, file);
  return `sha256:${hash.digest('hex')}`;
}

/** Reads the entries of `extract`, the end of the pipeline `done`, one by one, then waits for the pipeline. */
async function scanTar(extract: tar.Extract, done: Promise<void>, onEntry: (entry: TarSource) => Promise<void>, what: string): Promise<void> {
  let failure: unknown;
  try {
    for await (const entry of extract as unknown as AsyncIterable<TarSource>) {
      await onEntry(entry);
    }
  } catch (error) {
    failure = error;
  }
  try {
    await done;
  } catch (error) {
    // The pipeline's own error (bad tag, bad key) explains a failed iteration better than the
    // premature close it causes downstream.
    if (failure === undefined || (!isSwarmError(failure) && isSwarmError(error))) failure = error;
  }
  if (failure !== undefined) {
    if (isSwarmError(failure)) throw failure;
    if ((failure as NodeJS.ErrnoException).code === 'EISDIR' || (failure as NodeJS.ErrnoException).code === 'EIO') {
      throw fsError('STATE_BUNDLE_NOT_FOUND', what, failure);
    }
    throw corrupt(failure);
  }
}

interface SeenEntry {
  type: BundleEntryType;
  mode: number;
  size: number;
  sha256?: Digest;
  target?: string;
  /** The header's mtime in seconds, as restored. */
  mtime: number;
}

/** One directory tree of the bundle (`workspace/` or `home/`) as it is written out. */
class TreeWriter {
  /** Directories known to be real directories we made (relative paths). */
  readonly dirs = new Set<string>();
  /** Directories made only as parents so far; each must get its own entry before the end. */
  readonly implicitDirs = new Set<string>();
  readonly dirModes = new Map<string, { mode: number; mtime: Date }>();
  readonly symlinks: Array<{ parts: string[]; target: string }> = [];

  constructor(
    readonly root: string,
    readonly prefix: string,
  ) {}

  createError(cause: unknown, abs: string, bundlePath: string): SwarmError {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
      return new SwarmError('STATE_BUNDLE_DUPLICATE_ENTRY', `bundle holds ${bundlePath} twice`, { details: { path: bundlePath } });
    }
    if ((cause as NodeJS.ErrnoException).code === 'ELOOP') {
      return new SwarmError('STATE_BUNDLE_UNSAFE_LINK', `refusing to write ${bundlePath} through a symlink`, { details: { path: bundlePath } });
    }
    if ((cause as NodeJS.ErrnoException).code === 'ENAMETOOLONG') {
      return new SwarmError('STATE_BUNDLE_UNSAFE_PATH', `${bundlePath} is too long a path to restore under ${this.root}`, {
        details: { path: bundlePath, reason: 'path too long here' },
      });
    }
    return fsError('IO_WRITE_FAILED', abs, cause);
  }

  mkdir(abs: string, bundlePath: string): void {
    try {
      fs.mkdirSync(abs, { mode: 0o700 });
    } catch (cause) {
      throw this.createError(cause, abs, bundlePath);
    }
  }

  /** Makes sure every parent of `parts` is a real directory, never following a symlink. */
  ensureParents(parts: string[], bundlePath: string): void {
    let rel = '';
    for (let i = 0; i < parts.length - 1; i += 1) {
      rel = rel === '' ? parts[i]! : `${rel}/${parts[i]!}`;
      if (this.dirs.has(rel)) continue;
      const abs = path.join(this.root, rel);
      let stat: fs.Stats | undefined;
      try {
        stat = fs.lstatSync(abs);
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError('IO_WRITE_FAILED', abs, cause);
      }
      if (stat?.isSymbolicLink()) {
        throw new SwarmError('STATE_BUNDLE_UNSAFE_LINK', `refusing to write ${bundlePath} through the symlink ${this.prefix}${rel}`, {
          details: { path: bundlePath, symlink: `${this.prefix}${rel}` },
        });
      }
      if (stat && !stat.isDirectory()) {
        throw new SwarmError('STATE_BUNDLE_UNSAFE_PATH', `${bundlePath} needs ${this.prefix}${rel} to be a directory`, {
          details: { path: bundlePath, parent: `${this.prefix}${rel}` },
        });
      }
      if (!stat) {
        this.mkdir(abs, bundlePath);
        this.implicitDirs.add(rel);
      }
      this.dirs.add(rel);
    }
  }

  /** Every symlink checked against the whole extracted tree; every implicit parent listed. */
  finish(mismatch: (reason: string, where: string) => SwarmError): void {
    for (const link of this.symlinks) {
      if (symlinkEscapesTree(this.root, link.parts, link.target)) {
        throw new SwarmError('STATE_BUNDLE_UNSAFE_LINK', `symlink ${this.prefix}${link.parts.join('/')} resolves outside its tree`, {
          details: { path: `${this.prefix}${link.parts.join('/')}`, target: link.target },
        });
      }
    }
    for (const rel of this.implicitDirs) throw mismatch('is not listed', `${this.prefix}${rel}`);
  }

  /**
   * Directory modes and times last (deepest first): read-only directories do not block writes, and
   * no entry is created in a directory after its time is set (that would move it to now).
   */
  applyDirectoryModes(): void {
    const dirs = [...this.dirModes.entries()].sort(([a], [b]) => b.split('/').length - a.split('/').length);
    for (const [rel, { mode, mtime }] of dirs) {
      const abs = path.join(this.root, rel);
      fs.chmodSync(abs, mode & 0o777);
      fs.utimesSync(abs, mtime, mtime);
    }
  }

  /** Undo: make our directories writable again, then remove everything extracted. */
  cleanup(): void {
    for (const rel of this.dirs) {
      try {
        fs.chmodSync(path.join(this.root, rel), 0o700);
      } catch {
        // already gone
      }
    }
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

class Extractor {
  readonly seen = new Map<string, SeenEntry>();
  readonly trees: Record<TreeName, TreeWriter>;
  manifestBytes: Buffer | null = null;
  entries = 0;
  bytes = 0;

  constructor(
    roots: Record<TreeName, string>,
    readonly stateDbPath: string,
    readonly maxBytes: number,
    readonly maxEntries: number,
  ) {
    this.trees = { workspace: new TreeWriter(roots.workspace, TREE_PREFIX.workspace), home: new TreeWriter(roots.home, TREE_PREFIX.home) };
  }

  async entry(source: TarSource): Promise<void> {
    const header = source.header;
    this.entries += 1;
    if (this.entries > this.maxEntries) {
      throw new SwarmError('STATE_BUNDLE_TOO_LARGE', `bundle holds more than ${this.maxEntries} entries`, {
        details: { limit: 'maxEntries', maxEntries: this.maxEntries },
      });
    }
    if (this.manifestBytes !== null) {
      throw new SwarmError('STATE_BUNDLE_MANIFEST_MISMATCH', 'bundle has entries after its manifest', { details: { path: header.name } });
    }
    switch (header.type) {
      case 'file':
      case 'directory':
      case 'symlink':
        break;
      case 'link':
        throw new SwarmError('STATE_BUNDLE_UNSAFE_LINK', `bundle holds a hard link ${JSON.stringify(header.name)}`, {
          details: { path: header.name, type: 'link' },
        });
      default:
        throw new SwarmError('STATE_BUNDLE_SPECIAL_FILE', `bundle holds a ${String(header.type)} entry ${JSON.stringify(header.name)}`, {
          details: { path: header.name, type: header.type },
        });
    }
    const name = parseEntryName(header.name, header.type === 'directory');
    if (name.kind !== 'tree' && header.type !== 'file') {
      throw new SwarmError('STATE_BUNDLE_UNSAFE_PATH', `${name.path} must be a regular file, not a ${header.type}`, {
        details: { path: name.path, type: header.type },
      });
    }
    if (this.seen.has(name.path) || (name.kind === 'manifest' && this.manifestBytes !== null)) {
      throw new SwarmError('STATE_BUNDLE_DUPLICATE_ENTRY', `bundle holds ${name.path} twice`, { details: { path: name.path } });
    }
    const size = header.type === 'file' ? header.size : 0;
    if (!Number.isSafeInteger(size) || size < 0) throw corrupt(new Error(`bad size for ${name.path}`));
    this.bytes += size;
    if (this.bytes > this.maxBytes) {
      throw new SwarmError('STATE_BUNDLE_TOO_LARGE', `bundle unpacks to more than ${this.maxBytes} bytes`, {
        details: { limit: 'maxBytes', maxBytes: this.maxBytes },
      });
    }
    const mode = header.mode;
    const mtime = header.mtime instanceof Date && !Number.isNaN(header.mtime.getTime()) ? header.mtime : new Date(0);
    const mtimeSec = Math.floor(mtime.getTime() / 1000);

    if (name.kind === 'manifest') {
      if (size > MAX_MANIFEST_BYTES) throw new SwarmError('STATE_BUNDLE_TOO_LARGE', 'bundle manifest is too large');
      const parts: Buffer[] = [];
      for await (const chunk of source) parts.push(chunk);
      this.manifestBytes = Buffer.concat(parts);
      return;
    }
    if (name.kind === 'state.db') {
      const sha256 = await this.writeFile(this.trees.workspace, this.stateDbPath, name.path, source, mode, mtime);
      this.seen.set(name.path, { type: 'file', mode, size, sha256, mtime: mtimeSec });
      return;
    }

    const tree = this.trees[name.tree];
    const { rel, parts } = name;
    tree.ensureParents(parts, name.path);
    const abs = path.join(tree.root, ...parts);
    if (header.type === 'directory') {
      if (tree.dirs.has(rel)) {
        if (!tree.implicitDirs.delete(rel)) throw new SwarmError('STATE_BUNDLE_DUPLICATE_ENTRY', `bundle holds ${name.path} twice`);
      } else {
        tree.mkdir(abs, name.path);
        tree.dirs.add(rel);
      }
      tree.dirModes.set(rel, { mode, mtime });
      this.seen.set(name.path, { type: 'dir', mode, size: 0, mtime: mtimeSec });
      await drain(source);
      return;
    }
    if (tree.dirs.has(rel)) {
      throw new SwarmError('STATE_BUNDLE_DUPLICATE_ENTRY', `bundle holds ${name.path} as a directory and as a ${header.type}`);
    }
    if (header.type === 'symlink') {
      const target = header.linkname ?? '';
      if (symlinkTargetEscapesLexically(parts, target)) {
        throw new SwarmError('STATE_BUNDLE_UNSAFE_LINK', `symlink ${name.path} points outside its tree`, {
          details: { path: name.path, target },
        });
      }
      try {
        fs.symlinkSync(target, abs);
      } catch (cause) {
        throw tree.createError(cause, abs, name.path);
      }
      try {
        fs.lutimesSync(abs, mtime, mtime);
      } catch {
        // Not every file system records symlink times; the link itself is what matters.
      }
      tree.symlinks.push({ parts, target });
      this.seen.set(name.path, { type: 'symlink', mode, size: 0, target, mtime: mtimeSec });
      await drain(source);
      return;
    }
    const sha256 = await this.writeFile(tree, abs, name.path, source, mode, mtime);
    this.seen.set(name.path, { type: 'file', mode, size, sha256, mtime: mtimeSec });
  }

  async writeFile(tree: TreeWriter, abs: string, bundlePath: string, source: TarSource, mode: number, mtime: Date): Promise<Digest> {
    let fd: number;
    try {
      const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
      fd = fs.openSync(abs, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    } catch (cause) {
      throw tree.createError(cause, abs, bundlePath);
    }
    const hash = createHash('sha256');
    try {
      let batch: Buffer[] = [];
      let batched = 0;
      // Errors of the archive stream propagate as they are; only file system errors are ours.
      for await (const chunk of source) {
        hash.update(chunk);
        batch.push(chunk);
        batched += chunk.length;
        if (batched >= READ_BLOCK) {
          writeAllSync(fd, batch, abs);
          batch = [];
          batched = 0;
        }
      }
      writeAllSync(fd, batch, abs);
      try {
        fs.fchmodSync(fd, mode & 0o777);
        fs.futimesSync(fd, mtime, mtime);
      } catch (cause) {
        throw fsError('IO_WRITE_FAILED', abs, cause);
      }
    } finally {
      fs.closeSync(fd);
    }
    return `sha256:${hash.digest('hex')}`;
  }

  /** The end-of-archive checks; returns the verified manifest. */
  finish(): { manifest: BundleManifest; sha256: Digest } {
    const mismatch = (reason: string, where: string) =>
      new SwarmError('STATE_BUNDLE_MANIFEST_MISMATCH', `bundle does not match its manifest: ${where} ${reason}`, {
        details: { path: where, reason },
      });
    for (const tree of Object.values(this.trees)) tree.finish(mismatch);
    if (this.manifestBytes === null) throw new SwarmError('STATE_BUNDLE_MANIFEST_MISMATCH', 'bundle has no manifest');
    const parsed = parseBundleManifest(this.manifestBytes);
    const listed = new Set<string>();
    // A v1 manifest lists no times; its headers all had the run clock.
    const withMtime = parsed.manifest.schema_version !== BUNDLE_MANIFEST_SCHEMA_VERSION_V1;
    for (const entry of parsed.manifest.entries) {
      listed.add(entry.path);
      const seen = this.seen.get(entry.path);
      if (!seen) throw mismatch('is listed but missing', entry.path);
      if (!sameEntry(entry, seen, withMtime)) throw mismatch('differs from its manifest entry', entry.path);
    }
    for (const seenPath of this.seen.keys()) if (!listed.has(seenPath)) throw mismatch('is not listed', seenPath);
    if (!this.seen.has('state.db')) throw mismatch('is missing', 'state.db');
    return parsed;
  }

  applyDirectoryModes(): void {
    for (const tree of Object.values(this.trees)) tree.applyDirectoryModes();
  }

  cleanup(): void {
    for (const tree of Object.values(this.trees)) tree.cleanup();
    fs.rmSync(this.stateDbPath, { force: true });
  }
}

function writeAllSync(fd: number, buffers: Buffer[], file: string): void {
  try {
    while (buffers.length > 0) {
      let written = fs.writevSync(fd, buffers);
      const rest: Buffer[] = [];
      for (const buffer of buffers) {
        if (written >= buffer.length) written -= buffer.length;
        else {
          rest.push(buffer.subarray(written));
          written = 0;
        }
      }
      buffers = rest;
    }
  } catch (cause) {
    throw fsError('IO_WRITE_FAILED', file, cause);
  }
}

function sameEntry(listed: BundleManifestEntry, seen: SeenEntry, withMtime: boolean): boolean {
  return (
    listed.type === seen.type &&
    listed.mode === seen.mode &&
    listed.size === seen.size &&
    listed.sha256 === seen.sha256 &&
    listed.target === seen.target &&
    (!withMtime || listed.mtime === seen.mtime)
  );
}

function positiveLimit(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw new SwarmError('INVALID_ARGUMENT', `${what} must be a non-negative integer`);
  return value;
}

/**
 * Opens a sealed bundle into `destDir/workspace`, `destDir/home` and `destDir/state.db` (none may
 * exist yet; `destDir` is created when missing; a bundle without a home section gives an empty one). Checks the sealed bytes against `expectedSha256` when given.
 */
export async function openSealedBundle(options: OpenSealedBundleOptions): Promise<OpenedBundle> {
  const { file, dataKey, expectedSha256 } = options;
  assertKeyLength(dataKey, 32, 'data key');
  let bundleSha256: Digest | null = null;
  try {
    const opened = await extractInto(options.destDir, options.limits, async (extractor) => {
      bundleSha256 = await scanSealedBundle(file, dataKey, (entry) => extractor.entry(entry), options.onProgress);
      if (expectedSha256 !== undefined && bundleSha256 !== expectedSha256) throw digestMismatch(file, expectedSha256, bundleSha256);
    });
    return { ...opened, bundleSha256: bundleSha256! };
  } catch (error) {
    // A failure on bytes that are not the recorded ones is best reported as exactly that.
    if (expectedSha256 !== undefined && !(isSwarmError(error) && error.code === 'STATE_BUNDLE_DIGEST_MISMATCH')) {
      const actual = await fileDigest(file);
      if (actual !== null && actual !== expectedSha256) throw digestMismatch(file, expectedSha256, actual, error);
    }
    throw error;
  }
}

/**
 * Extracts a plaintext deterministic tar (what a chunked node's index produces) into `destDir`
 * with every check openSealedBundle makes.
 */
export async function extractTarStream(options: { source: NodeJS.ReadableStream; destDir: string; limits?: RestoreLimits; what: string }): Promise<Omit<OpenedBundle, 'bundleSha256'>> {
  return extractInto(options.destDir, options.limits, async (extractor) => {
    const extract = tar.extract();
    await scanTar(extract, pipeline(options.source, extract), (entry) => extractor.entry(entry), options.what);
  });
}

async function extractInto(destDir: string, limits: RestoreLimits | undefined, scan: (extractor: Extractor) => Promise<void>): Promise<Omit<OpenedBundle, 'bundleSha256'>> {
  const maxBytes = positiveLimit(limits?.maxBytes, DEFAULT_MAX_BYTES, 'limits.maxBytes');
  const maxEntries = positiveLimit(limits?.maxEntries, DEFAULT_MAX_ENTRIES, 'limits.maxEntries');
  const workspaceDir = path.join(path.resolve(destDir), 'workspace');
  const homeDir = path.join(path.resolve(destDir), 'home');
  const stateDbPath = path.join(path.resolve(destDir), 'state.db');
  const destExisted = fs.existsSync(destDir);
  try {
    makeDirs(destDir);
  } catch (cause) {
    throw fsError('IO_WRITE_FAILED', destDir, cause);
  }
  for (const target of [workspaceDir, homeDir, stateDbPath]) {
    let exists = true;
    try {
      fs.lstatSync(target);
    } catch {
      exists = false;
    }
    if (exists) throw new SwarmError('STATE_RESTORE_TARGET_EXISTS', `${target} already exists`, { details: { path: target } });
  }
  for (const dir of [workspaceDir, homeDir]) {
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (cause) {
      throw fsError('IO_WRITE_FAILED', dir, cause);
    }
  }

  const extractor = new Extractor({ workspace: workspaceDir, home: homeDir }, stateDbPath, maxBytes, maxEntries);
  try {
    await scan(extractor);
    const verified = extractor.finish();
    extractor.applyDirectoryModes();
    return { manifest: verified.manifest, manifestSha256: verified.sha256, workspaceDir, homeDir, stateDbPath };
  } catch (error) {
    extractor.cleanup();
    if (!destExisted) fs.rmSync(destDir, { recursive: true, force: true });
    throw error;
  }
}

function digestMismatch(file: string, expected: string, actual: string, cause?: unknown): SwarmError {
  return new SwarmError('STATE_BUNDLE_DIGEST_MISMATCH', `sealed bundle ${file} does not have the recorded digest`, {
    details: { path: file, expected, actual },
    cause,
  });
}

async function fileDigest(file: string): Promise<Digest | null> {
  try {
    const { fd } = openBoundedFile(file, { what: 'sealed bundle', maxBytes: MAX_SEALED_BYTES, noFollow: true });
    return await sha256Stream(fs.createReadStream('', { fd, highWaterMark: READ_BLOCK }));
  } catch {
    return null;
  }
}

/** Decrypts a sealed bundle just far enough to read and verify its manifest (the last entry). */
export async function readBundleManifest(options: { file: string; dataKey: Buffer }): Promise<BundleManifest> {
  let manifestBytes: Buffer | null = null;
  await scanSealedBundle(options.file, options.dataKey, async (entry) => {
    if (entry.header.name === 'manifest.json' && entry.header.type === 'file' && entry.header.size <= MAX_MANIFEST_BYTES) {
      const parts: Buffer[] = [];
      for await (const chunk of entry) parts.push(chunk);
      manifestBytes = Buffer.concat(parts);
    } else await drain(entry);
  });
  if (manifestBytes === null) throw new SwarmError('STATE_BUNDLE_MANIFEST_MISMATCH', 'bundle has no manifest');
  return parseBundleManifest(manifestBytes).manifest;
}

export interface BundleListing {
  path: string;
  type: string;
  mode: number;
  size: number;
  /** The header's mtime, whole seconds. */
  mtime: number;
  target?: string;
}

/** The raw tar entries of a sealed bundle, as stored, without extracting anything. */
export async function listBundle(options: { file: string; dataKey: Buffer }): Promise<BundleListing[]> {
  const listing: BundleListing[] = [];
  await scanSealedBundle(options.file, options.dataKey, async (entry) => {
    const { name, type, mode, size, linkname, mtime } = entry.header;
    const mtimeSec = mtime instanceof Date ? Math.floor(mtime.getTime() / 1000) : 0;
    listing.push({ path: name, type, mode, size, mtime: mtimeSec, ...(type === 'symlink' || type === 'link' ? { target: linkname ?? '' } : {}) });
    await drain(entry);
  });
  return listing;
}

/**
 * Decrypts a sealed bundle and writes only its state DB to `outFile` (which must not exist),
 * checked against the manifest's digest for it: what reading a node's archive needs, without
 * unpacking its workspace.
 */
export async function extractStateDb(options: { file: string; dataKey: Buffer; expectedSha256?: string; outFile: string }): Promise<void> {
  let written: Digest | null = null;
  let manifestBytes: Buffer | null = null;
  try {
    const bundleSha256 = await scanSealedBundle(options.file, options.dataKey, async (entry) => {
      const { name, type, size } = entry.header;
      if (name === 'state.db' && type === 'file' && written === null) {
        const fd = fs.openSync(options.outFile, 'wx', 0o600);
        const hash = createHash('sha256');
        try {
          for await (const chunk of entry) {
            hash.update(chunk);
            writeAllSync(fd, [chunk], options.outFile);
          }
        } finally {
          fs.closeSync(fd);
        }
        written = `sha256:${hash.digest('hex')}`;
      } else if (name === 'manifest.json' && type === 'file' && size <= MAX_MANIFEST_BYTES) {
        const parts: Buffer[] = [];
        for await (const chunk of entry) parts.push(chunk);
        manifestBytes = Buffer.concat(parts);
      } else await drain(entry);
    });
    if (options.expectedSha256 !== undefined && bundleSha256 !== options.expectedSha256) throw digestMismatch(options.file, options.expectedSha256, bundleSha256);
    if (manifestBytes === null) throw new SwarmError('STATE_BUNDLE_MANIFEST_MISMATCH', 'bundle has no manifest');
    const listed = parseBundleManifest(manifestBytes).manifest.entries.find((e) => e.path === 'state.db');
    if (written === null || !listed || listed.sha256 !== written) {
      throw new SwarmError('STATE_BUNDLE_MANIFEST_MISMATCH', 'bundle does not match its manifest: state.db differs from its manifest entry', { details: { path: 'state.db' } });
    }
  } catch (error) {
    fs.rmSync(options.outFile, { force: true });
    throw error;
  }
}
