/**
 * `fork --node X --label L`: a new node that shares X's sealed body and re-wraps X's data key under
 * a forked capability — O(1) in the size of the workspace — and `branch:L` pointing at it.
 */
import { SwarmError, clockFromEnv, isValidName, isoTime, type Clock } from '@swarm/core';
import { ratchetChainKeys } from '../crypto/index.js';
import '../engine-errors.js';
import { buildNodeRow } from '../store/node-row.js';
import { Store } from '../store/store.js';

export interface ForkOptions {
  cwd: string;
  node: string;
  label: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
  clock?: Clock;
}

export interface ForkResult {
  node_id: string;
  parent_node_id: string;
  label: string;
  branch: string;
  state_id: string;
  ratchet_step: number;
  bundle_sha256: string;
  duration_ms: number;
}

export async function forkNode(options: ForkOptions): Promise<ForkResult> {
  const started = performance.now();
  if (!isValidName(options.label)) {
    throw new SwarmError('INVALID_ARGUMENT', `invalid branch label ${JSON.stringify(options.label)}`, { hint: 'letters, digits, . _ - (max 128)' });
  }
  const env = options.env ?? process.env;
  const clock = options.clock ?? clockFromEnv(env);
  const store = Store.open(options.cwd, { home: options.home, clock, env });
  try {
    const branch = `branch:${options.label}`;
    if (store.catalog.getAlias(branch)) {
      throw new SwarmError('BRANCH_EXISTS', `${branch} already exists`, { details: { branch, node_id: store.catalog.getAlias(branch) } });
    }
    const parent = await store.resolve(options.node);
    const keys = store.keys.chainKeys(parent);
    const dataKey = store.keys.dataKey(parent, keys.state);
    const forked = ratchetChainKeys(keys, 'fork', options.label);
    const nodeId = `node-fork-${options.label}`;
    const stateId = `state-fork-${options.label}`;
    if (store.catalog.getNode(nodeId)) throw new SwarmError('BRANCH_EXISTS', `node ${nodeId} already exists`);
    const createdAt = isoTime(clock);
    const row = buildNodeRow(store.keys, {
      nodeId,
      parentNodeId: parent.node_id,
      kind: 'fork',
      status: 'forked',
      stateId,
      ratchetStep: parent.ratchet_step + 1,
      bundleSha256: parent.bundle_sha256,
      manifestSha256: parent.manifest_sha256,
      dataKey,
      keys: forked,
      runId: null,
      label: options.label,
      createdAt,
      artifactHash: null,
    });
    store.catalog.commitFork(row, branch, createdAt);
    return {
      node_id: nodeId,
      parent_node_id: parent.node_id,
      label: options.label,
      branch,
      state_id: stateId,
      ratchet_step: row.ratchet_step,
      bundle_sha256: row.bundle_sha256,
      duration_ms: Math.round((performance.now() - started) * 100) / 100,
    };
  } finally {
    store.close();
  }
}
