/**
 * A workspace as diff and apply see it: regular files and symlinks by relative path, like a git
 * tree. Directories only carry modes for apply; they are never changes of their own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { sha256Digest, type Digest } from '@swarm/core';
import type { BundleManifest } from '../bundle/index.js';
import { WORKSPACE_PREFIX } from '../bundle/paths.js';
import { walkWorkspace } from '../bundle/walk.js';

export type TreeEntry =
  | { kind: 'file'; mode: number; size: number; sha256: Digest; file: string }
  | { kind: 'symlink'; target: string };

export interface Tree {
  entries: Map<string, TreeEntry>;
  /** Directory modes by relative path. */
  dirs: Map<string, number>;
}

export const EMPTY_TREE: Tree = { entries: new Map(), dirs: new Map() };

/** A path whose file or symlink differs between two trees (`before` or `after` may be absent). */
export interface PathChange {
  path: string;
  before: TreeEntry | undefined;
  after: TreeEntry | undefined;
}

/** The tree of an extracted bundle: its manifest, with contents read from `workspaceDir`. */
export function treeFromManifest(manifest: BundleManifest, workspaceDir: string): Tree {
  const tree: Tree = { entries: new Map(), dirs: new Map() };
  for (const entry of manifest.entries) {
    if (!entry.path.startsWith(WORKSPACE_PREFIX)) continue;
    const rel = entry.path.slice(WORKSPACE_PREFIX.length);
    if (entry.type === 'dir') tree.dirs.set(rel, entry.mode);
    else if (entry.type === 'symlink') tree.entries.set(rel, { kind: 'symlink', target: entry.target! });
    else tree.entries.set(rel, { kind: 'file', mode: entry.mode, size: entry.size, sha256: entry.sha256!, file: path.join(workspaceDir, ...rel.split('/')) });
  }
  return tree;
}

/** The tree of a plain directory, walked as the packer walks a workspace (files are read to hash them). */
export function treeFromDirectory(dir: string): Tree {
  const tree: Tree = { entries: new Map(), dirs: new Map() };
  for (const entry of walkWorkspace(dir).entries) {
    if (entry.type === 'dir') tree.dirs.set(entry.rel, entry.mode);
    else if (entry.type === 'symlink') tree.entries.set(entry.rel, { kind: 'symlink', target: entry.target! });
    else tree.entries.set(entry.rel, { kind: 'file', mode: entry.mode, size: entry.size, sha256: sha256Digest(fs.readFileSync(entry.abs)), file: entry.abs });
  }
  return tree;
}

/** Git's file modes: only the owner's execute bit of a regular file is kept. */
export function gitMode(entry: TreeEntry): string {
  if (entry.kind === 'symlink') return '120000';
  return entry.mode & 0o100 ? '100755' : '100644';
}

/** Whether two entries are the same as git sees them (kind, content, executable bit). */
export function sameEntry(x: TreeEntry | undefined, y: TreeEntry | undefined): boolean {
  if (x === undefined || y === undefined) return x === y;
  if (x.kind === 'symlink' || y.kind === 'symlink') return x.kind === y.kind && (x as { target: string }).target === (y as { target: string }).target;
  return x.sha256 === y.sha256 && gitMode(x) === gitMode(y);
}

/** Every path whose entry differs, in git's order (bytewise by full path). */
export function compareTrees(base: Tree, node: Tree): PathChange[] {
  const paths = new Set([...base.entries.keys(), ...node.entries.keys()]);
  const changes: PathChange[] = [];
  for (const p of paths) {
    const before = base.entries.get(p);
    const after = node.entries.get(p);
    if (!sameEntry(before, after)) changes.push({ path: p, before, after });
  }
  return changes.sort((x, y) => Buffer.compare(Buffer.from(x.path), Buffer.from(y.path)));
}

/** The content bytes of an entry: a file's bytes, a symlink's target text. */
export function entryContent(entry: TreeEntry): Buffer {
  return entry.kind === 'symlink' ? Buffer.from(entry.target) : fs.readFileSync(entry.file);
}

/** Git's blob id (SHA-1 of `blob <size>\0<content>`), as `git hash-object` prints it. */
export function gitBlobId(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

/** Paths inside a `.git` directory (any case, as git refuses them): never diffed or applied. */
export function isGitPath(rel: string): boolean {
  return rel.split('/').some((part) => part.toLowerCase() === '.git');
}

/** The changes to show or apply, and the `.git` paths left out. */
export function partitionChanges(changes: PathChange[]): { changes: PathChange[]; ignored: string[] } {
  return { changes: changes.filter((c) => !isGitPath(c.path)), ignored: changes.filter((c) => isGitPath(c.path)).map((c) => c.path) };
}
