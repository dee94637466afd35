/**
 * The tree cache `.swarm/cache/` (0700): the materialized trees of the most recent nodes, so a run
 * from one of them starts without unpacking anything. A run *claims* its parent's tree by renaming
 * it out of the cache into its own directory — atomically, so of two runs from one node only one
 * gets it, the other restores from chunks — and the step then works on a tree no other node's
 * cache shares: nothing the step does (write, truncate, rename, chmod, link) can reach a cached
 * tree. After the commit, the run's tree becomes the new node's cached tree, made first into what
 * a restore from chunks would give: entries the node does not hold removed (credential files,
 * special files, unsafe links), times and modes set to the manifest's, hard links broken.
 * Plaintext on disk is the trade-off (like a git checkout); `SWARM_TREE_CACHE=off` turns it off.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fsyncDir } from '@swarm/core';
import type { RunPaths } from '../engine/run-paths.js';
import type { StorePaths } from '../store/paths.js';
import { removeTree } from '../run/remove-tree.js';
import { decodeRecords, encodeRecords } from './records-file.js';
import type { Snapshot, TreeRecords } from './snapshot.js';

const RECORDS_FILE = 'records.bin';
const DEFAULT_TREES = 2;

/** How many trees the cache keeps (0: off), from SWARM_TREE_CACHE (`off`, `0`, or a count). */
export function treeCacheSize(env: NodeJS.ProcessEnv): number {
  const value = (env.SWARM_TREE_CACHE ?? '').trim().toLowerCase();
  if (value === '') return DEFAULT_TREES;
  if (value === 'off' || value === 'false' || value === 'no') return 0;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? Math.min(n, 64) : DEFAULT_TREES;
}

function entryDir(paths: StorePaths, objectDigest: string): string {
  return path.join(paths.cache, objectDigest.replace(/^sha256:/, ''));
}

/**
 * Takes the cached tree of `objectDigest` into the run directory (workspace, home, state DB) and
 * returns its records; null when the cache has no such tree (or someone else took it first).
 */
export function claimTree(paths: StorePaths, objectDigest: string, run: RunPaths): TreeRecords | null {
  const claimed = path.join(run.dir, '.claimed-tree');
  try {
    fs.renameSync(entryDir(paths, objectDigest), claimed);
  } catch {
    return null;
  }
  try {
    const records = decodeRecords(fs.readFileSync(path.join(claimed, RECORDS_FILE)), objectDigest);
    fs.renameSync(path.join(claimed, 'workspace'), run.workspaceDir);
    fs.renameSync(path.join(claimed, 'home'), run.homeDir);
    fs.mkdirSync(run.stateDir, { mode: 0o700 });
    fs.renameSync(path.join(claimed, 'state.db'), run.stateDbPath);
    removeEmptied(claimed);
    return records;
  } catch {
    // Not a whole cache entry: nothing of it is used.
    for (const p of [claimed, run.workspaceDir, run.homeDir, run.stateDir]) fs.rmSync(p, { recursive: true, force: true });
    return null;
  }
}

/** A claimed entry once its trees are moved out: its records file alone, unless someone added more. */
function removeEmptied(dir: string): void {
  try {
    fs.unlinkSync(path.join(dir, RECORDS_FILE));
    fs.rmdirSync(dir);
  } catch {
    removeTree(dir);
  }
}

/** Where a bundle path lives in a run directory. */
function absOf(run: RunPaths, bundlePath: string): string | null {
  if (bundlePath.startsWith('workspace/')) return path.join(run.workspaceDir, bundlePath.slice('workspace/'.length));
  if (bundlePath.startsWith('home/')) return path.join(run.homeDir, bundlePath.slice('home/'.length));
  return null;
}

/**
 * Makes the run's tree the cached tree of the node it was sealed as, then keeps only the newest
 * `keep` trees. Whatever fails here only costs the next run a restore from chunks.
 */
