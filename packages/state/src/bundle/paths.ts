/**
 * The rules for names inside a bundle, shared by the packer (which skips what restore would refuse)
 * and the extractor (which refuses it). Layout: `workspace/<relative path>`, `home/<relative path>`
 * (the step's HOME, v3 bundles on), `state.db`, `manifest.json`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError } from '@swarm/core';
import '../errors.js';

export const WORKSPACE_PREFIX = 'workspace/';
export const HOME_PREFIX = 'home/';
/** The directory trees a bundle carries, each under its own prefix. */
export type TreeName = 'workspace' | 'home';
export const TREE_PREFIX: Record<TreeName, string> = { workspace: WORKSPACE_PREFIX, home: HOME_PREFIX };
export const STATE_DB_ENTRY = 'state.db';
export const MANIFEST_ENTRY = 'manifest.json';
export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;
/** Symlinks followed in one resolution before Linux gives up with ELOOP. */
const MAX_LINK_HOPS = 40;

export type EntryName =
  | { kind: 'tree'; tree: TreeName; path: string; rel: string; parts: string[] }
  | { kind: 'state.db'; path: string }
  | { kind: 'manifest'; path: string };

function unsafe(name: string, reason: string): SwarmError {
  return new SwarmError('STATE_BUNDLE_UNSAFE_PATH', `unsafe bundle entry ${JSON.stringify(name)}: ${reason}`, {
    details: { path: name, reason },
  });
}

/** Why a relative path (slash-separated components) cannot be a bundle path, or null. */
export function relativePathProblem(parts: string[]): string | null {
  if (parts.length === 0) return 'empty path';
  for (const part of parts) {
    if (part === '') return 'empty path component';
    if (part === '.' || part === '..') return `"${part}" component`;
    if (part.includes('\0')) return 'NUL byte';
    if (Buffer.byteLength(part) > MAX_NAME_BYTES) return 'path component longer than 255 bytes';
  }
  return null;
}

/**
 * Validates a raw tar entry name and says where it goes. Directories may carry one trailing slash.
 * Throws STATE_BUNDLE_UNSAFE_PATH for absolute paths, `..`, empty or `.` components, NUL bytes and
 * anything outside the bundle layout.
 */
export function parseEntryName(raw: string, isDirectory: boolean): EntryName {
  if (typeof raw !== 'string' || raw.length === 0) throw unsafe(String(raw), 'empty name');
  if (Buffer.byteLength(raw) > MAX_PATH_BYTES) throw unsafe(raw.slice(0, 64), 'name longer than 4096 bytes');
  if (raw.startsWith('/')) throw unsafe(raw, 'absolute path');
  const name = isDirectory && raw.endsWith('/') ? raw.slice(0, -1) : raw;
  const parts = name.split('/');
  const problem = relativePathProblem(parts);
  if (problem) throw unsafe(raw, problem);
  if (parts.length === 1 && name === STATE_DB_ENTRY && !isDirectory) return { kind: 'state.db', path: name };
  if (parts.length === 1 && name === MANIFEST_ENTRY && !isDirectory) return { kind: 'manifest', path: name };
  if ((parts[0] !== 'workspace' && parts[0] !== 'home') || parts.length < 2) throw unsafe(raw, 'outside workspace/ and home/');
  const rel = parts.slice(1);
  return { kind: 'tree', tree: parts[0], path: name, rel: rel.join('/'), parts: rel };
}

/**
 * True when a symlink at `linkParts` (inside the workspace) with this target points outside the
 * workspace by its text alone: absolute, empty, or with more `..` than it has room for.
 */
export function symlinkTargetEscapesLexically(linkParts: string[], target: string): boolean {
  if (typeof target !== 'string' || target.length === 0 || target.includes('\0') || target.startsWith('/')) return true;
  if (Buffer.byteLength(target) > MAX_PATH_BYTES) return true;
  const at = linkParts.slice(0, -1);
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (at.length === 0) return true;
      at.pop();
    } else at.push(part);
  }
  return false;
}

/**
 * True when following this symlink inside the tree at `root` would leave it, taking into account
 * the other symlinks on the way (`d/l -> ..` then `x -> d/l/..` escapes though each looks harmless).
 * Components that do not exist are taken literally; a chain longer than the kernel follows cannot
 * resolve and so cannot escape.
 */
export function symlinkEscapesTree(root: string, linkParts: string[], target: string): boolean {
  if (symlinkTargetEscapesLexically(linkParts, target)) return true;
  const at = linkParts.slice(0, -1);
  const queue = target.split('/');
  let hops = 0;
  while (queue.length > 0) {
    const part = queue.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (at.length === 0) return true;
      at.pop();
      continue;
    }
    let stat: fs.Stats | undefined;
    try {
      stat = fs.lstatSync(path.join(root, ...at, part));
    } catch {
      stat = undefined;
    }
    if (stat?.isSymbolicLink()) {
      hops += 1;
      if (hops > MAX_LINK_HOPS) return false;
      const next = fs.readlinkSync(path.join(root, ...at, part));
      if (next.length === 0 || next.startsWith('/')) return true;
      queue.unshift(...next.split('/'));
    } else {
      at.push(part);
    }
  }
  return false;
}

/**
 * `mkdir -p`. Not `fs.mkdirSync(dir, { recursive: true })`: on Node 20 that loops forever when an
 * existing parent refuses new children with ENOENT (any path under /proc), where this throws.
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let at = path.resolve(dir); !fs.existsSync(at); at = path.dirname(at)) {
    missing.push(at);
    if (path.dirname(at) === at) break;
  }
  for (const at of missing.reverse()) {
    try {
      fs.mkdirSync(at);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}
