/**
 * Phase 1, restore: open a sealed bundle into a run directory (workspace, state DB, and the step's
 * home as the parent node sealed it — empty for nodes sealed before homes were carried). Needs only the sealed file and its data key — no catalog — so a remote worker
 * runs it from a bundle and a capability. When the bundle cannot be opened the run stops with
 * exit 5, unless cold starts are allowed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError } from '@swarm/core';
import { openSealedBundle } from '../bundle/index.js';
import '../engine-errors.js';
import { createStateDb } from '../state-db.js';
import type { RunPaths } from './run-paths.js';
import type { TreeRecords } from '../chunks/snapshot.js';

export interface RestoreInput {
  paths: RunPaths;
  /** The sealed bundle file (or `open`). */
  bundleFile?: string;
  expectedSha256?: string;
  /** Opens the node into `paths.dir` (workspace, home, state.db) itself, as a chunked node is; returns its records. */
  open?: (dataKey: Buffer) => Promise<TreeRecords | null>;
  /** Gives the bundle's data key (unwrapping it may itself fail, which is a restore failure). */
  dataKey: () => Buffer;
  /** How the node is named in errors. */
  nodeId: string;
  allowColdStart: boolean;
  /** A path prefix to write as `<project>` in the recorded reason (no machine paths in certificates). */
  hidePrefix?: string;
  onProgress?: (bytes: number, totalBytes: number) => void;
}

export interface Restored {
  mode: 'checkpoint' | 'cold_start';
  reason: string | null;
  /** What the restored files are, for a snapshot that reads only what changes (null: read all). */
  records: TreeRecords | null;
}

export async function restore(input: RestoreInput): Promise<Restored> {
  const { paths } = input;
  const restored = await open(input);
  fs.mkdirSync(paths.stateDir, { mode: 0o700 });
  fs.renameSync(path.join(paths.dir, 'state.db'), paths.stateDbPath);
  return restored;
}

async function open(input: RestoreInput): Promise<Restored> {
  const { paths } = input;
  try {
    if (input.open) return { mode: 'checkpoint', reason: null, records: await input.open(input.dataKey()) };
    await openSealedBundle({ file: input.bundleFile!, dataKey: input.dataKey(), expectedSha256: input.expectedSha256, destDir: paths.dir, onProgress: input.onProgress });
    return { mode: 'checkpoint', reason: null, records: null };
  } catch (error) {
    if (!(error instanceof SwarmError) || error.category !== 'restore') throw error;
    const code = error.code;
    const message = input.hidePrefix ? error.message.split(input.hidePrefix).join('<project>') : error.message;
    const reason = `${code}: ${message}`;
    fs.rmSync(paths.workspaceDir, { recursive: true, force: true });
    fs.rmSync(paths.homeDir, { recursive: true, force: true });
    fs.rmSync(path.join(paths.dir, 'state.db'), { force: true });
    if (!input.allowColdStart) {
      throw new SwarmError('RESTORE_FAILED', `cannot restore node ${input.nodeId}: ${reason}`, {
        details: { node_id: input.nodeId, cause_code: code },
        hint: 'pass --allow-cold-start to start from an empty workspace and state instead',
        cause: error,
      });
    }
    fs.mkdirSync(paths.workspaceDir, { recursive: true });
    fs.mkdirSync(paths.homeDir, { mode: 0o700 });
    createStateDb(path.join(paths.dir, 'state.db'));
    return { mode: 'cold_start', reason, records: null };
  }
}
