/**
 * Phase 6, snapshot and seal: the workspace, the step's HOME (less what is never sealed) and the
 * state DB as a deterministic, encrypted bundle under the data key of the new node's state
 * capability. Refuses a workspace, home or state DB the step replaced by something else (swarm
 * never follows a link it left), and a bundle that would carry a secret granted to the step.
 */
import fs from 'node:fs';
import { SwarmError } from '@swarm/core';
import { createSealedBundle, type SealedBundle } from '../bundle/index.js';
import { COMMON_HOME_EXCLUSIONS, homeExclusion } from '../agents/home.js';
import { deriveDataKey } from '../crypto/index.js';
import '../engine-errors.js';
import type { RunPaths } from './run-paths.js';
import { snapshotTree, type Snapshot, type TreeRecords } from '../chunks/snapshot.js';
import type { ChunkStore } from '../chunks/store.js';

export interface Sealed extends SealedBundle {
  /** The sealed file, not yet in the object store. */
  file: string;
  dataKey: Buffer;
}

export interface SealOptions {
  /** Values that must not be sealed (secrets granted to the step). */
  secrets?: string[];
  /** Home paths never sealed (agents/home.ts); by default the common credential files. */
  homeExclusions?: readonly string[];
  onProgress?: (bytes: number, totalBytes: number) => void;
}

export async function seal(paths: RunPaths, nextStateKey: Buffer, mtimeSec: number, options: SealOptions = {}): Promise<Sealed> {
  assertRunTree(paths);
  const dataKey = deriveDataKey(nextStateKey);
  const sealed = await createSealedBundle({
    workspaceDir: paths.workspaceDir,
    homeDir: paths.homeDir,
    homeExclude: homeExclusion(options.homeExclusions ?? COMMON_HOME_EXCLUSIONS),
    secrets: options.secrets,
    stateDbPath: paths.stateDbPath,
    mtimeSec,
    dataKey,
    outFile: paths.partialBundle,
    onProgress: options.onProgress,
  });
  return { ...sealed, file: paths.partialBundle, dataKey };
}

export interface Snapshotted extends Snapshot {
  /** The sealed index, not yet in the object store. */
  file: string;
  dataKey: Buffer;
}

/**
 * Phase 6 over the chunk store (local runs): like seal(), but only what changed since `parent` is
 * read and stored, and the node's object is its sealed index (chunks/snapshot.ts).
 */
export async function snapshot(
  paths: RunPaths,
  nextStateKey: Buffer,
  mtimeSec: number,
  chunks: ChunkStore,
  options: SealOptions & { parent?: TreeRecords | null; known?: Set<string>; beforeAdopt?: (pack: string) => void; quiescent?: boolean } = {},
): Promise<Snapshotted> {
  assertRunTree(paths);
  const dataKey = deriveDataKey(nextStateKey);
  const snap = await snapshotTree({
    chunks,
    workspaceDir: paths.workspaceDir,
    homeDir: paths.homeDir,
    homeExclude: homeExclusion(options.homeExclusions ?? COMMON_HOME_EXCLUSIONS),
    secrets: options.secrets,
    stateDbPath: paths.stateDbPath,
    mtimeSec,
    dataKey,
    outFile: paths.partialBundle,
    parent: options.parent,
    known: options.known,
    quiescent: options.quiescent,
    beforeAdopt: options.beforeAdopt,
    onProgress: options.onProgress,
  });
  return { ...snap, file: paths.partialBundle, dataKey };
}

/** The workspace, home and state DB are still what swarm left there (swarm never follows a link it did not make). */
function assertRunTree(paths: RunPaths): void {
  assertNotReplaced(paths.workspaceDir, 'directory', 'workspace');
  assertNotReplaced(paths.homeDir, 'directory', 'home');
  assertNotReplaced(paths.stateDbPath, 'file', 'state DB');
}

function assertNotReplaced(file: string, kind: 'file' | 'directory', what: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (cause) {
    throw new SwarmError('STATE_DB_INVALID', `the step removed its ${what}`, { cause });
  }
  if (kind === 'file' ? !st.isFile() : !st.isDirectory()) {
    throw new SwarmError('STATE_DB_INVALID', `the step replaced its ${what} with something that is not a ${kind}`);
  }
}
