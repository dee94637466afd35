/**
 * Walks a workspace without following symlinks and lists what a bundle will hold, sorted by path
 * bytes. Sockets, fifos and devices, names that are not UTF-8, paths too long for the bundle or for
 * this file system, and symlinks that restore would refuse (absolute, or resolving outside the
 * workspace) are left out and reported. Each directory is opened without following a link and
 * checked to be the directory its parent listed (device and inode) before its entries are read; on
 * Linux the entries are read and examined through that open descriptor, so a directory swapped for
 * a symlink while the walk runs is never read through. Every entry keeps its device and inode, so
 * the packer can refuse a file that is not the one the walk saw.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, fsError } from '@swarm/core';
import '../errors.js';
import { BUNDLE_LIMITS, FIXED_ENTRIES, MAX_PACKED_PATH_BYTES } from './limits.js';
import { WORKSPACE_PREFIX, relativePathProblem, symlinkEscapesTree } from './paths.js';
import type { BundleEntryType } from './manifest.js';

export interface WorkspaceEntry {
  /** `<prefix><rel>`: `workspace/<rel>` or `home/<rel>` */
  path: string;
  rel: string;
  abs: string;
  type: BundleEntryType;
  mode: number;
  size: number;
  target?: string;
  /** lstat's mtime (ms); the packer clamps it to the run clock. */
  mtimeMs: number;
  /** lstat's ctime (ms), link count and mode bits with set-id and sticky: what change detection and the tree cache compare. */
  ctimeMs: number;
  /** lstat's atime (ms): a restore sets it to the mtime, so a cached tree must too. */
  atimeMs: number;
  nlink: number;
  perm: number;
  /** Identity of what the walk saw; the packer opens only this. */
  dev: number;
  ino: number;
}

export interface SkippedEntry {
  path: string;
  reason: 'special-file' | 'unsafe-symlink' | 'name-not-utf8' | 'path-too-long';
}

export interface WalkOptions {
  /** Largest number of tar entries the bundle may hold (workspace entries plus state.db and manifest). */
  maxEntries?: number;
  /** The tree's prefix in the bundle (default `workspace/`). */
  prefix?: string;
  /** Entries left out on purpose (not reported as skipped): true for a relative path never to carry. */
  exclude?: (rel: string, type: 'dir' | 'file' | 'symlink' | 'other') => boolean;
  /**
   * Nothing can change the tree while it is walked (the step's sandbox is gone, and with it every
   * process of the step): entries are examined by path, about twice as fast as through
   * /proc/self/fd, and each directory is still checked to be the one listed before and after.
   */
  quiescent?: boolean;
}

/** Linux PATH_MAX, counting the terminating NUL: longer absolute paths cannot be opened or restored here. */
const OS_PATH_MAX = 4096;
const PROC_FD = '/proc/self/fd';
const decoder = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes: Buffer): string | null {
  try {
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}

/** The error for a workspace entry that is no longer what the walk saw (swapped, replaced by a link). */
export function entryChanged(file: string, reason: string, cause?: unknown): SwarmError {
  return new SwarmError('STATE_BUNDLE_ENTRY_CHANGED', `${file} was replaced while the workspace was packed (${reason}); nothing was sealed`, {
    details: { path: file, reason },
    cause,
  });
}

export function sameIdentity(stat: fs.Stats, expected: { dev: number; ino: number }): boolean {
  return stat.dev === expected.dev && stat.ino === expected.ino;
}

let procFdUsable: boolean | undefined;
function canUseProcFd(): boolean {
  procFdUsable ??= process.platform === 'linux' && fs.existsSync(PROC_FD);
  return procFdUsable;
}

/**
 * Opens directory `abs` without following a link as its last component and checks it is `expected`
 * (so a swapped parent, which resolves elsewhere, is caught). Returns the descriptor.
 */
function openCheckedDir(abs: string, expected: { dev: number; ino: number }): number {
  const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(abs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK);
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code;
    if (errno === 'ELOOP' || errno === 'ENOTDIR' || errno === 'ENOENT') throw entryChanged(abs, 'directory replaced or removed', cause);
    throw fsError('IO_READ_FAILED', abs, cause);
  }
  const stat = fs.fstatSync(fd);
  if (!stat.isDirectory() || !sameIdentity(stat, expected)) {
    fs.closeSync(fd);
    throw entryChanged(abs, 'not the directory the walk listed');
  }
  return fd;
}

function tooManyEntries(maxEntries: number): SwarmError {
  return new SwarmError('STATE_SNAPSHOT_TOO_LARGE', `the workspace holds more entries than a bundle may (${maxEntries - FIXED_ENTRIES})`, {
    details: { limit: 'maxEntries', maxEntries },
  });
}

