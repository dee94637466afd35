/**
 * A chunked node's own object: its sealed index. The plaintext is a magic line and canonical JSON
 * naming the manifest's chunks (the manifest itself, split at entry boundaries so consecutive
 * nodes share all but the pieces that changed) and the chunks of every file stored as more than
 * one. A file of one chunk needs no list: its id is the keyed hash of the digest the manifest
 * records. The index is sealed under the node's data key, so only its state capability tells which
 * chunks make the node, and `bundle_sha256` is the digest of exactly these sealed bytes.
 */
import { SwarmError, canonicalBytes, isSwarmDigest, sha256Digest, type Digest } from '@swarm/core';
import '../engine-errors.js';
import { BUNDLE_MANIFEST_SCHEMA_VERSION, type BundleManifest, type BundleManifestEntry } from '../bundle/manifest.js';
import { openBytes, sealBytes } from '../crypto/stream.js';
import { chunkId, chunkIdOfDigest, type ChunkKeys } from './keys.js';
import { createHash } from 'node:crypto';

export const NODE_INDEX_MAGIC = 'SWARMINDEX1\n';
export const NODE_INDEX_SCHEMA_VERSION = 'swarm-node-index-v1';

/** A chunk as a file or the manifest lists it: id (hex) and plaintext bytes. */
export type ChunkRef = [string, number];

export interface NodeIndex {
  schema_version: typeof NODE_INDEX_SCHEMA_VERSION;
  /** The run clock the bundle was made with: the manifest entry's mtime in the exported tar. */
  mtime_sec: number;
  manifest: { sha256: Digest; size: number; chunks: ChunkRef[] };
  /** Files of more than one chunk: [manifest entry index, chunks]. */
  chunked: Array<[number, ChunkRef[]]>;
}

function invalid(reason: string): SwarmError {
  return new SwarmError('NODE_INDEX_INVALID', `the node index is invalid: ${reason}`, { details: { reason } });
}

export async function sealNodeIndex(index: NodeIndex, dataKey: Buffer): Promise<Buffer> {
  return sealBytes(dataKey, Buffer.concat([Buffer.from(NODE_INDEX_MAGIC), canonicalBytes(index)]));
}

/** Whether opened plaintext is an index (a tar bundle starts with a tar header instead). */
export function isNodeIndex(plain: Buffer): boolean {
  return plain.subarray(0, NODE_INDEX_MAGIC.length).toString('latin1') === NODE_INDEX_MAGIC;
}

export function parseNodeIndex(plain: Buffer): NodeIndex {
  if (!isNodeIndex(plain)) throw invalid('no index magic');
  let value: unknown;
  try {
    value = JSON.parse(plain.subarray(NODE_INDEX_MAGIC.length).toString('utf8'));
  } catch {
    throw invalid('not JSON');
  }
  const v = value as NodeIndex;
  const ref = (r: unknown) => Array.isArray(r) && r.length === 2 && typeof r[0] === 'string' && /^[0-9a-f]{64}$/.test(r[0]) && Number.isSafeInteger(r[1]) && (r[1] as number) >= 0;
  if (typeof v !== 'object' || v === null || v.schema_version !== NODE_INDEX_SCHEMA_VERSION) throw invalid('unknown schema_version');
  if (!Number.isSafeInteger(v.mtime_sec) || v.mtime_sec < 0) throw invalid('bad mtime_sec');
  if (!v.manifest || !isSwarmDigest(v.manifest.sha256) || !Number.isSafeInteger(v.manifest.size) || !Array.isArray(v.manifest.chunks) || !v.manifest.chunks.every(ref)) {
    throw invalid('bad manifest reference');
  }
  if (!Array.isArray(v.chunked) || !v.chunked.every((c) => Array.isArray(c) && c.length === 2 && Number.isSafeInteger(c[0]) && Array.isArray(c[1]) && c[1].every(ref))) {
    throw invalid('bad chunk lists');
  }
  return v;
}

export async function openNodeIndex(sealed: Buffer, dataKey: Buffer): Promise<NodeIndex | null> {
  const plain = await openBytes(dataKey, sealed);
  return isNodeIndex(plain) ? parseNodeIndex(plain) : null;
}

/** The chunks of a manifest entry that is a file: its list, or the one chunk its digest names. */
export function fileChunks(keys: ChunkKeys, entry: BundleManifestEntry, listed: ChunkRef[] | undefined): ChunkRef[] {
  if (listed) return listed;
  if (entry.size === 0) return [];
  return [[chunkIdOfDigest(keys, entry.sha256!).toString('hex'), entry.size]];
}

// ---------------------------------------------------------------------------------------------
// The manifest, in canonical bytes, split into pieces at entry boundaries.

const PIECE_MASK = 63;
const PIECE_MAX_ENTRIES = 512;

/** Canonical JSON of one manifest entry (keys in sorted order), the bytes canonicalize() gives. */
export function canonicalEntry(e: BundleManifestEntry): string {
  let s = `{"mode":${e.mode}`;
  if (e.mtime !== undefined) s += `,"mtime":${e.mtime}`;
  s += `,"path":${JSON.stringify(e.path)}`;
  if (e.sha256 !== undefined) s += `,"sha256":${JSON.stringify(e.sha256)}`;
  s += `,"size":${e.size}`;
  if (e.target !== undefined) s += `,"target":${JSON.stringify(e.target)}`;
  return `${s},"type":${JSON.stringify(e.type)}}`;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export interface EncodedManifest {
  bytes: Buffer;
  sha256: Digest;
  pieces: Buffer[];
}

/** The canonical manifest bytes (exactly encodeBundleManifest's) and their pieces. */
export function encodeManifestPieces(manifest: BundleManifest): EncodedManifest {
  // Each piece's strings joined once (a flat string converts to bytes at memcpy speed).
  const pieces: Buffer[] = [];
  let current: string[] = ['{"entries":['];
  const { entries } = manifest;
  for (let i = 0; i < entries.length; i += 1) {
    const entry = entries[i]!;
    current.push(canonicalEntry(entry));
    if (i + 1 < entries.length) current.push(',');
    if ((fnv1a(entry.path) & PIECE_MASK) === 0 || current.length >= 2 * PIECE_MAX_ENTRIES) {
      pieces.push(Buffer.from(current.join(''), 'utf8'));
      current = [];
    }
  }
  current.push(`],"schema_version":${JSON.stringify(manifest.schema_version ?? BUNDLE_MANIFEST_SCHEMA_VERSION)}}`);
  pieces.push(Buffer.from(current.join(''), 'utf8'));
  const bytes = Buffer.concat(pieces);
  return { bytes, sha256: sha256Digest(bytes), pieces };
}

/** Id and size of a piece of plaintext stored as one chunk. */
export function refOf(keys: ChunkKeys, plain: Buffer): { id: Buffer; ref: ChunkRef } {
  const id = chunkId(keys, createHash('sha256').update(plain).digest());
  return { id, ref: [id.toString('hex'), plain.length] };
}
