/**
 * A node's content, whatever its object holds: a chunked node's sealed index (what local runs
 * write) or a sealed tar bundle (older nodes, the root, and what remote workers send). Every
 * reader of node content — restore, export, inspect, diff, sessions — goes through here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { SwarmError, fsError, fsyncDir, openBoundedFile, type Digest } from '@swarm/core';
import '../engine-errors.js';
import { extractStateDb, extractTarStream, openSealedBundle, readBundleManifest, type RestoreLimits } from '../bundle/extract.js';
import type { BundleManifest } from '../bundle/manifest.js';
import { STATE_DB_ENTRY } from '../bundle/paths.js';
import { walkWorkspace } from '../bundle/walk.js';
import { BundleOpener, BundleSealer } from '../crypto/stream.js';
import type { NodeRow } from '../store/catalog.js';
import type { Store } from '../store/store.js';
import { fileChunks, isNodeIndex, parseNodeIndex, type NodeIndex } from './node-index.js';
import type { TreeRecords } from './snapshot.js';
import { fileContent, nodeTarPieces, readIndexManifest } from './tar-stream.js';
import { HOME_PREFIX } from '../bundle/paths.js';

/** Objects up to this size are read whole to tell an index from a tar bundle; larger ones are bundles. */
const MAX_INDEX_OBJECT = 32 * 1024 * 1024;

export type NodeObject = { kind: 'index'; index: NodeIndex; file: string } | { kind: 'bundle'; file: string };

export function nodeObjectDigest(node: Pick<NodeRow, 'bundle_sha256' | 'object_sha256'>): string {
  return node.object_sha256 ?? node.bundle_sha256;
}

/**
 * Opens the node's object far enough to say what it is; an index is checked against the digest.
 * Synchronous (an index is small), so gc can read new nodes inside a catalog transaction.
 */
