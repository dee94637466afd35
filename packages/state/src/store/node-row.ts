/**
 * A node as the catalog stores it: the `agent_swarm-node-v1` document, the bundle data key
 * wrapped under the node's own state capability, and both capabilities sealed for this store.
 */
import { canonicalize, chainKeyRef } from '@swarm/core';
import { bundleWrapKey, wrapDataKey } from '../crypto/index.js';
import type { NodeRow } from './catalog.js';
import { wrapContext, type ChainKeys, type KeyRing } from './keyring.js';

export const GENERATOR = 'swarm/0.1.0';

export interface NodeRowInput {
  nodeId: string;
  parentNodeId: string | null;
  kind: NodeRow['kind'];
  status: string;
  stateId: string;
  ratchetStep: number;
  bundleSha256: string;
  manifestSha256: string;
  dataKey: Buffer;
  keys: ChainKeys;
  runId: string | null;
  label: string | null;
  createdAt: string;
  artifactHash: string | null;
  routeMode?: 'direct' | 'client_exit';
}

export function buildNodeRow(keyring: KeyRing, input: NodeRowInput): NodeRow {
  const stateToken = keyring.capabilityToken('state_cap', input.stateId, input.ratchetStep, input.keys.state);
  const netToken = keyring.capabilityToken('net_cap', input.stateId, input.ratchetStep, input.keys.net);
  const wrapped = wrapDataKey(input.dataKey, bundleWrapKey(input.keys.state), wrapContext(input.bundleSha256, input.stateId, input.ratchetStep));
  const objectRef = `swarm-object://sha256/${input.bundleSha256.slice(7)}`;
  const nodeDoc = {
    schema_version: 'agent_swarm-node-v1',
    node_id: input.nodeId,
    parent_node_id: input.parentNodeId,
    created_at: input.createdAt,
    workspace: { mode: 'snapshot', artifact_hash: input.bundleSha256, artifact_ref: objectRef },
    state_db: {
      state_id: input.stateId,
      snapshot_hash: input.bundleSha256,
      snapshot_ref: objectRef,
      ratchet_step: input.ratchetStep,
      engine: { kind: 'sqlite-serialized', schema_version: 'loom-state-v1' },
    },
    runtime: { checkpoint_supported: true, restore_compat: { substrate: 'swarm-local' } },
    network: { route_mode: input.routeMode ?? 'direct', token: { token_ref: chainKeyRef(input.keys.net.toString('hex')), ratchet_step: input.ratchetStep, expires_at: null } },
    attestation: { commit_sha_required: null, artifact_hash: input.artifactHash, proof_ref: null },
    tags: input.label ? [`branch:${input.label}`] : [],
    swarm: {
      generator: GENERATOR,
      kind: input.kind,
      status: input.status,
      manifest_sha256: input.manifestSha256,
      run_id: input.runId,
      label: input.label,
    },
  };
  return {
    node_id: input.nodeId,
    parent_node_id: input.parentNodeId,
    kind: input.kind,
    status: input.status,
    state_id: input.stateId,
    ratchet_step: input.ratchetStep,
    bundle_sha256: input.bundleSha256,
    manifest_sha256: input.manifestSha256,
    wrapped_key: wrapped,
    state_cap_sealed: keyring.sealCapability('state_cap', input.nodeId, stateToken),
    net_cap_sealed: keyring.sealCapability('net_cap', input.nodeId, netToken),
    run_id: input.runId,
    label: input.label,
    created_at: input.createdAt,
    node_json: canonicalize(nodeDoc),
  };
}
