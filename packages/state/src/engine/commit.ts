/**
 * Phase 9, commit: the contract files written, fsynced and renamed into place first; then one
 * catalog transaction makes the node visible and completes the run's row. A crash before it
 * leaves no visible node.
 */
import { writeFilesAtomic } from '@swarm/core';
import type { Catalog, ChunkCommit, NodeRow, RunRow } from '../store/catalog.js';

export interface ContractFiles {
  certificate: Buffer;
  envelope: Buffer;
  result: Buffer;
  nextTokens: Buffer;
  policy: Buffer;
}

export function writeContractFiles(dir: string, files: ContractFiles): void {
  writeFilesAtomic(dir, [
    { name: 'certificate.json', data: files.certificate },
    { name: 'certificate.dsse.json', data: files.envelope },
    { name: 'result.json', data: files.result },
    { name: 'next_tokens.json', data: files.nextTokens },
    // Written only now, so the step cannot have replaced it.
    { name: 'policy.json', data: files.policy },
  ]);
}

/** `before`: nodes the run's node builds on that become visible with it (a seed); `chunks`: what it stored. */
export function commit(catalog: Catalog, node: NodeRow, run: RunRow, before: NodeRow[] = [], chunks?: ChunkCommit): void {
  catalog.commitRun(node, run, before, chunks);
}
