/**
 * Phase 5, record: the run's facts in the state DB's history, the transcripts its agents wrote in
 * the archive, and the DB compacted for sealing.
 */
import type Database from 'better-sqlite3';
import { recordRunAndCompact } from '../state-db.js';
import type { RunPaths } from './run-paths.js';

export interface RunFacts {
  run_id: string;
  node_id: string;
  parent_node_id: string;
  operation: string;
  status: 'succeeded' | 'failed';
  exit_code: number | null;
  signal: string | null;
  restore_mode: 'checkpoint' | 'cold_start';
  started_at: string;
  finished_at: string;
}

export function record(
  paths: RunPaths,
  facts: RunFacts,
  digests: { step: string; prompt: string | null; output: string },
  also?: (db: Database.Database) => void,
): void {
  recordRunAndCompact(paths.stateDbPath, { ...facts, step_sha256: digests.step, prompt_sha256: digests.prompt, output_sha256: digests.output }, also);
}
