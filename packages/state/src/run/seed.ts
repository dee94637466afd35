/**
 * Seeding a chain from a directory (`run launch --workspace <dir>`, typically the repository
 * itself, `.`): the directory is copied into the run's workspace without the store and without
 * `$SWARM_HOME` (both are left out, and said so), and sealed as a node of its own — kind
 * `import`, status `seeded` — that the run then starts from. The chain so records what it was
 * seeded with, and `swarm apply` knows the base the repository was at.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, fsError, isoTime, type Clock, type RouteMode } from '@swarm/core';
import { ratchetChainKeys, type ChainKeys } from '../crypto/index.js';
import { seal, snapshot, type RunPaths, type Snapshotted } from '../engine/index.js';
import '../engine-errors.js';
import type { NodeRow } from '../store/catalog.js';
import { buildNodeRow } from '../store/node-row.js';
import type { Store } from '../store/store.js';

export const SEEDED_STATUS = 'seeded';

export interface SeedPlan {
  /** The real path of the directory seeded from. */
  source: string;
  /** What is left out, relative to the source (for the user), and absolute (for the copy). */
  excluded: string[];
  excludedAbs: string[];
}

/** Checks the seed directory; the store and SWARM_HOME are left out when they lie inside it. */
export function planSeed(source: string, private_: string[]): SeedPlan {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch {
    throw new SwarmError('WORKSPACE_SEED_INVALID', `--workspace ${source} does not exist`);
  }
  if (!stat.isDirectory()) throw new SwarmError('WORKSPACE_SEED_INVALID', `--workspace ${source} is not a directory`);
  const real = fs.realpathSync(source);
  const inside = (a: string, b: string) => a === b || a.startsWith(b + path.sep);
  const excludedAbs: string[] = [];
  for (const dir of private_) {
    let realDir: string;
    try {
      realDir = fs.realpathSync(dir);
    } catch {
      continue;
    }
    if (inside(real, realDir)) {
      throw new SwarmError('WORKSPACE_SEED_INVALID', `--workspace ${source} lies inside ${realDir}, which a step may not see`, {
        hint: 'seed from a directory outside .swarm/ and SWARM_HOME',
      });
    }
    if (inside(realDir, real)) excludedAbs.push(realDir);
  }
  return { source: real, excluded: excludedAbs.map((d) => path.relative(real, d)), excludedAbs };
}

/**
 * Copies the seed into the workspace: directories, regular files (with their mode) and symlinks
 * as they are; the excluded paths and special files are left out. Written here rather than with
 * fs.cpSync, which refuses to copy a directory into its own subtree (the store lives inside the
 * repository it is seeded from).
 */
export function copySeed(plan: SeedPlan, workspaceDir: string): void {
  const left = new Set(plan.excludedAbs);
  const copy = (from: string, to: string): void => {
    for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
      const src = path.join(from, entry.name);
      const dest = path.join(to, entry.name);
      if (left.has(src)) continue;
      if (!entry.isDirectory() && !entry.isFile() && !entry.isSymbolicLink()) continue;
      // File times are kept (bundles record them, clamped to the run clock): agents tell their
      // newest session by mtime.
      const stat = fs.lstatSync(src);
      if (entry.isDirectory()) {
        // Writable while it is filled; its own mode (say 0555) and time once it is.
        fs.mkdirSync(dest, { mode: 0o700 });
        copy(src, dest);
        fs.chmodSync(dest, stat.mode & 0o7777);
        fs.utimesSync(dest, stat.atime, stat.mtime);
      } else if (entry.isFile()) {
        fs.copyFileSync(src, dest, fs.constants.COPYFILE_FICLONE);
        fs.utimesSync(dest, stat.atime, stat.mtime);
      } else if (entry.isSymbolicLink()) {
        fs.symlinkSync(fs.readlinkSync(src), dest);
        fs.lutimesSync(dest, stat.atime, stat.mtime);
      }
    }
  };
  try {
    fs.mkdirSync(workspaceDir, { recursive: true });
    copy(plan.source, workspaceDir);
  } catch (cause) {
    throw fsError('WORKSPACE_SEED_INVALID', plan.source, cause);
  }
}

export interface SeedInput {
  runId: string;
  root: NodeRow;
  rootKeys: ChainKeys;
  paths: RunPaths;
  clock: Clock;
  routeMode?: RouteMode;
  /** Store the seed as chunks (local runs) rather than a tar bundle. */
  chunked?: boolean;
  beforeAdopt?: (pack: string) => void;
}

/**
 * Seals the seeded workspace (with the root's empty state DB) into the object store, as the
 * run's parent. The node is committed with the run, in one transaction: a run that fails before
 * its commit leaves no seed behind.
 */
export async function sealSeed(store: Store, input: SeedInput): Promise<{ node: NodeRow; keys: ChainKeys; snapshot: Snapshotted | null }> {
  const { paths, runId } = input;
  const keys = ratchetChainKeys(input.rootKeys, 'seed', runId);
  // The engine's own seal phase, under the seed's capability.
  const mtimeSec = Math.floor(input.clock.now() / 1000);
  // The seed is swarm's own copy, made just now; no step has run on it yet.
  const snap = input.chunked ? await snapshot(paths, keys.state, mtimeSec, store.chunks, { beforeAdopt: input.beforeAdopt, quiescent: true }) : null;
  const sealed = snap ?? (await seal(paths, keys.state, mtimeSec));
  const dataKey = sealed.dataKey;
  // gc keeps objects that a live run is about to commit (one digest a line).
  fs.appendFileSync(paths.pendingObject, `${sealed.bundleSha256}\n`);
  store.objects.adopt(sealed.file, sealed.bundleSha256);
  const node = buildNodeRow(store.keys, {
    nodeId: `node-seed-${runId}`,
    parentNodeId: input.root.node_id,
    kind: 'import',
    status: SEEDED_STATUS,
    stateId: `state-seed-${runId}`,
    ratchetStep: input.root.ratchet_step + 1,
    bundleSha256: sealed.bundleSha256,
    manifestSha256: sealed.manifestSha256,
    dataKey,
    keys,
    runId: null,
    label: null,
    createdAt: isoTime(input.clock),
    artifactHash: null,
    routeMode: input.routeMode,
  });
  return { node, keys, snapshot: snap };
}
