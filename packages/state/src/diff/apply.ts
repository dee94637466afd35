/**
 * `swarm apply --to <dir>`: writes the changes between a base and a node into a directory. Every
 * touched path is checked first (the directory must still hold the base's version, or already the
 * node's); only when all pass is anything written. Nothing is written through a symlink: parents
 * are checked with lstat, and files and links are made under a fresh name and renamed into place.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, createDigester, fsError, type Digest } from '@swarm/core';
import { relativePathProblem } from '../bundle/paths.js';
import './errors.js';
import { withNodePair, type StoreCall } from './node-trees.js';
import { compareTrees, partitionChanges, sameEntry, type PathChange, type Tree, type TreeEntry } from './tree.js';

/** What the target directory holds at a path. */
type TargetState =
  | { kind: 'absent' }
  | { kind: 'entry'; entry: TreeEntry }
  | { kind: 'dir' }
  | { kind: 'other' }
  /** A parent component is a symlink (not one this change removes). */
  | { kind: 'through-symlink'; at: string }
  /** A parent component is a file (not one this change removes). */
  | { kind: 'under-file'; at: string };

export interface ApplyPlan {
  /** Changes to carry out (their target holds the base's version, or --force). */
  actions: PathChange[];
  /** Paths that already hold the node's version. */
  unchanged: string[];
  /** Paths that differed from the base and are overwritten because of --force. */
  forced: string[];
}

const COPY_BLOCK = 1024 * 1024;
let tempCounter = 0;

function unsafe(paths: string[], reason: string): SwarmError {
  return new SwarmError('APPLY_UNSAFE_PATH', `refusing to write ${paths.join(', ')}: ${reason}; nothing was written`, { details: { paths, reason } });
}

function fileDigest(file: string): Digest {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    const digester = createDigester();
    const block = Buffer.alloc(COPY_BLOCK);
    for (let n; (n = fs.readSync(fd, block, 0, block.length, null)) > 0; ) digester.update(block.subarray(0, n));
    return digester.digest();
  } finally {
    fs.closeSync(fd);
  }
}

function lstatOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError('IO_READ_FAILED', file, error);
  }
}

/** Reads the target at `rel` without following any symlink; `removed` are paths this apply deletes first. */
function targetState(root: string, rel: string, removed: Set<string>): TargetState {
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) {
    const at = parts.slice(0, i).join('/');
    const stat = lstatOrUndefined(path.join(root, ...parts.slice(0, i)));
    if (!stat) return { kind: 'absent' };
    if (stat.isDirectory()) continue;
    if (removed.has(at)) return { kind: 'absent' };
    return stat.isSymbolicLink() ? { kind: 'through-symlink', at } : { kind: 'under-file', at };
  }
  const file = path.join(root, ...parts);
  const stat = lstatOrUndefined(file);
  if (!stat) return { kind: 'absent' };
  if (stat.isSymbolicLink()) return { kind: 'entry', entry: { kind: 'symlink', target: fs.readlinkSync(file) } };
  if (stat.isFile()) return { kind: 'entry', entry: { kind: 'file', mode: stat.mode & 0o777, size: stat.size, sha256: fileDigest(file), file } };
  return stat.isDirectory() ? { kind: 'dir' } : { kind: 'other' };
}

function holds(state: TargetState, entry: TreeEntry | undefined): boolean {
  if (state.kind === 'absent') return entry === undefined;
  return state.kind === 'entry' && sameEntry(state.entry, entry);
}

/** Checks every change against the target; throws (having written nothing) unless all may proceed. */
export function planApply(root: string, changes: PathChange[], force: boolean): ApplyPlan {
  const bad = changes.filter((c) => relativePathProblem(c.path.split('/')) !== null).map((c) => c.path);
  if (bad.length > 0) throw unsafe(bad, 'not a plain relative path');
  const removed = new Set(changes.filter((c) => c.after === undefined).map((c) => c.path));
  const plan: ApplyPlan = { actions: [], unchanged: [], forced: [] };
  const throughLinks: string[] = [];
  const conflicts: string[] = [];
  const blocked: string[] = [];
  for (const change of changes) {
    const state = targetState(root, change.path, removed);
    if (state.kind === 'through-symlink') throughLinks.push(change.path);
    else if (holds(state, change.after)) plan.unchanged.push(change.path);
    else if (state.kind === 'under-file' && change.after === undefined) plan.unchanged.push(change.path);
    else if (state.kind === 'under-file' || state.kind === 'dir' || state.kind === 'other') blocked.push(change.path);
    else if (holds(state, change.before)) plan.actions.push(change);
    else if (force) {
      plan.actions.push(change);
      plan.forced.push(change.path);
    } else conflicts.push(change.path);
  }
  if (throughLinks.length > 0) throw unsafe(throughLinks, 'a parent directory in the target is a symlink');
  if (conflicts.length > 0 || blocked.length > 0) {
    const paths = [...conflicts, ...blocked].sort();
    throw new SwarmError('APPLY_CONFLICT', `the target differs from the base in ${paths.length} path(s) the change touches; nothing was written`, {
      details: { paths, blocked },
      hint: blocked.length > 0 ? 'a directory or file stands where the change writes; move it away' : 'compare with `swarm diff`, or pass --force to overwrite them',
    });
  }
  return plan;
}