export function publishTree(paths: StorePaths, objectDigest: string, run: RunPaths, snapshot: Snapshot, keep: number): boolean {
  if (keep <= 0) return false;
  // A name that is not UTF-8 cannot be named back from its (lossy) bundle path to be removed: such
  // a tree is not cached at all.
  if (snapshot.skippedEntries.some((e) => e.reason === 'name-not-utf8')) return false;
  // The snapshot's own records (nothing reads them after this): the few the fix-ups move are updated in place.
  const records = snapshot.records.files;
  // The manifest's times, looked up only when something has to be put right.
  let times_: Map<string, number> | undefined;
  const manifestTimes = {
    get: (p: string): number | undefined => {
      times_ ??= new Map(snapshot.manifest.entries.map((e) => [e.path, e.mtime ?? 0]));
      return times_.get(p);
    },
  };
  const touched = new Set<string>();
  const parentOf = (bundlePath: string) => bundlePath.slice(0, Math.max(0, bundlePath.lastIndexOf('/')));
  // What the node does not hold does not stay: credentials, special files, links that escape.
  for (const p of [...snapshot.skipped, ...snapshot.excluded]) {
    const abs = absOf(run, p);
    if (!abs) continue;
    fs.rmSync(abs, { recursive: true, force: true });
    if (fs.lstatSync(abs, { throwIfNoEntry: false })) throw new Error(`${p} could not be removed`);
    touched.add(parentOf(p));
  }
  // The roots have no entry of their own: what a restore makes them.
  fs.chmodSync(run.workspaceDir, 0o700);
  fs.chmodSync(run.homeDir, 0o700);
  for (const odd of snapshot.oddities) {
    if (odd.type === 'file' && odd.nlink > 1) {
      // A link shared with another path (maybe outside the tree) must not let anyone write into the cache.
      const copy = path.join(path.dirname(odd.abs), `.swarm-unlink-${randomBytes(6).toString('hex')}`);
      fs.copyFileSync(odd.abs, copy);
      fs.renameSync(copy, odd.abs);
      touched.add(parentOf(odd.path));
    }
    fs.chmodSync(odd.abs, odd.mode);
  }
  const times: Array<{ abs: string; path: string; mtime: number }> = [...snapshot.fixups];
  for (const odd of snapshot.oddities) if (odd.type === 'file') times.push({ abs: odd.abs, path: odd.path, mtime: manifestTimes.get(odd.path) ?? 0 });
  for (const dir of touched) {
    const abs = absOf(run, dir) ?? (dir === 'workspace' ? run.workspaceDir : dir === 'home' ? run.homeDir : null);
    const mtime = manifestTimes.get(dir);
    if (abs && mtime !== undefined) times.push({ abs, path: dir, mtime });
  }
  // Deepest first, so setting a file's time does not move its directory's again.
  times.sort((a, b) => b.abs.length - a.abs.length);
  for (const { abs, mtime } of times) fs.lutimesSync(abs, mtime, mtime);
  // Those files' ctimes moved (and a broken link made a new inode); their records follow. A racy
  // record stays racy: it is read again next time whatever its stat.
  for (const { abs, path: p } of times) {
    const rec = records.get(p);
    if (!rec || rec.mtimeMs === -1) continue;
    const st = fs.lstatSync(abs);
    records.set(p, { ...rec, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino });
  }

  fs.mkdirSync(paths.cache, { recursive: true, mode: 0o700 });
  fs.chmodSync(paths.cache, 0o700);
  const staging = path.join(paths.cache, `.staging-${process.pid}-${randomBytes(6).toString('hex')}`);
  fs.mkdirSync(staging, { mode: 0o700 });
  try {
    fs.writeFileSync(path.join(staging, RECORDS_FILE), encodeRecords(objectDigest, { secretsFp: snapshot.records.secretsFp, files: records }), { mode: 0o600 });
    fs.renameSync(run.workspaceDir, path.join(staging, 'workspace'));
    fs.renameSync(run.homeDir, path.join(staging, 'home'));
    fs.renameSync(run.stateDbPath, path.join(staging, 'state.db'));
    // The entry appears whole or not at all.
    fs.renameSync(staging, entryDir(paths, objectDigest));
  } catch {
    // The same node's tree is cached already (a fork's run, say), or a step failed: the copy goes.
    removeTree(staging);
    return false;
  }
  fsyncDir(paths.cache);
  evict(paths, keep);
  return true;
}

/** Keeps the `keep` most recently published trees; removes the rest and stale staging directories. */
export function evict(paths: StorePaths, keep: number): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(paths.cache);
  } catch {
    return [];
  }
  const removed: string[] = [];
  const trees = names
    .filter((n) => /^[0-9a-f]{64}$/.test(n))
    .map((n) => ({ n, t: fs.lstatSync(path.join(paths.cache, n)).ctimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { n } of trees.slice(keep)) {
    const gone = path.join(paths.cache, `.evict-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      fs.renameSync(path.join(paths.cache, n), gone);
    } catch {
      continue;
    }
    removeTree(gone);
    removed.push(`sha256:${n}`);
  }
  return removed;
}

/**
 * Removes the cached trees of nodes the catalog no longer holds (a removed run's plaintext must
 * not outlive it), and stale staging left by a killed process; returns the bytes freed.
 */
export function dropOrphanTrees(paths: StorePaths, referenced: () => Set<string>, live: (pid: number) => boolean, dryRun = false): number {
  let freed = 0;
  let names: string[];
  try {
    names = fs.readdirSync(paths.cache);
  } catch {
    return 0;
  }
  // Read after the listing: a tree published meanwhile belongs to a node committed before it.
  const known = referenced();
  for (const n of names) {
    const owner = /^\.(?:staging|evict)-(\d+)-/.exec(n);
    const orphan = /^[0-9a-f]{64}$/.test(n) ? !known.has(`sha256:${n}`) : owner !== null && !live(Number(owner[1]));
    if (!orphan) continue;
    let target = path.join(paths.cache, n);
    freed += treeBytes(target);
    if (dryRun) continue;
    if (owner === null) {
      // Out of the claimable names first, so no run takes a tree half removed.
      const gone = path.join(paths.cache, `.evict-${process.pid}-${randomBytes(4).toString('hex')}`);
      try {
        fs.renameSync(target, gone);
      } catch {
        continue;
      }
      target = gone;
    }
    removeTree(target);
  }
  return freed;
}

function treeBytes(dir: string): number {
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else bytes += fs.lstatSync(p).blocks * 512;
    }
  };
  try {
    walk(dir);
  } catch {
    // removed meanwhile
  }
  return bytes;
}

/** Cached trees and their bytes on disk (for `gc --stats`). */
export function cacheUsage(paths: StorePaths): { trees: number; bytes: number } {
  let trees = 0;
  let bytes = 0;
  try {
    for (const n of fs.readdirSync(paths.cache)) {
      if (!/^[0-9a-f]{64}$/.test(n)) continue;
      trees += 1;
      bytes += treeBytes(path.join(paths.cache, n));
    }
  } catch {
    // no cache
  }
  return { trees, bytes };
}
