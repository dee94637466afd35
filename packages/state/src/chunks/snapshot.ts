/**
 * Phase 6 over the chunk store: the workspace, the step's HOME and the state DB become a node
 * whose cost follows the change, not the tree. The tree is walked (a stat per entry); a file whose
 * size, mtime, ctime and inode are what the parent tree recorded keeps the parent's digest and
 * chunks unread, as git's index does; every other file is read once, hashed, cut into chunks and
 * the chunks not yet stored are sealed into a pack. The manifest is the same canonical document a
 * tar bundle carries (so `bundle_manifest_sha256` means what it always meant), stored as chunks
 * too; the node's own object is its small sealed index.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { SwarmError, fsError, fsyncDir, isSwarmError, type Digest } from '@swarm/core';
import '../engine-errors.js';
import { BUNDLE_LIMITS, type BundleLimits } from '../bundle/limits.js';
import { BUNDLE_MANIFEST_SCHEMA_VERSION, type BundleManifest, type BundleManifestEntry } from '../bundle/manifest.js';
import { changed, clampMtime, openWalkedFile, tooLarge, type CreateSealedBundleOptions } from '../bundle/pack.js';
import { HOME_PREFIX, STATE_DB_ENTRY } from '../bundle/paths.js';
import { SecretScanner } from '../bundle/secret-scan.js';
import { walkWorkspace, type SkippedEntry, type WorkspaceEntry } from '../bundle/walk.js';
import { Chunker, SINGLE_CHUNK_MAX } from './cdc.js';
import { chunkId } from './keys.js';
import { encodeManifestPieces, refOf, sealNodeIndex, type ChunkRef, type NodeIndex } from './node-index.js';
import type { ChunkRow } from './pack.js';
import type { ChunkStore } from './store.js';

const READ_BLOCK = 1024 * 1024;
/** A file changed this close to the snapshot (ms) is read again next time whatever its stat says. */
const RACY_MS = 50;

/** What the parent tree knew of a file: its stat then, and what it was stored as. */
export interface FileRecord {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  sha256: Digest;
  /** Its chunks when more than one (a single chunk's id follows from sha256). */
  chunks: ChunkRef[] | null;
}

export interface TreeRecords {
  /** Keyed fingerprint of the secrets the files were scanned for ('' for none). */
  secretsFp: string;
  /** By bundle path (`workspace/…`, `home/…`, `state.db`). */
  files: Map<string, FileRecord>;
}

/** The tree and keys as the tar packer takes them (bundle/pack.ts), and what only a snapshot needs. */
export interface SnapshotInput
  extends Pick<CreateSealedBundleOptions, 'workspaceDir' | 'stateDbPath' | 'homeDir' | 'homeExclude' | 'secrets' | 'mtimeSec' | 'dataKey' | 'limits' | 'afterWalk'> {
  chunks: ChunkStore;
  /** Where the sealed index is written. */
  outFile: string;
  /** The parent tree's records: unchanged files are not read. */
  parent?: TreeRecords | null;
  /** Chunk ids (hex) this run stored already and has not committed yet (its seed's). */
  known?: Set<string>;
  /** Runs before a pack becomes visible in `packs/` (the run marks it pending for gc). */
  beforeAdopt?: (pack: string) => void;
  /** Bytes read of all that must be read (only new and changed files count). */
  onProgress?: (bytes: number, totalBytes: number) => void;
  /** No process can change the tree while it is read (see WalkOptions.quiescent). */
  quiescent?: boolean;
}

export interface SnapshotStats {
  entries: number;
  files_read: number;
  files_reused: number;
  bytes_read: number;
  chunks_new: number;
  bytes_new: number;
  bytes_stored: number;
}

export interface Snapshot {
  bundleSha256: Digest;
  /** Bytes of the sealed index. */
  size: number;
  manifest: BundleManifest;
  manifestSha256: Digest;
  skipped: string[];
  skippedEntries: SkippedEntry[];
  excluded: string[];
  /** Chunks written (to commit), chunks found already stored, and every chunk of the node. */
  rows: ChunkRow[];
  existing: Buffer[];
  allIds: () => Buffer[];
  /** The new tree's records, for the tree cache. */
  records: TreeRecords;
  /** Entries whose time on disk is not the manifest's (the cache sets them, as a restore would). */
  fixups: Array<{ abs: string; path: string; mtime: number }>;
  /** Files with set-id or sticky bits or more than one link (the cache makes them what a restore makes). */
  oddities: Array<{ abs: string; path: string; type: 'file' | 'dir'; mode: number; nlink: number }>;
  stats: SnapshotStats;
}