/** Creates the missing parents of `rel` (modes from the node), refusing any that is not a real directory. */
function ensureParents(root: string, rel: string, dirs: Map<string, number>): void {
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) {
    const dir = path.join(root, ...parts.slice(0, i));
    const stat = lstatOrUndefined(dir);
    if (stat?.isDirectory()) continue;
    if (stat) throw unsafe([rel], 'a parent in the target changed to something that is not a directory');
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
      fs.chmodSync(dir, dirs.get(parts.slice(0, i).join('/')) ?? 0o755);
    } catch (cause) {
      throw fsError('IO_WRITE_FAILED', dir, cause);
    }
  }
}

function tempName(file: string): string {
  tempCounter += 1;
  return path.join(path.dirname(file), `.${path.basename(file).slice(0, 64)}.swarm-apply-${process.pid}-${tempCounter}`);
}

function copyInto(source: string, dest: string, mode: number): void {
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY } = fs.constants;
  const out = fs.openSync(dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    const input = fs.openSync(source, O_RDONLY | O_NOFOLLOW);
    try {
      const block = Buffer.alloc(COPY_BLOCK);
      for (let n; (n = fs.readSync(input, block, 0, block.length, null)) > 0; ) fs.writeSync(out, block, 0, n);
    } finally {
      fs.closeSync(input);
    }
    fs.fchmodSync(out, mode & 0o777);
  } finally {
    fs.closeSync(out);
  }
}

/** Writes one file or symlink under a fresh name and renames it over `file` (which renames never follow). */
function writeEntry(file: string, entry: TreeEntry): void {
  const tmp = tempName(file);
  try {
    if (entry.kind === 'symlink') fs.symlinkSync(entry.target, tmp);
    else copyInto(entry.file, tmp, entry.mode);
    fs.renameSync(tmp, file);
  } catch (cause) {
    fs.rmSync(tmp, { force: true });
    throw fsError('IO_WRITE_FAILED', file, cause);
  }
}

/** Removes emptied parents of a deleted path that the node does not keep, as git does. */
function pruneEmptyParents(root: string, rel: string, dirs: Map<string, number>): void {
  const parts = rel.split('/');
  for (let i = parts.length - 1; i >= 1; i--) {
    const at = parts.slice(0, i).join('/');
    if (dirs.has(at)) return;
    try {
      fs.rmdirSync(path.join(root, ...parts.slice(0, i)));
    } catch {
      return;
    }
  }
}

/** Carries out a plan: deletions first (a file may give way to a directory), then writes in path order. */
export function executeApply(root: string, plan: ApplyPlan, node: Tree): { written: string[]; deleted: string[] } {
  const written: string[] = [];
  const deleted: string[] = [];
  for (const change of plan.actions) {
    if (change.after !== undefined) continue;
    const file = path.join(root, ...change.path.split('/'));
    if (lstatOrUndefined(file)) {
      try {
        fs.unlinkSync(file);
      } catch (cause) {
        throw fsError('IO_WRITE_FAILED', file, cause);
      }
    }
    deleted.push(change.path);
    pruneEmptyParents(root, change.path, node.dirs);
  }
  for (const change of plan.actions) {
    if (change.after === undefined) continue;
    ensureParents(root, change.path, node.dirs);
    writeEntry(path.join(root, ...change.path.split('/')), change.after);
    written.push(change.path);
  }
  return { written, deleted };
}

export interface ApplyResult {
  node_id: string;
  base_node_id: string;
  to: string;
  written: string[];
  deleted: string[];
  unchanged: string[];
  forced: string[];
  /** Changed paths inside `.git`, never applied. */
  ignored: string[];
}

/** Resolves `to` to a real directory (it may itself be reached through a symlink; nothing inside it is followed). */
export function applyTarget(cwd: string, to: string): string {
  const resolved = path.resolve(cwd, to);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(resolved);
  } catch {
    throw new SwarmError('APPLY_TARGET_INVALID', `${to} does not exist`, { details: { path: resolved } });
  }
  if (!stat.isDirectory()) throw new SwarmError('APPLY_TARGET_INVALID', `${to} is not a directory`, { details: { path: resolved } });
  return fs.realpathSync(resolved);
}

export async function applyNode(options: StoreCall & { node: string; base?: string; to: string; force?: boolean }): Promise<ApplyResult> {
  const root = applyTarget(options.cwd, options.to);
  return withNodePair({ ...options, defaultBase: 'seed' }, ({ node, base, nodeTree, baseTree }) => {
    const { changes, ignored } = partitionChanges(compareTrees(baseTree, nodeTree));
    const plan = planApply(root, changes, options.force ?? false);
    const done = executeApply(root, plan, nodeTree);
    return { node_id: node.node_id, base_node_id: base.node_id, to: root, ...done, unchanged: plan.unchanged, forced: plan.forced, ignored };
  });
}
