/**
 * Garbage collection of the chunk store: mark every chunk a committed node's index names, remove
 * the rows of the rest (bumping the gc epoch, which makes a run that was already going check its
 * chunks again at its commit), delete packs nothing lives in, and rewrite packs that are mostly
 * dead. Packs a live run is about to commit (`pack:<name>` in its pending file) are never touched.
 * It sweeps only when no run is live; otherwise it reports and leaves the chunks for a later gc.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fsyncDir } from '@swarm/core';
import type { Store } from '../store/store.js';
import { chunkIdOfDigest } from './keys.js';
import { openNodeObject } from './node-content.js';
import type { NodeRow } from '../store/catalog.js';
import type { ChunkReader } from './pack.js';
import { PACK_SUFFIX, packFile, type ChunkRow } from './pack.js';
import { readIndexManifest } from './tar-stream.js';

/** A pack is rewritten when less than this share of its bytes is still used. */
const REPACK_BELOW = 0.5;

export interface ChunkGcResult {
  swept: boolean;
  /** Why the chunks were left alone. */
  skipped_reason: string | null;
  removed_chunks: number;
  removed_packs: number;
  repacked_packs: number;
  bytes_freed: number;
}

export interface StorageStats {
  nodes: number;
  /** Nodes stored as sealed tar bundles (older nodes, the root, remote runs). */
  bundle_nodes: number;
  /** Bytes of content the nodes hold, counted once per node. */
  logical_bytes: number;
  /** Plaintext bytes of the distinct chunks stored. */
  unique_bytes: number;
  /** Bytes on disk: packs, node objects. */
  stored_bytes: number;
  pack_bytes: number;
  object_bytes: number;
  chunks: number;
  packs: number;
  /** logical / stored. */
  dedup_ratio: number | null;
  cache: { trees: number; bytes: number };
}

interface Marks {
  live: Set<string>;
  logical: number;
  bundleNodes: number;
  nodes: Set<string>;
  /** Indexes already marked (a fork shares its parent's). */
  indexes: Set<string>;
}

/** Marks the chunks of `nodes` into `marks`; a message when one cannot be read (then nothing may be swept). */
function markNodes(store: Store, reader: ChunkReader, nodes: NodeRow[], marks: Marks): string | null {
  for (const node of nodes) {
    if (marks.nodes.has(node.node_id)) continue;
    marks.nodes.add(node.node_id);
    let object;
    try {
      const keys = store.keys.chainKeys(node);
      object = openNodeObject(store, node, store.keys.dataKey(node, keys.state));
    } catch (error) {
      return `node ${node.node_id} cannot be read (${(error as Error).message})`;
    }
    if (object.kind === 'bundle') {
      marks.bundleNodes += 1;
      continue;
    }
    let manifest;
    try {
      manifest = readIndexManifest(reader, object.index).manifest;
    } catch (error) {
      return `the manifest of node ${node.node_id} cannot be read (${(error as Error).message})`;
    }
    for (const e of manifest.entries) marks.logical += e.size;
    if (marks.indexes.has(node.bundle_sha256)) continue;
    marks.indexes.add(node.bundle_sha256);
    for (const [hex] of object.index.manifest.chunks) marks.live.add(hex);
    const lists = new Map(object.index.chunked);
    manifest.entries.forEach((e, i) => {
      if (e.type !== 'file' || e.size === 0) return;
      const listed = lists.get(i);
      if (listed) for (const [hex] of listed) marks.live.add(hex);
      else marks.live.add(chunkIdOfDigest(store.chunks.keys, e.sha256!).toString('hex'));
    });
  }
  return null;
}

/** Every chunk id (hex) committed nodes refer to, and what they hold; an error when a node cannot be read. */
export function markChunks(store: Store): Marks | { error: string } {
  const marks: Marks = { live: new Set(), logical: 0, bundleNodes: 0, nodes: new Set(), indexes: new Set() };
  const reader = store.chunks.reader();
  try {
    const error = markNodes(store, reader, store.catalog.listNodes(), marks);
    return error ? { error } : marks;
  } finally {
    reader.close();
  }
}