export function secretsFingerprint(store: ChunkStore, secrets: string[] | undefined): string {
  const set = [...new Set(secrets ?? [])].sort();
  if (set.length === 0) return '';
  return createHmac('sha256', store.keys.id).update(`swarm/v1/secrets-scanned\0${set.join('\0')}`).digest('hex');
}

export async function snapshotTree(input: SnapshotInput): Promise<Snapshot> {
  const { chunks, mtimeSec } = input;
  const started = Date.now();
  let dbStat: fs.Stats;
  try {
    dbStat = fs.lstatSync(input.stateDbPath);
  } catch (cause) {
    throw fsError('STATE_SNAPSHOT_SOURCE_INVALID', input.stateDbPath, cause);
  }
  if (!dbStat.isFile()) throw new SwarmError('STATE_SNAPSHOT_SOURCE_INVALID', `state DB ${input.stateDbPath} is not a regular file`);
  const limits: BundleLimits = { ...BUNDLE_LIMITS, ...input.limits };
  const workspace = walkWorkspace(input.workspaceDir, { maxEntries: limits.maxEntries, quiescent: input.quiescent, expectEntries: input.parent?.files.size });
  const home = input.homeDir
    ? walkWorkspace(input.homeDir, { maxEntries: limits.maxEntries - workspace.entries.length, prefix: HOME_PREFIX, exclude: input.homeExclude, quiescent: input.quiescent })
    : { entries: [], skipped: [], excluded: [] };
  const entries = [...workspace.entries, ...home.entries];
  const skipped = [...workspace.skipped, ...home.skipped];
  const total = entries.reduce((sum, entry) => sum + entry.size, dbStat.size);
  if (total > limits.maxBytes) throw tooLarge(total, limits);
  input.afterWalk?.();

  const scanner = input.secrets && input.secrets.length > 0 ? new SecretScanner(input.secrets) : null;
  const fp = secretsFingerprint(chunks, input.secrets);
  const parent = input.parent ?? null;
  // Unchanged files were scanned for the parent's secrets; other secrets need another look.
  const rescan = scanner !== null && (parent === null || parent.secretsFp !== fp);
  const reusable = (entry: WorkspaceEntry): FileRecord | undefined => {
    const rec = parent?.files.get(entry.path);
    return rec && rec.size === entry.size && rec.mtimeMs === entry.mtimeMs && rec.ctimeMs === entry.ctimeMs && rec.ino === entry.ino ? rec : undefined;
  };
  // Each file's parent record, looked up once (a lookup by path is a fair share of a big tree's snapshot).
  const parentRecords = new Array<FileRecord | undefined>(entries.length);
  let toRead = dbStat.size;
  for (let i = 0; i < entries.length; i += 1) {
    const entry = entries[i]!;
    if (entry.type !== 'file') continue;
    const rec = (parentRecords[i] = reusable(entry));
    if (rescan || !rec) toRead += entry.size;
  }

  for (const entry of [...skipped, ...home.excluded.map((p) => ({ path: p }))]) scanner?.checkText(entry.path, entry.path);
  const writer = chunks.writer(input.beforeAdopt);
  const stats: SnapshotStats = { entries: entries.length + 1, files_read: 0, files_reused: 0, bytes_read: 0, chunks_new: 0, bytes_new: 0, bytes_stored: 0 };
  const seen = new Set<string>();
  const existing: Buffer[] = [];
  const store = (plain: Buffer, sha: Buffer): ChunkRef => {
    const id = chunkId(chunks.keys, sha);
    const hex = id.toString('hex');
    if (!seen.has(hex) && !input.known?.has(hex)) {
      seen.add(hex);
      if (chunks.has(id)) existing.push(id);
      else writer.add(id, plain);
    }
    return [hex, plain.length];
  };
  const progress = (n: number) => {
    stats.bytes_read += n;
    input.onProgress?.(stats.bytes_read, toRead);
  };

  const records: TreeRecords = { secretsFp: fp, files: new Map() };
  const manifestEntries: BundleManifestEntry[] = [];
  const chunked: Array<[number, ChunkRef[]]> = [];
  const fixups: Snapshot['fixups'] = [];
  const oddities: Snapshot['oddities'] = [];
  try {
    const addFile = (name: string, abs: string, size: number, seenId: { dev: number; ino: number }, rec: FileRecord | undefined): { sha256: Digest; chunks: ChunkRef[] | null; stat: fs.Stats } => {
      const { fd, stat } = openWalkedFile(abs, size, seenId, true);
      try {
        const scan = scanner?.stream(name);
        const read = (buffer: Buffer, at: number): number => {
          try {
            return fs.readSync(fd, buffer, 0, buffer.length, at);
          } catch (cause) {
            throw fsError('IO_READ_FAILED', abs, cause);
          }
        };
        if (rec) {
          // Unchanged, read only to be scanned for this run's secrets.
          const block = Buffer.allocUnsafe(Math.min(READ_BLOCK, Math.max(1, size)));
          for (let offset = 0; offset < size; ) {
            const n = read(block.subarray(0, Math.min(block.length, size - offset)), offset);
            if (n === 0) throw changed(abs, 'shrank');
            scan?.update(block.subarray(0, n));
            offset += n;
            progress(n);
          }
          return { sha256: rec.sha256, chunks: rec.chunks, stat };
        }
        let result: { sha256: Digest; chunks: ChunkRef[] | null };
        if (size <= SINGLE_CHUNK_MAX) {
          const content = Buffer.allocUnsafe(size);
          for (let offset = 0; offset < size; ) {
            const n = read(content.subarray(offset), offset);
            if (n === 0) throw changed(abs, 'shrank');
            offset += n;
          }
          scan?.update(content);
          const sha = createHash('sha256').update(content).digest();
          if (size > 0) store(content, sha);
          progress(size);
          result = { sha256: `sha256:${sha.toString('hex')}`, chunks: null };
        } else {
          const hash = createHash('sha256');
          const refs: ChunkRef[] = [];
          const chunker = new Chunker((chunk) => refs.push(store(chunk, createHash('sha256').update(chunk).digest())));
          for (let offset = 0; offset < size; ) {
            const block = Buffer.allocUnsafe(Math.min(READ_BLOCK, size - offset));
            const n = read(block, offset);
            if (n === 0) throw changed(abs, 'shrank');
            const got = block.subarray(0, n);
            hash.update(got);
            scan?.update(got);
            chunker.push(got);
            offset += n;
            progress(n);
          }
          chunker.end();
          result = { sha256: `sha256:${hash.digest('hex')}`, chunks: refs };
        }
        if (fs.readSync(fd, Buffer.allocUnsafe(1), 0, 1, size) !== 0) throw changed(abs, 'grew');
        stats.files_read += 1;
        return { ...result, stat };
      } finally {
        fs.closeSync(fd);
      }
    };

    const record = (bundlePath: string, stat: fs.Stats, sha256: Digest, refs: ChunkRef[] | null) => {
      // Changed right before the snapshot: not trusted by stat next time (git's racy-clean rule).
      const racy = stat.ctimeMs >= started - RACY_MS || stat.mtimeMs >= started - RACY_MS;
      records.files.set(bundlePath, { size: stat.size, mtimeMs: racy ? -1 : stat.mtimeMs, ctimeMs: stat.ctimeMs, ino: stat.ino, sha256, chunks: refs });
    };

    for (let i = 0; i < entries.length; i += 1) {
      const entry = entries[i]!;
      scanner?.checkText(entry.path, entry.path);
      if (entry.target !== undefined) scanner?.checkText(entry.path, entry.target);
      const mtime = clampMtime(entry.mtimeMs, mtimeSec);
      // Times a restore would not give (the atime too: a step could carry data in it past the node).
      if (entry.mtimeMs !== mtime * 1000 || entry.atimeMs !== mtime * 1000) fixups.push({ abs: entry.abs, path: entry.path, mtime });
      if (entry.type === 'dir') {
        if (entry.perm !== entry.mode) oddities.push({ abs: entry.abs, path: entry.path, type: 'dir', mode: entry.mode, nlink: entry.nlink });
        manifestEntries.push({ path: entry.path, type: 'dir', mode: entry.mode, size: 0, mtime });
      } else if (entry.type === 'symlink') {
        manifestEntries.push({ path: entry.path, type: 'symlink', mode: entry.mode, size: 0, target: entry.target!, mtime });
      } else {
        if (entry.perm !== entry.mode || entry.nlink > 1) oddities.push({ abs: entry.abs, path: entry.path, type: 'file', mode: entry.mode, nlink: entry.nlink });
        const rec = parentRecords[i];
        let sha256: Digest;
        let refs: ChunkRef[] | null;
        if (rec && !rescan) {
          sha256 = rec.sha256;
          refs = rec.chunks;
          stats.files_reused += 1;
          records.files.set(entry.path, rec);
        } else {
          const got = addFile(entry.path, entry.abs, entry.size, entry, rec);
          sha256 = got.sha256;
          refs = got.chunks;
          if (rec) stats.files_reused += 1;
          record(entry.path, got.stat, sha256, refs);
        }
        if (refs && refs.length > 0) chunked.push([manifestEntries.length, refs]);
        manifestEntries.push({ path: entry.path, type: 'file', mode: entry.mode, size: entry.size, sha256, mtime });
      }
    }
    const dbMode = dbStat.mode & 0o777;
    const db = addFile(STATE_DB_ENTRY, input.stateDbPath, dbStat.size, dbStat, undefined);
    record(STATE_DB_ENTRY, db.stat, db.sha256, db.chunks);
    if (db.chunks) chunked.push([manifestEntries.length, db.chunks]);
    manifestEntries.push({ path: STATE_DB_ENTRY, type: 'file', mode: dbMode, size: dbStat.size, sha256: db.sha256, mtime: clampMtime(db.stat.mtimeMs, mtimeSec) });

    const manifest: BundleManifest = { schema_version: BUNDLE_MANIFEST_SCHEMA_VERSION, entries: manifestEntries };
    const encoded = encodeManifestPieces(manifest);
    if (encoded.bytes.length > limits.maxManifestBytes || total + encoded.bytes.length > limits.maxBytes) throw tooLarge(total + encoded.bytes.length, limits);
    const manifestRefs = encoded.pieces.map((piece) => store(piece, createHash('sha256').update(piece).digest()));
    const index: NodeIndex = {
      schema_version: 'swarm-node-index-v1',
      mtime_sec: mtimeSec,
      manifest: { sha256: encoded.sha256, size: encoded.bytes.length, chunks: manifestRefs },
      chunked,
    };
    const sealed = await sealNodeIndex(index, input.dataKey);
    writeDurably(input.outFile, sealed);
    const rows = writer.finish();
    stats.chunks_new = rows.length;
    stats.bytes_new = writer.plainBytes;
    stats.bytes_stored = writer.storedBytes;
    const allIds = () => {
      const listed = new Set(chunked.map(([i]) => i));
      const ids: Buffer[] = manifestRefs.map(([hex]) => Buffer.from(hex, 'hex'));
      manifestEntries.forEach((e, i) => {
        if (e.type === 'file' && e.size > 0 && !listed.has(i)) ids.push(chunkId(chunks.keys, Buffer.from(e.sha256!.slice(7), 'hex')));
      });
      for (const [, refs] of chunked) for (const [hex] of refs) ids.push(Buffer.from(hex, 'hex'));
      return ids;
    };
    return {
      bundleSha256: `sha256:${createHash('sha256').update(sealed).digest('hex')}`,
      size: sealed.length,
      manifest,
      manifestSha256: encoded.sha256,
      skipped: skipped.map((e) => e.path),
      skippedEntries: skipped,
      excluded: home.excluded,
      rows,
      existing,
      allIds,
      records,
      fixups,
      oddities,
      stats,
    };
  } catch (error) {
    writer.abort();
    if (isSwarmError(error)) throw error;
    throw new SwarmError('IO_WRITE_FAILED', `cannot store the snapshot: ${(error as Error).message}`, { cause: error });
  }
}

function writeDurably(file: string, bytes: Buffer): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = fs.openSync(tmp, 'wx', 0o644);
    try {
      for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    fsyncDir(dir);
  } catch (cause) {
    fs.rmSync(tmp, { force: true });
    throw fsError('IO_WRITE_FAILED', file, cause);
  }
}