export function walkWorkspace(root: string, options: WalkOptions = {}): { entries: WorkspaceEntry[]; skipped: SkippedEntry[]; excluded: string[] } {
  const maxEntries = options.maxEntries ?? BUNDLE_LIMITS.maxEntries;
  const prefix = options.prefix ?? WORKSPACE_PREFIX;
  let rootStat: fs.Stats;
  try {
    rootStat = fs.lstatSync(root);
  } catch (cause) {
    throw fsError('STATE_SNAPSHOT_SOURCE_INVALID', root, cause);
  }
  if (!rootStat.isDirectory()) throw new SwarmError('STATE_SNAPSHOT_SOURCE_INVALID', `workspace ${root} is not a directory`);

  const entries: WorkspaceEntry[] = [];
  const skipped: SkippedEntry[] = [];
  const excluded: string[] = [];
  const pending: Array<{ rel: string; dev: number; ino: number }> = [{ rel: '', dev: rootStat.dev, ino: rootStat.ino }];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    const dirAbs = dir.rel === '' ? root : path.join(root, dir.rel);
    // Quiescent: nothing can swap a directory, so none is opened to be pinned (four system calls
    // a directory saved); a directory that is not there any more still fails its listing.
    const fd = options.quiescent ? -1 : openCheckedDir(dirAbs, dir);
    try {
      // Through the descriptor, names resolve in exactly the directory that was checked.
      const base = canUseProcFd() && !options.quiescent ? `${PROC_FD}/${fd}` : dirAbs;
      let names: Buffer[];
      try {
        names = fs.readdirSync(base, { encoding: 'buffer' });
      } catch (cause) {
        throw fsError('IO_READ_FAILED', dirAbs, cause);
      }
      for (const raw of names) {
        const name = utf8(raw);
        const shown = name ?? raw.toString('utf8');
        const rel = dir.rel === '' ? shown : `${dir.rel}/${shown}`;
        const bundlePath = prefix + rel;
        if (name === null) {
          skipped.push({ path: bundlePath, reason: 'name-not-utf8' });
          continue;
        }
        const abs = path.join(dirAbs, name);
        // Restore writes by path: what it could not write wherever it restores is left out (and what
        // cannot even be named here, under an unusually long workspace path).
        if (
          Buffer.byteLength(bundlePath) > MAX_PACKED_PATH_BYTES ||
          Buffer.byteLength(abs) >= OS_PATH_MAX ||
          relativePathProblem(rel.split('/')) !== null
        ) {
          skipped.push({ path: bundlePath, reason: 'path-too-long' });
          continue;
        }
        const at = `${base}/${name}`;
        let stat: fs.Stats;
        try {
          stat = fs.lstatSync(at);
        } catch (cause) {
          if ((cause as NodeJS.ErrnoException).code === 'ENOENT') throw entryChanged(abs, 'removed while listed', cause);
          throw fsError('IO_READ_FAILED', abs, cause);
        }
        if (options.exclude?.(rel, stat.isDirectory() ? 'dir' : stat.isFile() ? 'file' : stat.isSymbolicLink() ? 'symlink' : 'other')) {
          excluded.push(bundlePath);
          continue;
        }
        const mode = stat.mode & 0o777;
        const identity = { dev: stat.dev, ino: stat.ino, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, atimeMs: stat.atimeMs, nlink: stat.nlink, perm: stat.mode & 0o7777 };
        if (stat.isDirectory()) {
          entries.push({ path: bundlePath, rel, abs, type: 'dir', mode, size: 0, ...identity });
          pending.push({ rel, ...identity });
        } else if (stat.isFile()) {
          entries.push({ path: bundlePath, rel, abs, type: 'file', mode, size: stat.size, ...identity });
        } else if (stat.isSymbolicLink()) {
          let target: string | null;
          try {
            target = utf8(fs.readlinkSync(at, { encoding: 'buffer' }));
          } catch (cause) {
            throw fsError('IO_READ_FAILED', abs, cause);
          }
          if (target === null) skipped.push({ path: bundlePath, reason: 'name-not-utf8' });
          else entries.push({ path: bundlePath, rel, abs, type: 'symlink', mode, size: 0, target, ...identity });
        } else {
          skipped.push({ path: bundlePath, reason: 'special-file' });
        }
        if (entries.length + FIXED_ENTRIES > maxEntries) throw tooManyEntries(maxEntries);
      }
      // Without /proc the listing went by path: the directory must still be the one checked.
      if (base === dirAbs && !options.quiescent) {
        const again = fs.lstatSync(dirAbs, { throwIfNoEntry: false });
        if (!again || !again.isDirectory() || !sameIdentity(again, dir)) throw entryChanged(dirAbs, 'directory replaced while listed');
      }
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }

  // Symlinks are judged once the whole tree is known, exactly as restore will judge them.
  const kept: WorkspaceEntry[] = [];
  for (const entry of entries) {
    if (entry.type === 'symlink' && symlinkEscapesTree(root, entry.rel.split('/'), entry.target!)) {
      skipped.push({ path: entry.path, reason: 'unsafe-symlink' });
    } else kept.push(entry);
  }
  return { entries: sortByPathBytes(kept), skipped: sortByPathBytes(skipped), excluded: sortByPathBytes(excluded.map((p) => ({ path: p }))).map((e) => e.path) };
}

const SURROGATE = /[\ud800-\udfff]/;

/** Sorts by the UTF-8 bytes of `path` (not UTF-16 code units, which order some characters differently). */
export function sortByPathBytes<T extends { path: string }>(items: T[]): T[] {
  // Without surrogate pairs, UTF-16 order is code point order, which is UTF-8 byte order.
  if (!items.some((item) => SURROGATE.test(item.path))) return items.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return items
    .map((item) => ({ item, key: Buffer.from(item.path, 'utf8') }))
    .sort((a, b) => Buffer.compare(a.key, b.key))
    .map(({ item }) => item);
}