export async function collectChunks(store: Store, options: { dryRun: boolean; liveRuns: number; pending: () => Set<string> }): Promise<ChunkGcResult> {
  const result: ChunkGcResult = { swept: false, skipped_reason: null, removed_chunks: 0, removed_packs: 0, repacked_packs: 0, bytes_freed: 0 };
  if (options.liveRuns > 0) {
    result.skipped_reason = `${options.liveRuns} run(s) in progress`;
    return result;
  }
  // One sweeper at a time: two could each delete the pack the other is moving chunks into.
  const lock = takeGcLock(store);
  if (!lock) {
    result.skipped_reason = 'another gc is sweeping this store';
    return result;
  }
  try {
    return sweep(store, options, result);
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/** `.swarm/gc.lock` holding this process's pid; a lock whose process is gone is taken over. */
function takeGcLock(store: Store): string | null {
  const file = path.join(store.paths.root, 'gc.lock');
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return file;
    } catch {
      let holder: number;
      try {
        holder = Number(fs.readFileSync(file, 'utf8').trim());
      } catch {
        continue;
      }
      let alive = false;
      try {
        process.kill(holder, 0);
        alive = Number.isSafeInteger(holder) && holder > 1;
      } catch {
        alive = false;
      }
      if (alive) return null;
      fs.rmSync(file, { force: true });
    }
  }
  return null;
}

function sweep(store: Store, options: { dryRun: boolean; pending: () => Set<string> }, result: ChunkGcResult): ChunkGcResult {
  // Packs on disk and chunk rows before the nodes are read: what is stored later is no candidate.
  const onDisk = listPacks(store);
  const pending = options.pending();
  let rows = store.catalog.db.prepare('SELECT id, pack, offset, length, size FROM chunks').all() as ChunkRow[];
  const marked = markChunks(store);
  if ('error' in marked) {
    result.skipped_reason = marked.error;
    return result;
  }
  // The sweep, in one write transaction: nodes committed since the marking are marked first, so no
  // commit can slip between the mark and the delete.
  const reader = store.chunks.reader();
  let dead: ChunkRow[] = [];
  try {
    store.catalog.write(() => {
      const error = markNodes(store, reader, store.catalog.listNodes(), marked);
      if (error) throw new Error(error);
      dead = rows.filter((r) => !marked.live.has(r.id.toString('hex')));
      if (options.dryRun || dead.length === 0) return;
      const del = store.catalog.db.prepare('DELETE FROM chunks WHERE id = ?');
      for (const r of dead) del.run(r.id);
      store.catalog.setMeta('chunk_gc_epoch', String(store.catalog.chunkEpoch() + 1));
    });
  } catch (error) {
    result.skipped_reason = (error as Error).message;
    return result;
  } finally {
    reader.close();
  }
  // Rows written after the listing are live by construction; the pack accounting reads them again.
  rows = store.catalog.db.prepare('SELECT id, pack, offset, length, size FROM chunks').all() as ChunkRow[];
  const deadIds = new Set(dead.map((r) => r.id.toString('hex')));
  const byPack = new Map<string, { live: ChunkRow[]; deadBytes: number }>();
  for (const r of rows) {
    const p = byPack.get(r.pack) ?? { live: [], deadBytes: 0 };
    if (!deadIds.has(r.id.toString('hex'))) p.live.push(r);
    else p.deadBytes += r.length;
    byPack.set(r.pack, p);
  }
  result.removed_chunks = dead.length;
  result.swept = true;
  for (const [pack, size] of onDisk) {
    if (pending.has(`pack:${pack}`)) continue;
    const usage = byPack.get(pack);
    if (!usage || usage.live.length === 0) {
      result.removed_packs += 1;
      result.bytes_freed += size;
      if (!options.dryRun) fs.rmSync(packFile(store.paths.packs, pack), { force: true });
      continue;
    }
    const liveBytes = usage.live.reduce((sum, r) => sum + r.length, 0);
    if (liveBytes < size * REPACK_BELOW) {
      if (!options.dryRun) {
        try {
          repack(store, pack, usage.live);
        } catch (error) {
          result.skipped_reason = `pack ${pack} was left as it is: ${(error as Error).message}`;
          continue;
        }
      }
      result.repacked_packs += 1;
      result.bytes_freed += size - liveBytes;
    }
  }
  return result;
}

