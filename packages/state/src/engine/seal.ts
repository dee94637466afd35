/**
 * Phase 6, snapshot and seal: the workspace and state DB as a deterministic, encrypted bundle
 * under the data key of the new node's state capability. Refuses a workspace or state DB the
 * step replaced by something else (swarm never follows a link it left).
 */
import fs from 'node:fs';
import { SwarmError } from '@swarm/core';
import { createSealedBundle, type SealedBundle } from '../bundle/index.js';
import { deriveDataKey } from '../crypto/index.js';
import '../engine-errors.js';
import type { RunPaths } from './run-paths.js';

export interface Sealed extends SealedBundle {
  /** The sealed file, not yet in the object store. */
  file: string;
  dataKey: Buffer;
}

export async function seal(paths: RunPaths, nextStateKey: Buffer, mtimeSec: number, onProgress?: (bytes: number, totalBytes: number) => void): Promise<Sealed> {
  assertNotReplaced(paths.workspaceDir, 'directory');
  assertNotReplaced(paths.stateDbPath, 'file');
  const dataKey = deriveDataKey(nextStateKey);
  const sealed = await createSealedBundle({ workspaceDir: paths.workspaceDir, stateDbPath: paths.stateDbPath, mtimeSec, dataKey, outFile: paths.partialBundle, onProgress });
  return { ...sealed, file: paths.partialBundle, dataKey };
}

function assertNotReplaced(file: string, kind: 'file' | 'directory'): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (cause) {
    throw new SwarmError('STATE_DB_INVALID', `the step removed its ${kind === 'file' ? 'state DB' : 'workspace'}`, { cause });
  }
  if (kind === 'file' ? !st.isFile() : !st.isDirectory()) {
    throw new SwarmError('STATE_DB_INVALID', `the step replaced its ${kind === 'file' ? 'state DB' : 'workspace'} with something that is not a ${kind}`);
  }
}
