/**
 * Walks a workspace without following symlinks and lists what a bundle will hold, sorted by path
 * bytes. Sockets, fifos and devices, names that are not UTF-8, and symlinks that restore would refuse
 * (absolute, or resolving outside the workspace) are left out and reported.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, fsError } from '@swarm/core';
import '../errors.js';
import { MAX_PATH_BYTES, WORKSPACE_PREFIX, relativePathProblem, symlinkEscapesTree } from './paths.js';
import type { BundleEntryType } from './manifest.js';

export interface WorkspaceEntry {
  /** `workspace/<rel>` */
  path: string;
  rel: string;
  abs: string;
  type: BundleEntryType;
  mode: number;
  size: number;
  target?: string;
}

export interface SkippedEntry {
  path: string;
  reason: 'special-file' | 'unsafe-symlink' | 'name-not-utf8' | 'path-too-long';
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes: Buffer): string | null {
  try {
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}

export function walkWorkspace(root: string): { entries: WorkspaceEntry[]; skipped: SkippedEntry[] } {
  let rootStat: fs.Stats;
  try {
    rootStat = fs.statSync(root);
  } catch (cause) {
    throw fsError('STATE_SNAPSHOT_SOURCE_INVALID', root, cause);
  }
  if (!rootStat.isDirectory()) throw new SwarmError('STATE_SNAPSHOT_SOURCE_INVALID', `workspace ${root} is not a directory`);

  const entries: WorkspaceEntry[] = [];
  const skipped: SkippedEntry[] = [];
  const pending: string[] = [''];
  while (pending.length > 0) {
    const dirRel = pending.pop()!;
    const dirAbs = dirRel === '' ? root : path.join(root, dirRel);
    let names: Buffer[];
    try {
      names = fs.readdirSync(dirAbs, { encoding: 'buffer' });
    } catch (cause) {
      throw fsError('IO_READ_FAILED', dirAbs, cause);
    }
    for (const raw of names) {
      const name = utf8(raw);
      const shown = name ?? raw.toString('utf8');
      const rel = dirRel === '' ? shown : `${dirRel}/${shown}`;
      const bundlePath = WORKSPACE_PREFIX + rel;
      if (name === null) {
        skipped.push({ path: bundlePath, reason: 'name-not-utf8' });
        continue;
      }
      if (Buffer.byteLength(bundlePath) > MAX_PATH_BYTES || relativePathProblem(rel.split('/')) !== null) {
        skipped.push({ path: bundlePath, reason: 'path-too-long' });
        continue;
      }
      const abs = path.join(dirAbs, name);
      let stat: fs.Stats;
      try {
        stat = fs.lstatSync(abs);
      } catch (cause) {
        throw fsError('IO_READ_FAILED', abs, cause);
      }
      const mode = stat.mode & 0o777;
      if (stat.isDirectory()) {
        entries.push({ path: bundlePath, rel, abs, type: 'dir', mode, size: 0 });
        pending.push(rel);
      } else if (stat.isFile()) {
        entries.push({ path: bundlePath, rel, abs, type: 'file', mode, size: stat.size });
      } else if (stat.isSymbolicLink()) {
        let target: string | null;
        try {
          target = utf8(fs.readlinkSync(abs, { encoding: 'buffer' }));
        } catch (cause) {
          throw fsError('IO_READ_FAILED', abs, cause);
        }
        if (target === null) skipped.push({ path: bundlePath, reason: 'name-not-utf8' });
        else entries.push({ path: bundlePath, rel, abs, type: 'symlink', mode, size: 0, target });
      } else {
        skipped.push({ path: bundlePath, reason: 'special-file' });
      }
    }
  }

  // Symlinks are judged once the whole tree is known, exactly as restore will judge them.
  const kept: WorkspaceEntry[] = [];
  for (const entry of entries) {
    if (entry.type === 'symlink' && symlinkEscapesTree(root, entry.rel.split('/'), entry.target!)) {
      skipped.push({ path: entry.path, reason: 'unsafe-symlink' });
    } else kept.push(entry);
  }
  return { entries: sortByPathBytes(kept), skipped: sortByPathBytes(skipped) };
}

/** Sorts by the UTF-8 bytes of `path` (not UTF-16 code units, which order some characters differently). */
export function sortByPathBytes<T extends { path: string }>(items: T[]): T[] {
  return items
    .map((item) => ({ item, key: Buffer.from(item.path, 'utf8') }))
    .sort((a, b) => Buffer.compare(a.key, b.key))
    .map(({ item }) => item);
}
