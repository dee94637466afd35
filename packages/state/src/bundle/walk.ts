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
import { STAT_FIELDS, StatHelper } from './parallel-stat.js';

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
  /**
   * How many entries the tree probably holds (its parent's count). A quiescent tree expected to be
   * big is statted by two threads (parallel-stat.ts).
   */
  expectEntries?: number;
}

/** A quiescent tree expected to hold at least this many entries gets a second stat thread. */
export const PARALLEL_STAT_MIN = 8192;

/** Linux PATH_MAX, counting the terminating NUL: longer absolute paths cannot be opened or restored here. */
const OS_PATH_MAX = 4096;
const PROC_FD = '/proc/self/fd';
// ignoreBOM: a name that starts with U+FEFF keeps it (the default strips it, and two names could meet).
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

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

export function walkWorkspace(tree: string, options: WalkOptions = {}): WalkResult {
  // Paths below are joined by hand (path.join normalises each of 50,000 again): from a normal root.
  const root = path.normalize(tree);
  const maxEntries = options.maxEntries ?? BUNDLE_LIMITS.maxEntries;
  const prefix = options.prefix ?? WORKSPACE_PREFIX;
  let rootStat: fs.Stats;
  try {
    rootStat = fs.lstatSync(root);
  } catch (cause) {
    throw fsError('STATE_SNAPSHOT_SOURCE_INVALID', root, cause);
  }
  if (!rootStat.isDirectory()) throw new SwarmError('STATE_SNAPSHOT_SOURCE_INVALID', `workspace ${root} is not a directory`);

  if (options.quiescent && (options.expectEntries ?? 0) >= PARALLEL_STAT_MIN) {
    const helper = StatHelper.start();
    if (helper) {
      try {
        return walkQuiescent(root, prefix, maxEntries, options, helper);
      } finally {
        helper.close();
      }
    }
  }
  const entries: WorkspaceEntry[] = [];
  const skipped: SkippedEntry[] = [];
  const excluded: string[] = [];
  const pending: Array<{ rel: string; dev: number; ino: number }> = [{ rel: '', dev: rootStat.dev, ino: rootStat.ino }];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    const dirAbs = dir.rel === '' ? root : under(root, dir.rel);
    const lengths = dirBytes(prefix, dir.rel, dirAbs);
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
        const listed = listedName(raw, dir.rel, prefix, lengths, skipped);
        if (!listed) continue;
        const { name, rel, bundlePath } = listed;
        const abs = under(dirAbs, name);
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
        if (stat.isDirectory()) {
          entries.push(entryOf(bundlePath, rel, abs, 'dir', stat, undefined));
          pending.push({ rel, dev: stat.dev, ino: stat.ino });
        } else if (stat.isFile()) {
          entries.push(entryOf(bundlePath, rel, abs, 'file', stat, undefined));
        } else if (stat.isSymbolicLink()) {
          let target: string | null;
          try {
            target = utf8(fs.readlinkSync(at, { encoding: 'buffer' }));
          } catch (cause) {
            throw fsError('IO_READ_FAILED', abs, cause);
          }
          if (target === null) skipped.push({ path: bundlePath, reason: 'name-not-utf8' });
          else entries.push(entryOf(bundlePath, rel, abs, 'symlink', stat, target));
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

  return finish(root, entries, skipped, excluded);
}

type WalkResult = { entries: WorkspaceEntry[]; skipped: SkippedEntry[]; excluded: string[] };

/** Symlinks are judged once the whole tree is known, exactly as restore will judge them; then every list is sorted. */
function finish(root: string, entries: WorkspaceEntry[], skipped: SkippedEntry[], excluded: string[]): WalkResult {
  const kept: WorkspaceEntry[] = [];
  for (const entry of entries) {
    if (entry.type === 'symlink' && symlinkEscapesTree(root, entry.rel.split('/'), entry.target!)) {
      skipped.push({ path: entry.path, reason: 'unsafe-symlink' });
    } else kept.push(entry);
  }
  return { entries: sortByPathBytes(kept), skipped: sortByPathBytes(skipped), excluded: sortByPathBytes(excluded.map((p) => ({ path: p }))).map((e) => e.path) };
}

/**
 * Where a listed entry may go, from byte lengths the walk already has: its name's (the listing's
 * bytes), its directory's bundle path and absolute path. Restore writes by path: what it could not
 * write wherever it restores is left out (and what cannot even be named here, under an unusually
 * long workspace path). A name is judged alone: its directory's names passed when it was listed.
 */
function placeProblem(nameBytes: number, name: string, dir: DirBytes): SkippedEntry['reason'] | null {
  if (dir.bundle + nameBytes > MAX_PACKED_PATH_BYTES || dir.abs + 1 + nameBytes >= OS_PATH_MAX || relativePathProblem([name]) !== null) return 'path-too-long';
  return null;
}

/** A listed name, checked as both walks check it: its entry's paths, or null once it is recorded as skipped. */
function listedName(raw: Buffer, dirRel: string, prefix: string, lengths: DirBytes, skipped: SkippedEntry[]): { name: string; rel: string; bundlePath: string } | null {
  const name = utf8(raw);
  const shown = name ?? raw.toString('utf8');
  const rel = dirRel === '' ? shown : `${dirRel}/${shown}`;
  const bundlePath = prefix + rel;
  const problem = name === null ? 'name-not-utf8' : placeProblem(raw.length, name, lengths);
  if (problem) {
    skipped.push({ path: bundlePath, reason: problem });
    return null;
  }
  return { name: name!, rel, bundlePath };
}

/** `dir`/`name` for a normal `dir` and a name without a slash, as path.join would give it. */
const under = (dir: string, name: string): string => (dir.endsWith('/') ? dir + name : `${dir}/${name}`);

/** Byte lengths of a directory's bundle path plus its separator ('' at the root) and of its absolute path. */
interface DirBytes {
  bundle: number;
  abs: number;
}

function dirBytes(prefix: string, rel: string, abs: string): DirBytes {
  return { bundle: Buffer.byteLength(prefix) + (rel === '' ? 0 : Buffer.byteLength(rel) + 1), abs: Buffer.byteLength(abs) + (abs.endsWith('/') ? -1 : 0) };
}

const { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK } = fs.constants;
type Kind = 'dir' | 'file' | 'symlink' | 'other';
const kindOfMode = (mode: number): Kind => {
  const t = mode & S_IFMT;
  return t === S_IFDIR ? 'dir' : t === S_IFREG ? 'file' : t === S_IFLNK ? 'symlink' : 'other';
};
const kindOfDirent = (d: fs.Dirent): Kind => (d.isDirectory() ? 'dir' : d.isFile() ? 'file' : d.isSymbolicLink() ? 'symlink' : 'other');

/**
 * The walk of a big quiescent tree in two phases: every directory is listed first (the listing's
 * entry types say which to descend, so no stat is needed to go on), then the entries are statted,
 * half of them by the helper thread. An entry whose stat disagrees with its listing changed in a
 * tree that was to be still: the walk fails as the one-phase walk would.
 */
function walkQuiescent(root: string, prefix: string, maxEntries: number, options: WalkOptions, helper: StatHelper): WalkResult {
  const skipped: SkippedEntry[] = [];
  const excluded: string[] = [];
  const listed: Array<{ bundlePath: string; rel: string; abs: string; kind: Exclude<Kind, 'other'>; target?: string }> = [];
  const pending: string[] = [''];
  while (pending.length > 0) {
    const dirRel = pending.pop()!;
    const dirAbs = dirRel === '' ? root : under(root, dirRel);
    const lengths = dirBytes(prefix, dirRel, dirAbs);
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(dirAbs, { encoding: 'buffer', withFileTypes: true }) as unknown as fs.Dirent[];
    } catch (cause) {
      throw fsError('IO_READ_FAILED', dirAbs, cause);
    }
    for (const dirent of names) {
      const listedAs = listedName(dirent.name as unknown as Buffer, dirRel, prefix, lengths, skipped);
      if (!listedAs) continue;
      const { name, rel, bundlePath } = listedAs;
      const abs = under(dirAbs, name);
      const kind = kindOfDirent(dirent);
      if (options.exclude?.(rel, kind)) {
        excluded.push(bundlePath);
        continue;
      }
      if (kind === 'other') {
        skipped.push({ path: bundlePath, reason: 'special-file' });
        continue;
      }
      // A link's target is read now: one that is not UTF-8 is left out here, so the count below is
      // exactly what the one-phase walk counts, as the listing goes.
      let target: string | undefined;
      if (kind === 'symlink') {
        let read: string | null;
        try {
          read = utf8(fs.readlinkSync(abs, { encoding: 'buffer' }));
        } catch (cause) {
          throw fsError('IO_READ_FAILED', abs, cause);
        }
        if (read === null) {
          skipped.push({ path: bundlePath, reason: 'name-not-utf8' });
          continue;
        }
        target = read;
      }
      listed.push({ bundlePath, rel, abs, kind, target });
      if (listed.length + FIXED_ENTRIES > maxEntries) throw tooManyEntries(maxEntries);
      if (kind === 'dir') pending.push(rel);
    }
  }

  // The second half goes to the helper if it is up; the first is statted here meanwhile.
  const half = helper.ready ? Math.floor(listed.length / 2) : listed.length;
  const share = half < listed.length ? helper.share(listed.slice(half).map((e) => e.abs)) : null;
  const entries: WorkspaceEntry[] = [];
  const add = (i: number, stat: StatFields) => {
    const e = listed[i]!;
    if (kindOfMode(stat.mode) !== e.kind) throw entryChanged(e.abs, 'changed while listed');
    entries.push(entryOf(e.bundlePath, e.rel, e.abs, e.kind, stat, e.target));
  };
  const statHere = (i: number) => {
    const abs = listed[i]!.abs;
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(abs);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') throw entryChanged(abs, 'removed while listed', cause);
      throw fsError('IO_READ_FAILED', abs, cause);
    }
    add(i, stat);
  };
  for (let i = 0; i < half; i += 1) statHere(i);
  const fields = share?.collect() ?? null;
  for (let i = half; i < listed.length; i += 1) {
    const o = (i - half) * STAT_FIELDS;
    const mode = fields?.[o];
    // Not done by the helper (it failed, or the path could not be statted there): done here.
    if (fields === null || mode === undefined || !(mode >= 0)) {
      if (fields !== null && Number.isNaN(mode)) throw entryChanged(listed[i]!.abs, 'removed while listed');
      statHere(i);
      continue;
    }
    add(i, { mode, size: fields[o + 1]!, mtimeMs: fields[o + 2]!, ctimeMs: fields[o + 3]!, atimeMs: fields[o + 4]!, nlink: fields[o + 5]!, dev: fields[o + 6]!, ino: fields[o + 7]! });
  }
  return finish(root, entries, skipped, excluded);
}

/** One object of one shape per entry (no spread of a second one: a big tree's walk makes 50,000). */
/** The stat fields a walk keeps (fs.Stats has them; the helper thread returns them as numbers). */
type StatFields = Pick<fs.Stats, 'mode' | 'size' | 'mtimeMs' | 'ctimeMs' | 'atimeMs' | 'nlink' | 'dev' | 'ino'>;

function entryOf(bundlePath: string, rel: string, abs: string, type: 'dir' | 'file' | 'symlink', stat: StatFields, target: string | undefined): WorkspaceEntry {
  return {
    path: bundlePath,
    rel,
    abs,
    type,
    mode: stat.mode & 0o777,
    size: type === 'file' ? stat.size : 0,
    target,
    mtimeMs: stat.mtimeMs,
    ctimeMs: stat.ctimeMs,
    atimeMs: stat.atimeMs,
    nlink: stat.nlink,
    perm: stat.mode & 0o7777,
    dev: stat.dev,
    ino: stat.ino,
  };
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