export function openNodeObject(store: Store, node: NodeRow, dataKey: Buffer): NodeObject {
  const digest = nodeObjectDigest(node);
  const file = store.objects.file(digest);
  let size: number;
  try {
    size = fs.lstatSync(file).size;
  } catch (cause) {
    throw new SwarmError('STATE_BUNDLE_NOT_FOUND', `the object of node ${node.node_id} is missing`, { details: { node_id: node.node_id, object: digest }, cause });
  }
  if (size > MAX_INDEX_OBJECT) return { kind: 'bundle', file };
  let sealed: Buffer;
  try {
    const { fd } = openBoundedFile(file, { what: 'node object', maxBytes: MAX_INDEX_OBJECT, noFollow: true });
    try {
      sealed = fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (cause) {
    // Not a regular file, a link, unreadable: the object is not there as swarm wrote it.
    throw new SwarmError('STATE_BUNDLE_NOT_FOUND', `the object of node ${node.node_id} cannot be read: ${(cause as Error).message}`, { details: { node_id: node.node_id, object: digest }, cause });
  }
  const actual = `sha256:${createHash('sha256').update(sealed).digest('hex')}`;
  if (actual !== digest) {
    throw new SwarmError('STATE_BUNDLE_DIGEST_MISMATCH', `the object of node ${node.node_id} does not have the recorded digest`, { details: { path: file, expected: digest, actual } });
  }
  const opener = new BundleOpener(dataKey);
  const plain = Buffer.concat([...opener.update(sealed), ...opener.final()]);
  return isNodeIndex(plain) ? { kind: 'index', index: parseNodeIndex(plain), file } : { kind: 'bundle', file };
}

export interface RestoredNode {
  manifest: BundleManifest;
  workspaceDir: string;
  homeDir: string;
  stateDbPath: string;
  /** The restored files' records (chunked nodes only: their chunks are in this store). */
  records: TreeRecords | null;
}

/**
 * Restores a node into `destDir/workspace`, `destDir/home` and `destDir/state.db`, with every check
 * of the tar extractor; a chunked node's tar is produced from its chunks on the way.
 */
export async function restoreNodeInto(
  store: Store,
  node: NodeRow,
  dataKey: Buffer,
  destDir: string,
  options: { onProgress?: (bytes: number, total: number) => void; limits?: RestoreLimits; records?: boolean } = {},
): Promise<RestoredNode> {
  const object = openNodeObject(store, node, dataKey);
  if (object.kind === 'bundle') {
    const opened = await openSealedBundle({ file: object.file, dataKey, expectedSha256: nodeObjectDigest(node), destDir, onProgress: options.onProgress, limits: options.limits });
    // The bytes must be this node's (a worker's parent arrives as a tar whose digest is its own).
    if (opened.manifestSha256 !== node.manifest_sha256) {
      for (const p of [opened.workspaceDir, opened.homeDir, opened.stateDbPath]) fs.rmSync(p, { recursive: true, force: true });
      throw new SwarmError('STATE_BUNDLE_MANIFEST_MISMATCH', `the bundle of node ${node.node_id} holds another manifest than the node records`, {
        details: { node_id: node.node_id, expected: node.manifest_sha256, actual: opened.manifestSha256 },
      });
    }
    return { ...opened, records: null };
  }
  const reader = store.chunks.reader();
  try {
    const { manifest, bytes } = readIndexManifest(reader, object.index);
    if (object.index.manifest.sha256 !== node.manifest_sha256) {
      throw new SwarmError('STATE_BUNDLE_MANIFEST_MISMATCH', `the index of node ${node.node_id} names another manifest than the node records`, {
        details: { node_id: node.node_id, expected: node.manifest_sha256, actual: object.index.manifest.sha256 },
      });
    }
    const total = manifest.entries.reduce((sum, e) => sum + e.size, 0);
    let done = 0;
    const pieces = nodeTarPieces(reader, store.chunks.keys, object.index, manifest, bytes);
    const source = Readable.from(
      (function* () {
        for (const piece of pieces) {
          done += piece.length;
          options.onProgress?.(Math.min(done, total), total);
          yield piece;
        }
      })(),
      { objectMode: false, highWaterMark: 1024 * 1024 },
    );
    const opened = await extractTarStream({ source, destDir, limits: options.limits, what: `node ${node.node_id}` });
    return { ...opened, records: options.records === false ? null : recordsOf(object.index, manifest, opened) };
  } finally {
    reader.close();
  }
}

/** Records of a freshly restored tree: each file's stat now, with what the manifest says it holds. */
function recordsOf(index: NodeIndex, manifest: BundleManifest, opened: { workspaceDir: string; homeDir: string; stateDbPath: string }): TreeRecords {
  const lists = new Map(index.chunked);
  const byPath = new Map<string, { sha256: Digest; chunks: NodeIndex['chunked'][number][1] | null }>();
  manifest.entries.forEach((e, i) => {
    if (e.type === 'file') byPath.set(e.path, { sha256: e.sha256!, chunks: lists.get(i) ?? null });
  });
  const files: TreeRecords['files'] = new Map();
  // swarm's own tree, just extracted: nothing else writes it, so it is walked by path.
  const walked = [...walkWorkspace(opened.workspaceDir, { quiescent: true, expectEntries: manifest.entries.length }).entries, ...walkWorkspace(opened.homeDir, { prefix: HOME_PREFIX, quiescent: true }).entries];
  for (const entry of walked) {
    const known = entry.type === 'file' ? byPath.get(entry.path) : undefined;
    if (known) files.set(entry.path, { size: entry.size, mtimeMs: entry.mtimeMs, ctimeMs: entry.ctimeMs, ino: entry.ino, ...known });
  }
  return { secretsFp: '', files };
}

export async function readNodeManifest(store: Store, node: NodeRow, dataKey: Buffer): Promise<BundleManifest> {
  const object = openNodeObject(store, node, dataKey);
  if (object.kind === 'bundle') return readBundleManifest({ file: object.file, dataKey });
  const reader = store.chunks.reader();
  try {
    return readIndexManifest(reader, object.index).manifest;
  } finally {
    reader.close();
  }
}

/** Writes only the node's state DB to `outFile` (which must not exist). */
export async function extractNodeStateDb(store: Store, node: NodeRow, dataKey: Buffer, outFile: string): Promise<void> {
  const object = openNodeObject(store, node, dataKey);
  if (object.kind === 'bundle') return extractStateDb({ file: object.file, dataKey, expectedSha256: nodeObjectDigest(node), outFile });
  const reader = store.chunks.reader();
  try {
    const { manifest } = readIndexManifest(reader, object.index);
    const at = manifest.entries.findIndex((e) => e.path === STATE_DB_ENTRY);
    const entry = manifest.entries[at]!;
    const refs = fileChunks(store.chunks.keys, entry, new Map(object.index.chunked).get(at));
    const fd = fs.openSync(outFile, 'wx', 0o600);
    try {
      for (const chunk of fileContent(reader, refs, entry.sha256!, entry.path)) fs.writeSync(fd, chunk);
    } catch (error) {
      fs.rmSync(outFile, { force: true });
      throw error;
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    reader.close();
  }
}

export interface ExportedBundle {
  sha256: Digest;
  size: number;
  manifest_sha256: string;
}

/**
 * Writes the node's deterministic sealed tar bundle to `outFile` (refused when it exists): for a
 * chunked node produced from its chunks and sealed under its data key, byte-identical to the
 * bundle the tar packer would seal from the same tree; for a bundle node, its object.
 */
export async function exportNodeBundle(store: Store, node: NodeRow, dataKey: Buffer, outFile: string, onProgress?: (bytes: number, total: number) => void): Promise<ExportedBundle> {
  const object = openNodeObject(store, node, dataKey);
  const dir = path.dirname(path.resolve(outFile));
  const tmp = path.join(dir, `.${path.basename(outFile)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'wx', 0o600);
  } catch (cause) {
    throw fsError('IO_WRITE_FAILED', tmp, cause);
  }
  const hash = createHash('sha256');
  let size = 0;
  const write = (bytes: Buffer) => {
    hash.update(bytes);
    size += bytes.length;
    for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done);
  };
  try {
    if (object.kind === 'bundle') {
      const total = fs.statSync(object.file).size;
      const input = fs.openSync(object.file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        const block = Buffer.allocUnsafe(1024 * 1024);
        for (let n; (n = fs.readSync(input, block)) > 0; ) {
          write(block.subarray(0, n));
          onProgress?.(size, total);
        }
      } finally {
        fs.closeSync(input);
      }
      if (`sha256:${hash.copy().digest('hex')}` !== nodeObjectDigest(node)) throw new SwarmError('STATE_BUNDLE_DIGEST_MISMATCH', `the object of node ${node.node_id} does not have the recorded digest`);
    } else {
      const reader = store.chunks.reader();
      try {
        const { manifest, bytes } = readIndexManifest(reader, object.index);
        const total = manifest.entries.reduce((sum, e) => sum + e.size, 0);
        let plain = 0;
        const sealer = new BundleSealer(dataKey);
        for (const piece of nodeTarPieces(reader, store.chunks.keys, object.index, manifest, bytes)) {
          for (const sealed of sealer.update(piece)) write(sealed);
          plain += piece.length;
          onProgress?.(Math.min(plain, total), total);
        }
        for (const sealed of sealer.final()) write(sealed);
      } finally {
        reader.close();
      }
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    try {
      fs.linkSync(tmp, outFile);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'EEXIST') throw new SwarmError('BUNDLE_TARGET_EXISTS', `${outFile} already exists`, { details: { path: outFile } });
      throw fsError('IO_WRITE_FAILED', outFile, cause);
    }
    fsyncDir(dir);
    return { sha256: `sha256:${hash.digest('hex')}`, size, manifest_sha256: node.manifest_sha256 };
  } finally {
    if (fd >= 0) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
  }
}
