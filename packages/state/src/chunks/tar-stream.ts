/**
 * The deterministic tar of a chunked node, produced from its chunks: byte for byte what the tar
 * packer (bundle/pack.ts) writes for the same tree — the same headers, padding and order, the
 * manifest last with the run clock as its mtime. Sealed under the node's data key it is the
 * node's bundle for export and transport; unsealed it feeds the checked extractor on restores.
 */
import { createHash } from 'node:crypto';
import { SwarmError, sha256Digest } from '@swarm/core';
import '../engine-errors.js';
import { parseBundleManifest, type BundleManifest } from '../bundle/manifest.js';
import { MANIFEST_ENTRY } from '../bundle/paths.js';
import { TAR_END, encodeTarHeader, tarPadding } from '../bundle/tar-format.js';
import { fileChunks, type ChunkRef, type NodeIndex } from './node-index.js';
import type { ChunkReader } from './pack.js';
import type { ChunkKeys } from './keys.js';

/** The manifest a chunked node's index names, read from its chunks and checked against its digest. */
export function readIndexManifest(reader: ChunkReader, index: NodeIndex): { manifest: BundleManifest; bytes: Buffer } {
  const bytes = Buffer.concat(index.manifest.chunks.map(([hex]) => reader.get(Buffer.from(hex, 'hex'))));
  if (bytes.length !== index.manifest.size || sha256Digest(bytes) !== index.manifest.sha256) {
    throw new SwarmError('NODE_INDEX_INVALID', 'the manifest chunks do not give the manifest the index names', { details: { reason: 'manifest digest' } });
  }
  return { manifest: parseBundleManifest(bytes).manifest, bytes };
}

/** A file's content as its chunks, in order; the whole is checked against the manifest's digest. */
export function* fileContent(reader: ChunkReader, refs: ChunkRef[], expected: string, entryPath: string): Generator<Buffer> {
  const hash = refs.length > 1 ? createHash('sha256') : null;
  for (const [hex] of refs) {
    const chunk = reader.get(Buffer.from(hex, 'hex'));
    hash?.update(chunk);
    yield chunk;
  }
  if (hash && `sha256:${hash.digest('hex')}` !== expected) {
    throw new SwarmError('STORE_CHUNK_CORRUPT', `the chunks of ${entryPath} do not give the content its manifest records`, { details: { path: entryPath } });
  }
}

export function* nodeTarPieces(reader: ChunkReader, keys: ChunkKeys, index: NodeIndex, manifest: BundleManifest, manifestBytes: Buffer): Generator<Buffer> {
  const lists = new Map(index.chunked);
  for (const [i, entry] of manifest.entries.entries()) {
    const mtimeSec = entry.mtime ?? index.mtime_sec;
    if (entry.type === 'dir') {
      yield encodeTarHeader({ name: `${entry.path}/`, type: 'dir', mode: entry.mode, size: 0, mtimeSec });
    } else if (entry.type === 'symlink') {
      yield encodeTarHeader({ name: entry.path, type: 'symlink', mode: entry.mode, size: 0, mtimeSec, linkname: entry.target! });
    } else {
      yield encodeTarHeader({ name: entry.path, type: 'file', mode: entry.mode, size: entry.size, mtimeSec });
      yield* fileContent(reader, fileChunks(keys, entry, lists.get(i)), entry.sha256!, entry.path);
      yield tarPadding(entry.size);
    }
  }
  yield encodeTarHeader({ name: MANIFEST_ENTRY, type: 'file', mode: 0o644, size: manifestBytes.length, mtimeSec: index.mtime_sec });
  yield manifestBytes;
  yield tarPadding(manifestBytes.length);
  yield TAR_END;
}
