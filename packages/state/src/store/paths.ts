import fs from 'node:fs';
import path from 'node:path';

export const STORE_DIR = '.swarm';
export const CATALOG_FILE = 'catalog.sqlite';

export interface StorePaths {
  /** The directory holding `.swarm/` (the project root). */
  projectRoot: string;
  root: string;
  catalog: string;
  objects: string;
  runs: string;
  tmp: string;
  /** Pack files of sealed chunks. */
  packs: string;
  /** Materialized trees of recent nodes (plaintext, 0700). */
  cache: string;
}

export function storePaths(projectRoot: string): StorePaths {
  const root = path.join(projectRoot, STORE_DIR);
  return {
    projectRoot,
    root,
    catalog: path.join(root, CATALOG_FILE),
    objects: path.join(root, 'objects'),
    runs: path.join(root, 'runs'),
    tmp: path.join(root, 'tmp'),
    packs: path.join(root, 'packs'),
    cache: path.join(root, 'cache'),
  };
}

/** Finds the nearest `.swarm/` holding a catalog, from cwd upwards, like git finds `.git`. */
export function findProjectRoot(cwd: string): string | undefined {
  let dir = path.resolve(cwd);
  for (;;) {
    if (fs.existsSync(path.join(dir, STORE_DIR, CATALOG_FILE))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Object file of a sealed bundle, addressed by its digest. */
export function objectPath(paths: StorePaths, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return path.join(paths.objects, 'sha256', hex.slice(0, 2), hex.slice(2));
}

export function runDir(paths: StorePaths, runId: string): string {
  return path.join(paths.runs, runId);
}