/** Copies a pack's live chunks (sealed bytes as they are) into a new pack, moves their rows, deletes the old. */
function repack(store: Store, pack: string, live: ChunkRow[]): void {
  const name = randomBytes(16).toString('hex');
  const tmp = path.join(store.paths.tmp, `pack-${process.pid}-${name}`);
  const from = fs.openSync(packFile(store.paths.packs, pack), 'r');
  const to = fs.openSync(tmp, 'wx', 0o600);
  const moved: ChunkRow[] = [];
  try {
    let offset = 0;
    for (const r of live) {
      const bytes = Buffer.alloc(r.length);
      for (let done = 0; done < r.length; ) {
        const n = fs.readSync(from, bytes, done, r.length - done, r.offset + done);
        if (n === 0) throw new Error(`pack ${pack} is truncated`);
        done += n;
      }
      // Only a chunk that opens is moved: a damaged pack is left as it is, for the operator to see.
      store.chunks.codec.open(r.id, bytes);
      for (let done = 0; done < bytes.length; ) done += fs.writeSync(to, bytes, done);
      moved.push({ ...r, pack: name, offset });
      offset += r.length;
    }
    fs.fsyncSync(to);
    if (fs.fstatSync(to).size !== offset) throw new Error(`pack ${name} was not written whole`);
  } catch (error) {
    fs.closeSync(from);
    fs.closeSync(to);
    fs.rmSync(tmp, { force: true });
    throw error;
  }
  fs.closeSync(from);
  fs.closeSync(to);
  fs.renameSync(tmp, packFile(store.paths.packs, name));
  fsyncDir(store.paths.packs);
  store.catalog.write(() => {
    const upd = store.catalog.db.prepare('UPDATE chunks SET pack = @pack, offset = @offset WHERE id = @id');
    for (const r of moved) upd.run(r);
  });
  fs.rmSync(packFile(store.paths.packs, pack), { force: true });
}

function listPacks(store: Store): Map<string, number> {
  const out = new Map<string, number>();
  let names: string[];
  try {
    names = fs.readdirSync(store.paths.packs);
  } catch {
    return out;
  }
  for (const n of names) {
    if (!n.endsWith(PACK_SUFFIX)) continue;
    try {
      out.set(n.slice(0, -PACK_SUFFIX.length), fs.statSync(path.join(store.paths.packs, n)).size);
    } catch {
      // removed meanwhile
    }
  }
  return out;
}

export async function storageStats(store: Store, cache: { trees: number; bytes: number }): Promise<StorageStats> {
  const marked = markChunks(store);
  const agg = store.catalog.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS plain FROM chunks').get() as { n: number; plain: number };
  const packs = listPacks(store);
  const packBytes = [...packs.values()].reduce((a, b) => a + b, 0);
  let objectBytes = 0;
  const root = path.join(store.paths.objects, 'sha256');
  for (const prefix of fs.existsSync(root) ? fs.readdirSync(root) : []) {
    for (const rest of fs.readdirSync(path.join(root, prefix))) objectBytes += fs.statSync(path.join(root, prefix, rest)).size;
  }
  const logical = 'error' in marked ? 0 : marked.logical;
  const stored = packBytes + objectBytes;
  return {
    nodes: store.catalog.listNodes().length,
    bundle_nodes: 'error' in marked ? 0 : marked.bundleNodes,
    logical_bytes: logical,
    unique_bytes: agg.plain,
    stored_bytes: stored,
    pack_bytes: packBytes,
    object_bytes: objectBytes,
    chunks: agg.n,
    packs: packs.size,
    dedup_ratio: stored > 0 && logical > 0 ? Math.round((logical / stored) * 100) / 100 : null,
    cache,
  };
}
