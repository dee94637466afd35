/**
 * Nodes that cross machines. A worker (a GitHub runner) adopts the parent node it was sent into
 * a throwaway store of its own, so the ordinary engine runs from it; the operator imports what
 * the worker sealed, after verifying it, as a run of its own store. The operator never takes the
 * worker's word for keys: the next capabilities are the ratchet of the parent's, which it holds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, isValidName, writeFilesAtomic, type RouteMode } from '@swarm/core';
import { readBundleManifest } from '../bundle/index.js';
import { deriveDataKey, type ChainKeys } from '../crypto/index.js';
import { nextTokensDocument } from '../engine/documents.js';
import { ratchet } from '../engine/ratchet.js';
import '../engine-errors.js';
import type { LedgerRow, NodeRow, RunRow } from '../store/catalog.js';
import { unwrapNodeDataKey } from '../store/keyring.js';
import { buildNodeRow } from '../store/node-row.js';
import { runDir } from '../store/paths.js';
import type { Store } from '../store/store.js';

export interface AdoptParentInput {
  nodeId: string;
  stateId: string;
  ratchetStep: number;
  bundleSha256: string;
  /** The digest of `bundleFile` when it is not the node's own object (a tar exported from chunks). */
  objectSha256?: string;
  manifestSha256: string;
  wrappedKey: string;
  keys: ChainKeys;
  /** The sealed bundle (moved into the store's objects). */
  bundleFile: string;
  createdAt: string;
}

/** The parent a worker runs from, in its throwaway store; fails when the keys do not open its bundle. */
export async function adoptParent(store: Store, input: AdoptParentInput): Promise<NodeRow> {
  let dataKey: Buffer;
  try {
    dataKey = unwrapNodeDataKey({ wrapped_key: input.wrappedKey, bundle_sha256: input.bundleSha256, state_id: input.stateId, ratchet_step: input.ratchetStep }, input.keys.state);
  } catch (cause) {
    throw new SwarmError('RESTORE_FAILED', `the capability sent for ${input.nodeId} does not open its bundle key`, { cause });
  }
  const row = buildNodeRow(store.keys, {
    nodeId: input.nodeId,
    parentNodeId: null,
    kind: 'import',
    status: 'succeeded',
    stateId: input.stateId,
    ratchetStep: input.ratchetStep,
    bundleSha256: input.bundleSha256,
    manifestSha256: input.manifestSha256,
    dataKey,
    keys: input.keys,
    runId: null,
    label: null,
    createdAt: input.createdAt,
    artifactHash: null,
  });
  const objectSha256 = input.objectSha256 && input.objectSha256 !== input.bundleSha256 ? input.objectSha256 : null;
  store.objects.adopt(input.bundleFile, objectSha256 ?? input.bundleSha256);
  store.catalog.adoptNode({ ...row, object_sha256: objectSha256 });
  return { ...row, object_sha256: objectSha256 };
}

export interface RemoteRunFiles {
  certificate: Buffer;
  envelope: Buffer;
  result: Buffer;
  policy: Buffer;
  stepLog: Buffer;
  /** More evidence kept beside the contract files (the OIDC token and the issuer keys it was checked with). */
  extra?: Array<{ name: string; data: Buffer }>;
}

export interface ImportRemoteRunInput {
  parent: NodeRow;
  runId: string;
  operation: string;
  status: 'succeeded' | 'failed';
  exitCode: number | null;
  signal: string | null;
  restoreMode: 'checkpoint' | 'cold_start';
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  bundleSha256: string;
  manifestSha256: string;
  artifactHash: string;
  routeMode: RouteMode;
  stepJson: string;
  /** Verified copies of the worker's contract files. */
  files: RemoteRunFiles;
  bundleFile: string;
  /** The ledger entry as it reads once collected. */
  ledger: LedgerRow;
  /** Where the worker sealed its next tokens, opened: must be the ratchet of the parent's keys. */
  workerChainKeys?: ChainKeys;
}

/**
 * Imports a verified remote run: node keys from the ratchet, the bundle checked to open under
 * them, then files, object, node, run and ledger committed (the catalog in one transaction).
 */
export async function importRemoteRun(store: Store, input: ImportRemoteRunInput): Promise<NodeRow> {
  // The run id names a directory of the store: only a plain name (what the ledger recorded).
  if (!isValidName(input.runId)) throw new SwarmError('INVALID_ARGUMENT', `invalid run id ${JSON.stringify(input.runId)}`);
  const nodeId = `node-${input.runId}`;
  if (store.catalog.getRun(input.runId) || store.catalog.getNode(nodeId)) {
    throw new SwarmError('RUN_ID_EXISTS', `run ${input.runId} is already in this store`, { details: { run_id: input.runId } });
  }
  const next = ratchet(store.keys.chainKeys(input.parent), input.runId);
  if (input.workerChainKeys && !(input.workerChainKeys.state.equals(next.state) && input.workerChainKeys.net.equals(next.net))) {
    throw new SwarmError('REMOTE_NODE_MISMATCH', "the worker's next capabilities are not the ratchet of the parent's", { details: { run_id: input.runId } });
  }
  const dataKey = deriveDataKey(next.state);
  try {
    await readBundleManifest({ file: input.bundleFile, dataKey });
  } catch (cause) {
    throw new SwarmError('REMOTE_NODE_MISMATCH', 'the collected bundle does not open under the capability its parent ratchets to', { cause, details: { run_id: input.runId } });
  }
  const row = buildNodeRow(store.keys, {
    nodeId,
    parentNodeId: input.parent.node_id,
    kind: 'run',
    status: input.status,
    stateId: `state-${input.runId}`,
    ratchetStep: input.parent.ratchet_step + 1,
    bundleSha256: input.bundleSha256,
    manifestSha256: input.manifestSha256,
    dataKey,
    keys: next,
    runId: input.runId,
    label: null,
    createdAt: input.finishedAt,
    artifactHash: input.artifactHash,
    routeMode: input.routeMode,
  });
  const dir = runDir(store.paths, input.runId);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  // No run row means a directory here is what an import that never committed left (a crash).
  fs.rmSync(dir, { recursive: true, force: true });
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    writeFilesAtomic(dir, [
      { name: 'certificate.json', data: input.files.certificate },
      { name: 'certificate.dsse.json', data: input.files.envelope },
      { name: 'result.json', data: input.files.result },
      { name: 'next_tokens.json', data: nextTokensDocument(row) },
      { name: 'policy.json', data: input.files.policy },
      { name: 'step.log', data: input.files.stepLog },
      ...(input.files.extra ?? []),
    ]);
    store.objects.adopt(input.bundleFile, input.bundleSha256);
    const run: RunRow = {
      run_id: input.runId,
      node_id: nodeId,
      parent_node_id: input.parent.node_id,
      operation: input.operation,
      status: input.status,
      exit_code: input.exitCode,
      signal: input.signal,
      restore_mode: input.restoreMode,
      started_at: input.startedAt,
      finished_at: input.finishedAt,
      duration_ms: input.durationMs,
      backend: 'github',
      artifact_hash: input.artifactHash,
      step_json: input.stepJson,
    };
    store.catalog.commitRemoteRun(row, run, input.ledger);
  } catch (error) {
    // Nothing of an import that did not commit stays (the object, if adopted, is gc's).
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return row;
}
